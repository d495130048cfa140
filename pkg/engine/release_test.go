package engine_test

import (
	"strings"
	"testing"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	pkgapi "pkgserver.dev/pkgserver/api/pkg/v1alpha1"
	"pkgserver.dev/pkgserver/pkg/errdef"
)

const (
	kptfile  = "apiVersion: kpt.dev/v1\nkind: Kptfile\nmetadata:\n  name: app\n"
	deployV1 = `apiVersion: apps/v1
kind: Deployment
metadata:
  name: web
spec:
  replicas: 1
  template:
    spec:
      containers:
      - name: web
        image: nginx:1.0
`
)

// TestRelease walks the controlled release flow of issue 5 on the engine:
// clone, local edit, new upstream, upgrade, conflicts, gates, lineage, diff, history.
func TestRelease(t *testing.T) {
	h := newHarness(t, embeddedBackend())
	h.createRepo("catalog", false)
	h.createRepo("prod", true)

	up := pkgapi.PackageRevID{Target: "catalog", Repository: "catalog", Package: "app", Workspace: "v1"}
	upName := h.mustCreate(up).Name
	mustSet(t, h, upName, map[string]string{"Kptfile": kptfile, "deploy.yaml": deployV1})
	h.publish(upName)

	// Clone into the deployment repository and edit locally: replicas, and a new resource.
	down := pkgapi.PackageRevID{Target: "eu", Repository: "prod", Package: "app", Workspace: "first"}
	downName := h.mustCreate(down, pkgapi.Task{Type: pkgapi.TaskTypeClone, Clone: &pkgapi.CloneTask{Upstream: pkgapi.UpstreamRef{Name: upName}}}).Name
	local := strings.Replace(deployV1, "replicas: 1", "replicas: 3", 1)
	localCM := "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: local\n"
	mustSet(t, h, downName, map[string]string{"Kptfile": kptfile, "deploy.yaml": local, "local.yaml": localCM})
	h.publish(downName)

	// The catalog publishes v2: a new image and a new Service.
	up2 := up
	up2.Workspace = "v2"
	up2Name := h.mustCreate(up2, pkgapi.Task{Type: pkgapi.TaskTypeEdit, Edit: &pkgapi.EditTask{Source: pkgapi.UpstreamRef{Name: upName}}}).Name
	svc := "apiVersion: v1\nkind: Service\nmetadata:\n  name: web\n"
	mustSet(t, h, up2Name, map[string]string{"Kptfile": kptfile, "deploy.yaml": strings.Replace(deployV1, "nginx:1.0", "nginx:2.0", 1), "svc.yaml": svc})
	h.publish(up2Name)

	// Discovery: the downstream sees a newer upstream.
	if ua := h.get(downName).Status.UpgradeAvailable; ua == nil || ua.Name != up2Name || ua.Revision != "v2" {
		t.Fatalf("upgradeAvailable = %+v, want %s v2", ua, up2Name)
	}

	// fast-forward is refused after a local edit, and nothing is created.
	ff := down
	ff.Workspace = "ff"
	_, err := h.create(ff, upgradeTask(up2Name, downName, "fast-forward"))
	wantErr(t, err, errdef.ErrInvalid, "deploy.yaml")

	// resource-merge keeps the local edit and takes upstream's.
	upg := down
	upg.Workspace = "upgrade"
	upgName := h.mustCreate(upg, upgradeTask(up2Name, downName, "")).Name
	files := h.resources(upgName).Spec.Resources
	for _, want := range []string{"replicas: 3", "nginx:2.0"} {
		if !strings.Contains(files["deploy.yaml"], want) {
			t.Errorf("upgraded deploy.yaml lacks %q:\n%s", want, files["deploy.yaml"])
		}
	}
	if files["svc.yaml"] == "" || files["local.yaml"] == "" {
		t.Errorf("upgraded files %v lack the upstream or the local addition", keys(files))
	}
	pr := h.get(upgName)
	if pr.Spec.Upstream == nil || pr.Spec.Upstream.Name != up2Name || pr.Status.UpstreamLock.Digest != h.get(up2Name).Status.OCI.Digest {
		t.Errorf("upgraded upstream %+v lock %+v", pr.Spec.Upstream, pr.Status.UpstreamLock)
	}
	if c := cond(pr, pkgapi.ConditionUpgradeConflict); c == nil || c.Status != metav1.ConditionFalse {
		t.Errorf("conflict condition %+v, want False", c)
	}

	// A field changed on both sides is reported, not dropped.
	up3 := up
	up3.Workspace = "v3"
	up3Name := h.mustCreate(up3, pkgapi.Task{Type: pkgapi.TaskTypeEdit, Edit: &pkgapi.EditTask{Source: pkgapi.UpstreamRef{Name: up2Name}}}).Name
	mustSet(t, h, up3Name, map[string]string{"Kptfile": kptfile, "deploy.yaml": strings.Replace(strings.Replace(deployV1, "nginx:1.0", "nginx:2.0", 1), "replicas: 1", "replicas: 5", 1), "svc.yaml": svc})
	h.publish(up3Name)
	conf := down
	conf.Workspace = "conflict"
	pr = h.mustCreate(conf, upgradeTask(up3Name, downName, "resource-merge"))
	if c := cond(pr, pkgapi.ConditionUpgradeConflict); c == nil || c.Status != metav1.ConditionTrue || !strings.Contains(c.Message, "spec.replicas") {
		t.Errorf("conflict condition %+v, want True naming spec.replicas", c)
	}

	// A readiness gate blocks approval until its condition is set through status.
	gated := h.get(upgName)
	gated.Spec.ReadinessGates = []pkgapi.ReadinessGate{{ConditionType: "Tested"}}
	if _, err := h.eng.UpdatePackageRevision(h.ctx, gated); err != nil {
		t.Fatal(err)
	}
	if _, err := h.setLifecycle(upgName, pkgapi.LifecycleProposed); err != nil {
		t.Fatal(err)
	}
	_, err = h.approve(upgName, pkgapi.LifecyclePublished)
	wantErr(t, err, errdef.ErrInvalid, "Tested")
	st := h.get(upgName)
	st.Status.Conditions = append(st.Status.Conditions, metav1.Condition{Type: "Tested", Status: metav1.ConditionTrue, Reason: "CI"})
	if _, err := h.eng.UpdatePackageRevisionStatus(h.ctx, st); err != nil {
		t.Fatal(err)
	}
	if pub, err := h.approve(upgName, pkgapi.LifecyclePublished); err != nil || pub.Spec.PackageRevID.Revision != "v2" {
		t.Fatalf("approve after gate: %v %v", pub, err)
	}

	// Lineage: an upstream in use cannot be deleted; the message names the user.
	if _, err := h.approve(up2Name, pkgapi.LifecycleDeletionProposed); err != nil {
		t.Fatal(err)
	}
	err = h.eng.DeletePackageRevision(h.ctx, testNS, up2Name)
	wantErr(t, err, errdef.ErrForbidden, upgName)

	// Diff against the upstream by default, and between two named revisions.
	d, err := h.eng.Diff(h.ctx, testNS, downName, "")
	if err != nil {
		t.Fatal(err)
	}
	if d.From != upName || !hasResource(d.Resources, "ConfigMap", "local", "added") || !hasResource(d.Resources, "Deployment", "web", "changed") {
		t.Errorf("diff from upstream: %+v", d)
	}
	d, err = h.eng.Diff(h.ctx, testNS, up2Name, upName)
	if err != nil {
		t.Fatal(err)
	}
	if !hasResource(d.Resources, "Service", "web", "added") || len(d.Files) != 2 || !strings.Contains(d.Files[0].Unified+d.Files[1].Unified, "+        image: nginx:2.0") {
		t.Errorf("diff v1..v2: %+v", d)
	}

	// History of the downstream package: v1, v2, then the unpublished draft.
	hist, err := h.eng.History(h.ctx, testNS, downName)
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, e := range hist.Revisions {
		got = append(got, e.Workspace+"/"+e.Revision+"/"+string(e.Lifecycle))
		if e.Digest == "" {
			t.Errorf("history entry without digest: %+v", e)
		}
	}
	if want := "first/v1/published upgrade/v2/published conflict//draft"; strings.Join(got, " ") != want {
		t.Errorf("history %q, want %q", strings.Join(got, " "), want)
	}
	if hist.Revisions[1].PublishedBy != "alice" || hist.Revisions[1].Upstream.Name != up2Name {
		t.Errorf("history entry %+v", hist.Revisions[1])
	}
}

func upgradeTask(newUp, local, strategy string) pkgapi.Task {
	return pkgapi.Task{Type: pkgapi.TaskTypeUpgrade, Upgrade: &pkgapi.UpgradeTask{
		NewUpstream: pkgapi.UpstreamRef{Name: newUp}, LocalPackageRevisionRef: pkgapi.UpstreamRef{Name: local}, Strategy: strategy,
	}}
}

func mustSet(t *testing.T, h *harness, name string, files map[string]string) {
	t.Helper()
	if _, err := h.setResources(name, files); err != nil {
		t.Fatalf("set resources of %s: %v", name, err)
	}
}

func cond(pr *pkgapi.PackageRevision, typ string) *metav1.Condition {
	for i := range pr.Status.Conditions {
		if pr.Status.Conditions[i].Type == typ {
			return &pr.Status.Conditions[i]
		}
	}
	return nil
}

func hasResource(rs []pkgapi.ResourceDiff, kind, name, change string) bool {
	for _, r := range rs {
		if r.Kind == kind && r.Name == name && r.Change == change {
			return true
		}
	}
	return false
}

func keys(m map[string]string) []string {
	var out []string
	for k := range m {
		out = append(out, k)
	}
	return out
}
