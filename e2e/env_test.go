package e2e

import (
	"maps"
	"slices"
	"strconv"
	"strings"
	"testing"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	configapi "pkgserver.dev/pkgserver/api/config/v1alpha1"
	pkgapi "pkgserver.dev/pkgserver/api/pkg/v1alpha1"
	"pkgserver.dev/pkgserver/e2e/internal/harness"
	"pkgserver.dev/pkgserver/internal/testregistry"
)

// namespace is where every test creates its objects.
const namespace = "e2e"

// maxBody is the --max-body-bytes every server of the suite runs with.
const maxBody = 256 << 10

// approver is who approves, as the authenticating proxy header says.
const approver = "e2e-approver"

// backend is where the packages of a test's repositories are stored.
type backend struct {
	name string
	// remote repositories point at a CNCF distribution registry process;
	// otherwise they use the server's embedded store.
	remote bool
}

var backends = []backend{
	{name: "embedded"},
	{name: "distribution", remote: true},
}

// env is one test's world: a pkgserver process with its own data directory
// and, for the remote backend, its own registry process.
type env struct {
	b        backend
	registry string // host:port of the distribution registry, remote only
	srv      *harness.Server
	c        *harness.Client
}

func newEnv(t *testing.T, b backend) *env {
	t.Helper()
	e := &env{b: b}
	if b.remote {
		e.registry = testregistry.Start(t)
	}
	e.srv = harness.Start(t, harness.Options{Bin: serverBin, DataDir: t.TempDir(), MaxBodyBytes: maxBody})
	e.c = harness.NewClient(e.srv.URL, namespace)
	e.c.User = approver
	return e
}

// restart stops the server with SIGTERM (it must exit 0) and starts it again
// on the same address and data directory.
func (e *env) restart(t *testing.T) {
	t.Helper()
	e.srv.Stop(t)
	e.startAgain(t)
}

// startAgain starts the server again after it stopped or was killed.
func (e *env) startAgain(t *testing.T) {
	t.Helper()
	e.srv = harness.Start(t, e.srv.Opts)
}

// registryPrefix is the spec.oci.registry of repository name on the remote
// backend.
func (e *env) registryPrefix(name string) string {
	return e.registry + "/e2e/" + name
}

// ociRepo is the OCI repository (host/path, no tag) a package of repository
// repo is stored in, per product.md "OCI format".
func (e *env) ociRepo(id pkgapi.PackageRevID, deployment bool) string {
	base := e.srv.Addr + "/" + namespace + "/" + id.Repository
	if e.b.remote {
		base = e.registryPrefix(id.Repository)
	}
	parts := []string{base}
	if deployment {
		parts = append(parts, id.Target)
	}
	if id.Realm != "" {
		parts = append(parts, id.Realm)
	}
	return strings.Join(append(parts, id.Package), "/")
}

// createRepo registers a repository on this env's backend.
func (e *env) createRepo(t *testing.T, name string, deployment bool) *configapi.Repository {
	t.Helper()
	r := &configapi.Repository{
		TypeMeta:   metav1.TypeMeta{APIVersion: configapi.SchemeGroupVersion.String(), Kind: configapi.RepositoryKind},
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: namespace},
		Spec:       configapi.RepositorySpec{Type: configapi.RepositoryTypeOCI, Deployment: deployment},
	}
	if e.b.remote {
		r.Spec.OCI = &configapi.OCIRepository{Registry: e.registryPrefix(name), PlainHTTP: true}
	}
	got := e.c.CreateRepository(t, r)
	if got.Name != name || got.Namespace != namespace || got.Spec.Deployment != deployment || got.ResourceVersion == "" || got.UID == "" {
		t.Fatalf("created repository = %+v; want name %q, namespace %q, deployment %v, a resourceVersion and a uid", got.ObjectMeta, name, namespace, deployment)
	}
	return got
}

// Fixtures.

func catalogID(repo, realm, pkg, ws string) pkgapi.PackageRevID {
	return pkgapi.PackageRevID{Target: pkgapi.CatalogTarget, Repository: repo, Realm: realm, Package: pkg, Workspace: ws}
}

func initTask(desc string) pkgapi.Task {
	return pkgapi.Task{Type: pkgapi.TaskTypeInit, Init: &pkgapi.InitTask{Description: desc}}
}

func cloneTask(upstream string) pkgapi.Task {
	return pkgapi.Task{Type: pkgapi.TaskTypeClone, Clone: &pkgapi.CloneTask{Upstream: pkgapi.UpstreamRef{Name: upstream}}}
}

func editTask(source string) pkgapi.Task {
	return pkgapi.Task{Type: pkgapi.TaskTypeEdit, Edit: &pkgapi.EditTask{Source: pkgapi.UpstreamRef{Name: source}}}
}

func newRevision(id pkgapi.PackageRevID, task pkgapi.Task, labels map[string]string) *pkgapi.PackageRevision {
	return &pkgapi.PackageRevision{
		TypeMeta:   metav1.TypeMeta{APIVersion: pkgapi.SchemeGroupVersion.String(), Kind: pkgapi.PackageRevisionKind},
		ObjectMeta: metav1.ObjectMeta{Name: harness.RevisionName(id), Namespace: namespace, Labels: labels},
		Spec: pkgapi.PackageRevisionSpec{
			PackageRevID: id,
			Lifecycle:    pkgapi.LifecycleDraft,
			Tasks:        []pkgapi.Task{task},
		},
	}
}

func deploymentYAML(name string, replicas int) string {
	return `apiVersion: apps/v1
kind: Deployment
metadata:
  name: ` + name + `
spec:
  replicas: ` + strconv.Itoa(replicas) + `
  selector:
    matchLabels:
      app: ` + name + `
  template:
    metadata:
      labels:
        app: ` + name + `
    spec:
      containers:
      - name: ` + name + `
        image: ` + name + `:1.27
`
}

func serviceYAML(name string) string {
	return `apiVersion: v1
kind: Service
metadata:
  name: ` + name + `
spec:
  selector:
    app: ` + name + `
  ports:
  - port: 80
`
}

func configMapYAML(name, value string) string {
	return "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: " + name + "\ndata:\n  value: " + value + "\n"
}

// createDraft creates a revision and checks it came back as a draft with
// the identity asked for.
func createDraft(t *testing.T, c *harness.Client, id pkgapi.PackageRevID, task pkgapi.Task, labels map[string]string) *pkgapi.PackageRevision {
	t.Helper()
	pr := c.CreateRevision(t, newRevision(id, task, labels))
	if pr.Name != harness.RevisionName(id) || pr.Spec.PackageRevID != id || pr.Spec.Lifecycle != pkgapi.LifecycleDraft || pr.ResourceVersion == "" {
		t.Fatalf("created revision: name %q, id %+v, lifecycle %q, resourceVersion %q; want name %q, id %+v, draft, a resourceVersion",
			pr.Name, pr.Spec.PackageRevID, pr.Spec.Lifecycle, pr.ResourceVersion, harness.RevisionName(id), id)
	}
	for k, v := range labels {
		if pr.Labels[k] != v {
			t.Fatalf("created revision %s: label %s = %q, want %q", pr.Name, k, pr.Labels[k], v)
		}
	}
	return pr
}

// putFiles replaces the files of a draft and checks they read back the same.
func putFiles(t *testing.T, c *harness.Client, name string, files map[string]string) *pkgapi.PackageRevisionResources {
	t.Helper()
	prr := c.GetResources(t, name)
	prr.Spec.Resources = maps.Clone(files)
	out := c.UpdateResources(t, prr)
	assertFiles(t, "PUT response of "+name, out.Spec.Resources, files)
	assertFiles(t, "GET after PUT of "+name, c.GetResources(t, name).Spec.Resources, files)
	return out
}

// publish moves a draft through proposed to published and checks the result.
func publish(t *testing.T, c *harness.Client, name string) *pkgapi.PackageRevision {
	t.Helper()
	pr := c.GetRevision(t, name)
	pr.Spec.Lifecycle = pkgapi.LifecycleProposed
	proposed := c.UpdateRevision(t, pr)
	if proposed.Spec.Lifecycle != pkgapi.LifecycleProposed || proposed.Spec.PackageRevID.Revision != "" {
		t.Fatalf("%s after propose: lifecycle %q revision %q; want proposed and no revision", name, proposed.Spec.Lifecycle, proposed.Spec.PackageRevID.Revision)
	}
	if proposed.ResourceVersion == pr.ResourceVersion {
		t.Fatalf("%s: resourceVersion %q did not change when proposed", name, pr.ResourceVersion)
	}
	out := c.Approve(t, proposed, pkgapi.LifecyclePublished)
	checkPublished(t, out)
	return out
}

// checkPublished checks what every published revision carries.
func checkPublished(t *testing.T, pr *pkgapi.PackageRevision) {
	t.Helper()
	rev := pr.Spec.PackageRevID.Revision
	switch {
	case pr.Spec.Lifecycle != pkgapi.LifecyclePublished:
		t.Fatalf("%s: lifecycle %q, want published", pr.Name, pr.Spec.Lifecycle)
	case len(rev) < 2 || rev[0] != 'v':
		t.Fatalf("%s: revision %q, want vN", pr.Name, rev)
	case pr.Status.OCI == nil || !strings.HasPrefix(pr.Status.OCI.Digest, "sha256:") || len(pr.Status.OCI.Digest) != len("sha256:")+64:
		t.Fatalf("%s: status.oci = %+v, want a sha256 manifest digest", pr.Name, pr.Status.OCI)
	case !strings.HasSuffix(pr.Status.OCI.Reference, ":"+rev):
		t.Fatalf("%s: status.oci.reference %q does not end with the tag %q", pr.Name, pr.Status.OCI.Reference, rev)
	case pr.Status.PublishTimestamp == nil || pr.Status.PublishTimestamp.IsZero():
		t.Fatalf("%s: no status.publishTimestamp", pr.Name)
	case pr.Status.PublishedBy != approver:
		t.Fatalf("%s: status.publishedBy %q, want %q (the X-Remote-User of the approval)", pr.Name, pr.Status.PublishedBy, approver)
	}
}

func assertFiles(t *testing.T, what string, got, want map[string]string) {
	t.Helper()
	if maps.Equal(got, want) {
		return
	}
	for _, k := range slices.Sorted(maps.Keys(want)) {
		g, ok := got[k]
		switch {
		case !ok:
			t.Errorf("%s: file %q missing", what, k)
		case g != want[k]:
			t.Errorf("%s: file %q =\n%s\nwant\n%s", what, k, g, want[k])
		}
	}
	for _, k := range slices.Sorted(maps.Keys(got)) {
		if _, ok := want[k]; !ok {
			t.Errorf("%s: unexpected file %q", what, k)
		}
	}
	t.FailNow()
}

// names returns the sorted object names of a list.
func names(items []pkgapi.PackageRevision) []string {
	out := make([]string, 0, len(items))
	for _, it := range items {
		out = append(out, it.Name)
	}
	slices.Sort(out)
	return out
}

func sorted(s ...string) []string {
	s = slices.Clone(s)
	slices.Sort(s)
	return s
}

func expectReason(t *testing.T, st *metav1.Status, want metav1.StatusReason) {
	t.Helper()
	if st.Reason != want {
		t.Fatalf("Status reason %q, want %q (message %q)", st.Reason, want, st.Message)
	}
}
