package layout

import (
	_ "crypto/sha256" // register sha256 with go-digest
	_ "crypto/sha512" // register sha512 (and sha384) with go-digest
	"errors"
	"fmt"
	"io"
	"io/fs"
	"path/filepath"

	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
	"oras.land/oras-go/v2/content"

	"pkgserver.dev/pkgserver/pkg/errdef"
)

// writeBlob stores content at its digest path. A blob already present is
// left alone (blobs are content-addressed, so the push is idempotent) but its
// mtime is refreshed, so that garbage collection gives the manifest that is
// about to refer to it a whole grace period to arrive.
func (r *Repository) writeBlob(expected ocispec.Descriptor, rd io.Reader) error {
	path, err := blobPath(r.dir, expected.Digest)
	if err != nil {
		return err
	}
	if ok, err := r.touch(path); ok || err != nil {
		return err
	}
	return r.storeBlob(path, expected, rd)
}

// touch refreshes the mtime of path if it exists, under r.mu so that a
// sweep either ran before (and the blob is gone) or sees the new time.
func (r *Repository) touch(path string) (bool, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	now := r.s.now()
	err := r.s.fs.Chtimes(path, now, now)
	if isNotExist(err) {
		return false, nil
	}
	return err == nil, err
}

// storeBlob hashes and counts content while writing it to a temp file,
// refuses a mismatch, fsyncs, renames into place and fsyncs the directory.
func (r *Repository) storeBlob(path string, expected ocispec.Descriptor, rd io.Reader) error {
	end, err := r.s.beginWrite()
	if err != nil {
		return err
	}
	defer end()
	fsy := r.s.fs
	dir := filepath.Dir(path)
	if err := r.s.mkdirAll(dir); err != nil {
		return err
	}
	f, err := fsy.CreateTemp(dir, tmpPrefix+"blob-")
	if err != nil {
		return err
	}
	tmp := f.Name()
	defer fsy.Remove(tmp) // no-op after a successful rename
	verifier := expected.Digest.Verifier()
	// Read one byte past the expected size to detect longer content.
	n, err := io.Copy(io.MultiWriter(f, verifier), io.LimitReader(rd, expected.Size+1))
	if err != nil {
		f.Close()
		return err
	}
	if n != expected.Size {
		f.Close()
		return fmt.Errorf("blob %s: size %d, expected %d: %w: %w", expected.Digest, n, expected.Size, errdef.ErrInvalid, content.ErrMismatchedDigest)
	}
	if !verifier.Verified() {
		f.Close()
		return fmt.Errorf("blob %s: content does not match digest: %w: %w", expected.Digest, errdef.ErrInvalid, content.ErrMismatchedDigest)
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return err
	}
	if err := f.Close(); err != nil {
		return err
	}
	if err := fsy.Rename(tmp, path); err != nil {
		return err
	}
	return syncDir(fsy, dir)
}

// linkBlob makes the blob at src available at the same digest here by hard
// link (same inode, no copy). link(2) is atomic: the blob appears complete or
// not at all. The mtime is refreshed as in writeBlob, under r.mu for the same
// reason. A src removed meanwhile is an error wrapping fs.ErrNotExist.
func (r *Repository) linkBlob(src string, desc ocispec.Descriptor) error {
	dst, err := blobPath(r.dir, desc.Digest)
	if err != nil {
		return err
	}
	if err := r.s.mkdirAll(filepath.Dir(dst)); err != nil {
		return err
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if err := r.s.fs.Link(src, dst); err != nil && !errors.Is(err, fs.ErrExist) {
		return err
	}
	now := r.s.now()
	if err := r.s.fs.Chtimes(dst, now, now); err != nil {
		return err
	}
	return syncDir(r.s.fs, filepath.Dir(dst))
}

// copyBlob copies the blob at src here, for when linking fails (another filesystem).
func (r *Repository) copyBlob(src string, desc ocispec.Descriptor) error {
	f, err := r.s.fs.Open(src)
	if err != nil {
		return err
	}
	defer f.Close()
	return r.writeBlob(desc, f)
}

// notFound wraps errdef.ErrNotFound for a missing file and passes other errors on.
func notFound(what string, err error) error {
	if isNotExist(err) {
		return fmt.Errorf("%s: %w", what, errdef.ErrNotFound)
	}
	return fmt.Errorf("%s: %w", what, err)
}
