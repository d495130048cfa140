package layout

import (
	"context"
	"fmt"
	"slices"

	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"

	"pkgserver.dev/pkgserver/pkg/errdef"
)

// Resolve returns the manifest descriptor (media type, digest, size) of a tag
// or of a manifest digest listed in index.json.
func (r *Repository) Resolve(ctx context.Context, reference string) (ocispec.Descriptor, error) {
	var tag string
	d, err := digest.Parse(reference)
	if err != nil {
		if err := validateTag(reference); err != nil {
			return ocispec.Descriptor{}, err
		}
		tag, d = reference, ""
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	idx, err := r.index()
	if err != nil {
		return ocispec.Descriptor{}, err
	}
	e, ok := idx.find(tag, d)
	if !ok {
		return ocispec.Descriptor{}, fmt.Errorf("layout: %s:%s: %w", r.name, reference, errdef.ErrNotFound)
	}
	return ocispec.Descriptor{MediaType: e.MediaType, Digest: e.Digest, Size: e.Size}, nil
}

// Tag points reference at the stored manifest desc, moving the tag if it exists.
func (r *Repository) Tag(ctx context.Context, desc ocispec.Descriptor, reference string) error {
	if err := validateTag(reference); err != nil {
		return err
	}
	err := r.update(func(idx *index) (bool, error) {
		if cur, ok := idx.find(reference, ""); ok && cur.Digest == desc.Digest {
			return false, nil
		}
		target, ok := idx.find("", desc.Digest)
		var info manifestInfo
		if ok {
			var err error
			if info, err = idx.info(desc.Digest); err != nil {
				return false, err
			}
		} else {
			// Stored as a blob but never listed: read it once for its metadata.
			data, i, err := r.readManifest(desc.Digest)
			if err != nil {
				return false, err
			}
			if err := r.checkRefs(desc.Digest, i); err != nil {
				return false, err
			}
			target, info = desc, i
			if target.MediaType == "" {
				target.MediaType = mediaTypeOf(data)
			}
			target.Size = int64(len(data))
		}
		idx.tag(target, info, reference)
		return true, nil
	})
	if err != nil {
		return err
	}
	r.s.changed(r.name)
	return nil
}

// Untag removes one tag; the manifest stays, listed untagged.
func (r *Repository) Untag(ctx context.Context, tag string) error {
	if err := validateTag(tag); err != nil {
		return err
	}
	err := r.update(func(idx *index) (bool, error) {
		if !idx.untag(tag) {
			return false, fmt.Errorf("layout: %s:%s: %w", r.name, tag, errdef.ErrNotFound)
		}
		return true, nil
	})
	if err != nil {
		return err
	}
	r.s.changed(r.name)
	return nil
}

// Tags lists the tags in lexical order after last. A repository that was
// never written is errdef.ErrNotFound, as on a registry.
func (r *Repository) Tags(ctx context.Context, last string, fn func(tags []string) error) error {
	if !r.exists() {
		return errNoRepo(r.name)
	}
	r.mu.Lock()
	idx, err := r.index()
	var tags []string
	if err == nil {
		for _, e := range idx.entries {
			if t := tagOf(e); t != "" {
				tags = append(tags, t)
			}
		}
	}
	r.mu.Unlock()
	if err != nil {
		return err
	}
	slices.Sort(tags)
	return pages(ctx, slices.Compact(tags), last, fn)
}

// Referrers lists the manifests whose subject is subject, filtered by
// artifactType when not empty (distribution spec, "Listing Referrers").
func (r *Repository) Referrers(ctx context.Context, subject ocispec.Descriptor, artifactType string, fn func(referrers []ocispec.Descriptor) error) error {
	if err := subject.Digest.Validate(); err != nil {
		return fmt.Errorf("layout: %s: subject %q: %w: %w", r.name, subject.Digest, errdef.ErrInvalid, err)
	}
	r.mu.Lock()
	idx, err := r.index()
	var refs []ocispec.Descriptor
	if err == nil {
		seen := map[digest.Digest]bool{}
		for _, e := range idx.entries {
			if seen[e.Digest] {
				continue
			}
			seen[e.Digest] = true
			var info manifestInfo
			if info, err = idx.info(e.Digest); err != nil {
				err = fmt.Errorf("layout: %s: %w", r.name, err)
				break
			}
			if info.subject != subject.Digest || artifactType != "" && info.artifactType != artifactType {
				continue
			}
			refs = append(refs, ocispec.Descriptor{
				MediaType:    e.MediaType,
				Digest:       e.Digest,
				Size:         e.Size,
				ArtifactType: info.artifactType,
				Annotations:  info.annotations,
			})
		}
	}
	r.mu.Unlock()
	if err != nil || len(refs) == 0 {
		return err
	}
	slices.SortFunc(refs, func(a, b ocispec.Descriptor) int { return compare(a.Digest, b.Digest) })
	return fn(refs)
}

func compare(a, b digest.Digest) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}
