package engine_test

import (
	"maps"
	"testing"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	pkgapi "pkgserver.dev/pkgserver/api/pkg/v1alpha1"
	"pkgserver.dev/pkgserver/pkg/errdef"
	"pkgserver.dev/pkgserver/pkg/names"
)

var errNotFound = errdef.ErrNotFound

func metaNS(name string) metav1.ObjectMeta { return metav1.ObjectMeta{Namespace: testNS, Name: name} }

const deployYAML = "apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: app\n"

var (
	catalogID = pkgapi.PackageRevID{Target: pkgapi.CatalogTarget, Repository: "blueprints", Realm: "net/core", Package: "app", Workspace: "main"}
	catalogV2 = pkgapi.PackageRevID{Target: pkgapi.CatalogTarget, Repository: "blueprints", Realm: "net/core", Package: "app", Workspace: "second"}
	deployID  = pkgapi.PackageRevID{Target: "edge", Repository: "deploy", Package: "app", Workspace: "main"}
)

func nameOf(id pkgapi.PackageRevID) string {
	return names.ID{Target: id.Target, Repository: id.Repository, Realm: id.Realm, Package: id.Package, Workspace: id.Workspace}.Name()
}

func TestLifecycle(t *testing.T) {
	backends := []func(t *testing.T) backend{
		func(*testing.T) backend { return embeddedBackend() },
		remoteBackend,
	}
	for _, mk := range backends {
		b := mk(t)
		t.Run(b.name, func(t *testing.T) { lifecycleScenario(t, newHarness(t, b)) })
	}
}

// lifecycleScenario walks a package through its whole life; every step is a
// subtest that depends on the ones before. It runs on every backend.
func lifecycleScenario(t *testing.T, h *harness) {
	h.createRepo("blueprints", false)
	h.createRepo("deploy", true)
	catPath := h.backend.prefix("blueprints") + "/net/core/app"
	catName := nameOf(catalogID)
	var v1Digest string

	// stable checks that v1, once published, always resolves to the same manifest.
	stable := func(t *testing.T) {
		t.Helper()
		if v1Digest == "" {
			return
		}
		if got := h.tags(catPath)["v1"].String(); got != v1Digest {
			t.Fatalf("v1 now resolves to %s, was %s", got, v1Digest)
		}
	}
	step := func(name string, f func(t *testing.T)) {
		h.t = t
		if !t.Run(name, func(t *testing.T) { h.t = t; f(t); stable(t) }) {
			t.FailNow()
		}
		h.t = t
	}

	step("init creates a draft with a Kptfile", func(t *testing.T) {
		pr := h.mustCreate(catalogID, pkgapi.Task{Type: pkgapi.TaskTypeInit, Init: &pkgapi.InitTask{Description: "the app"}})
		if pr.Name != catName || pr.Namespace != testNS || pr.Spec.Lifecycle != pkgapi.LifecycleDraft {
			t.Fatalf("created %s/%s %s", pr.Namespace, pr.Name, pr.Spec.Lifecycle)
		}
		if pr.Spec.PackageRevID.Revision != "" || pr.UID == "" || pr.ResourceVersion == "" || pr.CreationTimestamp.IsZero() {
			t.Errorf("metadata %+v, revision %q", pr.ObjectMeta, pr.Spec.PackageRevID.Revision)
		}
		if pr.Status.OCI == nil || pr.Status.OCI.Reference == "" || pr.Status.OCI.Digest == "" {
			t.Errorf("status.oci %+v", pr.Status.OCI)
		}
		files := h.resources(catName).Spec.Resources
		if _, ok := files["Kptfile"]; !ok || len(files) != 1 {
			t.Errorf("files %v, want only a Kptfile", files)
		}
		if tags := h.tags(catPath); len(tags) != 1 || tags[names.WorkspaceTag("main")] == "" {
			t.Errorf("tags %v, want only the workspace tag", tags)
		}
	})

	step("workspace is unique per package", func(t *testing.T) {
		_, err := h.create(catalogID)
		wantErr(t, err, errdef.ErrAlreadyExists, "main")
	})

	step("contents change in draft; resourceVersion moves", func(t *testing.T) {
		before := h.get(catName)
		files := maps.Clone(h.resources(catName).Spec.Resources)
		files["deploy.yaml"] = deployYAML
		prr, err := h.setResources(catName, files)
		if err != nil {
			t.Fatal(err)
		}
		if !maps.Equal(prr.Spec.Resources, files) {
			t.Errorf("resources %v, want %v", prr.Spec.Resources, files)
		}
		after := h.get(catName)
		if after.ResourceVersion == before.ResourceVersion || after.Status.OCI.Digest == before.Status.OCI.Digest {
			t.Errorf("resourceVersion/digest did not change")
		}
		if after.UID != before.UID {
			t.Errorf("uid changed: %s -> %s", before.UID, after.UID)
		}
	})

	step("stale resourceVersion is a conflict and writes nothing", func(t *testing.T) {
		pr := h.get(catName)
		tags := h.tags(catPath)
		stale := pr.DeepCopy()
		stale.ResourceVersion = "0123456789abcdef"
		stale.Spec.Lifecycle = pkgapi.LifecycleProposed
		_, err := h.eng.UpdatePackageRevision(h.ctx, stale)
		wantErr(t, err, errdef.ErrConflict)
		prr := h.resources(catName)
		prr.ResourceVersion = "0123456789abcdef"
		prr.Spec.Resources = map[string]string{"x.txt": "x"}
		_, err = h.eng.UpdatePackageRevisionResources(h.ctx, prr)
		wantErr(t, err, errdef.ErrConflict)
		if got := h.tags(catPath); !maps.Equal(got, tags) {
			t.Errorf("tags changed: %v -> %v", tags, got)
		}
	})

	step("bad YAML is refused with file and line; nothing written", func(t *testing.T) {
		tags := h.tags(catPath)
		rv := h.get(catName).ResourceVersion
		files := maps.Clone(h.resources(catName).Spec.Resources)
		files["bad.yaml"] = "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: x\n  bad: [\n"
		_, err := h.setResources(catName, files)
		wantErr(t, err, errdef.ErrInvalid, "bad.yaml", "line")
		files = map[string]string{"Kptfile": h.resources(catName).Spec.Resources["Kptfile"], "ok.yaml": deployYAML, "nokind.yaml": "apiVersion: v1\nmetadata:\n  name: x\n"}
		_, err = h.setResources(catName, files)
		wantErr(t, err, errdef.ErrInvalid, "nokind.yaml")
		_, err = h.setResources(catName, map[string]string{"../escape.yaml": deployYAML})
		wantErr(t, err, errdef.ErrInvalid, "..")
		if got := h.tags(catPath); !maps.Equal(got, tags) {
			t.Errorf("tags changed: %v -> %v", tags, got)
		}
		if got := h.get(catName).ResourceVersion; got != rv {
			t.Errorf("resourceVersion %s -> %s", rv, got)
		}
	})

	step("draft -> proposed; contents frozen; proposed -> draft by update and by rejection", func(t *testing.T) {
		pr, err := h.setLifecycle(catName, pkgapi.LifecycleProposed)
		if err != nil || pr.Spec.Lifecycle != pkgapi.LifecycleProposed {
			t.Fatalf("propose: %v, %v", pr, err)
		}
		_, err = h.setResources(catName, map[string]string{"x.txt": "x"})
		wantErr(t, err, errdef.ErrForbidden)
		if pr, err = h.setLifecycle(catName, pkgapi.LifecycleDraft); err != nil || pr.Spec.Lifecycle != pkgapi.LifecycleDraft {
			t.Fatalf("back to draft: %v, %v", pr, err)
		}
		if _, err := h.setLifecycle(catName, pkgapi.LifecycleProposed); err != nil {
			t.Fatal(err)
		}
		if pr, err = h.approve(catName, pkgapi.LifecycleDraft); err != nil || pr.Spec.Lifecycle != pkgapi.LifecycleDraft {
			t.Fatalf("reject: %v, %v", pr, err)
		}
		_, err = h.setLifecycle(catName, pkgapi.LifecyclePublished)
		wantErr(t, err, errdef.ErrInvalid, "approval")
		_, err = h.approve(catName, pkgapi.LifecyclePublished)
		wantErr(t, err, errdef.ErrInvalid)
		_, err = h.setLifecycle(catName, "bogus")
		wantErr(t, err, errdef.ErrInvalid, "bogus")
	})

	step("labels and annotations update in draft", func(t *testing.T) {
		pr := h.get(catName)
		pr.Labels = map[string]string{"team": "net", pkgapi.LatestRevisionLabel: "true"}
		pr.Annotations = map[string]string{"note": "hello"}
		out, err := h.eng.UpdatePackageRevision(h.ctx, pr)
		if err != nil {
			t.Fatal(err)
		}
		if out.Labels["team"] != "net" || out.Annotations["note"] != "hello" {
			t.Errorf("labels %v annotations %v", out.Labels, out.Annotations)
		}
		if _, ok := out.Labels[pkgapi.LatestRevisionLabel]; ok {
			t.Errorf("a draft carries the latest-revision label")
		}
	})

	step("approval publishes v1", func(t *testing.T) {
		pr := h.publish(catName)
		if pr.Spec.Lifecycle != pkgapi.LifecyclePublished || pr.Spec.PackageRevID.Revision != "v1" {
			t.Fatalf("published %s %q", pr.Spec.Lifecycle, pr.Spec.PackageRevID.Revision)
		}
		if pr.Name != catName {
			t.Errorf("name changed on publish: %s", pr.Name)
		}
		if pr.Status.PublishedBy != "alice" || pr.Status.PublishTimestamp == nil {
			t.Errorf("publishedBy %q at %v", pr.Status.PublishedBy, pr.Status.PublishTimestamp)
		}
		if pr.Labels[pkgapi.LatestRevisionLabel] != "true" || pr.Labels["team"] != "net" {
			t.Errorf("labels %v", pr.Labels)
		}
		tags := h.tags(catPath)
		v1Digest = tags["v1"].String()
		if v1Digest == "" || tags["latest"].String() != v1Digest || pr.Status.OCI.Digest != v1Digest {
			t.Fatalf("tags %v, status digest %s", tags, pr.Status.OCI.Digest)
		}
		if _, ok := tags[names.WorkspaceTag("main")]; ok {
			t.Errorf("workspace tag survives publishing: %v", tags)
		}
		if files := h.resources(catName).Spec.Resources; files["deploy.yaml"] != deployYAML {
			t.Errorf("published files %v", files)
		}
	})

	step("published is immutable", func(t *testing.T) {
		_, err := h.setResources(catName, map[string]string{"x.txt": "x"})
		wantErr(t, err, errdef.ErrForbidden)
		_, err = h.setLifecycle(catName, pkgapi.LifecycleDraft)
		wantErr(t, err, errdef.ErrForbidden)
		pr := h.get(catName)
		pr.Labels = map[string]string{"team": "other"}
		_, err = h.eng.UpdatePackageRevision(h.ctx, pr)
		wantErr(t, err, errdef.ErrForbidden)
		err = h.eng.DeletePackageRevision(h.ctx, testNS, catName)
		wantErr(t, err, errdef.ErrForbidden)
		// An update that changes nothing is not an error.
		if _, err := h.eng.UpdatePackageRevision(h.ctx, h.get(catName)); err != nil {
			t.Errorf("no-op update: %v", err)
		}
	})

	step("edit starts a new draft from v1; publishing it is v2 and moves latest", func(t *testing.T) {
		_, err := h.create(catalogV2, pkgapi.Task{Type: pkgapi.TaskTypeEdit, Edit: &pkgapi.EditTask{Source: pkgapi.UpstreamRef{Name: "catalog.blueprints.net:core.other.main"}}})
		wantErr(t, err, errdef.ErrInvalid, "edit.source")
		pr := h.mustCreate(catalogV2, pkgapi.Task{Type: pkgapi.TaskTypeEdit, Edit: &pkgapi.EditTask{Source: pkgapi.UpstreamRef{Name: catName}}})
		if pr.Spec.Lifecycle != pkgapi.LifecycleDraft {
			t.Fatalf("edit created %s", pr.Spec.Lifecycle)
		}
		files := h.resources(pr.Name).Spec.Resources
		if !maps.Equal(files, h.resources(catName).Spec.Resources) {
			t.Errorf("edit did not copy the files: %v", files)
		}
		files = maps.Clone(files)
		files["more.yaml"] = "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: more\n"
		if _, err := h.setResources(pr.Name, files); err != nil {
			t.Fatal(err)
		}
		v2 := h.publish(pr.Name)
		if v2.Spec.PackageRevID.Revision != "v2" || v2.Labels[pkgapi.LatestRevisionLabel] != "true" {
			t.Errorf("v2: revision %q labels %v", v2.Spec.PackageRevID.Revision, v2.Labels)
		}
		if v1 := h.get(catName); v1.Labels[pkgapi.LatestRevisionLabel] != "" {
			t.Errorf("v1 still has the latest label: %v", v1.Labels)
		}
		tags := h.tags(catPath)
		if tags["latest"] != tags["v2"] {
			t.Errorf("latest %s, v2 %s", tags["latest"], tags["v2"])
		}
	})

	step("clone into a deployment repository records upstream and lock", func(t *testing.T) {
		_, err := h.create(deployID, pkgapi.Task{Type: pkgapi.TaskTypeClone, Clone: &pkgapi.CloneTask{Upstream: pkgapi.UpstreamRef{Name: "catalog.blueprints.net:core.app.nope"}}})
		wantErr(t, err, errdef.ErrInvalid, "clone.upstream")
		pr := h.mustCreate(deployID, pkgapi.Task{Type: pkgapi.TaskTypeClone, Clone: &pkgapi.CloneTask{Upstream: pkgapi.UpstreamRef{Name: catName}}})
		if pr.Spec.Upstream == nil || pr.Spec.Upstream.Name != catName || pr.Spec.Upstream.PackageRevID.Revision != "v1" {
			t.Errorf("upstream %+v", pr.Spec.Upstream)
		}
		lock := pr.Status.UpstreamLock
		if lock == nil || lock.Digest != v1Digest || lock.Reference != h.get(catName).Status.OCI.Reference {
			t.Errorf("upstreamLock %+v, want digest %s", lock, v1Digest)
		}
		if !maps.Equal(h.resources(pr.Name).Spec.Resources, h.resources(catName).Spec.Resources) {
			t.Errorf("clone did not copy the files")
		}
		// The lock survives publishing.
		pub := h.publish(pr.Name)
		if pub.Status.UpstreamLock == nil || pub.Status.UpstreamLock.Digest != v1Digest || pub.Spec.PackageRevID.Revision != "v1" {
			t.Errorf("published clone: lock %+v revision %q", pub.Status.UpstreamLock, pub.Spec.PackageRevID.Revision)
		}
		// Cloning a draft is refused.
		draft := catalogID
		draft.Workspace = "wip"
		h.mustCreate(draft)
		d2 := deployID
		d2.Workspace = "other"
		_, err = h.create(d2, pkgapi.Task{Type: pkgapi.TaskTypeClone, Clone: &pkgapi.CloneTask{Upstream: pkgapi.UpstreamRef{Name: nameOf(draft)}}})
		wantErr(t, err, errdef.ErrInvalid, "published")
	})

	step("deletionProposed and back keeps the artifact", func(t *testing.T) {
		pr, err := h.approve(catName, pkgapi.LifecycleDeletionProposed)
		if err != nil || pr.Spec.Lifecycle != pkgapi.LifecycleDeletionProposed {
			t.Fatalf("propose deletion: %v %v", pr, err)
		}
		if pr.Status.OCI.Digest != v1Digest || pr.Spec.PackageRevID.Revision != "v1" {
			t.Errorf("deletionProposed: digest %s revision %q", pr.Status.OCI.Digest, pr.Spec.PackageRevID.Revision)
		}
		_, err = h.setResources(catName, map[string]string{"x.txt": "x"})
		wantErr(t, err, errdef.ErrForbidden)
		pr, err = h.approve(catName, pkgapi.LifecyclePublished)
		if err != nil || pr.Spec.Lifecycle != pkgapi.LifecyclePublished {
			t.Fatalf("undo: %v %v", pr, err)
		}
		if tags := h.tags(catPath); len(tags) != 4 { // v1 v2 latest ws.wip
			t.Errorf("tags after undo %v", tags)
		}
	})

	step("readiness gates block publishing", func(t *testing.T) {
		id := catalogID
		id.Package, id.Workspace = "gated", "main"
		pr, err := h.eng.CreatePackageRevision(h.ctx, &pkgapi.PackageRevision{
			ObjectMeta: metaNS(""),
			Spec: pkgapi.PackageRevisionSpec{PackageRevID: id,
				ReadinessGates: []pkgapi.ReadinessGate{{ConditionType: "Tested"}, {ConditionType: "Reviewed"}}},
		})
		if err != nil {
			t.Fatal(err)
		}
		if _, err := h.setLifecycle(pr.Name, pkgapi.LifecycleProposed); err != nil {
			t.Fatal(err)
		}
		path := h.backend.prefix("blueprints") + "/net/core/gated"
		tags := h.tags(path)
		_, err = h.approve(pr.Name, pkgapi.LifecyclePublished)
		wantErr(t, err, errdef.ErrInvalid, "Tested", "Reviewed")
		if got := h.tags(path); !maps.Equal(got, tags) {
			t.Errorf("tags changed: %v -> %v", tags, got)
		}
	})

	step("delete rules", func(t *testing.T) {
		// Draft: deletable.
		wip := catalogID
		wip.Workspace = "wip"
		if err := h.eng.DeletePackageRevision(h.ctx, testNS, nameOf(wip)); err != nil {
			t.Fatalf("delete draft: %v", err)
		}
		_, err := h.eng.GetPackageRevision(h.ctx, testNS, nameOf(wip))
		wantErr(t, err, errdef.ErrNotFound)
		// Proposed: deletable.
		gated := catalogID
		gated.Package = "gated"
		if err := h.eng.DeletePackageRevision(h.ctx, testNS, nameOf(gated)); err != nil {
			t.Fatalf("delete proposed: %v", err)
		}
		// Missing: not found.
		err = h.eng.DeletePackageRevision(h.ctx, testNS, nameOf(gated))
		wantErr(t, err, errdef.ErrNotFound)
		// Published v2 (the latest): propose deletion, then delete; latest goes back to v1.
		v2Name := nameOf(catalogV2)
		if _, err := h.approve(v2Name, pkgapi.LifecycleDeletionProposed); err != nil {
			t.Fatal(err)
		}
		if err := h.eng.DeletePackageRevision(h.ctx, testNS, v2Name); err != nil {
			t.Fatalf("delete deletionProposed: %v", err)
		}
		tags := h.tags(catPath)
		if _, ok := tags["v2"]; ok || tags["latest"].String() != v1Digest || len(tags) != 3 {
			t.Errorf("tags after deleting v2: %v", tags)
		}
		if v1 := h.get(catName); v1.Labels[pkgapi.LatestRevisionLabel] != "true" {
			t.Errorf("v1 labels after deleting v2: %v", v1.Labels)
		}
		// A tombstone keeps v2 taken: its number never comes back.
		if _, ok := tags["v2.deleted"]; !ok {
			t.Errorf("no tombstone for v2: %v", tags)
		}
		third := catalogID
		third.Workspace = "third"
		h.mustCreate(third, pkgapi.Task{Type: pkgapi.TaskTypeEdit, Edit: &pkgapi.EditTask{Source: pkgapi.UpstreamRef{Name: catName}}})
		pub := h.publish(nameOf(third))
		if rev := pub.Spec.PackageRevID.Revision; rev != "v3" {
			t.Errorf("revision %q after deleting v2, want v3", rev)
		}
	})

	step("list shows every revision of the namespace", func(t *testing.T) {
		got := h.names()
		want := []string{catName, nameOf(pkgapi.PackageRevID{Target: pkgapi.CatalogTarget, Repository: "blueprints", Realm: "net/core", Package: "app", Workspace: "third"}), nameOf(deployID)}
		for _, w := range want {
			found := false
			for _, g := range got {
				found = found || g == w
			}
			if !found {
				t.Errorf("list %v lacks %s", got, w)
			}
		}
		if len(got) != len(want) {
			t.Errorf("list %v, want %v", got, want)
		}
		prrs, err := h.eng.ListPackageRevisionResources(h.ctx, testNS)
		if err != nil || len(prrs) != len(want) {
			t.Errorf("ListPackageRevisionResources: %d, %v", len(prrs), err)
		}
		all, err := h.eng.ListPackageRevisions(h.ctx, "")
		if err != nil || len(all) != len(want) {
			t.Errorf("list across namespaces: %d, %v", len(all), err)
		}
		other, err := h.eng.ListPackageRevisions(h.ctx, "nobody")
		if err != nil || len(other) != 0 {
			t.Errorf("list of another namespace: %d, %v", len(other), err)
		}
	})
}
