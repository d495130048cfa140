package engine_test

import (
	"errors"
	"testing"
	"time"

	pkgapi "pkgserver.dev/pkgserver/api/pkg/v1alpha1"
	"pkgserver.dev/pkgserver/pkg/engine"
	"pkgserver.dev/pkgserver/pkg/errdef"
)

// TestWriterLeaseHandover: replicas without a coordinator share a remote
// prefix through its writer lease. A replica whose lease expired while it
// was away (paused, cut off) and was taken by another must not remove the
// new holder's marker when it stops, or a third replica writes alongside
// the holder; and once the other holder is gone, a replica that lost the
// lease may take it again instead of refusing writes until it restarts.
func TestWriterLeaseHandover(t *testing.T) {
	b := remoteBackend(t)
	a, bb := newHarness(t, b), newHarness(t, b)
	for _, h := range []*harness{a, bb} {
		h.createRepo("blueprints", false)
	}
	pkgID := func(p string) pkgapi.PackageRevID {
		return pkgapi.PackageRevID{Target: pkgapi.CatalogTarget, Repository: "blueprints", Realm: "apps", Package: p, Workspace: "main"}
	}
	a.mustCreate(pkgID("a1")) // a holds the lease
	if _, err := bb.create(pkgID("b1")); !errors.Is(err, errdef.ErrUnavailable) {
		t.Fatalf("a second writer while the lease holds: %v; want it refused", err)
	}
	// Much later for bb: a's lease has expired (a was paused), bb takes it.
	bb.mu.Lock()
	bb.now = bb.now.Add(time.Hour)
	bb.mu.Unlock()
	bb.mustCreate(pkgID("b2"))

	// a stops before it noticed: bb's marker must stay.
	if err := a.eng.Close(); err != nil {
		t.Fatal(err)
	}
	c := newHarness(t, b)
	c.mu.Lock()
	c.now = c.now.Add(time.Hour) // the same time as bb: bb's lease holds
	c.mu.Unlock()
	c.createRepo("blueprints", false)
	if _, err := c.create(pkgID("c1")); !errors.Is(err, errdef.ErrUnavailable) {
		t.Fatalf("a third writer while the second holds the lease: %v; want it refused", err)
	}

	// bb stops and gives the lease up: c, refused before, may write now.
	if err := bb.eng.Close(); err != nil {
		t.Fatal(err)
	}
	c.mustCreate(pkgID("c2"))
}

// TestWriterLeaseTakenBack: a replica whose lease another took refuses
// writes while the other holds it, and writes again once the other stopped
// (it used to refuse until restarted, naming a lease long run out).
func TestWriterLeaseTakenBack(t *testing.T) {
	b := remoteBackend(t)
	a, bb := newHarness(t, b), newHarness(t, b)
	for _, h := range []*harness{a, bb} {
		h.createRepo("blueprints", false)
	}
	pkgID := func(p string) pkgapi.PackageRevID {
		return pkgapi.PackageRevID{Target: pkgapi.CatalogTarget, Repository: "blueprints", Realm: "apps", Package: p, Workspace: "main"}
	}
	a.mustCreate(pkgID("a1"))
	bb.mu.Lock()
	bb.now = bb.now.Add(time.Hour) // a's lease ran out for bb
	bb.mu.Unlock()
	bb.mustCreate(pkgID("b1"))
	engine.RenewLeases(a.eng) // a finds bb's marker: lost
	a.mu.Lock()
	a.now = a.now.Add(time.Hour) // bb's lease still holds
	a.mu.Unlock()
	if _, err := a.create(pkgID("a2")); !errors.Is(err, errdef.ErrUnavailable) {
		t.Fatalf("a write while another replica holds the lease: %v; want it refused", err)
	}
	if err := bb.eng.Close(); err != nil {
		t.Fatal(err)
	}
	a.mustCreate(pkgID("a3"))
}
