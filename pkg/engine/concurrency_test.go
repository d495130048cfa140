package engine_test

import (
	"context"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	ocispec "github.com/opencontainers/image-spec/specs-go/v1"

	pkgapi "pkgserver.dev/pkgserver/api/pkg/v1alpha1"
	"pkgserver.dev/pkgserver/pkg/store"
	"pkgserver.dev/pkgserver/pkg/store/layout"
)

// Regression tests for two races a review found: a create that cloned from
// another package while holding its own package's lock could deadlock with the
// reverse clone; a rescan dropped a package created while it listed.

// slowLister pauses a listing of the registry on demand.
type slowLister struct {
	*layout.Store
	gate    chan struct{}
	blocked atomic.Bool
	hit     chan struct{}
}

func (s *slowLister) Repositories(ctx context.Context, last string, fn func([]string) error) error {
	var all []string
	err := s.Store.Repositories(ctx, last, func(r []string) error { all = append(all, r...); return nil })
	if err != nil {
		return err
	}
	if s.blocked.Load() {
		s.hit <- struct{}{}
		<-s.gate
	}
	return fn(all)
}

func TestRescanKeepsConcurrentCreate(t *testing.T) {
	h := newHarness(t, embeddedBackend())
	h.layout.Close()
	sl := &slowLister{gate: make(chan struct{}), hit: make(chan struct{}, 1)}
	h.open(func(l *layout.Store) store.Store { sl.Store = l; return sl })
	h.createRepo("cat", false)
	h.mustCreate(pkgapi.PackageRevID{Target: "catalog", Repository: "cat", Package: "a", Workspace: "w1"})
	_ = h.names()
	ctx, cancel := context.WithCancel(h.ctx)
	defer cancel()
	ch, err := watch(ctx, h.eng, pkgapi.PackageRevisionKind, "")
	if err != nil {
		t.Fatal(err)
	}
	var mu sync.Mutex
	var evs []string
	go func() {
		for ev := range ch {
			pr := ev.Object.(*pkgapi.PackageRevision)
			mu.Lock()
			evs = append(evs, ev.Type+" "+pr.Name)
			mu.Unlock()
		}
	}()
	sl.blocked.Store(true)
	listDone := make(chan struct{})
	go func() { _ = h.eng.Rescan(h.ctx); close(listDone) }()
	<-sl.hit
	sl.blocked.Store(false)
	x := h.mustCreate(pkgapi.PackageRevID{Target: "catalog", Repository: "cat", Package: "x", Workspace: "w1"})
	time.Sleep(500 * time.Millisecond) // let the embeddedChanged reloaders run
	close(sl.gate)
	<-listDone
	got := h.names()
	t.Logf("list after rescan+create: %v", got)
	found := false
	for _, n := range got {
		if n == x.Name {
			found = true
		}
	}
	if _, err := h.eng.GetPackageRevision(h.ctx, testNS, x.Name); err != nil {
		t.Logf("get x: %v", err)
	}
	time.Sleep(200 * time.Millisecond)
	mu.Lock()
	t.Logf("events: %v", evs)
	mu.Unlock()
	if !found {
		t.Errorf("%s missing from the list after a concurrent rescan", x.Name)
	}
	mu.Lock()
	defer mu.Unlock()
	added := 0
	for _, ev := range evs {
		if ev == "ADDED "+x.Name {
			added++
		}
	}
	if added != 1 {
		t.Errorf("%d ADDED events for %s, want 1: %v", added, x.Name, evs)
	}
}

type gateRepo struct {
	store.Repository
	s *gateStore
}

// Tag stops a write of a w2 draft while it holds its locks.
func (r gateRepo) Tag(ctx context.Context, desc ocispec.Descriptor, ref string) error {
	if r.s.armed.Load() && strings.Contains(ref, "w2") {
		r.s.arrived <- struct{}{}
		<-r.s.release
	}
	return r.Repository.Tag(ctx, desc, ref)
}

type gateStore struct {
	*layout.Store
	armed   atomic.Bool
	arrived chan struct{}
	release chan struct{}
}

func (s *gateStore) Repository(ctx context.Context, name string) (store.Repository, error) {
	r, err := s.Store.Repository(ctx, name)
	if err != nil {
		return nil, err
	}
	return gateRepo{r, s}, nil
}

func TestCrossClonesDoNotDeadlock(t *testing.T) {
	h := newHarness(t, embeddedBackend())
	h.layout.Close()
	gs := &gateStore{arrived: make(chan struct{}, 2), release: make(chan struct{})}
	h.open(func(l *layout.Store) store.Store { gs.Store = l; return gs })
	h.createRepo("cat", false)
	a := h.mustCreate(pkgapi.PackageRevID{Target: "catalog", Repository: "cat", Package: "a", Workspace: "w1"})
	b := h.mustCreate(pkgapi.PackageRevID{Target: "catalog", Repository: "cat", Package: "b", Workspace: "w1"})
	h.publish(a.Name)
	h.publish(b.Name)
	_ = h.names()
	gs.armed.Store(true)
	done := make(chan error, 2)
	go func() {
		_, err := h.create(pkgapi.PackageRevID{Target: "catalog", Repository: "cat", Package: "a", Workspace: "w2"},
			pkgapi.Task{Type: pkgapi.TaskTypeClone, Clone: &pkgapi.CloneTask{Upstream: pkgapi.UpstreamRef{Name: b.Name}}})
		done <- err
	}()
	go func() {
		_, err := h.create(pkgapi.PackageRevID{Target: "catalog", Repository: "cat", Package: "b", Workspace: "w2"},
			pkgapi.Task{Type: pkgapi.TaskTypeClone, Clone: &pkgapi.CloneTask{Upstream: pkgapi.UpstreamRef{Name: a.Name}}})
		done <- err
	}()
	// Each clone locks both packages (in one order): one is in its write,
	// the other waits for it rather than holding the lock the first needs.
	<-gs.arrived
	select {
	case <-gs.arrived:
		t.Fatal("both clones are writing at once while each reads the other's package")
	case <-time.After(200 * time.Millisecond):
	}
	go h.eng.RefreshRepository(h.ctx, testNS, "cat") // blocks on their locks too
	time.Sleep(200 * time.Millisecond)
	close(gs.release)
	go func() { <-gs.arrived }() // the second clone passes the gate
	for i := 0; i < 2; i++ {
		select {
		case err := <-done:
			t.Logf("create: %v", err)
		case <-time.After(10 * time.Second):
			t.Fatalf("deadlock: two creates cloning from each other's package did not finish")
		}
	}
}
