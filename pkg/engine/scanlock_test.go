package engine_test

import (
	"bytes"
	"context"
	"io"
	"log/slog"
	"path/filepath"
	"sync"
	"testing"
	"time"

	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
	"oras.land/oras-go/v2/content"

	configapi "pkgserver.dev/pkgserver/api/config/v1alpha1"
	"pkgserver.dev/pkgserver/pkg/coord"
	"pkgserver.dev/pkgserver/pkg/coord/local"
	"pkgserver.dev/pkgserver/pkg/engine"
	"pkgserver.dev/pkgserver/pkg/store/layout"
)

// lockCounter counts the locks taken, by key.
type lockCounter struct {
	coord.Coordinator
	mu    sync.Mutex
	locks map[string]int
}

func (c *lockCounter) Lock(ctx context.Context, key string) (coord.Held, error) {
	c.mu.Lock()
	c.locks[key]++
	c.mu.Unlock()
	return c.Coordinator.Lock(ctx, key)
}

func (c *lockCounter) take() map[string]int {
	c.mu.Lock()
	defer c.mu.Unlock()
	m := c.locks
	c.locks = map[string]int{}
	return m
}

// A rescan that finds an OCI repository under the prefix with no tracked
// tag (an artifact that is not a package, or a package path declared but
// not pushed yet) takes no lock. Fails if every rescan locks each such path
// (with etcd: a lock, a head read, an intent read, a publish transaction
// and an unlock, per path, per rescan).
func TestRescanLocksNoPathWithoutPackages(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	st, err := layout.Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	lc, err := local.Open(filepath.Join(dir, "state"))
	if err != nil {
		t.Fatal(err)
	}
	c := &lockCounter{Coordinator: lc, locks: map[string]int{}}
	now := time.Date(2025, 6, 1, 12, 0, 0, 0, time.UTC)
	var nmu sync.Mutex
	eng, err := engine.New(engine.Options{
		Coordinator: c, StateDir: filepath.Join(dir, "state"), Embedded: st, EmbeddedAddress: embeddedAddr,
		Now:    func() time.Time { nmu.Lock(); defer nmu.Unlock(); now = now.Add(time.Second); return now },
		Logger: slog.New(slog.NewTextHandler(io.Discard, nil)),
	})
	if err != nil {
		t.Fatal(err)
	}
	if err := eng.Start(ctx); err != nil {
		t.Fatal(err)
	}
	defer eng.Close()
	if _, err := eng.CreateRepository(ctx, &configapi.Repository{ObjectMeta: metaNS("cat")}); err != nil {
		t.Fatal(err)
	}
	// Ten OCI repositories under the prefix, tagged "latest" only.
	for _, p := range []string{"a", "b", "c", "d", "e", "f", "g", "h", "i", "j"} {
		r, err := st.Repository(ctx, testNS+"/cat/"+p)
		if err != nil {
			t.Fatal(err)
		}
		empty := ocispec.DescriptorEmptyJSON
		if err := r.Push(ctx, empty, bytes.NewReader(empty.Data)); err != nil {
			t.Fatal(err)
		}
		m := []byte(`{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json","config":{"mediaType":"application/vnd.oci.empty.v1+json","digest":"` + string(empty.Digest) + `","size":2},"layers":[]}`)
		md := content.NewDescriptorFromBytes(ocispec.MediaTypeImageManifest, m)
		if err := r.(interface {
			PushReference(context.Context, ocispec.Descriptor, io.Reader, string) error
		}).PushReference(ctx, md, bytes.NewReader(m), "latest"); err != nil {
			t.Fatal(err)
		}
	}
	if err := eng.Rescan(ctx); err != nil {
		t.Fatal(err)
	}
	c.take()
	if err := eng.Rescan(ctx); err != nil {
		t.Fatal(err)
	}
	if got := c.take(); len(got) != 0 {
		t.Errorf("a rescan that finds nothing new took locks: %v", got)
	}
}
