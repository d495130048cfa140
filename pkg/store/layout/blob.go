package layout

import (
	_ "crypto/sha256" // register sha256 with go-digest
	_ "crypto/sha512" // register sha512 (and sha384) with go-digest
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"

	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
	"oras.land/oras-go/v2/content"

	"pkgserver.dev/pkgserver/pkg/errdef"
)

// blobPath is blobs/<alg>/<encoded> inside a repository directory
// (image-spec image-layout.md, "Blobs"). The digest is validated first so
// that it can never escape the directory.
func blobPath(repoDir string, d digest.Digest) (string, error) {
	if err := d.Validate(); err != nil {
		return "", fmt.Errorf("digest %q: %w: %w", d, errdef.ErrInvalid, err)
	}
	return filepath.Join(repoDir, "blobs", d.Algorithm().String(), d.Encoded()), nil
}

// writeBlob stores content at its digest path. It hashes and counts while
// writing to a temp file, refuses a mismatch, fsyncs, then renames into place.
// An already present blob is left alone: blobs are content-addressed, so the
// push is idempotent.
func writeBlob(repoDir string, expected ocispec.Descriptor, r io.Reader) error {
	path, err := blobPath(repoDir, expected.Digest)
	if err != nil {
		return err
	}
	if _, err := os.Stat(path); err == nil {
		return nil
	}
	dir := filepath.Dir(path)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	f, err := os.CreateTemp(dir, tmpPrefix+"blob-")
	if err != nil {
		return err
	}
	tmp := f.Name()
	defer os.Remove(tmp) // no-op after a successful rename
	verifier := expected.Digest.Verifier()
	// Read one byte past the expected size to detect longer content.
	n, err := io.Copy(io.MultiWriter(f, verifier), io.LimitReader(r, expected.Size+1))
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
	if err := os.Rename(tmp, path); err != nil {
		return err
	}
	return syncDir(dir)
}

// linkBlob makes the blob at src available at the same digest in repoDir,
// by hard link when possible (same inode, no copy) and by copy otherwise.
func linkBlob(repoDir, src string, desc ocispec.Descriptor) error {
	dst, err := blobPath(repoDir, desc.Digest)
	if err != nil {
		return err
	}
	if _, err := os.Stat(dst); err == nil {
		return nil
	}
	if err := os.MkdirAll(filepath.Dir(dst), 0o755); err != nil {
		return err
	}
	// link(2) is atomic: dst either appears complete or not at all.
	if err := os.Link(src, dst); err == nil || errors.Is(err, os.ErrExist) {
		return syncDir(filepath.Dir(dst))
	}
	f, err := os.Open(src)
	if err != nil {
		return err
	}
	defer f.Close()
	return writeBlob(repoDir, desc, f)
}

// notFound wraps errdef.ErrNotFound for a missing file and passes other errors on.
func notFound(what string, err error) error {
	if errors.Is(err, os.ErrNotExist) {
		return fmt.Errorf("%s: %w", what, errdef.ErrNotFound)
	}
	return fmt.Errorf("%s: %w", what, err)
}
