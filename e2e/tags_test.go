package e2e

import (
	"bytes"
	"encoding/json"
	"io"
	"maps"
	"net/http"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	ocispec "github.com/opencontainers/image-spec/specs-go/v1"

	pkgapi "pkgserver.dev/pkgserver/api/pkg/v1alpha1"
	"pkgserver.dev/pkgserver/e2e/internal/harness"
)

// registryAPI reads an OCI distribution API (the remote registry, or the
// embedded store served by pkgserver on /v2/).
type registryAPI struct {
	t    *testing.T
	base string // http://host:port
	http *http.Client
}

// registryAPI fails t when the embedded store is not served on /v2/.
func (e *env) registryAPI(t *testing.T) *registryAPI {
	t.Helper()
	r := e.servedRegistryAPI(t)
	if r == nil {
		t.Fatal("pkgserver does not serve the OCI distribution API on /v2/ (product.md: the embedded store is served on /v2/)")
	}
	return r
}

// servedRegistryAPI is nil when the embedded store is not served on /v2/.
func (e *env) servedRegistryAPI(t *testing.T) *registryAPI {
	t.Helper()
	host := e.registry
	if !e.b.remote {
		host = e.srv.Addr
	}
	r := &registryAPI{t: t, base: "http://" + host, http: &http.Client{Timeout: 10 * time.Second}}
	resp, err := r.http.Get(r.base + "/v2/")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode == http.StatusNotFound {
		return nil
	}
	return r
}

// resolve returns the manifest digest a tag points at, "" when there is none.
func (r *registryAPI) resolve(repo, tag string) string {
	r.t.Helper()
	req, _ := http.NewRequestWithContext(r.t.Context(), http.MethodHead, r.base+"/v2/"+repo+"/manifests/"+tag, nil)
	req.Header.Set("Accept", ocispec.MediaTypeImageManifest)
	resp, err := r.http.Do(req)
	if err != nil {
		r.t.Fatal(err)
	}
	resp.Body.Close()
	switch resp.StatusCode {
	case http.StatusOK:
		return resp.Header.Get("Docker-Content-Digest")
	case http.StatusNotFound:
		return ""
	}
	r.t.Fatalf("HEAD %s:%s: %s", repo, tag, resp.Status)
	return ""
}

// tags lists the tags of repo.
func (r *registryAPI) tags(repo string) []string {
	r.t.Helper()
	resp, err := r.http.Get(r.base + "/v2/" + repo + "/tags/list")
	if err != nil {
		r.t.Fatal(err)
	}
	defer resp.Body.Close()
	var out struct {
		Tags []string `json:"tags"`
	}
	if resp.StatusCode != http.StatusOK || json.NewDecoder(resp.Body).Decode(&out) != nil {
		r.t.Fatalf("tags of %s: %s", repo, resp.Status)
	}
	slices.Sort(out.Tags)
	return out.Tags
}

// testOCITags checks the tags of product.md "OCI format" in the registry
// itself: vN and latest, draft tags that never look like them, and latest
// moving back when the newest revision is deleted.
func testOCITags(t *testing.T, e *env) {
	reg := e.registryAPI(t)
	c := e.c
	e.createRepo(t, "blueprints", false)
	id1 := catalogID("blueprints", "", "app", "ws1")
	name1 := harness.RevisionName(id1)
	createDraft(t, c, id1, initTask("app"), nil)
	files := maps.Clone(c.GetResources(t, name1).Spec.Resources)
	files["deployment.yaml"] = deploymentYAML("app", 1)
	putFiles(t, c, name1, files)
	v1 := publish(t, c, name1)
	repo := strings.TrimPrefix(e.ociRepo(id1, false), strings.TrimPrefix(reg.base, "http://")+"/")
	if got := reg.resolve(repo, "v1"); got != v1.Status.OCI.Digest {
		t.Fatalf("tag v1 → %q, want %s", got, v1.Status.OCI.Digest)
	}
	if got := reg.resolve(repo, "latest"); got != v1.Status.OCI.Digest {
		t.Fatalf("tag latest → %q, want v1's %s", got, v1.Status.OCI.Digest)
	}

	id2 := id1
	id2.Workspace = "ws2"
	name2 := harness.RevisionName(id2)
	draft := createDraft(t, c, id2, editTask(name1), nil)
	_, draftTag, _ := strings.Cut(strings.TrimPrefix(draft.Status.OCI.Reference, e.ociRepo(id1, false)), ":")
	if draftTag == "" || draftTag == "latest" || regexp.MustCompile(`^v[0-9]+$`).MatchString(draftTag) {
		t.Fatalf("draft reference %q: tag %q can collide with vN or latest", draft.Status.OCI.Reference, draftTag)
	}
	if got := reg.resolve(repo, draftTag); got != draft.Status.OCI.Digest {
		t.Fatalf("draft tag %s → %q, want %s", draftTag, got, draft.Status.OCI.Digest)
	}
	files["service.yaml"] = serviceYAML("app")
	putFiles(t, c, name2, files)
	v2 := publish(t, c, name2)
	if got := reg.resolve(repo, "latest"); got != v2.Status.OCI.Digest {
		t.Fatalf("tag latest → %q after v2, want %s", got, v2.Status.OCI.Digest)
	}
	if got := reg.resolve(repo, "v1"); got != v1.Status.OCI.Digest {
		t.Fatalf("tag v1 → %q after v2, want %s", got, v1.Status.OCI.Digest)
	}
	if got := reg.tags(repo); !slices.Contains(got, "v1") || !slices.Contains(got, "v2") || !slices.Contains(got, "latest") {
		t.Fatalf("tags %v; want v1, v2 and latest among them", got)
	}

	// Deleting the newest revision moves latest (tag and label) back to v1.
	c.Approve(t, c.GetRevision(t, name2), pkgapi.LifecycleDeletionProposed)
	c.DeleteRevision(t, name2)
	if got := reg.resolve(repo, "v2"); got != "" {
		t.Fatalf("tag v2 still → %s after deleting v2", got)
	}
	if got := reg.resolve(repo, "latest"); got != v1.Status.OCI.Digest {
		t.Fatalf("tag latest → %q after deleting v2, want v1's %s", got, v1.Status.OCI.Digest)
	}
	if got := c.GetRevision(t, name1); got.Labels[pkgapi.LatestRevisionLabel] != "true" {
		t.Fatalf("v1 labels %v after deleting v2; want the latest label", got.Labels)
	}
	e.restart(t)
	if got := c.GetRevision(t, name1); got.Labels[pkgapi.LatestRevisionLabel] != "true" || got.Status.OCI.Digest != v1.Status.OCI.Digest {
		t.Fatalf("v1 after restart: labels %v digest %s", got.Labels, got.Status.OCI.Digest)
	}
	// The next publication is v3 or v2, never a reuse that breaks v1.
	id3 := id1
	id3.Workspace = "ws3"
	createDraft(t, c, id3, editTask(name1), nil)
	v3 := publish(t, c, harness.RevisionName(id3))
	if v3.Spec.PackageRevID.Revision == "v1" || reg.resolve(repo, "v1") != v1.Status.OCI.Digest {
		t.Fatalf("publishing after deleting v2 gave %s and moved v1", v3.Spec.PackageRevID.Revision)
	}
}

// manifest fetches the manifest a tag points at, with its media type.
func (r *registryAPI) manifest(repo, tag string) (data []byte, mediaType string) {
	r.t.Helper()
	req, _ := http.NewRequestWithContext(r.t.Context(), http.MethodGet, r.base+"/v2/"+repo+"/manifests/"+tag, nil)
	req.Header.Set("Accept", ocispec.MediaTypeImageManifest)
	resp, err := r.http.Do(req)
	if err != nil {
		r.t.Fatal(err)
	}
	defer resp.Body.Close()
	data, err = io.ReadAll(resp.Body)
	if err != nil || resp.StatusCode != http.StatusOK {
		r.t.Fatalf("GET manifest %s:%s: %s %v", repo, tag, resp.Status, err)
	}
	return data, resp.Header.Get("Content-Type")
}

// tryPutManifest pushes a manifest under tag and returns the status code.
func (r *registryAPI) tryPutManifest(repo, tag string, data []byte, mediaType string) int {
	r.t.Helper()
	req, _ := http.NewRequestWithContext(r.t.Context(), http.MethodPut, r.base+"/v2/"+repo+"/manifests/"+tag, bytes.NewReader(data))
	req.Header.Set("Content-Type", mediaType)
	resp, err := r.http.Do(req)
	if err != nil {
		r.t.Fatal(err)
	}
	resp.Body.Close()
	return resp.StatusCode
}

// testDraftBehindPublished pushes a published revision's old proposed
// manifest back under its ws.* tag, as a crash between the steps of a
// publication once left it. Through pkgserver's /v2/ that push is refused; on
// a registry written behind pkgserver's back the server shows the name once,
// as the published revision, and deletes nothing (reads never write).
func testDraftBehindPublished(t *testing.T, e *env) {
	reg := e.registryAPI(t)
	c := e.c
	e.createRepo(t, "blueprints", false)
	id := catalogID("blueprints", "", "app", "ws1")
	name := harness.RevisionName(id)
	createDraft(t, c, id, initTask("app"), nil)
	pr := c.GetRevision(t, name)
	pr.Spec.Lifecycle = pkgapi.LifecycleProposed
	proposed := c.UpdateRevision(t, pr)
	repo := strings.TrimPrefix(e.ociRepo(id, false), strings.TrimPrefix(reg.base, "http://")+"/")
	_, tag, _ := strings.Cut(strings.TrimPrefix(proposed.Status.OCI.Reference, e.ociRepo(id, false)), ":")
	data, mediaType := reg.manifest(repo, tag)
	v1 := c.Approve(t, proposed, pkgapi.LifecyclePublished)
	checkPublished(t, v1)

	if code := reg.tryPutManifest(repo, tag, data, mediaType); !e.b.remote {
		if code != http.StatusForbidden {
			t.Fatalf("PUT %s:%s through pkgserver's /v2/ next to published v1: %d, want 403", repo, tag, code)
		}
		return
	} else if code != http.StatusCreated {
		t.Fatalf("PUT %s:%s behind pkgserver: %d", repo, tag, code)
	}
	e.restart(t)
	list := c.ListRevisions(t, nil)
	var lifecycles []string
	for _, it := range list.Items {
		if it.Name == name {
			lifecycles = append(lifecycles, string(it.Spec.Lifecycle)+" "+it.Spec.PackageRevID.Revision)
		}
	}
	if len(lifecycles) != 1 || lifecycles[0] != "published v1" {
		t.Errorf("with a draft pushed behind pkgserver %s is listed as %q; want it once, as published v1", name, lifecycles)
	}
	if got := c.GetRevision(t, name); got.Spec.Lifecycle != pkgapi.LifecyclePublished || got.Status.OCI.Digest != v1.Status.OCI.Digest {
		t.Errorf("GET %s: %s %s, want published %s", name, got.Spec.Lifecycle, got.Status.OCI.Digest, v1.Status.OCI.Digest)
	}
	if got := reg.resolve(repo, tag); got == "" {
		t.Errorf("the read deleted %s:%s", repo, tag)
	}
}

// testLatestBehindServer points latest back at v1 after v2 was published.
// Through pkgserver's /v2/ that is refused; on a registry written behind
// pkgserver's back the API still labels v2 latest, nothing is rewritten by
// reads, and the next publication moves latest to it.
func testLatestBehindServer(t *testing.T, e *env) {
	reg := e.registryAPI(t)
	c := e.c
	e.createRepo(t, "blueprints", false)
	id1 := catalogID("blueprints", "", "app", "ws1")
	name1 := harness.RevisionName(id1)
	createDraft(t, c, id1, initTask("app"), nil)
	v1 := publish(t, c, name1)
	repo := strings.TrimPrefix(e.ociRepo(id1, false), strings.TrimPrefix(reg.base, "http://")+"/")
	v1Manifest, mediaType := reg.manifest(repo, "v1")
	id2 := id1
	id2.Workspace = "ws2"
	createDraft(t, c, id2, editTask(name1), nil)
	putFiles(t, c, harness.RevisionName(id2), map[string]string{"Kptfile": c.GetResources(t, name1).Spec.Resources["Kptfile"], "cm.yaml": configMapYAML("cm", "v2")})
	publish(t, c, harness.RevisionName(id2))

	code := reg.tryPutManifest(repo, "latest", v1Manifest, mediaType)
	if !e.b.remote {
		if code != http.StatusForbidden {
			t.Fatalf("PUT latest → v1 through pkgserver's /v2/: %d, want 403", code)
		}
		return
	}
	if code != http.StatusCreated || reg.resolve(repo, "latest") != v1.Status.OCI.Digest {
		t.Fatalf("could not set latest back to v1 behind pkgserver: %d", code)
	}
	e.restart(t)
	if got := c.GetRevision(t, harness.RevisionName(id2)); got.Labels[pkgapi.LatestRevisionLabel] != "true" {
		t.Fatalf("v2 lost the latest label: %v", got.Labels)
	}
	if got := reg.resolve(repo, "latest"); got != v1.Status.OCI.Digest {
		t.Errorf("a read moved latest to %s; reads never write", got)
	}
	id3 := id1
	id3.Workspace = "ws3"
	createDraft(t, c, id3, editTask(name1), nil)
	v3 := publish(t, c, harness.RevisionName(id3))
	if got := reg.resolve(repo, "latest"); got != v3.Status.OCI.Digest {
		t.Errorf("after publishing v3 latest → %s, want v3 %s", got, v3.Status.OCI.Digest)
	}
}
