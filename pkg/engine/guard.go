package engine

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/opencontainers/go-digest"

	"pkgserver.dev/pkgserver/pkg/errdef"
	"pkgserver.dev/pkgserver/pkg/names"
)

// CheckRegistryWrite tells the embedded registry whether a change made through
// /v2/ keeps the package rules: under a registered repository's prefix a
// published vN tag may not move to another manifest, be deleted, or lose its
// manifest. dgst is the manifest being pushed (tag set) or deleted (tag empty);
// deleteTag is true for a tag delete. Outside registered prefixes anything goes.
func (e *Engine) CheckRegistryWrite(ctx context.Context, path, tag string, dgst digest.Digest, deleteTag bool) error {
	if !e.underRegisteredPrefix(ctx, path) {
		return nil
	}
	s, err := e.opts.Embedded.Repository(ctx, path)
	if err != nil {
		return nil // an invalid name is refused by the registry itself
	}
	switch {
	case tag != "" && deleteTag && isTombstone(tag):
		return fmt.Errorf("%w: %s:%s keeps the number of a deleted revision taken; it cannot be removed", errdef.ErrForbidden, path, tag)
	case tag != "":
		if _, ok := names.ParseRevision(tag); !ok {
			return nil
		}
		cur, err := s.Resolve(ctx, tag)
		if errors.Is(err, errdef.ErrNotFound) {
			if _, err := s.Resolve(ctx, tag+names.DeletedTagSuffix); err == nil {
				return fmt.Errorf("%w: %s:%s was a published revision that has been deleted; its number is not used again", errdef.ErrForbidden, path, tag)
			}
			return nil // publishing a new vN by push is allowed
		}
		if err != nil {
			return err
		}
		if deleteTag {
			return fmt.Errorf("%w: %s:%s is a published revision; propose it for deletion through the API instead", errdef.ErrForbidden, path, tag)
		}
		if cur.Digest != dgst {
			return fmt.Errorf("%w: %s:%s is a published revision and never changes (it is %s)", errdef.ErrForbidden, path, tag, cur.Digest)
		}
		return nil
	default: // manifest delete by digest
		var published []string
		err := s.Tags(ctx, "", func(tags []string) error {
			for _, t := range tags {
				if _, ok := names.ParseRevision(t); !ok && !isTombstone(t) {
					continue
				}
				if d, err := s.Resolve(ctx, t); err == nil && d.Digest == dgst {
					published = append(published, t)
				}
			}
			return nil
		})
		if err != nil && !errors.Is(err, errdef.ErrNotFound) {
			return err
		}
		if len(published) > 0 {
			return fmt.Errorf("%w: manifest %s is published revision %s of %s; propose it for deletion through the API instead", errdef.ErrForbidden, dgst, strings.Join(published, ", "), path)
		}
		return nil
	}
}

// underRegisteredPrefix reports whether path is a package of an embedded repository.
func (e *Engine) underRegisteredPrefix(ctx context.Context, path string) bool {
	if err := e.loadRepositories(ctx); err != nil {
		return true // fail closed: keep the rules when we cannot tell
	}
	e.mu.RLock()
	defer e.mu.RUnlock()
	for _, rs := range e.repos {
		if rs.embedded && strings.HasPrefix(path, rs.prefix+"/") {
			return true
		}
	}
	return false
}

func isTombstone(tag string) bool {
	_, ok := names.ParseDeletedTag(tag)
	return ok
}

// LockEmbedded takes the write lock of an OCI repository of the embedded
// store: the one the engine holds while it changes that package. The /v2/
// API holds it around its check and its change, so a published vN cannot be
// overwritten between the two, by /v2/ or by the engine.
func (e *Engine) LockEmbedded(path string) (unlock func()) {
	return e.lockPackage(e.opts.EmbeddedAddress + "/" + path)
}
