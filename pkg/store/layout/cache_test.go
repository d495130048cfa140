package layout

import (
	"bytes"
	"context"
	"fmt"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
	"oras.land/oras-go/v2/content"

	"pkgserver.dev/pkgserver/pkg/store/layout/internal/fsys"
)

// Only maxLoaded indexes stay in memory; the others are read again from disk
// and say the same thing. Fails if loaded indexes are never let go, or if a
// dropped one loses a tag.
func TestIndexCacheBounded(t *testing.T) {
	ctx := context.Background()
	s, err := Open(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	s.maxLoaded = 3
	const n = 10
	tagged := map[string]ocispec.Descriptor{}
	for i := range n {
		name := fmt.Sprintf("cache/p%d", i)
		r, err := s.repository(name)
		if err != nil {
			t.Fatal(err)
		}
		m := []byte(fmt.Sprintf(`{"schemaVersion":2,"mediaType":%q,"config":{"mediaType":"application/vnd.oci.empty.v1+json","digest":"sha256:44136fa355b3678a1146ad16f7e8649e94fb4fc21fe77e8310c060f61caaff8a","size":2},"layers":[],"annotations":{"i":"%d"}}`, ocispec.MediaTypeImageManifest, i))
		empty := ocispec.DescriptorEmptyJSON
		if err := r.Push(ctx, empty, bytes.NewReader(empty.Data)); err != nil {
			t.Fatal(err)
		}
		d := content.NewDescriptorFromBytes(ocispec.MediaTypeImageManifest, m)
		if err := r.PushReference(ctx, d, bytes.NewReader(m), "v1"); err != nil {
			t.Fatal(err)
		}
		tagged[name] = d
	}
	for round := range 2 {
		for name, want := range tagged {
			r, _ := s.repository(name)
			got, err := r.Resolve(ctx, "v1")
			if err != nil || got.Digest != want.Digest {
				t.Fatalf("round %d: %s:v1 = %v, %v; want %s", round, name, got.Digest, err, want.Digest)
			}
		}
		loaded := 0
		for _, r := range s.repos {
			r.mu.Lock()
			if r.idx != nil {
				loaded++
			}
			r.mu.Unlock()
		}
		if loaded > s.maxLoaded {
			t.Fatalf("round %d: %d indexes in memory, want at most %d", round, loaded, s.maxLoaded)
		}
	}
}

// openCounter counts the blob files opened through it.
type openCounter struct {
	fsys.FS
	mu    sync.Mutex
	blobs int
}

func (c *openCounter) Open(name string) (fsys.File, error) {
	if strings.Contains(filepath.ToSlash(name), "/"+blobsDir+"/") {
		c.mu.Lock()
		c.blobs++
		c.mu.Unlock()
	}
	return c.FS.Open(name)
}

func (c *openCounter) opened() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.blobs
}

// Loading a repository reads index.json alone: tags and resolves read no
// manifest, and what needs one (Referrers, a tag moved) reads it then.
// Fails if a load reads every manifest again, the cost of a full scan.
func TestLoadReadsNoManifest(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	s, err := Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	r, err := s.repository("lazy/p")
	if err != nil {
		t.Fatal(err)
	}
	empty := ocispec.DescriptorEmptyJSON
	if err := r.Push(ctx, empty, bytes.NewReader(empty.Data)); err != nil {
		t.Fatal(err)
	}
	manifest := func(extra string) ([]byte, ocispec.Descriptor) {
		m := []byte(fmt.Sprintf(`{"schemaVersion":2,"mediaType":%q,"artifactType":"application/x.test","config":{"mediaType":"application/vnd.oci.empty.v1+json","digest":%q,"size":2},"layers":[]%s}`,
			ocispec.MediaTypeImageManifest, empty.Digest, extra))
		return m, content.NewDescriptorFromBytes(ocispec.MediaTypeImageManifest, m)
	}
	subjectData, subject := manifest("")
	if err := r.PushReference(ctx, subject, bytes.NewReader(subjectData), "v1"); err != nil {
		t.Fatal(err)
	}
	refData, ref := manifest(fmt.Sprintf(`,"subject":{"mediaType":%q,"digest":%q,"size":%d}`, subject.MediaType, subject.Digest, subject.Size))
	if err := r.Push(ctx, ref, bytes.NewReader(refData)); err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}

	counter := &openCounter{FS: fsys.OS{}}
	s, err = openFS(dir, counter)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	r, err = s.repository("lazy/p")
	if err != nil {
		t.Fatal(err)
	}
	if d, err := r.Resolve(ctx, "v1"); err != nil || d.Digest != subject.Digest {
		t.Fatalf("Resolve v1 = %v, %v", d.Digest, err)
	}
	if err := r.Tags(ctx, "", func([]string) error { return nil }); err != nil {
		t.Fatal(err)
	}
	if n := counter.opened(); n != 0 {
		t.Fatalf("a load, a resolve and a tag list opened %d blobs, want 0", n)
	}
	var refs []ocispec.Descriptor
	err = r.Referrers(ctx, subject, "", func(p []ocispec.Descriptor) error { refs = append(refs, p...); return nil })
	if err != nil || len(refs) != 1 || refs[0].Digest != ref.Digest || refs[0].ArtifactType != "application/x.test" {
		t.Fatalf("Referrers after a lazy load = %+v, %v", refs, err)
	}
	if counter.opened() == 0 {
		t.Fatal("Referrers read no manifest: it cannot know their subjects")
	}
	// Moving v1 keeps the old manifest listed with its artifact type.
	if err := r.Tag(ctx, ref, "v1"); err != nil {
		t.Fatal(err)
	}
	r.mu.Lock()
	idx, err := r.index()
	var kept ocispec.Descriptor
	if err == nil {
		kept, _ = idx.find("", subject.Digest)
	}
	r.mu.Unlock()
	if err != nil || kept.Digest != subject.Digest || kept.ArtifactType != "application/x.test" {
		t.Fatalf("the manifest v1 left = %+v, %v", kept, err)
	}
}
