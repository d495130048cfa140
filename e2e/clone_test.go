package e2e

import (
	"maps"
	"net/http"
	"testing"

	pkgapi "pkgserver.dev/pkgserver/api/pkg/v1alpha1"
	"pkgserver.dev/pkgserver/e2e/internal/harness"
)

// testClone clones a published catalog package into a deployment repository
// and checks the upstream and its lock.
func testClone(t *testing.T, e *env) {
	c := e.c
	e.createRepo(t, "blueprints", false)
	e.createRepo(t, "deployments", true)

	srcID := catalogID("blueprints", "net", "ingress", "ws1")
	src := harness.RevisionName(srcID)
	createDraft(t, c, srcID, initTask("ingress blueprint"), nil)
	files := maps.Clone(c.GetResources(t, src).Spec.Resources)
	files["deployment.yaml"] = deploymentYAML("ingress", 2)
	files["config/settings.yaml"] = configMapYAML("settings", "blue")
	putFiles(t, c, src, files)
	v1 := publish(t, c, src)

	dstID := pkgapi.PackageRevID{Target: "dev", Repository: "deployments", Realm: "net", Package: "ingress", Workspace: "ws1"}
	dst := harness.RevisionName(dstID)

	// Only published revisions can be cloned; a deployment repository has no catalog target.
	draftID := catalogID("blueprints", "net", "ingress", "ws2")
	createDraft(t, c, draftID, editTask(src), nil)
	c.ExpectStatus(t, http.MethodPost, c.RevisionsPath(""), newRevision(dstID, cloneTask(harness.RevisionName(draftID)), nil), http.StatusUnprocessableEntity)
	badID := dstID
	badID.Target = pkgapi.CatalogTarget
	c.ExpectStatus(t, http.MethodPost, c.RevisionsPath(""), newRevision(badID, cloneTask(src), nil), http.StatusUnprocessableEntity)
	c.ExpectStatus(t, http.MethodGet, c.RevisionsPath(dst), nil, http.StatusNotFound)

	clone := createDraft(t, c, dstID, cloneTask(src), nil)
	switch {
	case clone.Spec.Upstream == nil:
		t.Fatalf("clone has no spec.upstream")
	case clone.Spec.Upstream.Name != src:
		t.Fatalf("spec.upstream.name = %q, want %q", clone.Spec.Upstream.Name, src)
	case clone.Spec.Upstream.PackageRevID != v1.Spec.PackageRevID:
		t.Fatalf("spec.upstream.packageRevID = %+v, want %+v", clone.Spec.Upstream.PackageRevID, v1.Spec.PackageRevID)
	case clone.Status.UpstreamLock == nil:
		t.Fatalf("clone has no status.upstreamLock")
	case clone.Status.UpstreamLock.Digest != v1.Status.OCI.Digest:
		t.Fatalf("upstreamLock.digest = %q, want the source's %q", clone.Status.UpstreamLock.Digest, v1.Status.OCI.Digest)
	case clone.Status.UpstreamLock.Reference != v1.Status.OCI.Reference:
		t.Fatalf("upstreamLock.reference = %q, want the source's %q", clone.Status.UpstreamLock.Reference, v1.Status.OCI.Reference)
	}
	assertFiles(t, "clone", c.GetResources(t, dst).Spec.Resources, files)

	// The clone is a package of its own: changing it leaves the source alone,
	// and publishing it keeps the lock.
	local := maps.Clone(files)
	local["config/settings.yaml"] = configMapYAML("settings", "green")
	putFiles(t, c, dst, local)
	pub := publish(t, c, dst)
	if pub.Spec.PackageRevID.Revision != "v1" || pub.Status.UpstreamLock == nil || pub.Status.UpstreamLock.Digest != v1.Status.OCI.Digest {
		t.Fatalf("published clone: revision %q upstreamLock %+v; want v1 locked to %s", pub.Spec.PackageRevID.Revision, pub.Status.UpstreamLock, v1.Status.OCI.Digest)
	}
	if want := e.ociRepo(dstID, true) + ":v1"; pub.Status.OCI.Reference != want {
		t.Errorf("published clone reference = %q, want %q", pub.Status.OCI.Reference, want)
	}
	if got := c.GetRevision(t, src); got.Status.OCI.Digest != v1.Status.OCI.Digest {
		t.Fatalf("source digest changed from %s to %s", v1.Status.OCI.Digest, got.Status.OCI.Digest)
	}
	assertFiles(t, "source after clone changed", c.GetResources(t, src).Spec.Resources, files)
}
