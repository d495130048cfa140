package layout

import (
	"fmt"
	"path/filepath"

	"github.com/opencontainers/go-digest"

	"pkgserver.dev/pkgserver/pkg/errdef"
)

// On disk (docs/operations.md, "The embedded store"):
//
//	<data-dir>/repositories/<name>/_/oci-layout
//	<data-dir>/repositories/<name>/_/index.json
//	<data-dir>/repositories/<name>/_/blobs/<alg>/<encoded>
//
// Repository names become directories so that the tree reads like the
// registry, and each layout sits in a directory "_" below its name. No
// component of a repository name can be "_" (the distribution spec's <name>
// components start with a letter or digit), so no repository path, such as
// "a/index.json" or "a/blobs/sha256/x", can reach a file of another
// repository's layout. Data directories of the previous mapping (the layout
// files right in <name>/) are moved into place by Open; see migrate.go.
const (
	reposDir      = "repositories"
	layoutDirName = "_"
	blobsDir      = "blobs"
)

// UploadsDir is the directory under the data directory where the /v2/
// registry keeps its upload sessions; GC removes abandoned ones.
const UploadsDir = "uploads"

// UploadFilePrefix starts the name of every upload session file in UploadsDir.
const UploadFilePrefix = "pkgserver-upload-"

// RepositoryDir returns the OCI image layout directory of repository name in
// data directory dataDir, for tools that write a layout directly (the store
// must not be open). name must be valid.
func RepositoryDir(dataDir, name string) string {
	return filepath.Join(dataDir, reposDir, filepath.FromSlash(name), layoutDirName)
}

// blobPath is blobs/<alg>/<encoded> inside a layout directory
// (image-spec image-layout.md, "Blobs"). The digest is validated first so
// that it can never escape the directory.
func blobPath(layoutDir string, d digest.Digest) (string, error) {
	if err := d.Validate(); err != nil {
		return "", fmt.Errorf("digest %q: %w: %w", d, errdef.ErrInvalid, err)
	}
	return filepath.Join(layoutDir, blobsDir, d.Algorithm().String(), d.Encoded()), nil
}
