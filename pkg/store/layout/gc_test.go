package layout_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/opencontainers/go-digest"
	specs "github.com/opencontainers/image-spec/specs-go"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
	"oras.land/oras-go/v2/content"

	"pkgserver.dev/pkgserver/pkg/errdef"
	"pkgserver.dev/pkgserver/pkg/store"
	"pkgserver.dev/pkgserver/pkg/store/layout"
)

const gcRepo = "ns/pkg"

// gcHarness is a store with helpers that push artifacts of various shapes.
type gcHarness struct {
	t    *testing.T
	dir  string
	s    *layout.Store
	repo store.Repository
}

func newGCHarness(t *testing.T) *gcHarness {
	dir := t.TempDir()
	s := open(t, dir)
	repo, err := s.Repository(context.Background(), gcRepo)
	if err != nil {
		t.Fatal(err)
	}
	return &gcHarness{t: t, dir: dir, s: s, repo: repo}
}

func (h *gcHarness) push(mediaType string, data []byte) ocispec.Descriptor {
	h.t.Helper()
	desc := content.NewDescriptorFromBytes(mediaType, data)
	if err := h.repo.Push(context.Background(), desc, bytes.NewReader(data)); err != nil {
		h.t.Fatalf("push %s: %v", desc.Digest, err)
	}
	return desc
}

func (h *gcHarness) marshal(v any) []byte {
	h.t.Helper()
	data, err := json.Marshal(v)
	if err != nil {
		h.t.Fatal(err)
	}
	return data
}

// image pushes a config, a layer and an image manifest; listed says whether
// the manifest is pushed as a manifest (listed) or as a plain blob (not).
// It returns the manifest and all three digests.
func (h *gcHarness) image(seed string, subject *ocispec.Descriptor, listed bool) (ocispec.Descriptor, []ocispec.Descriptor) {
	h.t.Helper()
	config := h.push("application/vnd.test.config+json", []byte(`{"seed":"`+seed+`"}`))
	layer := h.push(ocispec.MediaTypeImageLayer, []byte("layer of "+seed))
	data := h.marshal(ocispec.Manifest{
		Versioned: specs.Versioned{SchemaVersion: 2},
		MediaType: ocispec.MediaTypeImageManifest,
		Config:    config,
		Layers: []ocispec.Descriptor{layer,
			// A foreign layer need not be stored, and is not.
			{MediaType: ocispec.MediaTypeImageLayerNonDistributableGzip, Digest: digest.FromString("foreign"), Size: 7, URLs: []string{"https://example.invalid/l"}}},
		Subject: subject,
	})
	mt := ocispec.MediaTypeImageManifest
	if !listed {
		mt = "application/octet-stream"
	}
	m := h.push(mt, data)
	m.MediaType = ocispec.MediaTypeImageManifest
	return m, []ocispec.Descriptor{m, config, layer}
}

// index pushes an image index of children, listed.
func (h *gcHarness) index(children ...ocispec.Descriptor) ocispec.Descriptor {
	h.t.Helper()
	return h.push(ocispec.MediaTypeImageIndex, h.marshal(ocispec.Index{
		Versioned: specs.Versioned{SchemaVersion: 2},
		MediaType: ocispec.MediaTypeImageIndex,
		Manifests: children,
	}))
}

// age sets the mtime of every blob of the repository to d ago.
func (h *gcHarness) age(d time.Duration) {
	h.t.Helper()
	when := time.Now().Add(-d)
	err := filepath.WalkDir(filepath.Join(layout.RepositoryDir(h.dir, gcRepo), "blobs"), func(p string, e fs.DirEntry, err error) error {
		if err != nil || e.IsDir() {
			return err
		}
		return os.Chtimes(p, when, when)
	})
	if err != nil {
		h.t.Fatal(err)
	}
}

func (h *gcHarness) gc(opts layout.GCOptions) layout.GCResult {
	h.t.Helper()
	res, err := h.s.GC(context.Background(), opts)
	if err != nil {
		h.t.Fatalf("GC: %v", err)
	}
	return res
}

func (h *gcHarness) exists(d ocispec.Descriptor) bool {
	h.t.Helper()
	ok, err := h.repo.Exists(context.Background(), d)
	if err != nil {
		h.t.Fatal(err)
	}
	return ok
}

// TestGCKeepsReferenced: for each shape of artifact, GC removes exactly the
// unreferenced blobs past the grace period and nothing reachable from a
// listed manifest.
func TestGCKeepsReferenced(t *testing.T) {
	ctx := context.Background()
	tests := []struct {
		name string
		// build returns the blobs that must stay and those that must go.
		build func(h *gcHarness) (keep, gone []ocispec.Descriptor)
	}{
		{"tagged image", func(h *gcHarness) (keep, gone []ocispec.Descriptor) {
			m, all := h.image("a", nil, true)
			if err := h.repo.Tag(ctx, m, "v1"); err != nil {
				h.t.Fatal(err)
			}
			return all, nil
		}},
		{"untagged image stays listed", func(h *gcHarness) (keep, gone []ocispec.Descriptor) {
			_, all := h.image("a", nil, true)
			return all, nil
		}},
		{"referrer keeps its unlisted subject", func(h *gcHarness) (keep, gone []ocispec.Descriptor) {
			subject, subjectBlobs := h.image("subject", nil, false)
			_, referrer := h.image("sig", &subject, true)
			return append(subjectBlobs, referrer...), nil
		}},
		{"index keeps its unlisted children", func(h *gcHarness) (keep, gone []ocispec.Descriptor) {
			c1, b1 := h.image("amd64", nil, false)
			c2, b2 := h.image("arm64", nil, true)
			idx := h.index(c1, c2)
			return append(append(b1, b2...), idx), nil
		}},
		{"nested index", func(h *gcHarness) (keep, gone []ocispec.Descriptor) {
			c, b := h.image("leaf", nil, false)
			inner := h.push("application/octet-stream", h.marshal(ocispec.Index{Versioned: specs.Versioned{SchemaVersion: 2}, MediaType: ocispec.MediaTypeImageIndex, Manifests: []ocispec.Descriptor{c}}))
			inner.MediaType = ocispec.MediaTypeImageIndex
			outer := h.index(inner)
			return append(b, inner, outer), nil
		}},
		{"deleted manifest frees its blobs", func(h *gcHarness) (keep, gone []ocispec.Descriptor) {
			keepM, kept := h.image("kept", nil, true)
			if err := h.repo.Tag(ctx, keepM, "v1"); err != nil {
				h.t.Fatal(err)
			}
			m, all := h.image("deleted", nil, true)
			if err := h.repo.Delete(ctx, m); err != nil {
				h.t.Fatal(err)
			}
			return kept, all[1:]
		}},
		{"unlisted manifest alone is garbage", func(h *gcHarness) (keep, gone []ocispec.Descriptor) {
			_, all := h.image("orphan", nil, false)
			return nil, all
		}},
		{"loose blob", func(h *gcHarness) (keep, gone []ocispec.Descriptor) {
			_, all := h.image("a", nil, true)
			return all, []ocispec.Descriptor{h.push("application/octet-stream", []byte("loose"))}
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := newGCHarness(t)
			keep, gone := tt.build(h)
			var bytesGone int64
			for _, d := range gone {
				bytesGone += d.Size
			}
			h.age(2 * time.Hour)
			res := h.gc(layout.GCOptions{})
			for _, d := range keep {
				if !h.exists(d) {
					t.Errorf("referenced blob %s removed", d.Digest)
				}
			}
			for _, d := range gone {
				if h.exists(d) {
					t.Errorf("unreferenced blob %s kept", d.Digest)
				}
			}
			if res.BlobsRemoved != len(gone) || res.BytesFreed != bytesGone || res.Repositories != 1 {
				t.Errorf("GC = %+v, want %d blobs and %d bytes removed from 1 repository", res, len(gone), bytesGone)
			}
			// A second run finds nothing more.
			if res := h.gc(layout.GCOptions{}); res.BlobsRemoved != 0 {
				t.Errorf("second GC removed %d blobs", res.BlobsRemoved)
			}
		})
	}
}

// TestGCGrace: an unreferenced blob younger than the grace period stays, and
// pushing an old one again makes it young.
func TestGCGrace(t *testing.T) {
	h := newGCHarness(t)
	old := h.push("application/octet-stream", []byte("old"))
	repushed := h.push("application/octet-stream", []byte("re-pushed"))
	h.age(2 * time.Hour)
	young := h.push("application/octet-stream", []byte("young"))
	h.push("application/octet-stream", []byte("re-pushed"))
	res := h.gc(layout.GCOptions{Grace: time.Hour})
	if h.exists(old) || !h.exists(young) || !h.exists(repushed) || res.BlobsRemoved != 1 {
		t.Fatalf("after GC: old=%v young=%v re-pushed=%v, %+v; want only old removed",
			h.exists(old), h.exists(young), h.exists(repushed), res)
	}
	h.age(2 * time.Hour)
	if res := h.gc(layout.GCOptions{Grace: 3 * time.Hour}); res.BlobsRemoved != 0 {
		t.Fatalf("GC with a 3h grace removed %d blobs aged 2h", res.BlobsRemoved)
	}
}

// TestGCUploads: abandoned upload files older than the TTL go; fresh ones and
// other files stay.
func TestGCUploads(t *testing.T) {
	h := newGCHarness(t)
	dir := filepath.Join(h.dir, layout.UploadsDir)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	files := map[string]bool{ // name → removed
		layout.UploadFilePrefix + "old":   true,
		layout.UploadFilePrefix + "fresh": false,
		"other-old":                       false,
	}
	for name := range files {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte("12345"), 0o644); err != nil {
			t.Fatal(err)
		}
		if name != layout.UploadFilePrefix+"fresh" {
			when := time.Now().Add(-3 * time.Hour)
			if err := os.Chtimes(p, when, when); err != nil {
				t.Fatal(err)
			}
		}
	}
	res := h.gc(layout.GCOptions{UploadTTL: time.Hour})
	if res.UploadsRemoved != 1 || res.BytesFreed != 5 {
		t.Errorf("GC = %+v, want 1 upload and 5 bytes removed", res)
	}
	for name, removed := range files {
		_, err := os.Stat(filepath.Join(dir, name))
		if removed != os.IsNotExist(err) {
			t.Errorf("%s: removed=%v, want %v", name, os.IsNotExist(err), removed)
		}
	}
}

// TestGCThenManifestPush: a manifest whose blob was swept after it was
// pushed fails with errdef.ErrNotFound ("blob unknown"), and succeeds once
// the blob is pushed again.
func TestGCThenManifestPush(t *testing.T) {
	ctx := context.Background()
	h := newGCHarness(t)
	layer := h.push(ocispec.MediaTypeImageLayer, []byte("layer"))
	config := h.push(ocispec.MediaTypeEmptyJSON, []byte("{}"))
	h.age(2 * time.Hour)
	if res := h.gc(layout.GCOptions{}); res.BlobsRemoved != 2 {
		t.Fatalf("GC = %+v, want both blobs removed", res)
	}
	data := h.marshal(ocispec.Manifest{
		Versioned: specs.Versioned{SchemaVersion: 2},
		MediaType: ocispec.MediaTypeImageManifest,
		Config:    config,
		Layers:    []ocispec.Descriptor{layer},
	})
	m := content.NewDescriptorFromBytes(ocispec.MediaTypeImageManifest, data)
	err := h.repo.(store.ReferencePusher).PushReference(ctx, m, bytes.NewReader(data), "v1")
	if !errors.Is(err, errdef.ErrNotFound) {
		t.Fatalf("manifest push after its blobs were swept = %v, want errdef.ErrNotFound", err)
	}
	if _, err := h.repo.Resolve(ctx, "v1"); !errors.Is(err, errdef.ErrNotFound) {
		t.Fatalf("v1 listed after a failed push: %v", err)
	}
	h.push(ocispec.MediaTypeImageLayer, []byte("layer"))
	h.push(ocispec.MediaTypeEmptyJSON, []byte("{}"))
	if err := h.repo.(store.ReferencePusher).PushReference(ctx, m, bytes.NewReader(data), "v1"); err != nil {
		t.Fatalf("manifest push after re-pushing the blobs: %v", err)
	}
}
