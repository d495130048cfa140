package layout

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"path/filepath"

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
	f, err := r.s.fs.Open(path)
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
	_, err = r.s.fs.Stat(path)
	if isNotExist(err) {
		return false, nil
	}
	return err == nil, err
}

// Push stores content after checking it against expected. Manifests (by media
// type) are also listed, untagged, in index.json, once every blob they refer
// to is stored. Pushing stored content again succeeds and changes nothing.
func (r *Repository) Push(ctx context.Context, expected ocispec.Descriptor, content io.Reader) error {
	if manifestMediaTypes[expected.MediaType] {
		return r.pushManifest(ctx, expected, content, "")
	}
	if err := r.create(); err != nil {
		return err
	}
	if err := r.writeBlob(expected, content); err != nil {
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
	if err := r.writeBlob(expected, bytes.NewReader(data)); err != nil {
		return fmt.Errorf("layout: %s: push manifest %s: %w", r.name, expected.Digest, err)
	}
	info, err := parseManifestInfo(data)
	if err != nil {
		return fmt.Errorf("layout: %s: manifest %s: %w", r.name, expected.Digest, err)
	}
	err = r.update(func(idx *index) (bool, error) {
		_, listed := idx.find("", expected.Digest)
		if tag == "" && listed {
			return false, nil
		}
		if cur, ok := idx.find(tag, ""); tag != "" && ok && cur.Digest == expected.Digest {
			return false, nil
		}
		if !listed {
			if err := r.relist(expected, data, info); err != nil {
				return false, err
			}
		}
		if tag == "" {
			idx.addManifest(expected, info)
		} else {
			idx.tag(expected, info, tag)
		}
		return true, nil
	})
	if err != nil {
		return err
	}
	r.s.changed(r.name)
	return nil
}

// relist runs, under r.mu, before a manifest that is not yet listed is: a
// sweep that ran since writeBlob may have removed the manifest itself (it is
// written again) or a blob it refers to (an error wrapping errdef.ErrNotFound).
func (r *Repository) relist(desc ocispec.Descriptor, data []byte, info manifestInfo) error {
	path, err := blobPath(r.dir, desc.Digest)
	if err != nil {
		return err
	}
	if _, err := r.s.fs.Stat(path); isNotExist(err) {
		if err := r.storeBlob(path, desc, bytes.NewReader(data)); err != nil {
			return fmt.Errorf("layout: %s: push manifest %s: %w", r.name, desc.Digest, err)
		}
	}
	return r.checkRefs(desc.Digest, info)
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
	if err := r.s.fs.Remove(path); err != nil && !(manifest && isNotExist(err)) {
		return notFound(fmt.Sprintf("layout: %s: delete %s", r.name, target.Digest), err)
	}
	// An acknowledged delete stays deleted after a power loss.
	if err := syncDir(r.s.fs, filepath.Dir(path)); err != nil {
		return fmt.Errorf("layout: %s: delete %s: %w", r.name, target.Digest, err)
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
	if _, err := r.s.fs.Stat(src); err == nil {
		if err := r.create(); err != nil {
			return err
		}
		err := r.linkBlob(src, desc)
		if err != nil && !isNotExist(err) {
			err = r.copyBlob(src, desc)
		}
		if err == nil {
			return nil
		}
		if !isNotExist(err) {
			return fmt.Errorf("layout: %s: mount %s from %s: %w", r.name, desc.Digest, fromRepo, err)
		}
		// Swept from fromRepo meanwhile: get it as if it had never been there.
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
