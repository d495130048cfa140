package engine_test

import (
	"context"
	"io"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"

	ocispec "github.com/opencontainers/image-spec/specs-go/v1"

	pkgapi "pkgserver.dev/pkgserver/api/pkg/v1alpha1"
	"pkgserver.dev/pkgserver/pkg/engine"
	"pkgserver.dev/pkgserver/pkg/store"
	"pkgserver.dev/pkgserver/pkg/store/layout"
)

// richState gives h every kind of revision the index keeps: published,
// proposed and labelled drafts, one proposed for deletion, a clone with an
// upgrade available, and deletions (tombstone tags and watch tombstones).
func richState(t *testing.T, h *harness) {
	t.Helper()
	h.createRepo("blueprints", false)
	h.createRepo("deploy", true)
	init := pkgapi.Task{Type: pkgapi.TaskTypeInit, Init: &pkgapi.InitTask{Description: "a <b>description</b>"}}
	cat := func(pkg, ws string) pkgapi.PackageRevID {
		return pkgapi.PackageRevID{Target: pkgapi.CatalogTarget, Repository: "blueprints", Realm: "net", Package: pkg, Workspace: ws}
	}
	for _, ws := range []string{"a", "b", "c"} {
		h.mustCreate(cat("app", ws), init)
		h.publish(nameOf(cat("app", ws)))
	}
	dep := pkgapi.PackageRevID{Target: "edge", Repository: "deploy", Package: "app", Workspace: "w"}
	h.mustCreate(dep, pkgapi.Task{Type: pkgapi.TaskTypeClone, Clone: &pkgapi.CloneTask{Upstream: pkgapi.UpstreamRef{Name: nameOf(cat("app", "a"))}}})
	h.publish(nameOf(dep))
	// v3 goes, v1 is proposed for deletion.
	if _, err := h.approve(nameOf(cat("app", "c")), pkgapi.LifecycleDeletionProposed); err != nil {
		t.Fatal(err)
	}
	if err := h.eng.DeletePackageRevision(h.ctx, testNS, nameOf(cat("app", "c"))); err != nil {
		t.Fatal(err)
	}
	if _, err := h.approve(nameOf(cat("app", "a")), pkgapi.LifecycleDeletionProposed); err != nil {
		t.Fatal(err)
	}
	h.mustCreate(cat("db", "x"), init)
	pr := h.get(nameOf(cat("db", "x")))
	pr.Labels = map[string]string{"team": "red", "z": "</script>"}
	pr.Annotations = map[string]string{"note": "é\u2028"}
	pr.Spec.ReadinessGates = []pkgapi.ReadinessGate{{ConditionType: "Tested"}}
	if _, err := h.eng.UpdatePackageRevision(h.ctx, pr); err != nil {
		t.Fatal(err)
	}
	if _, err := h.setLifecycle(nameOf(cat("db", "x")), pkgapi.LifecycleProposed); err != nil {
		t.Fatal(err)
	}
	h.mustCreate(cat("db", "gone"), init)
	if err := h.eng.DeletePackageRevision(h.ctx, testNS, nameOf(cat("db", "gone"))); err != nil {
		t.Fatal(err)
	}
}

// TestCheckpointRoundTrip: an index restored from its checkpoint answers
// exactly as the index that wrote it: the same objects, bytes and
// resourceVersions, tags, Repositories and deletions for watches.
func TestCheckpointRoundTrip(t *testing.T) {
	h := newHarness(t, embeddedBackend())
	richState(t, h)
	want := engine.IndexDump(h.eng)
	for _, kind := range []string{"object", "package", "repo", "deleted", "deletionProposed", "upgradeAvailable", `\u003c/script\u003e`, "readinessGates"} {
		if !strings.Contains(want, kind) {
			t.Fatalf("the state has no %s:\n%s", kind, want)
		}
	}
	got, err := engine.RestoreDump(h.eng, engine.CheckpointOf(h.eng))
	if err != nil {
		t.Fatal(err)
	}
	if got != want {
		t.Errorf("restored index differs:\n got %s\nwant %s", got, want)
	}
}

// TestCheckpointDamage: a checkpoint cut short or with any byte changed is
// refused as a whole, never restored in part.
func TestCheckpointDamage(t *testing.T) {
	h := newHarness(t, embeddedBackend())
	richState(t, h)
	data := engine.CheckpointOf(h.eng)
	step := max(1, len(data)/300)
	for i := 0; i < len(data); i += step {
		if _, err := engine.RestoreDump(h.eng, data[:i]); err == nil {
			t.Errorf("cut at %d of %d: restored", i, len(data))
		}
		bad := append([]byte(nil), data...)
		bad[i] ^= 0x10
		if _, err := engine.RestoreDump(h.eng, bad); err == nil {
			t.Errorf("byte %d changed: restored", i)
		}
	}
}

// TestDamagedCheckpointRescans: a server whose checkpoint is damaged reads
// every registry instead and serves the same objects.
func TestDamagedCheckpointRescans(t *testing.T) {
	h := newHarness(t, embeddedBackend())
	richState(t, h)
	before := h.names()
	if err := h.eng.Close(); err != nil {
		t.Fatal(err)
	}
	if err := h.layout.Close(); err != nil {
		t.Fatal(err)
	}
	file := filepath.Join(h.dir, "state", "checkpoint.bin")
	data, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	data[len(data)/2] ^= 0xff
	if err := os.WriteFile(file, data, 0o600); err != nil {
		t.Fatal(err)
	}
	h.open(nil)
	if after := h.names(); strings.Join(after, " ") != strings.Join(before, " ") {
		t.Errorf("after a damaged checkpoint:\n got %v\nwant %v", after, before)
	}
}

// manifestCounter counts the manifests read from a store.
type manifestCounter struct {
	store.Store
	n *atomic.Int64
}

func (s manifestCounter) Repository(ctx context.Context, name string) (store.Repository, error) {
	r, err := s.Store.Repository(ctx, name)
	if err != nil {
		return nil, err
	}
	if name == engine.ConfigRepository {
		return r, nil // Repository objects, not revisions
	}
	return countingRepo{r, s.n}, nil
}

func (s manifestCounter) Repositories(ctx context.Context, last string, fn func([]string) error) error {
	return s.Store.(store.Lister).Repositories(ctx, last, fn)
}

type countingRepo struct {
	store.Repository
	n *atomic.Int64
}

func (r countingRepo) Fetch(ctx context.Context, d ocispec.Descriptor) (io.ReadCloser, error) {
	if d.MediaType == ocispec.MediaTypeImageManifest {
		r.n.Add(1)
	}
	return r.Repository.Fetch(ctx, d)
}

// TestCrashStartKnowsManifests: after a crash the checkpoint's resource
// versions are not used, but what it says of manifests is: the scan reads
// only the tags, and serves the same revisions.
func TestCrashStartKnowsManifests(t *testing.T) {
	h := newHarness(t, embeddedBackend())
	richState(t, h)
	before := h.names()
	state := filepath.Join(h.dir, "state")
	saved := t.TempDir()
	if err := os.CopyFS(saved, os.DirFS(state)); err != nil {
		t.Fatal(err)
	}
	// The checkpoint a crash leaves is the last one written while running.
	if err := h.eng.WriteCheckpoint(); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(filepath.Join(state, "checkpoint.bin"), filepath.Join(saved, "checkpoint.bin")); err != nil {
		t.Fatal(err)
	}
	if err := h.eng.Close(); err != nil {
		t.Fatal(err)
	}
	h.layout.Close()
	if err := os.RemoveAll(state); err != nil {
		t.Fatal(err)
	}
	if err := os.CopyFS(state, os.DirFS(saved)); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(state, "checkpoint.dirty")); err != nil {
		t.Fatalf("not a crash: %v", err)
	}
	var fetched atomic.Int64
	h.open(func(s *layout.Store) store.Store { return manifestCounter{s, &fetched} })
	if n := fetched.Load(); n != 0 {
		t.Errorf("the start after a crash read %d manifests the checkpoint knew", n)
	}
	if after := h.names(); strings.Join(after, " ") != strings.Join(before, " ") {
		t.Errorf("after the crash:\n got %v\nwant %v", after, before)
	}
}
