package e2e

import (
	"maps"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"testing"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	pkgapi "pkgserver.dev/pkgserver/api/pkg/v1alpha1"
	"pkgserver.dev/pkgserver/e2e/internal/harness"
)

// testLifecycle walks one package from init to the deletion of its first
// revision, then lists with selectors and pages.
func testLifecycle(t *testing.T, e *env) {
	c := e.c
	e.createRepo(t, "blueprints", false)
	if got := e.c.ListRepositories(t); len(got.Items) != 1 || got.Items[0].Name != "blueprints" {
		t.Fatalf("repositories listed: %+v, want just blueprints", got.Items)
	}

	// init
	id1 := catalogID("blueprints", "team/apps", "nginx", "ws1")
	name1 := harness.RevisionName(id1)
	if name1 != "catalog.blueprints.team:apps.nginx.ws1" {
		t.Fatalf("harness names revisions %q", name1)
	}
	created := createDraft(t, c, id1, initTask("nginx blueprint"), nil)
	if created.Spec.PackageRevID.Revision != "" || (created.Status.OCI != nil && strings.HasSuffix(created.Status.OCI.Reference, ":v1")) {
		t.Fatalf("a draft must have no revision and no vN tag: %+v %+v", created.Spec.PackageRevID, created.Status.OCI)
	}
	prr := c.GetResources(t, name1)
	kptfile, ok := prr.Spec.Resources["Kptfile"]
	if !ok || !strings.Contains(kptfile, "kind: Kptfile") || !strings.Contains(kptfile, "nginx") {
		t.Fatalf("init made resources %v; want a Kptfile naming the package", prr.Spec.Resources)
	}
	if prr.Name != name1 || prr.Spec.PackageRevID != id1 {
		t.Fatalf("resources of %s: name %q id %+v", name1, prr.Name, prr.Spec.PackageRevID)
	}

	// put resources
	files1 := maps.Clone(prr.Spec.Resources)
	files1["deployment.yaml"] = deploymentYAML("nginx", 1)
	putFiles(t, c, name1, files1)
	draft := c.GetRevision(t, name1)
	if draft.ResourceVersion == created.ResourceVersion {
		t.Fatalf("resourceVersion %q did not change when the contents did", draft.ResourceVersion)
	}

	// propose and approve
	v1 := publish(t, c, name1)
	if v1.Spec.PackageRevID.Revision != "v1" || v1.Labels[pkgapi.LatestRevisionLabel] != "true" {
		t.Fatalf("first publication: revision %q labels %v; want v1 with %s=true", v1.Spec.PackageRevID.Revision, v1.Labels, pkgapi.LatestRevisionLabel)
	}
	if want := e.ociRepo(id1, false) + ":v1"; v1.Status.OCI.Reference != want {
		t.Errorf("status.oci.reference = %q, want %q", v1.Status.OCI.Reference, want)
	}
	if got := c.GetRevision(t, name1); got.ResourceVersion != v1.ResourceVersion || got.Status.OCI.Digest != v1.Status.OCI.Digest {
		t.Fatalf("GET after approval: rv %q digest %s; approval answered rv %q digest %s", got.ResourceVersion, got.Status.OCI.Digest, v1.ResourceVersion, v1.Status.OCI.Digest)
	}
	assertFiles(t, "published v1", c.GetResources(t, name1).Spec.Resources, files1)

	// a published revision is immutable
	pub := c.GetResources(t, name1)
	pub.Spec.Resources["deployment.yaml"] = deploymentYAML("nginx", 5)
	expectReason(t, c.ExpectStatus(t, http.MethodPut, c.ResourcesPath(name1), pub, http.StatusForbidden), metav1.StatusReasonForbidden)
	back := v1.DeepCopy()
	back.Spec.Lifecycle = pkgapi.LifecycleDraft
	c.ExpectStatus(t, http.MethodPut, c.RevisionsPath(name1), back, http.StatusForbidden)
	expectReason(t, c.ExpectStatus(t, http.MethodDelete, c.RevisionsPath(name1), nil, http.StatusForbidden), metav1.StatusReasonForbidden)
	if got := c.GetRevision(t, name1); got.Status.OCI.Digest != v1.Status.OCI.Digest || got.ResourceVersion != v1.ResourceVersion || got.Spec.Lifecycle != pkgapi.LifecyclePublished {
		t.Fatalf("refused changes changed v1: digest %s→%s rv %q→%q lifecycle %q", v1.Status.OCI.Digest, got.Status.OCI.Digest, v1.ResourceVersion, got.ResourceVersion, got.Spec.Lifecycle)
	}
	assertFiles(t, "v1 after refused changes", c.GetResources(t, name1).Spec.Resources, files1)

	// edit: a new draft from v1 with the same files
	id2 := id1
	id2.Workspace = "ws2"
	name2 := harness.RevisionName(id2)
	createDraft(t, c, id2, editTask(name1), nil)
	assertFiles(t, "edit draft ws2", c.GetResources(t, name2).Spec.Resources, files1)
	files2 := maps.Clone(files1)
	files2["deployment.yaml"] = deploymentYAML("nginx", 3)
	files2["service.yaml"] = serviceYAML("nginx")
	putFiles(t, c, name2, files2)
	v2 := publish(t, c, name2)
	if v2.Spec.PackageRevID.Revision != "v2" || v2.Labels[pkgapi.LatestRevisionLabel] != "true" || v2.Status.OCI.Digest == v1.Status.OCI.Digest {
		t.Fatalf("second publication: revision %q labels %v digest %s; want v2, latest, a digest other than v1's", v2.Spec.PackageRevID.Revision, v2.Labels, v2.Status.OCI.Digest)
	}
	old := c.GetRevision(t, name1)
	if old.Labels[pkgapi.LatestRevisionLabel] == "true" || old.Spec.PackageRevID.Revision != "v1" || old.Status.OCI.Digest != v1.Status.OCI.Digest {
		t.Fatalf("v1 after v2 published: labels %v revision %q digest %s; want no latest label, v1, digest %s", old.Labels, old.Spec.PackageRevID.Revision, old.Status.OCI.Digest, v1.Status.OCI.Digest)
	}
	assertFiles(t, "v1 after v2", c.GetResources(t, name1).Spec.Resources, files1)

	// propose deletion of v1, then delete it
	dp := c.Approve(t, old, pkgapi.LifecycleDeletionProposed)
	if dp.Spec.Lifecycle != pkgapi.LifecycleDeletionProposed {
		t.Fatalf("after deletion proposal: lifecycle %q", dp.Spec.Lifecycle)
	}
	c.DeleteRevision(t, name1)
	expectReason(t, c.ExpectStatus(t, http.MethodGet, c.RevisionsPath(name1), nil, http.StatusNotFound), metav1.StatusReasonNotFound)
	c.ExpectStatus(t, http.MethodGet, c.ResourcesPath(name1), nil, http.StatusNotFound)
	if got := c.GetRevision(t, name2); got.Labels[pkgapi.LatestRevisionLabel] != "true" || got.Status.OCI.Digest != v2.Status.OCI.Digest {
		t.Fatalf("v2 after deleting v1: labels %v digest %s, want latest and %s", got.Labels, got.Status.OCI.Digest, v2.Status.OCI.Digest)
	}

	// a workspace is unique per package; edit only from the same package
	expectReason(t, c.ExpectStatus(t, http.MethodPost, c.RevisionsPath(""), newRevision(id2, editTask(name2), nil), http.StatusConflict), metav1.StatusReasonAlreadyExists)
	c.ExpectStatus(t, http.MethodPost, c.RevisionsPath(""), newRevision(catalogID("blueprints", "", "other", "ws1"), editTask(name2), nil), http.StatusUnprocessableEntity)
	c.ExpectStatus(t, http.MethodGet, c.RevisionsPath(harness.RevisionName(catalogID("blueprints", "", "other", "ws1"))), nil, http.StatusNotFound)

	// drafts and proposed revisions can be deleted
	id3 := id1
	id3.Workspace = "ws3"
	name3 := harness.RevisionName(id3)
	createDraft(t, c, id3, editTask(name2), nil)
	c.DeleteRevision(t, name3)
	c.ExpectStatus(t, http.MethodGet, c.RevisionsPath(name3), nil, http.StatusNotFound)
	createDraft(t, c, id3, editTask(name2), nil) // the workspace is free again
	p3 := c.GetRevision(t, name3)
	p3.Spec.Lifecycle = pkgapi.LifecycleProposed
	c.UpdateRevision(t, p3)
	c.DeleteRevision(t, name3)
	c.ExpectStatus(t, http.MethodGet, c.RevisionsPath(name3), nil, http.StatusNotFound)
	c.ExpectStatus(t, http.MethodDelete, c.RevisionsPath(name3), nil, http.StatusNotFound)

	testListing(t, e, name2)
}

// testListing adds a few packages next to nginx v2 and checks selectors and paging.
func testListing(t *testing.T, e *env, nginx string) {
	c := e.c
	redis := harness.RevisionName(catalogID("blueprints", "team/apps", "redis", "ws1"))
	createDraft(t, c, catalogID("blueprints", "team/apps", "redis", "ws1"), initTask("redis"), map[string]string{"tier": "cache"})
	pg1id := catalogID("blueprints", "", "postgres", "ws1")
	pg1 := harness.RevisionName(pg1id)
	createDraft(t, c, pg1id, initTask("postgres"), map[string]string{"tier": "db"})
	publish(t, c, pg1)
	pg2id := pg1id
	pg2id.Workspace = "ws2"
	pg2 := harness.RevisionName(pg2id)
	createDraft(t, c, pg2id, editTask(pg1), nil)

	all := c.ListRevisions(t, nil)
	if got, want := names(all.Items), sorted(nginx, redis, pg1, pg2); !slices.Equal(got, want) {
		t.Fatalf("list: %v, want %v", got, want)
	}
	for _, it := range all.Items {
		if it.Kind != pkgapi.PackageRevisionKind || it.APIVersion != pkgapi.SchemeGroupVersion.String() {
			t.Fatalf("list item %s has apiVersion %q kind %q", it.Name, it.APIVersion, it.Kind)
		}
	}

	for _, tc := range []struct {
		labels, fields string
		want           []string
	}{
		{labels: pkgapi.LatestRevisionLabel + "=true", want: sorted(nginx, pg1)},
		{labels: "tier=cache", want: sorted(redis)},
		{labels: "tier in (cache,db)", want: sorted(redis, pg1)},
		{fields: "spec.lifecycle=published", want: sorted(nginx, pg1)},
		{fields: "spec.lifecycle=draft", want: sorted(redis, pg2)},
		{fields: "spec.lifecycle!=draft", want: sorted(nginx, pg1)},
		{fields: "spec.packageRevID.package=postgres", want: sorted(pg1, pg2)},
		{fields: "spec.packageRevID.package=postgres,spec.lifecycle=published", want: sorted(pg1)},
		{fields: "spec.packageRevID.realm=team/apps", want: sorted(nginx, redis)},
		{fields: "spec.packageRevID.revision=v2", want: sorted(nginx)},
		{fields: "spec.packageRevID.package=nginx", labels: pkgapi.LatestRevisionLabel + "=true", want: sorted(nginx)},
		{fields: "spec.packageRevID.package=nothing", want: []string{}},
	} {
		q := url.Values{}
		if tc.labels != "" {
			q.Set("labelSelector", tc.labels)
		}
		if tc.fields != "" {
			q.Set("fieldSelector", tc.fields)
		}
		if got := names(c.ListRevisions(t, q).Items); !slices.Equal(got, tc.want) {
			t.Errorf("list ?%s: %v, want %v", q.Encode(), got, tc.want)
		}
	}
	c.ExpectStatus(t, http.MethodGet, c.RevisionsPath("")+"?fieldSelector=spec.nothing%3Dx", nil, http.StatusBadRequest)

	// paging gives every item exactly once, in list order, limit at a time
	for _, tc := range []struct {
		limit  int
		fields string
	}{{1, ""}, {3, ""}, {4, ""}, {1, "spec.lifecycle=draft"}} {
		q := url.Values{"limit": {strconv.Itoa(tc.limit)}}
		if tc.fields != "" {
			q.Set("fieldSelector", tc.fields)
		}
		want := c.ListRevisions(t, url.Values{"fieldSelector": {tc.fields}}).Items
		var got []string
		pages := 0
		for {
			page := c.ListRevisions(t, q)
			pages++
			if len(page.Items) > tc.limit {
				t.Fatalf("limit %d: page of %d items", tc.limit, len(page.Items))
			}
			for _, it := range page.Items {
				got = append(got, it.Name)
			}
			if page.Continue == "" {
				break
			}
			if pages > len(want)+1 {
				t.Fatalf("limit %d: paging does not end (continue %q)", tc.limit, page.Continue)
			}
			q.Set("continue", page.Continue)
		}
		var wantNames []string
		for _, it := range want {
			wantNames = append(wantNames, it.Name)
		}
		if !slices.Equal(got, wantNames) {
			t.Errorf("limit %d fieldSelector %q: pages gave %v, want %v", tc.limit, tc.fields, got, wantNames)
		}
		if wantPages := max(1, (len(want)+tc.limit-1)/tc.limit); pages != wantPages {
			t.Errorf("limit %d fieldSelector %q over %d items: %d pages, want %d", tc.limit, tc.fields, len(want), pages, wantPages)
		}
	}

	// other namespaces see nothing; the all-namespaces list sees everything
	other := *c
	other.Namespace = "elsewhere"
	if got := other.ListRevisions(t, nil).Items; len(got) != 0 {
		t.Fatalf("namespace elsewhere lists %v", names(got))
	}
	var across pkgapi.PackageRevisionList
	c.Expect(t, http.MethodGet, "/apis/"+pkgapi.Group+"/"+pkgapi.Version+"/"+pkgapi.PackageRevisionResource, nil, http.StatusOK, &across)
	if got, want := names(across.Items), names(all.Items); !slices.Equal(got, want) {
		t.Fatalf("list across namespaces: %v, want %v", got, want)
	}

	// resources list by package
	var prrs pkgapi.PackageRevisionResourcesList
	c.Expect(t, http.MethodGet, c.ResourcesPath("")+"?fieldSelector=spec.packageRevID.package%3Dnginx", nil, http.StatusOK, &prrs)
	if len(prrs.Items) != 1 || prrs.Items[0].Name != nginx || prrs.Items[0].Spec.Resources["service.yaml"] == "" {
		t.Fatalf("resources listed for nginx: %d items", len(prrs.Items))
	}
}
