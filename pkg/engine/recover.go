package engine

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"

	ocispec "github.com/opencontainers/image-spec/specs-go/v1"

	"pkgserver.dev/pkgserver/pkg/coord"
	"pkgserver.dev/pkgserver/pkg/errdef"
	"pkgserver.dev/pkgserver/pkg/names"
	"pkgserver.dev/pkgserver/pkg/store"
)

// recoverAll finishes every write that a crash interrupted (at start).
func (e *Engine) recoverAll(ctx context.Context) error {
	keys, err := e.coord.Intents(ctx)
	if err != nil {
		return err
	}
	for _, k := range keys {
		t, err := e.lock(ctx, k) // lock recovers what it finds
		if err != nil {
			return fmt.Errorf("finish the interrupted write of %s: %w", k, err)
		}
		t.unlock()
	}
	return nil
}

// recoverHeld finishes the write the previous holder of h left, if any: it
// completes the registry steps the intent names (or finds none was done),
// then publishes the package as the registry now has it.
func (e *Engine) recoverHeld(ctx context.Context, h coord.Held) error {
	data, err := h.Intent(ctx)
	if err != nil {
		return fmt.Errorf("%w: read intent: %v", errdef.ErrUnavailable, err)
	}
	if data == nil {
		return nil
	}
	var in intent
	if err := json.Unmarshal(data, &in); err != nil {
		e.log.Error("dropping an unreadable intent", "err", err)
		return e.publish(ctx, h, nil)
	}
	k := pkgKey{store: in.Store, path: in.Path}
	s, err := e.storeOf(k)
	if err != nil {
		return err
	}
	repo, err := s.Repository(ctx, in.Path)
	if err != nil {
		return err
	}
	switch in.Op {
	case "publish":
		err = e.finishPublish(ctx, repo, in)
	case "delete":
		err = e.finishDelete(ctx, repo, in)
	default:
		e.log.Error("dropping an intent of an unknown kind", "op", in.Op)
	}
	if err != nil {
		return fmt.Errorf("finish the interrupted %s of %s:%s: %w", in.Op, in.Path, in.Tag, err)
	}
	e.log.Info("finished an interrupted write", "op", in.Op, "package", k.String(), "tag", in.Tag)
	return e.syncLocked(ctx, h, s, k)
}

// finishPublish completes a publication whose vN manifest is in the
// registry; if it is not, nothing was done and the draft stays.
func (e *Engine) finishPublish(ctx context.Context, repo store.Repository, in intent) error {
	d, err := repo.Resolve(ctx, in.Revision)
	if errors.Is(err, errdef.ErrNotFound) || err == nil && d.Digest != in.To.Digest {
		return nil // never pushed (or not ours): roll back, which is nothing
	}
	if err != nil {
		return err
	}
	if err := e.fixLatest(ctx, repo); err != nil {
		return err
	}
	if d, err := repo.Resolve(ctx, in.Tag); err == nil && d.Digest == in.From {
		return deleteManifest(ctx, repo, d)
	} else if !errors.Is(err, errdef.ErrNotFound) && err != nil {
		return err
	}
	return nil
}

// finishDelete completes the deletion of a published revision whose
// tombstone is in the registry; without it, nothing was done.
func (e *Engine) finishDelete(ctx context.Context, repo store.Repository, in intent) error {
	n, ok := names.ParseRevision(in.Tag)
	if !ok {
		return fmt.Errorf("%w: intent names tag %q", errdef.ErrInvalid, in.Tag)
	}
	if _, err := repo.Resolve(ctx, names.DeletedTag(n)); errors.Is(err, errdef.ErrNotFound) {
		return nil
	} else if err != nil {
		return err
	}
	if m, err := repo.Resolve(ctx, names.DeletionTag(n)); err == nil {
		if err := repo.Delete(ctx, m); err != nil && !errors.Is(err, errdef.ErrNotFound) {
			return err
		}
	}
	if d, err := repo.Resolve(ctx, in.Tag); err == nil && d.Digest == in.From {
		if err := removeTag(ctx, repo, in.Tag, d); err != nil {
			return err
		}
	}
	return e.fixLatest(ctx, repo)
}

// fixLatest points `latest` at the newest vN of a package, as a write that
// changes the newest revision does last.
func (e *Engine) fixLatest(ctx context.Context, repo store.Repository) error {
	var tags []string
	if err := repo.Tags(ctx, "", func(t []string) error { tags = append(tags, t...); return nil }); err != nil {
		if errors.Is(err, errdef.ErrNotFound) {
			return nil
		}
		return err
	}
	newest := 0
	for _, t := range tags {
		if n, ok := names.ParseRevision(t); ok {
			newest = max(newest, n)
		}
	}
	if newest == 0 {
		return nil
	}
	d, err := repo.Resolve(ctx, names.RevisionTag(newest))
	if err != nil {
		return err
	}
	if cur, err := repo.Resolve(ctx, names.LatestTag); err == nil && cur.Digest == d.Digest {
		return nil
	}
	return repo.Tag(ctx, d, names.LatestTag)
}

// removeTag removes tag from a manifest: the tag alone when other tags still
// name the manifest (and the store can untag), else the whole manifest.
func removeTag(ctx context.Context, repo store.Repository, tag string, d ocispec.Descriptor) error {
	var tags []string
	if err := repo.Tags(ctx, "", func(t []string) error { tags = append(tags, t...); return nil }); err != nil {
		return err
	}
	shared := false
	for _, t := range tags {
		if t == tag || t == names.LatestTag {
			continue
		}
		if o, err := repo.Resolve(ctx, t); err == nil && o.Digest == d.Digest {
			shared = true
			break
		}
	}
	if !shared {
		return deleteManifest(ctx, repo, d)
	}
	if u, ok := repo.(store.Untagger); ok {
		return u.Untag(ctx, tag)
	}
	return fmt.Errorf("%w: other tags name the manifest of %s and this registry cannot delete a tag alone", errdef.ErrForbidden, tag)
}
