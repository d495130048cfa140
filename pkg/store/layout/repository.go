package layout

import (
	"encoding/json"
	"fmt"
	"path/filepath"
	"sync"

	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"

	"pkgserver.dev/pkgserver/pkg/errdef"
	"pkgserver.dev/pkgserver/pkg/names"
	"pkgserver.dev/pkgserver/pkg/store"
)

// Repository is one OCI image layout directory. Get one from Store.Repository.
type Repository struct {
	s    *Store
	name string
	dir  string // the layout directory, <data-dir>/repositories/<name>/_

	// mu guards idx and every index.json write, and is held by garbage
	// collection while it marks and sweeps this repository, so a manifest
	// push checks its references against blobs no sweep is removing.
	mu  sync.Mutex
	idx *index // nil until first loaded
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
	_, err := r.s.fs.Stat(filepath.Join(r.dir, ocispec.ImageLayoutFile))
	return err == nil
}

// create makes the layout directory and its oci-layout file; the file is
// written last so that a half-created repository is not listed.
func (r *Repository) create() error {
	if r.exists() {
		return nil
	}
	end, err := r.s.beginWrite()
	if err != nil {
		return err
	}
	defer end()
	if err := r.s.mkdirAll(filepath.Join(r.dir, blobsDir, digest.Canonical.String())); err != nil {
		return fmt.Errorf("layout: create repository %s: %w", r.name, err)
	}
	data, err := json.Marshal(ocispec.ImageLayout{Version: ocispec.ImageLayoutVersion})
	if err != nil {
		return err
	}
	if err := writeFileAtomic(r.s.fs, filepath.Join(r.dir, ocispec.ImageLayoutFile), data); err != nil {
		return fmt.Errorf("layout: create repository %s: %w", r.name, err)
	}
	return nil
}

// index returns the in-memory index, loading it on first use. r.mu must be held.
func (r *Repository) index() (*index, error) {
	if r.idx != nil {
		return r.idx, nil
	}
	idx, err := loadIndex(r.s.fs, r.dir)
	if err != nil {
		return nil, fmt.Errorf("layout: repository %s: %w", r.name, err)
	}
	r.idx = idx
	r.s.loaded(r)
	return idx, nil
}

// update runs change on the index and saves it; on a failed save the memory
// copy is rolled back so that memory never differs from disk.
func (r *Repository) update(change func(idx *index) (bool, error)) error {
	end, err := r.s.beginWrite()
	if err != nil {
		return err
	}
	defer end()
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
	if err := idx.save(r.s.fs, r.dir); err != nil {
		*idx = saved
		return fmt.Errorf("layout: repository %s: write index.json: %w", r.name, err)
	}
	return nil
}

// checkRefs makes sure that what manifest d refers to is stored, before it is
// listed. It runs under r.mu, which garbage collection holds while sweeping,
// so a blob checked here cannot be swept before the index lists d. A missing
// blob is errdef.ErrNotFound, so that a writer pushes it again and retries.
// The subject may be missing ("Pushing Manifests with Subject").
func (r *Repository) checkRefs(d digest.Digest, info manifestInfo) error {
	for _, b := range append(info.blobs[:len(info.blobs):len(info.blobs)], info.children...) {
		path, err := blobPath(r.dir, b)
		if err != nil {
			return fmt.Errorf("layout: %s: manifest %s: %w", r.name, d, err)
		}
		if _, err := r.s.fs.Stat(path); err != nil {
			// Missing content, and still not found for the /v2/ API's
			// MANIFEST_BLOB_UNKNOWN.
			return fmt.Errorf("%w: %w", errdef.ErrMissingContent, notFound(fmt.Sprintf("layout: %s: manifest %s: blob unknown: %s", r.name, d, b), err))
		}
	}
	return nil
}

// readManifest reads and parses a stored manifest.
func (r *Repository) readManifest(d digest.Digest) ([]byte, manifestInfo, error) {
	path, err := blobPath(r.dir, d)
	if err != nil {
		return nil, manifestInfo{}, err
	}
	data, err := readFile(r.s.fs, path)
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

// errNoRepo is returned for reads of a repository that was never written.
func errNoRepo(name string) error {
	return fmt.Errorf("layout: repository %s: %w", name, errdef.ErrNotFound)
}
