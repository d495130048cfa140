package engine_test

import (
	"context"
	"errors"
	"strconv"
	"strings"
	"testing"
	"time"

	configapi "pkgserver.dev/pkgserver/api/config/v1alpha1"
	pkgapi "pkgserver.dev/pkgserver/api/pkg/v1alpha1"
	"pkgserver.dev/pkgserver/pkg/engine"
	"pkgserver.dev/pkgserver/pkg/errdef"
)

// next reads one event or fails after a while.
func next(t *testing.T, ch <-chan engine.Event) engine.Event {
	t.Helper()
	select {
	case ev, ok := <-ch:
		if !ok {
			t.Fatal("watch closed")
		}
		return ev
	case <-time.After(10 * time.Second):
		t.Fatal("no event")
	}
	return engine.Event{}
}

func prOf(t *testing.T, ev engine.Event) *pkgapi.PackageRevision {
	t.Helper()
	pr, ok := ev.Object.(*pkgapi.PackageRevision)
	if !ok {
		t.Fatalf("event object %T", ev.Object)
	}
	return pr
}

func TestWatchEvents(t *testing.T) {
	h := newHarness(t, embeddedBackend())
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	repos, err := watch(ctx, h.eng, configapi.RepositoryKind, "")
	if err != nil {
		t.Fatal(err)
	}
	prs, err := watch(ctx, h.eng, pkgapi.PackageRevisionKind, "")
	if err != nil {
		t.Fatal(err)
	}
	h.createRepo("blueprints", false)
	if ev := next(t, repos); ev.Type != "ADDED" || ev.Object.(*configapi.Repository).Name != "blueprints" {
		t.Fatalf("repository event %+v", ev)
	}

	id := pkgapi.PackageRevID{Target: "catalog", Repository: "blueprints", Realm: "apps", Package: "web", Workspace: "ws"}
	name := h.mustCreate(id).Name
	steps := []struct {
		do        func()
		typ       string
		lifecycle pkgapi.Lifecycle
	}{
		{func() {}, "ADDED", pkgapi.LifecycleDraft},
		{func() { must(t)(h.setLifecycle(name, pkgapi.LifecycleProposed)) }, "MODIFIED", pkgapi.LifecycleProposed},
		// Publishing replaces the proposed manifest: same name, new contents.
		{func() { must(t)(h.approve(name, pkgapi.LifecyclePublished)) }, "MODIFIED", pkgapi.LifecyclePublished},
		{func() { must(t)(h.approve(name, pkgapi.LifecycleDeletionProposed)) }, "MODIFIED", pkgapi.LifecycleDeletionProposed},
		{func() {
			if err := h.eng.DeletePackageRevision(h.ctx, testNS, name); err != nil {
				t.Fatal(err)
			}
		}, "DELETED", pkgapi.LifecycleDeletionProposed},
	}
	var last uint64
	for i, s := range steps {
		s.do()
		ev := next(t, prs)
		pr := prOf(t, ev)
		if ev.Type != s.typ || pr.Name != name || pr.Spec.Lifecycle != s.lifecycle {
			t.Fatalf("step %d: event %s %s %s, want %s %s", i, ev.Type, pr.Name, pr.Spec.Lifecycle, s.typ, s.lifecycle)
		}
		if ev.ResourceVersion <= last {
			t.Fatalf("step %d: resourceVersion %d not after %d", i, ev.ResourceVersion, last)
		}
		last = ev.ResourceVersion
	}

	// A package pushed into the embedded store (as /v2/ does) is sent at once.
	repo := h.v2(testNS + "/blueprints/pushed")
	orasPush(t, repo, map[string]string{"cm.yaml": "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: c\n"}, nil, "v1")
	if ev := next(t, prs); ev.Type != "ADDED" || prOf(t, ev).Name != "catalog.blueprints..pushed.v1" {
		t.Fatalf("pushed package event %s %s", ev.Type, prOf(t, ev).Name)
	}

	// Resuming from an earlier resourceVersion replays what came after, in order.
	resumed, err := watch(ctx, h.eng, pkgapi.PackageRevisionKind, strconv.FormatUint(last-1, 10))
	if err != nil {
		t.Fatal(err)
	}
	if ev := next(t, resumed); ev.ResourceVersion != last || ev.Type != "DELETED" {
		t.Fatalf("resumed at %d: first event %d %s", last-1, ev.ResourceVersion, ev.Type)
	}
	if ev := next(t, resumed); ev.Type != "ADDED" {
		t.Fatalf("resumed: second event %s", ev.Type)
	}

	// Deleting the repository sends its DELETED event.
	if err := h.eng.DeleteRepository(h.ctx, testNS, "blueprints"); err != nil {
		t.Fatal(err)
	}
	if ev := next(t, repos); ev.Type != "DELETED" {
		t.Fatalf("repository event %s", ev.Type)
	}
}

func TestWatchResourceVersions(t *testing.T) {
	h := newHarness(t, embeddedBackend())
	ctx := context.Background()
	start, _ := strconv.ParseUint(h.eng.ResourceVersion(), 10, 64)
	for _, rv := range []string{"abc", "1", strconv.FormatUint(start-1, 10)} {
		if _, err := watch(ctx, h.eng, pkgapi.PackageRevisionKind, rv); !isGone(err) {
			t.Errorf("Watch(rv=%q) = %v, want ErrGone", rv, err)
		}
	}
	if _, err := watch(ctx, h.eng, pkgapi.PackageRevisionKind, strconv.FormatUint(start, 10)); err != nil {
		t.Errorf("Watch from the current resourceVersion: %v", err)
	}
	if _, err := watch(ctx, h.eng, pkgapi.PackageRevisionKind, strconv.FormatUint(start*4, 10)); !errors.Is(err, engine.ErrTooLargeResourceVersion) {
		t.Errorf("Watch from a future resourceVersion = %v, want ErrTooLargeResourceVersion", err)
	}
	r := h.createRepo("blueprints", false)
	after, _ := strconv.ParseUint(h.eng.ResourceVersion(), 10, 64)
	rv, _ := strconv.ParseUint(r.ResourceVersion, 10, 64)
	if !(start < rv && rv <= after) {
		t.Errorf("resourceVersions: engine %d, then repository %d, then engine %d; want increasing", start, rv, after)
	}
}

func isGone(err error) bool { return err != nil && errors.Is(err, errdef.ErrGone) }

// must fails the test on an error of a call returning a revision.
func must(t *testing.T) func(*pkgapi.PackageRevision, error) {
	return func(_ *pkgapi.PackageRevision, err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
}

// TestWatchUpgradeAvailable: when an upstream publishes a new revision, the
// watchers of its downstream revisions are told they can upgrade.
func TestWatchUpgradeAvailable(t *testing.T) {
	h := newHarness(t, embeddedBackend())
	h.createRepo("catalog", false)
	h.createRepo("sites", true)
	up := h.publish(h.mustCreate(pkgapi.PackageRevID{Target: "catalog", Repository: "catalog", Package: "web", Workspace: "one"}).Name)
	down := h.publish(h.mustCreate(pkgapi.PackageRevID{Target: "eu", Repository: "sites", Package: "web", Workspace: "first"},
		pkgapi.Task{Type: pkgapi.TaskTypeClone, Clone: &pkgapi.CloneTask{Upstream: pkgapi.UpstreamRef{Name: up.Name}}}).Name)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	events, err := watch(ctx, h.eng, pkgapi.PackageRevisionKind, "")
	if err != nil {
		t.Fatal(err)
	}
	two := h.mustCreate(pkgapi.PackageRevID{Target: "catalog", Repository: "catalog", Package: "web", Workspace: "two"},
		pkgapi.Task{Type: pkgapi.TaskTypeEdit, Edit: &pkgapi.EditTask{Source: pkgapi.UpstreamRef{Name: up.Name}}})
	h.publish(two.Name)
	for {
		ev := next(t, events)
		pr := prOf(t, ev)
		if pr.Name != down.Name {
			continue
		}
		if ev.Type != "MODIFIED" || pr.Status.UpgradeAvailable == nil || pr.Status.UpgradeAvailable.Name != two.Name {
			t.Fatalf("downstream event %s with upgradeAvailable %+v, want MODIFIED naming %s", ev.Type, pr.Status.UpgradeAvailable, two.Name)
		}
		return
	}
}

// TestSlowWatcher: a watcher that does not read is left behind, never
// waited for: writes go on, another watcher gets every event (encoded once
// for both), and the slow one is told to list again when it reads.
func TestSlowWatcher(t *testing.T) {
	h := newHarness(t, embeddedBackend())
	h.window = 8
	h.restart()
	h.createRepo("blueprints", false)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	slow, err := h.eng.Watch(ctx, pkgapi.PackageRevisionKind, h.eng.ResourceVersion())
	if err != nil {
		t.Fatal(err)
	}
	fast, err := h.eng.Watch(ctx, pkgapi.PackageRevisionKind, h.eng.ResourceVersion())
	if err != nil {
		t.Fatal(err)
	}
	const drafts = 20
	var got []engine.Event
	for i := range drafts {
		h.mustCreate(pkgapi.PackageRevID{Target: "catalog", Repository: "blueprints", Package: "p" + strconv.Itoa(i), Workspace: "w"})
		select {
		case <-fast.Ready():
		case <-time.After(10 * time.Second):
			t.Fatal("no event for the fast watcher")
		}
		evs, err := fast.Take()
		if err != nil {
			t.Fatal(err)
		}
		got = append(got, evs...)
	}
	if len(got) != drafts {
		t.Fatalf("fast watcher got %d events, want %d", len(got), drafts)
	}
	if _, err := slow.Take(); !errors.Is(err, errdef.ErrGone) {
		t.Fatalf("slow watcher: %v, want ErrGone", err)
	}
	// Both watchers of one live event share its encoding.
	late, err := h.eng.Watch(ctx, pkgapi.PackageRevisionKind, strconv.FormatUint(got[drafts-2].ResourceVersion, 10))
	if err != nil {
		t.Fatal(err)
	}
	evs, err := late.Take()
	if err != nil || len(evs) != 1 {
		t.Fatalf("late watcher: %d events, %v", len(evs), err)
	}
	a, b := got[drafts-1].ObjectJSON(), evs[0].ObjectJSON()
	if &a[0] != &b[0] || !strings.Contains(string(a), `"kind":"PackageRevision"`) {
		t.Errorf("the event is encoded twice, or without its kind: %s", a)
	}
}

// TestWatchWindowShrunk: a restart with a smaller --watch-window keeps
// only as many deletions as the new window (they grew without bound, the
// trimming never caught up), and a resume from before the deletions it
// let go is 410, not a replay that misses them.
func TestWatchWindowShrunk(t *testing.T) {
	h := newHarness(t, embeddedBackend())
	h.createRepo("blueprints", false)
	id := func(i int) pkgapi.PackageRevID {
		return pkgapi.PackageRevID{Target: "catalog", Repository: "blueprints", Package: "p" + strconv.Itoa(i), Workspace: "w"}
	}
	for i := range 6 {
		h.mustCreate(id(i))
	}
	before := h.eng.ResourceVersion()
	for i := range 5 {
		if err := h.eng.DeletePackageRevision(h.ctx, testNS, nameOf(id(i))); err != nil {
			t.Fatal(err)
		}
	}
	h.window = 3
	h.restart()
	if err := h.eng.DeletePackageRevision(h.ctx, testNS, nameOf(id(5))); err != nil {
		t.Fatal(err)
	}
	if n := strings.Count(engine.IndexDump(h.eng), "\ndeleted "); n > h.window {
		t.Errorf("%d deletions kept, want at most the window, %d", n, h.window)
	}
	if _, err := h.eng.Watch(h.ctx, pkgapi.PackageRevisionKind, before); !errors.Is(err, errdef.ErrGone) {
		t.Errorf("a resume from before deletions no longer kept: %v, want ErrGone", err)
	}
}
