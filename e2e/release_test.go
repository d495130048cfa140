package e2e

import (
	"io"
	"maps"
	"net/http"
	"slices"
	"strings"
	"testing"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	pkgapi "pkgserver.dev/pkgserver/api/pkg/v1alpha1"
	"pkgserver.dev/pkgserver/e2e/internal/harness"
)

// TestRelease is the controlled release flow of issue 5 against a running
// server on each backend: clone, local edit, new catalog revision, upgrade,
// conflict, fast-forward refused, readiness gate through /status, lineage
// protection, diff and history.
func TestRelease(t *testing.T) {
	for _, b := range backends {
		t.Run(b.name, func(t *testing.T) {
			t.Parallel()
			testRelease(t, newEnv(t, b))
		})
	}
}

func testRelease(t *testing.T, e *env) {
	c := e.c
	e.createRepo(t, "catalog", false)
	e.createRepo(t, "sites", true)

	// Catalog v1: a Deployment.
	upID := catalogID("catalog", "apps", "web", "v1")
	up := harness.RevisionName(upID)
	createDraft(t, c, upID, initTask("web app"), nil)
	base := maps.Clone(c.GetResources(t, up).Spec.Resources)
	base["deploy.yaml"] = deploymentYAML("web", 1)
	putFiles(t, c, up, base)
	publish(t, c, up)

	// Clone into a deployment repository and edit locally: replicas 3 and a ConfigMap.
	downID := pkgapi.PackageRevID{Target: "eu-west", Repository: "sites", Realm: "apps", Package: "web", Workspace: "initial"}
	down := harness.RevisionName(downID)
	createDraft(t, c, downID, cloneTask(up), nil)
	local := maps.Clone(base)
	local["deploy.yaml"] = deploymentYAML("web", 3)
	local["local.yaml"] = configMapYAML("site-settings", "eu")
	putFiles(t, c, down, local)
	publish(t, c, down)

	// Catalog v2 changes another field (the image) and adds a Service.
	up2ID := catalogID("catalog", "apps", "web", "v2")
	up2 := harness.RevisionName(up2ID)
	createDraft(t, c, up2ID, editTask(up), nil)
	next := maps.Clone(base)
	next["deploy.yaml"] = strings.Replace(deploymentYAML("web", 1), "web:1.27", "web:1.28", 1)
	next["svc.yaml"] = serviceYAML("web")
	putFiles(t, c, up2, next)
	publish(t, c, up2)

	// Discovery: the downstream has an upgrade; the catalog revision knows its users.
	if ua := c.GetRevision(t, down).Status.UpgradeAvailable; ua == nil || ua.Name != up2 {
		t.Fatalf("status.upgradeAvailable = %+v, want %s", ua, up2)
	}
	users := c.ListRevisions(t, map[string][]string{"fieldSelector": {"spec.upstream.name=" + up}})
	if got := names(users.Items); len(got) != 1 || got[0] != down {
		t.Fatalf("revisions using %s: %v", up, got)
	}
	can := c.ListRevisions(t, map[string][]string{"fieldSelector": {"status.upgradeAvailable=true"}})
	if got := names(can.Items); len(got) != 1 || got[0] != down {
		t.Fatalf("revisions with an upgrade: %v", got)
	}

	// fast-forward is refused after a local edit, naming the file.
	ffID := downID
	ffID.Workspace = "ff"
	st := c.ExpectStatus(t, http.MethodPost, c.RevisionsPath(""), newRevision(ffID, upgradeTask(up2, down, "fast-forward"), nil), http.StatusUnprocessableEntity)
	if !strings.Contains(st.Message, "deploy.yaml") {
		t.Errorf("fast-forward refusal %q does not name deploy.yaml", st.Message)
	}

	// resource-merge: the local edit, the upstream change and both additions.
	upgID := downID
	upgID.Workspace = "upgrade-v2"
	upg := harness.RevisionName(upgID)
	pr := createDraft(t, c, upgID, upgradeTask(up2, down, ""), nil)
	files := c.GetResources(t, upg).Spec.Resources
	for _, want := range []string{"replicas: 3", "web:1.28"} {
		if !strings.Contains(files["deploy.yaml"], want) {
			t.Errorf("upgraded deploy.yaml lacks %q:\n%s", want, files["deploy.yaml"])
		}
	}
	if files["svc.yaml"] != next["svc.yaml"] || files["local.yaml"] != local["local.yaml"] {
		t.Errorf("upgraded package lacks the upstream Service or the local ConfigMap: %v", keys(files))
	}
	if pr.Spec.Upstream == nil || pr.Spec.Upstream.Name != up2 || pr.Status.UpstreamLock == nil || pr.Status.UpstreamLock.Digest != c.GetRevision(t, up2).Status.OCI.Digest {
		t.Errorf("upgraded draft upstream %+v lock %+v", pr.Spec.Upstream, pr.Status.UpstreamLock)
	}

	// A field changed on both sides is reported in the draft's conditions.
	up3ID := catalogID("catalog", "apps", "web", "v3")
	up3 := harness.RevisionName(up3ID)
	createDraft(t, c, up3ID, editTask(up2), nil)
	third := maps.Clone(next)
	third["deploy.yaml"] = strings.Replace(next["deploy.yaml"], "replicas: 1", "replicas: 5", 1)
	putFiles(t, c, up3, third)
	publish(t, c, up3)
	confID := downID
	confID.Workspace = "upgrade-v3"
	conf := createDraft(t, c, confID, upgradeTask(up3, down, "resource-merge"), nil)
	if cd := condition(conf, pkgapi.ConditionUpgradeConflict); cd == nil || cd.Status != metav1.ConditionTrue || !strings.Contains(cd.Message, "spec.replicas") {
		t.Errorf("conflict condition = %+v, want True naming spec.replicas", cd)
	}

	// A readiness gate blocks approval until a check sets it through /status.
	gated := c.GetRevision(t, upg)
	gated.Spec.ReadinessGates = []pkgapi.ReadinessGate{{ConditionType: "ci.example.com/tested"}}
	gated = c.UpdateRevision(t, gated)
	gated.Spec.Lifecycle = pkgapi.LifecycleProposed
	gated = c.UpdateRevision(t, gated)
	gated.Spec.Lifecycle = pkgapi.LifecyclePublished
	st = c.ExpectStatus(t, http.MethodPut, c.ApprovalPath(upg), gated, http.StatusUnprocessableEntity)
	if !strings.Contains(st.Message, "ci.example.com/tested") {
		t.Errorf("gate refusal %q does not name the gate", st.Message)
	}
	gated = c.GetRevision(t, upg)
	gated.Status.Conditions = append(gated.Status.Conditions, metav1.Condition{Type: "ci.example.com/tested", Status: metav1.ConditionTrue, Reason: "Passed", Message: "suite green"})
	var afterStatus pkgapi.PackageRevision
	c.Expect(t, http.MethodPut, c.RevisionsPath(upg)+"/status", gated, http.StatusOK, &afterStatus)
	afterStatus.Spec.Lifecycle = pkgapi.LifecyclePublished
	if pub := c.Approve(t, &afterStatus, pkgapi.LifecyclePublished); pub.Spec.PackageRevID.Revision != "v2" {
		t.Errorf("upgraded revision published as %q, want v2", pub.Spec.PackageRevID.Revision)
	}

	// Lineage: catalog v2 is the upstream of the upgrade; deleting it is refused.
	v2 := c.GetRevision(t, up2)
	c.Approve(t, v2, pkgapi.LifecycleDeletionProposed)
	st = c.ExpectStatus(t, http.MethodDelete, c.RevisionsPath(up2), nil, http.StatusForbidden)
	if !strings.Contains(st.Message, upg) {
		t.Errorf("lineage refusal %q does not name %s", st.Message, upg)
	}

	// Diff: against the upstream by default; unified text on request.
	var d pkgapi.PackageRevisionDiff
	c.Expect(t, http.MethodGet, c.RevisionsPath(down)+"/diff", nil, http.StatusOK, &d)
	if d.From != up || !diffHas(d, "ConfigMap", "site-settings", "added") || !diffHas(d, "Deployment", "web", "changed") {
		t.Errorf("diff of %s against its upstream: %+v", down, d)
	}
	res, err := http.Get(e.srv.URL + c.RevisionsPath(up2) + "/diff?against=" + up + "&format=unified")
	if err != nil {
		t.Fatal(err)
	}
	text, _ := io.ReadAll(res.Body)
	res.Body.Close()
	if !strings.Contains(string(text), "+++ b/svc.yaml") || !strings.Contains(string(text), "+        image: web:1.28") {
		t.Errorf("unified diff v1..v2:\n%s", text)
	}

	// History: every revision with digest, publisher and upstream.
	var h pkgapi.PackageRevisionHistory
	c.Expect(t, http.MethodGet, c.RevisionsPath(down)+"/history", nil, http.StatusOK, &h)
	var got []string
	for _, r := range h.Revisions {
		got = append(got, r.Workspace+":"+r.Revision+":"+string(r.Lifecycle))
		if !strings.HasPrefix(r.Digest, "sha256:") {
			t.Errorf("history entry %s has digest %q", r.Name, r.Digest)
		}
	}
	if want := "initial:v1:published upgrade-v2:v2:published upgrade-v3::draft"; strings.Join(got, " ") != want {
		t.Errorf("history = %q, want %q", strings.Join(got, " "), want)
	}
	if h.Revisions[1].PublishedBy != approver || h.Revisions[1].Upstream == nil || h.Revisions[1].Upstream.Name != up2 {
		t.Errorf("history entry of v2: %+v", h.Revisions[1])
	}
}

func upgradeTask(newUpstream, local, strategy string) pkgapi.Task {
	return pkgapi.Task{Type: pkgapi.TaskTypeUpgrade, Upgrade: &pkgapi.UpgradeTask{
		NewUpstream:             pkgapi.UpstreamRef{Name: newUpstream},
		LocalPackageRevisionRef: pkgapi.UpstreamRef{Name: local},
		Strategy:                strategy,
	}}
}

func condition(pr *pkgapi.PackageRevision, typ string) *metav1.Condition {
	for i := range pr.Status.Conditions {
		if pr.Status.Conditions[i].Type == typ {
			return &pr.Status.Conditions[i]
		}
	}
	return nil
}

func diffHas(d pkgapi.PackageRevisionDiff, kind, name, change string) bool {
	for _, r := range d.Resources {
		if r.Kind == kind && r.Name == name && r.Change == change {
			return true
		}
	}
	return false
}

func keys(m map[string]string) []string {
	return sorted(slices.Collect(maps.Keys(m))...)
}
