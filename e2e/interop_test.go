package e2e

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"maps"
	"net/http"
	"net/url"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	ocispec "github.com/opencontainers/image-spec/specs-go/v1"

	configapi "pkgserver.dev/pkgserver/api/config/v1alpha1"
	pkgapi "pkgserver.dev/pkgserver/api/pkg/v1alpha1"
	"pkgserver.dev/pkgserver/e2e/internal/harness"
	"pkgserver.dev/pkgserver/internal/testregistry"
)

// The interoperability scenarios of issue 3: the real oras CLI against
// pkgserver's own /v2/ (embedded backend) and against a CNCF distribution
// registry (remote backend), copies to other registries and air-gapped
// mirrors, and the way GitOps agents read a revision's layer. The commands
// run here are the ones docs/registry.md and docs/airgap.md show.

// rescanInterval is the --rescan-interval of every interop server, so that
// pushes into remote registries are found without a restart.
const rescanInterval = "1s"

// latestLabel is the computed label of the newest published revision.
const latestLabel = "pkg.pkgserver.dev/latest-revision"

var interopScenarios = []struct {
	name string
	run  func(t *testing.T, e *interop)
}{
	{name: "PushFiles", run: testPushFiles},
	{name: "PushDirectory", run: testPushDirectory},
	{name: "PullPublished", run: testPullPublished},
	{name: "CopyToDistribution", run: func(t *testing.T, e *interop) { testMirror(t, e, copyAllTags, mirrorDistribution) }},
	{name: "CopyToPkgserver", run: func(t *testing.T, e *interop) { testMirror(t, e, copyAllTags, mirrorPkgserver) }},
	{name: "BackupRestoreToDistribution", run: func(t *testing.T, e *interop) { testMirror(t, e, backupRestore, mirrorDistribution) }},
	{name: "CopyToRegistryWithoutCatalog", run: func(t *testing.T, e *interop) { testMirror(t, e, copyAllTags, mirrorNoCatalog) }},
	{name: "BackupRestoreToPkgserver", run: func(t *testing.T, e *interop) { testMirror(t, e, backupRestore, mirrorPkgserver) }},
	{name: "GitOpsLayer", run: testGitOpsLayer},
	{name: "PlainRegistryOutsidePrefixes", run: testPlainRegistry},
	{name: "PackageRules", run: testPackageRules},
}

func TestInterop(t *testing.T) {
	for _, b := range backends {
		t.Run(b.name, func(t *testing.T) {
			t.Parallel()
			for _, sc := range interopScenarios {
				t.Run(sc.name, func(t *testing.T) {
					t.Parallel()
					sc.run(t, newInterop(t, b))
				})
			}
		})
	}
}

// interop is an env with the oras CLI and the address of the registry that
// holds its packages.
type interop struct {
	*env
	oras *harness.Oras
	// host is host:port of the registry the packages are in: pkgserver's own
	// /v2/ for the embedded backend, the distribution registry otherwise.
	host string
}

// newInterop is newEnv with --rescan-interval, and the oras CLI.
func newInterop(t *testing.T, b backend) *interop {
	t.Helper()
	e := &env{b: b}
	if b.remote {
		e.registry = testregistry.Start(t)
	}
	e.srv = harness.Start(t, harness.Options{Bin: serverBin, DataDir: t.TempDir(), MaxBodyBytes: maxBody,
		Args: []string{"--rescan-interval", rescanInterval}})
	e.c = harness.NewClient(e.srv.URL, namespace)
	e.c.User = approver
	if e.servedRegistryAPI(t) == nil {
		t.Fatal("pkgserver does not serve the OCI distribution API on /v2/")
	}
	host := e.srv.Addr
	if b.remote {
		host = e.registry
	}
	return &interop{env: e, oras: harness.NewOras(t), host: host}
}

// refresh asks pkgserver to list a repository's registry again now
// (POST …/repositories/{name}/refresh) and expects 200.
func refresh(t *testing.T, c *harness.Client, repo string) {
	t.Helper()
	var out configapi.Repository
	c.Expect(t, http.MethodPost, c.RepositoriesPath(repo)+"/refresh", nil, http.StatusOK, &out)
	if out.Name != repo {
		t.Fatalf("refresh of %s answered repository %q", repo, out.Name)
	}
}

// revisionsOf lists the revisions of one package of a repository, by name.
func revisionsOf(t *testing.T, c *harness.Client, repo, pkg string) []pkgapi.PackageRevision {
	t.Helper()
	sel := "spec.packageRevID.repository=" + repo
	if pkg != "" {
		sel += ",spec.packageRevID.package=" + pkg
	}
	items := c.ListRevisions(t, url.Values{"fieldSelector": {sel}}).Items
	slices.SortFunc(items, func(a, b pkgapi.PackageRevision) int { return strings.Compare(a.Name, b.Name) })
	return items
}

// waitRevisions polls revisionsOf until it lists want revisions or timeout
// passes (a rescan finds packages pushed into a remote registry).
func waitRevisions(t *testing.T, c *harness.Client, repo, pkg string, want int, timeout time.Duration) []pkgapi.PackageRevision {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		items := revisionsOf(t, c, repo, pkg)
		if len(items) >= want || time.Now().After(deadline) {
			return items
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// wantPushed checks that a package pushed by oras as tag v1 is one published
// revision v1 (workspace v1, the documented default) whose manifest digest is
// what the registry resolves and whose resources are exactly files.
func (e *interop) wantPushed(t *testing.T, items []pkgapi.PackageRevision, id pkgapi.PackageRevID, ref string, files map[string]string) {
	t.Helper()
	id.Workspace, id.Revision = "v1", "v1"
	if len(items) != 1 {
		t.Fatalf("revisions of %s: %v, want exactly %s", id.Package, names(items), harness.RevisionName(id))
	}
	pr := items[0]
	if pr.Name != harness.RevisionName(id) || pr.Spec.PackageRevID != id || pr.Spec.Lifecycle != pkgapi.LifecyclePublished {
		t.Fatalf("pushed revision: name %q id %+v lifecycle %q; want %q %+v published", pr.Name, pr.Spec.PackageRevID, pr.Spec.Lifecycle, harness.RevisionName(id), id)
	}
	if pr.Labels[latestLabel] != "true" {
		t.Errorf("pushed revision %s has no %s label: %v", pr.Name, latestLabel, pr.Labels)
	}
	digest := strings.TrimSpace(e.oras.Run(t, "", "resolve", "--plain-http", ref))
	if pr.Status.OCI == nil || pr.Status.OCI.Digest != digest || pr.Status.OCI.Reference != ref {
		t.Fatalf("pushed revision %s: status.oci %+v, want reference %s digest %s", pr.Name, pr.Status.OCI, ref, digest)
	}
	assertFiles(t, "resources of "+pr.Name, e.c.GetResources(t, pr.Name).Spec.Resources, files)
}

// testPushFiles: `oras push` of loose YAML files (one in a subdirectory)
// into a repository's prefix is a published revision with exactly those
// files; on a remote registry after the refresh call.
func testPushFiles(t *testing.T, e *interop) {
	e.createRepo(t, "blueprints", false)
	id := catalogID("blueprints", "apps", "web", "")
	files := map[string]string{
		"deployment.yaml":      deploymentYAML("web", 2),
		"service.yaml":         serviceYAML("web"),
		"config/settings.yaml": configMapYAML("web-settings", "blue"),
	}
	dir := t.TempDir()
	harness.WriteFiles(t, dir, files)
	ref := e.ociRepo(id, false) + ":v1"
	e.oras.Run(t, dir, "push", "--plain-http", ref, "deployment.yaml", "service.yaml", "config/settings.yaml")
	if e.b.remote {
		refresh(t, e.c, "blueprints")
	}
	e.wantPushed(t, revisionsOf(t, e.c, "blueprints", "web"), id, ref, files)
}

// testPushDirectory: `oras push` of a directory (one tar layer) into a
// deployment repository's prefix; on a remote registry the rescan finds it.
func testPushDirectory(t *testing.T, e *interop) {
	e.createRepo(t, "prod", true)
	id := pkgapi.PackageRevID{Target: "cluster-a", Repository: "prod", Realm: "data", Package: "db"}
	files := map[string]string{
		"Kptfile":            "apiVersion: kpt.dev/v1\nkind: Kptfile\nmetadata:\n  name: db\n",
		"statefulset.yaml":   deploymentYAML("db", 1),
		"conf/settings.yaml": configMapYAML("db-settings", "fast"),
	}
	parent := t.TempDir()
	harness.WriteFiles(t, filepath.Join(parent, "db"), files)
	ref := e.ociRepo(id, true) + ":v1"
	// the directory's name becomes the layer title; pkgserver strips it
	e.oras.Run(t, parent, "push", "--plain-http", ref, "db/")
	var items []pkgapi.PackageRevision
	if e.b.remote {
		// No refresh call: the --rescan-interval loop must find it.
		items = waitRevisions(t, e.c, "prod", "db", 1, 15*time.Second)
	} else {
		items = revisionsOf(t, e.c, "prod", "db") // visible at once
	}
	e.wantPushed(t, items, id, ref, files)
}

// publishFiles creates a draft of id with files (plus the Kptfile of init)
// and publishes it; it returns the revision and its files.
func publishFiles(t *testing.T, c *harness.Client, id pkgapi.PackageRevID, files map[string]string) (*pkgapi.PackageRevision, map[string]string) {
	t.Helper()
	name := harness.RevisionName(id)
	if id.Revision == "" && len(revisionsOf(t, c, id.Repository, id.Package)) > 0 {
		pub := latestOf(t, c, id.Repository, id.Package)
		createDraft(t, c, id, editTask(pub.Name), nil)
	} else {
		createDraft(t, c, id, initTask(id.Package+" package"), nil)
	}
	all := maps.Clone(c.GetResources(t, name).Spec.Resources)
	maps.Copy(all, files)
	putFiles(t, c, name, all)
	return publish(t, c, name), all
}

// latestOf is the published revision of a package labelled latest.
func latestOf(t *testing.T, c *harness.Client, repo, pkg string) *pkgapi.PackageRevision {
	t.Helper()
	for _, pr := range revisionsOf(t, c, repo, pkg) {
		if pr.Labels[latestLabel] == "true" {
			return &pr
		}
	}
	t.Fatalf("package %s/%s has no revision labelled %s", repo, pkg, latestLabel)
	return nil
}

// pulled runs `oras pull ref -o dir` and returns the files written.
func (e *interop) pulled(t *testing.T, ref string) map[string]string {
	t.Helper()
	dir := t.TempDir()
	e.oras.Run(t, "", "pull", "--plain-http", ref, "-o", dir)
	return harness.ReadFiles(t, dir)
}

// under prefixes every path with dir + "/".
func under(dir string, files map[string]string) map[string]string {
	out := map[string]string{}
	for p, text := range files {
		out[dir+"/"+p] = text
	}
	return out
}

// testPullPublished: revisions published through the API are pulled by
// `oras pull` as exactly their files, under <package>/, by vN, latest and digest.
func testPullPublished(t *testing.T, e *interop) {
	e.createRepo(t, "prod", true)
	id := pkgapi.PackageRevID{Target: "cluster-a", Repository: "prod", Realm: "team/web", Package: "nginx", Workspace: "first"}
	v1, files1 := publishFiles(t, e.c, id, map[string]string{
		"deployment.yaml":     deploymentYAML("nginx", 1),
		"config/service.yaml": serviceYAML("nginx"),
	})
	id.Workspace = "second"
	v2, files2 := publishFiles(t, e.c, id, map[string]string{"deployment.yaml": deploymentYAML("nginx", 3)})
	repo := e.ociRepo(id, true)
	for _, c := range []struct {
		ref   string
		files map[string]string
	}{
		{v1.Status.OCI.Reference, files1},
		{repo + ":v2", files2},
		{repo + ":latest", files2},
		{repo + "@" + v1.Status.OCI.Digest, files1},
	} {
		assertFiles(t, "oras pull "+c.ref, e.pulled(t, c.ref), under(id.Package, c.files))
	}
	if v2.Status.OCI.Reference != repo+":v2" {
		t.Fatalf("v2 reference %q, want %q", v2.Status.OCI.Reference, repo+":v2")
	}
}

// mirrorSource publishes what the mirror scenarios copy: a catalog
// repository "blueprints" with package nginx (v1, v2 and a draft) and
// package redis (v1, and v2 deleted); nginx v1 is proposed for deletion.
// It returns the OCI repositories (host/path) of the
// packages, relative to the registry host.
func (e *interop) mirrorSource(t *testing.T) []string {
	t.Helper()
	e.createRepo(t, "blueprints", false)
	nginx := catalogID("blueprints", "team/web", "nginx", "first")
	publishFiles(t, e.c, nginx, map[string]string{"deployment.yaml": deploymentYAML("nginx", 1), "config/service.yaml": serviceYAML("nginx")})
	nginx.Workspace = "second"
	publishFiles(t, e.c, nginx, map[string]string{"deployment.yaml": deploymentYAML("nginx", 2)})
	nginx.Workspace = "next"
	createDraft(t, e.c, nginx, editTask(latestOf(t, e.c, "blueprints", "nginx").Name), nil)
	// nginx v1 is proposed for deletion (a marker manifest whose subject is v1)
	v1 := revisionsOf(t, e.c, "blueprints", "nginx")[0]
	if v1.Spec.PackageRevID.Revision != "v1" {
		t.Fatalf("first nginx revision is %s, want v1", v1.Name)
	}
	e.c.Approve(t, &v1, pkgapi.LifecycleDeletionProposed)
	// redis v2 is published then deleted (a v2.deleted tombstone)
	redis := catalogID("blueprints", "", "redis", "first")
	publishFiles(t, e.c, redis, map[string]string{"statefulset.yaml": deploymentYAML("redis", 1)})
	redis.Workspace = "second"
	r2, _ := publishFiles(t, e.c, redis, map[string]string{"statefulset.yaml": deploymentYAML("redis", 2)})
	e.c.DeleteRevision(t, e.c.Approve(t, r2, pkgapi.LifecycleDeletionProposed).Name)
	var out []string
	for _, id := range []pkgapi.PackageRevID{nginx, redis} {
		out = append(out, strings.TrimPrefix(e.ociRepo(id, false), e.host+"/"))
	}
	return out
}

// transfer copies the OCI repository src (host/path) to dst with every tag.
type transfer func(t *testing.T, e *interop, src, dst string)

// copyAllTags runs `oras cp -r` for every tag `oras repo tags` lists.
func copyAllTags(t *testing.T, e *interop, src, dst string) {
	for _, tag := range e.oras.Tags(t, src) {
		e.oras.Run(t, "", "cp", "-r", "--from-plain-http", "--to-plain-http", src+":"+tag, dst+":"+tag)
	}
}

// backupRestore runs `oras backup` of every tag into a tarball and `oras
// restore` of that tarball.
func backupRestore(t *testing.T, e *interop, src, dst string) {
	tarball := filepath.Join(t.TempDir(), "package.tar")
	e.oras.Run(t, "", "backup", "--plain-http", "--output", tarball, src)
	e.oras.Run(t, "", "restore", "--plain-http", "--input", tarball, dst)
}

// mirrorTarget is the registry a mirror goes to, with the pkgserver that
// reads it there.
type mirrorTarget int

const (
	// mirrorDistribution: a CNCF distribution registry, registered as a remote
	// repository on a second pkgserver.
	mirrorDistribution mirrorTarget = iota
	// mirrorPkgserver: the embedded registry of a second pkgserver, with the
	// repository registered after the copy (under a registered prefix the
	// lifecycle rules apply: tombstones, markers and latest are pkgserver's).
	mirrorPkgserver
	// mirrorNoCatalog: a distribution registry behind a proxy that refuses
	// _catalog, registered with spec.oci.packages naming the packages.
	mirrorNoCatalog
)

// testMirror copies every revision of a repository to another registry and
// checks that a second pkgserver reading it there shows the same revisions,
// digests and resources (product.md: a mirrored registry is a complete,
// working repository).
func testMirror(t *testing.T, e *interop, move transfer, target mirrorTarget) {
	paths := e.mirrorSource(t)
	dst := harness.Start(t, harness.Options{Bin: serverBin, DataDir: t.TempDir(), MaxBodyBytes: maxBody})
	dc := harness.NewClient(dst.URL, namespace)
	dc.User = approver
	r := &configapi.Repository{
		TypeMeta:   metav1.TypeMeta{APIVersion: configapi.SchemeGroupVersion.String(), Kind: configapi.RepositoryKind},
		ObjectMeta: metav1.ObjectMeta{Name: "blueprints", Namespace: namespace},
		Spec:       configapi.RepositorySpec{Type: configapi.RepositoryTypeOCI},
	}
	var dstPrefix string
	switch target {
	case mirrorDistribution:
		dstPrefix = testregistry.Start(t) + "/mirror/blueprints"
	case mirrorNoCatalog:
		dstPrefix = harness.NoCatalogProxy(t, testregistry.Start(t)) + "/mirror/blueprints"
	case mirrorPkgserver:
		dstPrefix = dst.Addr + "/" + namespace + "/blueprints"
	}
	srcPrefix := e.host + "/" + namespace + "/blueprints"
	if e.b.remote {
		srcPrefix = e.registryPrefix("blueprints")
	}
	for _, p := range paths {
		move(t, e, e.host+"/"+p, dstPrefix+strings.TrimPrefix(e.host+"/"+p, srcPrefix))
	}
	switch target {
	case mirrorPkgserver:
		dc.CreateRepository(t, r)
	case mirrorDistribution:
		r.Spec.OCI = &configapi.OCIRepository{Registry: dstPrefix, PlainHTTP: true}
		dc.CreateRepository(t, r)
	case mirrorNoCatalog:
		// without _catalog the packages are named (docs/operations.md)
		r.Spec.OCI = &configapi.OCIRepository{Registry: dstPrefix, PlainHTTP: true, Packages: []string{"team/web/nginx", "redis"}}
		dc.CreateRepository(t, r)
	}
	compareMirror(t, e.c, dc, "blueprints")

	// The mirror is a working repository: the next redis revision is v3,
	// as v2 was deleted there too.
	redis := catalogID("blueprints", "", "redis", "third")
	r3, _ := publishFiles(t, dc, redis, map[string]string{"statefulset.yaml": deploymentYAML("redis", 3)})
	if r3.Spec.PackageRevID.Revision != "v3" {
		t.Fatalf("next redis revision on the mirror is %q, want v3 (v2 was deleted)", r3.Spec.PackageRevID.Revision)
	}
}

// compareMirror checks that repository repo reads the same on both servers:
// the same revisions with the same identity, lifecycle, uid, publisher,
// manifest digest and resources.
func compareMirror(t *testing.T, src, dst *harness.Client, repo string) {
	t.Helper()
	want, got := revisionsOf(t, src, repo, ""), revisionsOf(t, dst, repo, "")
	if !slices.Equal(names(want), names(got)) {
		t.Fatalf("revisions on the mirror: %v, want %v", names(got), names(want))
	}
	if len(want) != 4 {
		t.Fatalf("source lists %d revisions (%v), want 4", len(want), names(want))
	}
	for i, w := range want {
		g := got[i]
		type view struct {
			ID          pkgapi.PackageRevID
			Lifecycle   pkgapi.Lifecycle
			UID         string
			Latest      string
			PublishedBy string
			Published   string
			Digest      string
		}
		v := func(pr pkgapi.PackageRevision) view {
			out := view{ID: pr.Spec.PackageRevID, Lifecycle: pr.Spec.Lifecycle, UID: string(pr.UID), Latest: pr.Labels[latestLabel], PublishedBy: pr.Status.PublishedBy}
			if pr.Status.PublishTimestamp != nil {
				out.Published = pr.Status.PublishTimestamp.UTC().Format(time.RFC3339)
			}
			if pr.Status.OCI != nil {
				out.Digest = pr.Status.OCI.Digest
			}
			return out
		}
		if v(g) != v(w) {
			t.Errorf("%s on the mirror:\n got %+v\nwant %+v", w.Name, v(g), v(w))
		}
		assertFiles(t, "resources of "+w.Name+" on the mirror", dst.GetResources(t, w.Name).Spec.Resources, src.GetResources(t, w.Name).Spec.Resources)
	}
}

// fetch GETs a /v2/ path of the registry at host and returns the body and
// the Docker-Content-Digest header.
func fetch(t *testing.T, host, path, accept string) ([]byte, string) {
	t.Helper()
	req, err := http.NewRequestWithContext(t.Context(), http.MethodGet, "http://"+host+"/v2/"+path, nil)
	if err != nil {
		t.Fatal(err)
	}
	if accept != "" {
		req.Header.Set("Accept", accept)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("GET /v2/%s: %s\n%s", path, resp.Status, body)
	}
	return body, resp.Header.Get("Docker-Content-Digest")
}

// testGitOpsLayer reads a published revision as Flux's OCIRepository does:
// the manifest by tag, its one tar+gzip layer by digest, untarred with
// archive/tar and compress/gzip: exactly the package files under <package>/.
func testGitOpsLayer(t *testing.T, e *interop) {
	e.createRepo(t, "blueprints", false)
	id := catalogID("blueprints", "infra", "ingress", "ws1")
	pr, files := publishFiles(t, e.c, id, map[string]string{
		"deployment.yaml":        deploymentYAML("ingress", 2),
		"rbac/role.yaml":         configMapYAML("role", "x"),
		"rbac/nested/extra.yaml": configMapYAML("extra", "y"),
	})
	repo := strings.TrimPrefix(e.ociRepo(id, false), e.host+"/")
	body, digest := fetch(t, e.host, repo+"/manifests/v1", ocispec.MediaTypeImageManifest)
	if digest != pr.Status.OCI.Digest {
		t.Fatalf("manifest digest %s, API says %s", digest, pr.Status.OCI.Digest)
	}
	if out := e.oras.Run(t, "", "manifest", "fetch", "--plain-http", pr.Status.OCI.Reference); strings.TrimSpace(out) != strings.TrimSpace(string(body)) {
		t.Fatalf("oras manifest fetch %s:\n%s\nGET /v2/ gave:\n%s", pr.Status.OCI.Reference, out, body)
	}
	var m ocispec.Manifest
	if err := json.Unmarshal(body, &m); err != nil {
		t.Fatal(err)
	}
	var layers []ocispec.Descriptor
	for _, l := range m.Layers {
		if l.MediaType == ocispec.MediaTypeImageLayerGzip {
			layers = append(layers, l)
		}
	}
	if len(layers) != 1 {
		t.Fatalf("manifest has %d %s layers, want 1: %s", len(layers), ocispec.MediaTypeImageLayerGzip, body)
	}
	blob, _ := fetch(t, e.host, repo+"/blobs/"+layers[0].Digest.String(), "")
	sum := sha256.Sum256(blob)
	if got := "sha256:" + hex.EncodeToString(sum[:]); got != layers[0].Digest.String() || int64(len(blob)) != layers[0].Size {
		t.Fatalf("layer blob: %s, %d bytes; manifest says %s, %d bytes", got, len(blob), layers[0].Digest, layers[0].Size)
	}
	got, err := harness.UntarGzip(bytes.NewReader(blob))
	if err != nil {
		t.Fatalf("untar the layer as a GitOps agent: %v", err)
	}
	assertFiles(t, "untarred layer", got, under(id.Package, files))
}

// failsWith runs oras in dir and expects it to fail with a message holding want.
func (e *interop) failsWith(t *testing.T, dir, want string, args ...string) {
	t.Helper()
	out, err := e.oras.Try(t, dir, args...)
	if err == nil {
		t.Fatalf("oras %s succeeded, want it refused with %s:\n%s", strings.Join(args, " "), want, out)
	}
	if !strings.Contains(strings.ToUpper(out), strings.ToUpper(want)) {
		t.Fatalf("oras %s failed without %s:\n%s", strings.Join(args, " "), want, out)
	}
}

// deniedOnTheWire deletes a published manifest with plain HTTP and checks
// the answer is the spec's error body with code DENIED and status 403.
func deniedOnTheWire(t *testing.T, host, repo, digest string) {
	t.Helper()
	req, err := http.NewRequestWithContext(t.Context(), http.MethodDelete, "http://"+host+"/v2/"+repo+"/manifests/"+digest, nil)
	if err != nil {
		t.Fatal(err)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var body struct {
		Errors []struct {
			Code, Message string
		}
	}
	data, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusForbidden || json.Unmarshal(data, &body) != nil || len(body.Errors) == 0 || body.Errors[0].Code != "DENIED" {
		t.Fatalf("DELETE /v2/%s/manifests/%s: %s %s; want 403 with code DENIED", repo, digest, resp.Status, data)
	}
}

// resolve is the digest oras resolves ref to.
func (e *interop) resolve(t *testing.T, ref string) string {
	t.Helper()
	return strings.TrimSpace(e.oras.Run(t, "", "resolve", "--plain-http", ref))
}

// testPlainRegistry: outside registered prefixes pkgserver's /v2/ is a plain
// registry: tags move, v1 is overwritten, manifests are deleted. (On the
// remote backend nothing is registered on the embedded registry at all.)
func testPlainRegistry(t *testing.T, e *interop) {
	e.createRepo(t, "blueprints", false)
	dir := t.TempDir()
	harness.WriteFiles(t, dir, map[string]string{"a.yaml": configMapYAML("a", "1"), "b.yaml": configMapYAML("b", "2")})
	for _, repo := range []string{
		e.srv.Addr + "/scratch/app",
		e.srv.Addr + "/" + namespace + "/other/app",       // a namespace, not a repository prefix
		e.srv.Addr + "/" + namespace + "/blueprintsx/app", // shares a string prefix only
	} {
		e.oras.Run(t, dir, "push", "--plain-http", repo+":v1", "a.yaml")
		first := e.resolve(t, repo+":v1")
		e.oras.Run(t, dir, "push", "--plain-http", repo+":v1", "b.yaml")
		second := e.resolve(t, repo+":v1")
		if first == second {
			t.Fatalf("%s:v1 did not change when overwritten", repo)
		}
		e.oras.Run(t, "", "tag", "--plain-http", repo+":v1", "v2", "latest")
		if d := e.resolve(t, repo+":v2"); d != second {
			t.Fatalf("%s:v2 = %s after oras tag, want %s", repo, d, second)
		}
		e.oras.Run(t, "", "manifest", "delete", "--plain-http", "--force", repo+":v1")
		if out, err := e.oras.Try(t, "", "resolve", "--plain-http", repo+":v2"); err == nil {
			t.Fatalf("%s:v2 still resolves after its manifest was deleted: %s", repo, out)
		}
	}
}

// testPackageRules: under a registered prefix of the embedded registry,
// published vN tags cannot be overwritten, moved or deleted (DENIED) and the
// revision stays as it was; drafts can be deleted; a new vN can be pushed.
// The remote backend's registry is a plain distribution that enforces no
// rules, so there the rules are checked on a second, embedded repository.
func testPackageRules(t *testing.T, e *interop) {
	e.createRepo(t, "rules", false)
	id := pkgapi.PackageRevID{Target: pkgapi.CatalogTarget, Repository: "rules", Realm: "apps", Package: "web", Workspace: "first"}
	if e.b.remote {
		// createRepo made it remote; the rules live on the embedded registry.
		e.b.remote = false
		defer func() { e.b.remote = true }()
		r := &configapi.Repository{
			TypeMeta:   metav1.TypeMeta{APIVersion: configapi.SchemeGroupVersion.String(), Kind: configapi.RepositoryKind},
			ObjectMeta: metav1.ObjectMeta{Name: "local", Namespace: namespace},
			Spec:       configapi.RepositorySpec{Type: configapi.RepositoryTypeOCI},
		}
		e.c.CreateRepository(t, r)
		id.Repository = "local"
	}
	v1, files := publishFiles(t, e.c, id, map[string]string{"deployment.yaml": deploymentYAML("web", 1)})
	id.Workspace = "next"
	draft := createDraft(t, e.c, id, editTask(v1.Name), nil)
	repo := e.ociRepo(id, false)
	d1 := v1.Status.OCI.Digest
	unchanged := func(step string) {
		t.Helper()
		if d := e.resolve(t, repo+":v1"); d != d1 {
			t.Fatalf("after %s: %s:v1 = %s, want %s", step, repo, d, d1)
		}
		got := e.c.GetRevision(t, v1.Name)
		if got.Spec.Lifecycle != pkgapi.LifecyclePublished || got.Status.OCI == nil || got.Status.OCI.Digest != d1 {
			t.Fatalf("after %s: %s is %q with status.oci %+v, want published %s", step, v1.Name, got.Spec.Lifecycle, got.Status.OCI, d1)
		}
		assertFiles(t, "resources of "+v1.Name+" after "+step, e.c.GetResources(t, v1.Name).Spec.Resources, files)
	}

	dir := t.TempDir()
	harness.WriteFiles(t, dir, map[string]string{"evil.yaml": configMapYAML("evil", "1")})
	e.failsWith(t, dir, "DENIED", "push", "--plain-http", repo+":v1", "evil.yaml")
	unchanged("oras push over v1")
	e.failsWith(t, "", "DENIED", "tag", "--plain-http", repo+":ws.next", "v1")
	unchanged("oras tag over v1")
	e.failsWith(t, "", "DENIED", "manifest", "delete", "--plain-http", "--force", repo+":v1")
	unchanged("oras manifest delete of v1")
	e.failsWith(t, "", "DENIED", "manifest", "delete", "--plain-http", "--force", repo+"@"+d1)
	unchanged("oras manifest delete of v1 by digest")
	deniedOnTheWire(t, e.srv.Addr, strings.TrimPrefix(repo, e.srv.Addr+"/"), d1)
	unchanged("DELETE /v2/…/manifests/<digest of v1>")
	// pushing the same manifest again (a retry) is not a change
	e.oras.Run(t, "", "tag", "--plain-http", repo+"@"+d1, "v1")
	unchanged("oras tag of v1's own manifest")

	// a draft's tag can be deleted; the draft is gone from the API
	e.oras.Run(t, "", "manifest", "delete", "--plain-http", "--force", repo+":ws.next")
	e.c.Expect(t, http.MethodGet, e.c.RevisionsPath(draft.Name), nil, http.StatusNotFound, nil)

	// a new vN pushed by oras is a published revision, and the newest
	e.oras.Run(t, dir, "push", "--plain-http", repo+":v2", "evil.yaml")
	var v2 *pkgapi.PackageRevision
	for _, pr := range revisionsOf(t, e.c, id.Repository, id.Package) {
		if pr.Spec.PackageRevID.Revision == "v2" {
			v2 = &pr
		}
	}
	if v2 == nil || v2.Spec.Lifecycle != pkgapi.LifecyclePublished {
		t.Fatalf("after oras push of v2: %v, want a published v2", names(revisionsOf(t, e.c, id.Repository, id.Package)))
	}
	if v2.Labels[latestLabel] != "true" {
		t.Errorf("v2 pushed by oras is the newest published revision but has labels %v, want %s=true", v2.Labels, latestLabel)
	}
	e.failsWith(t, dir, "DENIED", "push", "--plain-http", repo+":v2", fmt.Sprintf("--annotation=%s=%s", "x", "y"), "evil.yaml")
	unchanged("the end")
}
