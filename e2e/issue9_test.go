package e2e

import (
	"bytes"
	"encoding/json"
	"io"
	"net/http"
	"slices"
	"strings"
	"testing"

	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	pkgapi "pkgserver.dev/pkgserver/api/pkg/v1alpha1"
	"pkgserver.dev/pkgserver/e2e/internal/harness"
)

// TestIssue9 holds one regression test per example of issue 9 ("nothing
// stored is ever lost or altered, through any door"), each through the
// real binary and real clients. Each failed on the code of 0b37638.
func TestIssue9(t *testing.T) {
	t.Run("published blobs cannot be deleted through /v2/", func(t *testing.T) {
		t.Parallel()
		testPublishedBlobsStay(t, newEnv(t, backends[0]))
	})
	t.Run("oras tag v1 v2 is refused", func(t *testing.T) {
		t.Parallel()
		testRetagRefused(t, newEnv(t, backends[0]))
	})
	for _, b := range backends {
		t.Run("a draft named like a tag survives a plain push of it/"+b.name, func(t *testing.T) {
			t.Parallel()
			testDraftNamedLikeATag(t, newEnv(t, b))
		})
	}
	t.Run("path segments named like layout files", func(t *testing.T) {
		t.Parallel()
		testLayoutNames(t, newEnv(t, backends[0]))
	})
	t.Run("a blob deleted behind pkgserver is a clear 409", func(t *testing.T) {
		t.Parallel()
		testBlobDeletedBehind(t, newEnv(t, backends[1]))
	})
}

// testBlobDeletedBehind deletes the layer of a draft in the registry behind
// pkgserver's back (the distribution registry refuses every manifest that
// names it: MANIFEST_BLOB_UNKNOWN). Reading the draft's files and proposing
// it answer 409 Conflict naming the missing blob, not 500; nothing else
// changes, and other packages keep working.
func testBlobDeletedBehind(t *testing.T, e *env) {
	reg := e.registryAPI(t)
	e.createRepo(t, "blueprints", false)
	id := catalogID("blueprints", "", "app", "ws1")
	name := harness.RevisionName(id)
	createDraft(t, e.c, id, initTask("app"), nil)
	putFiles(t, e.c, name, map[string]string{"Kptfile": e.c.GetResources(t, name).Spec.Resources["Kptfile"], "cm.yaml": configMapYAML("cm", "1")})
	repo := strings.TrimPrefix(e.ociRepo(id, false), e.registry+"/")
	data, _ := reg.manifest(repo, "ws.ws1")
	var m ocispec.Manifest
	if err := json.Unmarshal(data, &m); err != nil || len(m.Layers) != 1 {
		t.Fatalf("manifest of ws.ws1: %v %s", err, data)
	}
	layer := m.Layers[0].Digest
	if code, body := v2(t, http.MethodDelete, reg.base+"/v2/"+repo+"/blobs/"+layer.String(), nil, ""); code != http.StatusAccepted {
		t.Fatalf("DELETE the layer in the registry: %d %s", code, body)
	}
	e.restart(t) // nothing cached
	st := e.c.ExpectStatus(t, http.MethodGet, e.c.ResourcesPath(name), nil, http.StatusConflict)
	if st.Reason != metav1.StatusReasonConflict || !strings.Contains(st.Message, layer.String()) {
		t.Errorf("GET the files: reason %q message %q; want Conflict naming %s", st.Reason, st.Message, layer)
	}
	pr := e.c.GetRevision(t, name)
	pr.Spec.Lifecycle = pkgapi.LifecycleProposed
	st = e.c.ExpectStatus(t, http.MethodPut, e.c.RevisionsPath(name), pr, http.StatusConflict)
	if st.Reason != metav1.StatusReasonConflict || !strings.Contains(st.Message, layer.String()) {
		t.Errorf("propose: reason %q message %q; want Conflict naming %s", st.Reason, st.Message, layer)
	}
	if got := e.c.GetRevision(t, name); got.Spec.Lifecycle != pkgapi.LifecycleDraft || got.Status.OCI.Digest != pr.Status.OCI.Digest {
		t.Errorf("after the refused proposal %s is %s %s, want the draft unchanged", name, got.Spec.Lifecycle, got.Status.OCI.Digest)
	}
	createDraft(t, e.c, catalogID("blueprints", "", "other", "ws1"), initTask("other"), nil)
}

// v2 sends one request to the /v2/ API of base.
func v2(t *testing.T, method, url string, body []byte, contentType string) (int, []byte) {
	t.Helper()
	req, err := http.NewRequestWithContext(t.Context(), method, url, bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	if contentType != "" {
		req.Header.Set("Content-Type", contentType)
	}
	req.Header.Set("Accept", ocispec.MediaTypeImageManifest)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	data, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, data
}

// testPublishedBlobsStay: DELETE /v2/<package>/blobs/<digest> of a
// published revision's layer or config, and of its manifest, is DENIED;
// after a restart the revision is there, unchanged, with every blob.
func testPublishedBlobsStay(t *testing.T, e *env) {
	e.createRepo(t, "blueprints", false)
	id := catalogID("blueprints", "", "app", "ws1")
	name := harness.RevisionName(id)
	createDraft(t, e.c, id, initTask("app"), nil)
	files := putFiles(t, e.c, name, map[string]string{"Kptfile": e.c.GetResources(t, name).Spec.Resources["Kptfile"], "cm.yaml": configMapYAML("cm", "1")}).Spec.Resources
	v1 := publish(t, e.c, name)
	base := e.srv.URL + "/v2/" + strings.TrimPrefix(e.ociRepo(id, false), e.srv.Addr+"/")
	code, body := v2(t, http.MethodGet, base+"/manifests/v1", nil, "")
	var m ocispec.Manifest
	if code != http.StatusOK || json.Unmarshal(body, &m) != nil {
		t.Fatalf("GET manifest v1: %d %s", code, body)
	}
	blobs := []digest.Digest{m.Config.Digest}
	for _, l := range m.Layers {
		blobs = append(blobs, l.Digest)
	}
	for _, d := range blobs {
		if code, body := v2(t, http.MethodDelete, base+"/blobs/"+d.String(), nil, ""); code != http.StatusForbidden || !bytes.Contains(body, []byte("DENIED")) {
			t.Errorf("DELETE blob %s of published v1: %d %s, want 403 DENIED", d, code, body)
		}
	}
	if code, body := v2(t, http.MethodDelete, base+"/manifests/"+v1.Status.OCI.Digest, nil, ""); code != http.StatusForbidden {
		t.Errorf("DELETE manifest of published v1: %d %s, want 403 DENIED", code, body)
	}
	e.restart(t)
	got := e.c.GetRevision(t, name)
	if got.Spec.Lifecycle != pkgapi.LifecyclePublished || got.Status.OCI.Digest != v1.Status.OCI.Digest {
		t.Fatalf("after the restart %s is %s %s, want published %s", name, got.Spec.Lifecycle, got.Status.OCI.Digest, v1.Status.OCI.Digest)
	}
	assertFiles(t, "files after the restart", e.c.GetResources(t, name).Spec.Resources, files)
	for _, d := range blobs {
		if code, _ := v2(t, http.MethodGet, base+"/blobs/"+d.String(), nil, ""); code != http.StatusOK {
			t.Errorf("GET blob %s after the restart: %d", d, code)
		}
	}
}

// testRetagRefused: `oras tag <package>:v1 v2` would make a second object of
// the same name whose deletion takes the manifest both point at: DENIED,
// no v2, one object.
func testRetagRefused(t *testing.T, e *env) {
	e.createRepo(t, "blueprints", false)
	id := catalogID("blueprints", "", "app", "ws1")
	name := harness.RevisionName(id)
	createDraft(t, e.c, id, initTask("app"), nil)
	v1 := publish(t, e.c, name)
	ref := e.ociRepo(id, false)
	o := harness.NewOras(t)
	if out, err := o.Try(t, "", "tag", "--plain-http", ref+":v1", "v2"); err == nil || !strings.Contains(strings.ToUpper(out), "DENIED") {
		t.Fatalf("oras tag %s:v1 v2: %v, want it DENIED:\n%s", ref, err, out)
	}
	if tags := o.Tags(t, ref); slices.Contains(tags, "v2") {
		t.Fatalf("tags after the refused retag: %v", tags)
	}
	var objs []string
	for _, pr := range e.c.ListRevisions(t, nil).Items {
		if pr.Spec.PackageRevID.Package == "app" {
			objs = append(objs, pr.Name+" "+pr.Spec.PackageRevID.Revision)
		}
	}
	if len(objs) != 1 || objs[0] != name+" v1" {
		t.Fatalf("revisions of the package: %v, want only %s v1", objs, name)
	}
	if got := e.c.GetRevision(t, name); got.Status.OCI.Digest != v1.Status.OCI.Digest {
		t.Fatalf("v1 is %s, was %s", got.Status.OCI.Digest, v1.Status.OCI.Digest)
	}
}

// testDraftNamedLikeATag: a draft of workspace "v1" and a plain `oras push`
// of the package's tag v1. Through pkgserver's /v2/ the push is DENIED (it
// would hide the draft); behind pkgserver's back on a remote registry it
// lands, and then no read, rescan or restart deletes the draft's tag (a
// "repair" on read once did).
func testDraftNamedLikeATag(t *testing.T, e *env) {
	e.createRepo(t, "blueprints", false)
	id := catalogID("blueprints", "", "app", "v1")
	name := harness.RevisionName(id)
	createDraft(t, e.c, id, initTask("app"), nil)
	files := putFiles(t, e.c, name, map[string]string{"Kptfile": e.c.GetResources(t, name).Spec.Resources["Kptfile"], "cm.yaml": configMapYAML("cm", "draft")}).Spec.Resources
	draft := e.c.GetRevision(t, name).Status.OCI.Digest
	ref := e.ociRepo(id, false)
	dir := t.TempDir()
	harness.WriteFiles(t, dir, map[string]string{"plain.yaml": configMapYAML("plain", "1")})
	out, err := harness.NewOras(t).Try(t, dir, "push", "--plain-http", ref+":v1", "plain.yaml")
	switch {
	case !e.b.remote && (err == nil || !strings.Contains(strings.ToUpper(out), "DENIED")):
		t.Fatalf("oras push %s:v1 next to the draft v1 through pkgserver: %v, want DENIED:\n%s", ref, err, out)
	case e.b.remote && err != nil:
		t.Fatalf("oras push %s:v1 to the registry: %v\n%s", ref, err, out)
	}
	reg := e.registryAPI(t)
	repo := strings.TrimPrefix(ref, strings.TrimPrefix(reg.base, "http://")+"/")
	stays := func(when string) {
		t.Helper()
		if got := reg.resolve(repo, "ws.v1"); got != draft {
			t.Fatalf("%s: the draft's tag ws.v1 is %q, want %s: a read deleted it", when, got, draft)
		}
		if e.b.remote {
			return // the published v1 pushed there has the name now (docs/format.md)
		}
		got := e.c.GetRevision(t, name)
		if got.Spec.Lifecycle != pkgapi.LifecycleDraft || got.Status.OCI.Digest != draft {
			t.Fatalf("%s: %s is %s %s, want the draft %s", when, name, got.Spec.Lifecycle, got.Status.OCI.Digest, draft)
		}
		assertFiles(t, when, e.c.GetResources(t, name).Spec.Resources, files)
	}
	e.c.ListRevisions(t, nil)
	e.c.Expect(t, http.MethodGet, e.c.RevisionsPath(name), nil, http.StatusOK, nil)
	stays("after reads")
	e.c.Expect(t, http.MethodPost, e.c.RepositoriesPath("blueprints")+"/refresh", nil, http.StatusOK, nil)
	e.c.ListRevisions(t, nil)
	stays("after a rescan")
	e.restart(t)
	e.c.ListRevisions(t, nil)
	stays("after a restart")
}

// testLayoutNames: packages and /v2/ repositories with a path segment named
// like a file of the embedded layout (oci-layout, index.json) are found
// again after a restart, do not hide each other, and take later pushes.
func testLayoutNames(t *testing.T, e *env) {
	e.createRepo(t, "layout", false)
	ids := []pkgapi.PackageRevID{
		catalogID("layout", "", "app", "ws1"),
		catalogID("layout", "app", "oci-layout", "ws1"),
		catalogID("layout", "app/oci-layout", "blobs", "ws1"),
	}
	published := map[string]string{}
	for _, id := range ids {
		name := harness.RevisionName(id)
		createDraft(t, e.c, id, initTask(id.Package), nil)
		published[name] = publish(t, e.c, name).Status.OCI.Digest
	}
	plain := []string{"scratch/a", "scratch/a/oci-layout", "scratch/a/index.json", "scratch/a/index.json/blobs"}
	o := harness.NewOras(t)
	dir := t.TempDir()
	harness.WriteFiles(t, dir, map[string]string{"f.yaml": configMapYAML("f", "1")})
	for _, p := range plain {
		o.Run(t, dir, "push", "--plain-http", e.srv.Addr+"/"+p+":v1", "f.yaml")
	}
	check := func(when string) {
		t.Helper()
		for name, d := range published {
			if got := e.c.GetRevision(t, name); got.Status.OCI == nil || got.Status.OCI.Digest != d {
				t.Fatalf("%s: %s is %+v, want %s", when, name, got.Status.OCI, d)
			}
		}
		code, body := v2(t, http.MethodGet, e.srv.URL+"/v2/_catalog", nil, "")
		var cat struct {
			Repositories []string `json:"repositories"`
		}
		if code != http.StatusOK || json.Unmarshal(body, &cat) != nil {
			t.Fatalf("%s: catalog: %d %s", when, code, body)
		}
		for _, p := range plain {
			if !slices.Contains(cat.Repositories, p) {
				t.Fatalf("%s: the catalog %v lacks %s", when, cat.Repositories, p)
			}
		}
	}
	check("after the pushes")
	e.restart(t)
	check("after a restart")
	for i, id := range ids {
		id.Workspace = "ws2"
		createDraft(t, e.c, id, editTask(harness.RevisionName(ids[i])), nil)
		if v := publish(t, e.c, harness.RevisionName(id)).Spec.PackageRevID.Revision; v != "v2" {
			t.Fatalf("%s published as %s, want v2", harness.RevisionName(id), v)
		}
	}
	for _, p := range plain {
		o.Run(t, dir, "push", "--plain-http", e.srv.Addr+"/"+p+":v2", "f.yaml")
		if tags := o.Tags(t, e.srv.Addr+"/"+p); !slices.Equal(sorted(tags...), []string{"v1", "v2"}) {
			t.Fatalf("tags of %s: %v", p, tags)
		}
	}
	check("after more pushes")
}
