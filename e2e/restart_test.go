package e2e

import (
	"encoding/json"
	"maps"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	pkgapi "pkgserver.dev/pkgserver/api/pkg/v1alpha1"
	"pkgserver.dev/pkgserver/e2e/internal/harness"
)

// snapshot is everything a client can list, as JSON per object name.
type snapshot struct {
	repos, revisions, resources map[string]string
}

func takeSnapshot(t *testing.T, c *harness.Client) snapshot {
	t.Helper()
	s := snapshot{repos: map[string]string{}, revisions: map[string]string{}, resources: map[string]string{}}
	for _, r := range c.ListRepositories(t).Items { // status conditions may carry probe times
		s.repos[r.Name] = mustJSON(t, struct {
			Meta any
			Spec any
		}{r.ObjectMeta, r.Spec})
	}
	for _, pr := range c.ListRevisions(t, nil).Items {
		s.revisions[pr.Name] = mustJSON(t, pr)
	}
	var prrs pkgapi.PackageRevisionResourcesList
	c.Expect(t, http.MethodGet, c.ResourcesPath(""), nil, http.StatusOK, &prrs)
	for _, prr := range prrs.Items {
		s.resources[prr.Name] = mustJSON(t, prr)
	}
	return s
}

func mustJSON(t *testing.T, v any) string {
	t.Helper()
	data, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return string(data)
}

func compareSnapshots(t *testing.T, what string, before, after snapshot) {
	t.Helper()
	for _, kind := range []struct {
		name          string
		before, after map[string]string
	}{{"repository", before.repos, after.repos}, {"packagerevision", before.revisions, after.revisions}, {"packagerevisionresources", before.resources, after.resources}} {
		if got, want := slices.Sorted(maps.Keys(kind.after)), slices.Sorted(maps.Keys(kind.before)); !slices.Equal(got, want) {
			t.Errorf("%s: %ss %v, want %v", what, kind.name, got, want)
			continue
		}
		for name, b := range kind.before {
			if a := kind.after[name]; a != b {
				t.Errorf("%s: %s %s changed:\nbefore %s\nafter  %s", what, kind.name, name, b, a)
			}
		}
	}
}

// testRestart stops the server with SIGTERM and starts it again on the same
// data directory: everything must read back the same.
func testRestart(t *testing.T, e *env) {
	c := e.c
	e.createRepo(t, "blueprints", false)
	e.createRepo(t, "deployments", true)
	id := catalogID("blueprints", "web", "nginx", "ws1")
	name := harness.RevisionName(id)
	createDraft(t, c, id, initTask("nginx"), map[string]string{"tier": "web"})
	files := maps.Clone(c.GetResources(t, name).Spec.Resources)
	files["deployment.yaml"] = deploymentYAML("nginx", 1)
	putFiles(t, c, name, files)
	v1 := publish(t, c, name)
	id2 := id
	id2.Workspace = "ws2"
	createDraft(t, c, id2, editTask(name), nil)
	files["service.yaml"] = serviceYAML("nginx")
	putFiles(t, c, harness.RevisionName(id2), files)
	publish(t, c, harness.RevisionName(id2))
	id3 := id
	id3.Workspace = "ws3"
	createDraft(t, c, id3, editTask(name), nil) // a draft stays a draft
	cloneID := pkgapi.PackageRevID{Target: "prod", Repository: "deployments", Package: "nginx", Workspace: "ws1"}
	createDraft(t, c, cloneID, cloneTask(name), nil)
	cur := c.GetRevision(t, harness.RevisionName(cloneID))
	cur.Spec.Lifecycle = pkgapi.LifecycleProposed
	c.UpdateRevision(t, cur) // a proposed one stays proposed
	c.Approve(t, c.GetRevision(t, name), pkgapi.LifecycleDeletionProposed)

	before := takeSnapshot(t, c)
	if len(before.revisions) != 4 || len(before.repos) != 2 {
		t.Fatalf("before restart: %d revisions and %d repositories, want 4 and 2", len(before.revisions), len(before.repos))
	}

	start := time.Now()
	e.restart(t)
	t.Logf("restart took %s", time.Since(start))
	if out := e.srv.Output(); !strings.Contains(out, harness.ListeningLine) {
		t.Fatalf("restarted server did not say where it listens:\n%s", out)
	}
	after := takeSnapshot(t, c)
	compareSnapshots(t, "after restart", before, after)

	// and it still works: undo the deletion proposal, publish the draft
	got := c.GetRevision(t, name)
	if got.Status.OCI.Digest != v1.Status.OCI.Digest {
		t.Fatalf("v1 digest %s after restart, want %s", got.Status.OCI.Digest, v1.Status.OCI.Digest)
	}
	back := c.Approve(t, got, pkgapi.LifecyclePublished)
	if back.Spec.Lifecycle != pkgapi.LifecyclePublished || back.Status.OCI.Digest != v1.Status.OCI.Digest || back.Spec.PackageRevID.Revision != "v1" {
		t.Fatalf("v1 after withdrawing the deletion proposal: lifecycle %q revision %q digest %s", back.Spec.Lifecycle, back.Spec.PackageRevID.Revision, back.Status.OCI.Digest)
	}
	v3 := publish(t, c, harness.RevisionName(id3))
	if v3.Spec.PackageRevID.Revision != "v3" {
		t.Fatalf("publishing after restart gave %q, want v3", v3.Spec.PackageRevID.Revision)
	}
}

// testDataDirLock starts a second server on the data directory of a running
// one: it must exit non-zero quickly and say why, and the first must not care.
func testDataDirLock(t *testing.T, e *env) {
	e.createRepo(t, "blueprints", false)
	start := time.Now()
	second, err := harness.Spawn(harness.Options{Bin: serverBin, DataDir: e.srv.Opts.DataDir})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { second.Kill(t) })
	code, err := second.Wait(10 * time.Second)
	if err != nil {
		t.Fatalf("second pkgserver on the same data dir: %v; output:\n%s", err, second.Output())
	}
	elapsed := time.Since(start)
	out := second.Output()
	if code == 0 {
		t.Fatalf("second pkgserver on the same data dir exited 0; output:\n%s", out)
	}
	if !strings.Contains(strings.ToLower(out), "lock") {
		t.Errorf("second pkgserver's message does not mention the lock:\n%s", out)
	}
	if !strings.Contains(out, e.srv.Opts.DataDir) {
		t.Errorf("second pkgserver's message does not name the data dir %s:\n%s", e.srv.Opts.DataDir, out)
	}
	if strings.Contains(out, harness.ListeningLine) {
		t.Errorf("second pkgserver said it was listening:\n%s", out)
	}
	if elapsed > 5*time.Second {
		t.Errorf("second pkgserver took %s to fail; want fast", elapsed)
	}
	// the first one is unharmed
	id := catalogID("blueprints", "", "app", "ws1")
	createDraft(t, e.c, id, initTask("app"), nil)
	publish(t, e.c, harness.RevisionName(id))
}
