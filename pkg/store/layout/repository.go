package layout

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sync"

	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"

	"pkgserver.dev/pkgserver/pkg/names"
	"pkgserver.dev/pkgserver/pkg/store"
)

// Repository is one OCI image layout directory. Get one from Store.Repository.
type Repository struct {
	s    *Store
	name string
	dir  string

	mu  sync.Mutex // guards idx and every index.json write
	idx *index     // nil until first loaded
}

var (
	_ store.Repository      = (*Repository)(nil)
	_ store.ReferencePusher = (*Repository)(nil)
	_ store.Untagger        = (*Repository)(nil)
	_ store.ReferrerLister  = (*Repository)(nil)
	_ store.Mounter         = (*Repository)(nil)
)

// maxManifestSize bounds manifests read into memory (distribution's limit is 4 MiB).
const maxManifestSize = 4 << 20

// manifestMediaTypes are the media types stored as manifests (listed in index.json).
var manifestMediaTypes = map[string]bool{
	ocispec.MediaTypeImageManifest:                              true,
	ocispec.MediaTypeImageIndex:                                 true,
	"application/vnd.docker.distribution.manifest.v2+json":      true,
	"application/vnd.docker.distribution.manifest.list.v2+json": true,
}

func validateTag(tag string) error {
	if err := names.ValidateOCITag(tag); err != nil {
		return fmt.Errorf("layout: %w", err)
	}
	return nil
}

// exists reports whether the repository has been created (has its oci-layout file).
func (r *Repository) exists() bool {
	_, err := os.Stat(filepath.Join(r.dir, ocispec.ImageLayoutFile))
	return err == nil
}

// create makes the repository directory and its oci-layout file; the file is
// written last so that a half-created repository is not listed.
func (r *Repository) create() error {
	if r.exists() {
		return nil
	}
	if err := os.MkdirAll(r.dir, 0o755); err != nil {
		return fmt.Errorf("layout: create repository %s: %w", r.name, err)
	}
	data, err := json.Marshal(ocispec.ImageLayout{Version: ocispec.ImageLayoutVersion})
	if err != nil {
		return err
	}
	if err := writeFileAtomic(filepath.Join(r.dir, ocispec.ImageLayoutFile), data); err != nil {
		return fmt.Errorf("layout: create repository %s: %w", r.name, err)
	}
	return nil
}

// index returns the in-memory index, loading it on first use. r.mu must be held.
func (r *Repository) index() (*index, error) {
	if r.idx != nil {
		return r.idx, nil
	}
	idx, err := loadIndex(r.dir)
	if err != nil {
		return nil, fmt.Errorf("layout: repository %s: %w", r.name, err)
	}
	r.idx = idx
	return idx, nil
}

// update runs change on the index and saves it; on a failed save the memory
// copy is rolled back so that memory never differs from disk.
func (r *Repository) update(change func(idx *index) (bool, error)) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	idx, err := r.index()
	if err != nil {
		return err
	}
	saved := idx.snapshot()
	changed, err := change(idx)
	if err != nil || !changed {
		*idx = saved
		return err
	}
	if err := idx.save(r.dir); err != nil {
		*idx = saved
		return fmt.Errorf("layout: repository %s: write index.json: %w", r.name, err)
	}
	return nil
}

// readManifest reads and parses a stored manifest.
func (r *Repository) readManifest(d digest.Digest) ([]byte, manifestInfo, error) {
	path, err := blobPath(r.dir, d)
	if err != nil {
		return nil, manifestInfo{}, err
	}
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, manifestInfo{}, notFound(fmt.Sprintf("layout: %s@%s", r.name, d), err)
	}
	info, err := parseManifestInfo(data)
	return data, info, err
}

// mediaTypeOf returns the mediaType field of a manifest ("" if absent).
func mediaTypeOf(data []byte) string {
	var m struct {
		MediaType string `json:"mediaType"`
	}
	if json.Unmarshal(data, &m) != nil {
		return ""
	}
	return m.MediaType
}

// isNotExist reports a missing file or directory.
func isNotExist(err error) bool { return errors.Is(err, os.ErrNotExist) }
