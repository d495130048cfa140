package layout

import (
	"bytes"
	"context"
	"fmt"
	"testing"

	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
	"oras.land/oras-go/v2/content"
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
