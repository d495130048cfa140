package layout

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
	"oras.land/oras-go/v2/content"

	"pkgserver.dev/pkgserver/pkg/store/layout/internal/fsys"
)

// failOpen fails Open of one file (a transient EIO, EMFILE...) while armed.
type failOpen struct {
	fsys.FS
	mu    sync.Mutex
	path  string
	err   error
	armed bool
}

func (f *failOpen) Open(name string) (fsys.File, error) {
	f.mu.Lock()
	fail := f.armed && filepath.Clean(name) == filepath.Clean(f.path)
	f.mu.Unlock()
	if fail {
		return nil, &os.PathError{Op: "open", Path: name, Err: f.err}
	}
	return f.FS.Open(name)
}

func (f *failOpen) arm(path string, err error) {
	f.mu.Lock()
	f.path, f.err, f.armed = path, err, true
	f.mu.Unlock()
}

// pushTestImage pushes a config, a layer and a manifest tagged tag; it returns
// the manifest and the two blobs.
func pushTestImage(t *testing.T, r *Repository, tag string, extra string) (ocispec.Descriptor, []ocispec.Descriptor) {
	t.Helper()
	ctx := context.Background()
	cfgData := []byte(`{"cfg":"` + tag + `"}`)
	cfg := content.NewDescriptorFromBytes("application/vnd.test.config+json", cfgData)
	layerData := []byte("layer of " + tag)
	layer := content.NewDescriptorFromBytes(ocispec.MediaTypeImageLayer, layerData)
	for _, b := range []struct {
		d ocispec.Descriptor
		b []byte
	}{{cfg, cfgData}, {layer, layerData}} {
		if err := r.Push(ctx, b.d, bytes.NewReader(b.b)); err != nil {
			t.Fatal(err)
		}
	}
	m := []byte(fmt.Sprintf(`{"schemaVersion":2,"mediaType":%q,"config":{"mediaType":%q,"digest":%q,"size":%d},"layers":[{"mediaType":%q,"digest":%q,"size":%d}]%s}`,
		ocispec.MediaTypeImageManifest, cfg.MediaType, cfg.Digest, cfg.Size, layer.MediaType, layer.Digest, layer.Size, extra))
	md := content.NewDescriptorFromBytes(ocispec.MediaTypeImageManifest, m)
	if err := r.PushReference(ctx, md, bytes.NewReader(m), tag); err != nil {
		t.Fatal(err)
	}
	return md, []ocispec.Descriptor{cfg, layer}
}

func ageBlobs(t *testing.T, repoDir string) {
	t.Helper()
	old := time.Now().Add(-48 * time.Hour)
	err := filepath.Walk(filepath.Join(repoDir, blobsDir), func(p string, fi os.FileInfo, err error) error {
		if err != nil || fi.IsDir() {
			return err
		}
		return os.Chtimes(p, old, old)
	})
	if err != nil {
		t.Fatal(err)
	}
}

// A transient error reading a listed manifest during GC (EIO, EMFILE) must
// not make GC delete what that manifest refers to: GC leaves the repository
// alone and says why. Fails if mark takes the error for "not a manifest"
// and sweep deletes the config and layers of a tagged, live image.
func TestGCKeepsBlobsOfUnreadableManifest(t *testing.T) {
	dir := t.TempDir()
	s, err := Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	r, _ := s.repository("gc/p")
	m, blobs := pushTestImage(t, r, "v1", "")
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	ageBlobs(t, r.dir)

	f := &failOpen{FS: fsys.OS{}}
	s, err = openFS(dir, f)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	r, _ = s.repository("gc/p")
	mpath, _ := blobPath(r.dir, m.Digest)
	f.arm(mpath, syscall.EMFILE) // too many open files, for a moment
	res, gcErr := s.GC(context.Background(), GCOptions{})
	f.mu.Lock()
	f.armed = false
	f.mu.Unlock()
	if gcErr == nil {
		t.Errorf("GC (%+v) said nothing of the manifest it could not read", res)
	}
	for _, b := range blobs {
		p, _ := blobPath(r.dir, b.Digest)
		if _, err := os.Stat(p); err != nil {
			t.Errorf("blob %s of tagged manifest v1 deleted by GC after a transient read error (GC err: %v)", b.Digest, gcErr)
		}
	}
}

// A listed manifest over maxManifestSize (Tag of a manifest stored as a
// plain blob reads it with no limit) keeps its blobs. Fails if mark skips
// it as too large to be a manifest and sweeps its config.
func TestGCKeepsBlobsOfLargeListedManifest(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	s, err := Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	r, _ := s.repository("gc/big")
	cfgData := []byte(`{"cfg":1}`)
	cfg := content.NewDescriptorFromBytes("application/vnd.test.config+json", cfgData)
	if err := r.Push(ctx, cfg, bytes.NewReader(cfgData)); err != nil {
		t.Fatal(err)
	}
	big := strings.Repeat("x", maxManifestSize+1)
	m := []byte(fmt.Sprintf(`{"schemaVersion":2,"mediaType":%q,"config":{"mediaType":%q,"digest":%q,"size":%d},"layers":[],"annotations":{"big":%q}}`,
		ocispec.MediaTypeImageManifest, cfg.MediaType, cfg.Digest, cfg.Size, big))
	asBlob := content.NewDescriptorFromBytes("application/octet-stream", m)
	if err := r.Push(ctx, asBlob, bytes.NewReader(m)); err != nil {
		t.Fatal(err)
	}
	md := ocispec.Descriptor{MediaType: ocispec.MediaTypeImageManifest, Digest: asBlob.Digest, Size: asBlob.Size}
	if err := r.Tag(ctx, md, "big"); err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	ageBlobs(t, r.dir)
	s, err = Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	r, _ = s.repository("gc/big")
	if _, err := r.Resolve(ctx, "big"); err != nil {
		t.Fatal(err)
	}
	res, err := s.GC(ctx, GCOptions{})
	t.Logf("GC: %+v, %v", res, err)
	p, _ := blobPath(r.dir, cfg.Digest)
	if _, err := os.Stat(p); err != nil {
		t.Errorf("config %s of tagged manifest 'big' deleted by GC", cfg.Digest)
	}
}

// Referrers after a lazy load equals Referrers with every info in memory:
// same set, order and fields, a manifest listed twice (two tags) once.
func TestReferrersSameAfterReload(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	s, err := Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	r, _ := s.repository("gc/refs")
	subj, _ := pushTestImage(t, r, "subj", "")
	sub := fmt.Sprintf(`,"subject":{"mediaType":%q,"digest":%q,"size":%d},"artifactType":"application/x.sig","annotations":{"a":"b"}`, subj.MediaType, subj.Digest, subj.Size)
	var want []digest.Digest
	for i := range 5 {
		m, _ := pushTestImage(t, r, fmt.Sprintf("r%d", i), sub)
		if err := r.Tag(ctx, m, fmt.Sprintf("again%d", i)); err != nil {
			t.Fatal(err)
		}
		want = append(want, m.Digest)
	}
	list := func(r *Repository) []ocispec.Descriptor {
		var out []ocispec.Descriptor
		if err := r.Referrers(ctx, subj, "", func(p []ocispec.Descriptor) error { out = append(out, p...); return nil }); err != nil {
			t.Fatal(err)
		}
		return out
	}
	before := list(r)
	s.Close()
	s, _ = Open(dir)
	defer s.Close()
	r, _ = s.repository("gc/refs")
	after := list(r)
	if fmt.Sprint(before) != fmt.Sprint(after) || len(after) != len(want) {
		t.Fatalf("before %v\nafter %v", before, after)
	}
}
