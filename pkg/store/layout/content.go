package layout

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"os"

	ocispec "github.com/opencontainers/image-spec/specs-go/v1"

	"pkgserver.dev/pkgserver/pkg/errdef"
)

// Fetch opens the blob or manifest with target's digest; only the digest is
// needed, so a manifest can be fetched from a descriptor with digest and size.
func (r *Repository) Fetch(ctx context.Context, target ocispec.Descriptor) (io.ReadCloser, error) {
	path, err := blobPath(r.dir, target.Digest)
	if err != nil {
		return nil, fmt.Errorf("layout: %s: %w", r.name, err)
	}
	f, err := os.Open(path)
	if err != nil {
		return nil, notFound(fmt.Sprintf("layout: %s@%s", r.name, target.Digest), err)
	}
	return f, nil
}

// Exists reports whether the blob or manifest with target's digest is stored.
func (r *Repository) Exists(ctx context.Context, target ocispec.Descriptor) (bool, error) {
	path, err := blobPath(r.dir, target.Digest)
	if err != nil {
		return false, fmt.Errorf("layout: %s: %w", r.name, err)
	}
	_, err = os.Stat(path)
	if isNotExist(err) {
		return false, nil
	}
	return err == nil, err
}

// Push stores content after checking it against expected. Manifests (by media
// type) are also listed, untagged, in index.json. Pushing stored content again
// succeeds and changes nothing.
func (r *Repository) Push(ctx context.Context, expected ocispec.Descriptor, content io.Reader) error {
	if manifestMediaTypes[expected.MediaType] {
		return r.pushManifest(ctx, expected, content, "")
	}
	if err := r.create(); err != nil {
		return err
	}
	if err := writeBlob(r.dir, expected, content); err != nil {
		return fmt.Errorf("layout: %s: push %s: %w", r.name, expected.Digest, err)
	}
	return nil
}

// PushReference pushes a manifest and tags it with one index.json write.
func (r *Repository) PushReference(ctx context.Context, expected ocispec.Descriptor, content io.Reader, reference string) error {
	if err := validateTag(reference); err != nil {
		return err
	}
	return r.pushManifest(ctx, expected, content, reference)
}

func (r *Repository) pushManifest(ctx context.Context, expected ocispec.Descriptor, content io.Reader, tag string) error {
	if expected.Size > maxManifestSize {
		return fmt.Errorf("layout: %s: manifest %s of %d bytes is over the %d limit: %w", r.name, expected.Digest, expected.Size, maxManifestSize, errdef.ErrTooLarge)
	}
	data, err := io.ReadAll(io.LimitReader(content, expected.Size+1))
	if err != nil {
		return fmt.Errorf("layout: %s: read manifest: %w", r.name, err)
	}
	if err := r.create(); err != nil {
		return err
	}
	// writeBlob verifies size and digest before anything is listed.
	if err := writeBlob(r.dir, expected, bytes.NewReader(data)); err != nil {
		return fmt.Errorf("layout: %s: push manifest %s: %w", r.name, expected.Digest, err)
	}
	info, err := parseManifestInfo(data)
	if err != nil {
		return fmt.Errorf("layout: %s: manifest %s: %w", r.name, expected.Digest, err)
	}
	err = r.update(func(idx *index) (bool, error) {
		if tag == "" {
			if _, ok := idx.find("", expected.Digest); ok {
				return false, nil
			}
			idx.addManifest(expected, info)
			return true, nil
		}
		if cur, ok := idx.find(tag, ""); ok && cur.Digest == expected.Digest {
			return false, nil
		}
		idx.tag(expected, info, tag)
		return true, nil
	})
	if err != nil {
		return err
	}
	r.s.changed(r.name)
	return nil
}

// Delete removes a manifest with every tag pointing at it, or a blob.
func (r *Repository) Delete(ctx context.Context, target ocispec.Descriptor) error {
	path, err := blobPath(r.dir, target.Digest)
	if err != nil {
		return fmt.Errorf("layout: %s: %w", r.name, err)
	}
	var manifest bool
	err = r.update(func(idx *index) (bool, error) {
		manifest = idx.remove(target.Digest)
		return manifest, nil
	})
	if err != nil {
		return err
	}
	// The file goes after index.json: a crash in between leaves an unlisted blob, never a dangling entry.
	if err := os.Remove(path); err != nil && !(manifest && isNotExist(err)) {
		return notFound(fmt.Sprintf("layout: %s: delete %s", r.name, target.Digest), err)
	}
	if manifest {
		r.s.changed(r.name)
	}
	return nil
}

// Mount makes the blob desc of repository fromRepo available here by hard link
// (copy across filesystems). If fromRepo lacks it, getContent is pushed instead.
func (r *Repository) Mount(ctx context.Context, desc ocispec.Descriptor, fromRepo string, getContent func() (io.ReadCloser, error)) error {
	from, err := r.s.repository(fromRepo)
	if err != nil {
		return err
	}
	src, err := blobPath(from.dir, desc.Digest)
	if err != nil {
		return fmt.Errorf("layout: %s: %w", r.name, err)
	}
	if _, err := os.Stat(src); err == nil {
		if err := r.create(); err != nil {
			return err
		}
		if err := linkBlob(r.dir, src, desc); err != nil {
			return fmt.Errorf("layout: %s: mount %s from %s: %w", r.name, desc.Digest, fromRepo, err)
		}
		return nil
	}
	if getContent == nil {
		return fmt.Errorf("layout: %s: mount %s: not in %s: %w", r.name, desc.Digest, fromRepo, errdef.ErrNotFound)
	}
	rc, err := getContent()
	if err != nil {
		return fmt.Errorf("layout: %s: mount %s: get content: %w", r.name, desc.Digest, err)
	}
	defer rc.Close()
	return r.Push(ctx, desc, rc)
}
