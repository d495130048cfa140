package layout_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math/rand/v2"
	"sync"
	"sync/atomic"
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

// keeper is an acknowledged tag that is never deleted, with what it refers to.
type keeper struct {
	repo, tag string
	manifest  ocispec.Descriptor
	blobs     []ocispec.Descriptor
}

// TestGCConcurrentPushes runs garbage collection without a grace period in a
// loop while writers push, re-push, mount and delete artifacts whose layers
// come from a small pool (so blobs keep becoming garbage and being used
// again). A checker verifies all along that every acknowledged, never
// deleted tag resolves and that all its blobs are stored: GC must never
// remove a referenced blob, and a manifest push must never succeed with a
// blob swept from under it (it fails with errdef.ErrNotFound, and the writer
// pushes the blobs again, as the engine does).
func TestGCConcurrentPushes(t *testing.T) {
	ctx := context.Background()
	s := open(t, t.TempDir())
	const writers, rounds = 4, 25
	var (
		mu      sync.Mutex
		keepers []keeper
		retries atomic.Int64
	)
	pool := func(r *rand.Rand) []byte { return fmt.Appendf(nil, "layer %d", r.IntN(6)) }

	// pushArtifact pushes blobs then the manifest by tag, again while the
	// manifest push reports a swept blob.
	pushArtifact := func(repo store.Repository, tag string, blobs []ocispec.Descriptor, data map[digest.Digest][]byte) (ocispec.Descriptor, error) {
		mdata, err := json.Marshal(ocispec.Manifest{
			Versioned: specs.Versioned{SchemaVersion: 2},
			MediaType: ocispec.MediaTypeImageManifest,
			Config:    blobs[0],
			Layers:    blobs[1:],
			// Each push its own manifest, so a victim's delete is its own.
			Annotations: map[string]string{"tag": tag},
		})
		if err != nil {
			return ocispec.Descriptor{}, err
		}
		m := content.NewDescriptorFromBytes(ocispec.MediaTypeImageManifest, mdata)
		for attempt := 0; ; attempt++ {
			for _, b := range blobs {
				if err := repo.Push(ctx, b, bytes.NewReader(data[b.Digest])); err != nil {
					return m, err
				}
			}
			err := repo.(store.ReferencePusher).PushReference(ctx, m, bytes.NewReader(mdata), tag)
			if err == nil || !errors.Is(err, errdef.ErrNotFound) || attempt == 100 {
				return m, err
			}
			retries.Add(1)
		}
	}

	done := make(chan struct{})
	var wg sync.WaitGroup
	var gcRuns, removed atomic.Int64
	wg.Go(func() {
		for {
			select {
			case <-done:
				return
			default:
			}
			res, err := s.GC(ctx, layout.GCOptions{Grace: time.Nanosecond})
			if err != nil {
				t.Errorf("GC: %v", err)
				return
			}
			gcRuns.Add(1)
			removed.Add(int64(res.BlobsRemoved))
		}
	})
	check := func() {
		mu.Lock()
		snapshot := append([]keeper(nil), keepers...)
		mu.Unlock()
		for _, k := range snapshot {
			repo, _ := s.Repository(ctx, k.repo)
			got, err := repo.Resolve(ctx, k.tag)
			if err != nil || got.Digest != k.manifest.Digest {
				t.Errorf("acknowledged %s:%s = %v, %v; want %s", k.repo, k.tag, got.Digest, err, k.manifest.Digest)
			}
			for _, b := range append(k.blobs, k.manifest) {
				if ok, err := repo.Exists(ctx, b); !ok || err != nil {
					t.Errorf("%s:%s refers to %s, which is gone (%v)", k.repo, k.tag, b.Digest, err)
				}
			}
		}
	}
	wg.Go(func() {
		for {
			select {
			case <-done:
				return
			default:
				check()
			}
		}
	})

	var writersWG sync.WaitGroup
	for w := range writers {
		writersWG.Go(func() {
			r := rand.New(rand.NewPCG(uint64(w), 9))
			name := []string{"ns/a", "ns/b"}[w%2]
			repo, _ := s.Repository(ctx, name)
			for i := range rounds {
				config := []byte("{}")
				layer, shared := pool(r), []byte("shared layer")
				data := map[digest.Digest][]byte{}
				var blobs []ocispec.Descriptor
				for _, b := range [][]byte{config, layer, shared} {
					d := content.NewDescriptorFromBytes(ocispec.MediaTypeImageLayer, b)
					data[d.Digest], blobs = b, append(blobs, d)
				}
				if i%5 == 0 {
					// Mount the shared layer from the other repository first.
					other := []string{"ns/a", "ns/b"}[(w+1)%2]
					_ = repo.(store.Mounter).Mount(ctx, blobs[2], other, nil)
				}
				tag := fmt.Sprintf("w%d-%d", w, i)
				m, err := pushArtifact(repo, tag, blobs, data)
				if err != nil {
					t.Errorf("push %s:%s: %v", name, tag, err)
					return
				}
				if i%2 == 1 {
					// A victim: deleted, its blobs become garbage.
					if err := repo.Delete(ctx, m); err != nil {
						t.Errorf("delete %s: %v", m.Digest, err)
					}
					continue
				}
				mu.Lock()
				keepers = append(keepers, keeper{name, tag, m, blobs})
				mu.Unlock()
			}
		})
	}
	writersWG.Wait()
	close(done)
	wg.Wait()
	if _, err := s.GC(ctx, layout.GCOptions{Grace: time.Nanosecond}); err != nil {
		t.Fatal(err)
	}
	check()
	t.Logf("%d GC runs removed %d blobs; %d manifest pushes retried after a sweep", gcRuns.Load(), removed.Load(), retries.Load())
	if gcRuns.Load() == 0 || removed.Load() == 0 {
		t.Fatalf("GC ran %d times and removed %d blobs: the test did not exercise it", gcRuns.Load(), removed.Load())
	}
}
