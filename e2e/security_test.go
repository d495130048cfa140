package e2e

import (
	"bufio"
	"bytes"
	"crypto/rand"
	"crypto/tls"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	auditv1 "k8s.io/apiserver/pkg/apis/audit/v1"

	configapi "pkgserver.dev/pkgserver/api/config/v1alpha1"
	pkgapi "pkgserver.dev/pkgserver/api/pkg/v1alpha1"
	"pkgserver.dev/pkgserver/e2e/internal/harness"
	"pkgserver.dev/pkgserver/internal/authtest"
)

// secNS is the namespace of the security tests.
const secNS = "sec"

// secPolicy: who may do what in secNS (docs/security.md has the roles).
const secPolicy = `
apiVersion: rbac.authorization.k8s.io/v1
kind: RoleBinding
metadata: {name: viewers, namespace: sec}
roleRef: {apiGroup: rbac.authorization.k8s.io, kind: ClusterRole, name: viewer}
subjects:
- {kind: User, name: victor}
- {kind: User, name: pat}
---
apiVersion: rbac.authorization.k8s.io/v1
kind: RoleBinding
metadata: {name: editors, namespace: sec}
roleRef: {apiGroup: rbac.authorization.k8s.io, kind: ClusterRole, name: editor}
subjects:
- {kind: User, name: erin}
- {kind: Group, name: "oidc:editors"}
---
apiVersion: rbac.authorization.k8s.io/v1
kind: RoleBinding
metadata: {name: approvers, namespace: sec}
roleRef: {apiGroup: rbac.authorization.k8s.io, kind: ClusterRole, name: approver}
subjects:
- {kind: User, name: alice}
- {kind: Group, name: release-managers}
---
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRoleBinding
metadata: {name: admins}
roleRef: {apiGroup: rbac.authorization.k8s.io, kind: ClusterRole, name: admin}
subjects:
- {kind: User, name: root}
---
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRole
metadata: {name: impersonate-alice}
rules:
- {apiGroups: [""], resources: [users], resourceNames: [alice], verbs: [impersonate]}
---
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRoleBinding
metadata: {name: ian-impersonates-alice}
roleRef: {apiGroup: rbac.authorization.k8s.io, kind: ClusterRole, name: impersonate-alice}
subjects:
- {kind: User, name: ian}
---
apiVersion: rbac.authorization.k8s.io/v1
kind: Role
metadata: {name: patch-only, namespace: sec}
rules:
- {apiGroups: [pkg.pkgserver.dev], resources: [packagerevisions], verbs: [get, list, patch]}
---
apiVersion: rbac.authorization.k8s.io/v1
kind: RoleBinding
metadata: {name: patchers, namespace: sec}
roleRef: {apiGroup: rbac.authorization.k8s.io, kind: Role, name: patch-only}
subjects:
- {kind: User, name: paula}
`

// secureEnv is a pkgserver with TLS, every authenticator, RBAC, an audit
// log and an allow list of registries; all keys are made here.
type secureEnv struct {
	dir, caFile, auditPath string
	serverCA               *authtest.CA
	certFile, keyFile      string
	srv                    *harness.Server
	tokens                 map[string]string // user -> static token
	clientCA, proxyCA      *authtest.CA
	issuer                 *authtest.Issuer
}

// newSecureEnv starts the server; more change its options (the console
// test's listen address and redirect URL).
func newSecureEnv(t *testing.T, more ...func(*harness.Options)) *secureEnv {
	t.Helper()
	e := &secureEnv{dir: t.TempDir(), tokens: map[string]string{}}
	serverCA := authtest.NewCA(t, "pkgserver-ca")
	e.serverCA = serverCA
	e.caFile = filepath.Join(e.dir, "ca.pem")
	authtest.WriteFile(t, e.caFile, serverCA.PEM)
	certFile, keyFile := serverCA.Server(t).WriteFiles(t, e.dir, "tls")
	e.certFile, e.keyFile = certFile, keyFile
	e.clientCA, e.proxyCA = authtest.NewCA(t, "client-ca"), authtest.NewCA(t, "front-proxy-ca")
	clientCAFile, proxyCAFile := filepath.Join(e.dir, "client-ca.pem"), filepath.Join(e.dir, "proxy-ca.pem")
	authtest.WriteFile(t, clientCAFile, e.clientCA.PEM)
	authtest.WriteFile(t, proxyCAFile, e.proxyCA.PEM)
	e.issuer = authtest.NewIssuer(t)
	oidcCA := filepath.Join(e.dir, "oidc-ca.pem")
	authtest.WriteFile(t, oidcCA, e.issuer.CAPEM)

	var csv strings.Builder
	for i, u := range []string{"root", "erin", "victor", "alice", "ian", "paula"} {
		e.tokens[u] = randomToken(t)
		fmt.Fprintf(&csv, "%s,%s,%d\n", e.tokens[u], u, i+1)
	}
	tokenFile := filepath.Join(e.dir, "tokens.csv")
	authtest.WriteFile(t, tokenFile, []byte(csv.String()))
	policyFile := filepath.Join(e.dir, "policy.yaml")
	authtest.WriteFile(t, policyFile, []byte(secPolicy))
	e.auditPath = filepath.Join(e.dir, "audit.log")

	opts := harness.Options{Bin: serverBin, DataDir: t.TempDir(), CAFile: e.caFile, Args: []string{
		"--tls-cert-file", certFile, "--tls-private-key-file", keyFile,
		"--client-ca-file", clientCAFile,
		"--requestheader-client-ca-file", proxyCAFile, "--requestheader-allowed-names", "front-proxy",
		"--token-auth-file", tokenFile,
		"--oidc-issuer-url", e.issuer.URL, "--oidc-client-id", "pkgserver", "--oidc-ca-file", oidcCA,
		"--oidc-username-claim", "email", "--oidc-groups-claim", "groups", "--oidc-groups-prefix", "oidc:",
		"--authorization-policy-file", policyFile,
		"--audit-log-path", e.auditPath,
		"--allowed-registries", "registry.example,*.corp.example",
	}}
	for _, m := range more {
		m(&opts)
	}
	e.srv = harness.Start(t, opts)
	return e
}

func randomToken(t *testing.T) string {
	b := make([]byte, 24)
	if _, err := rand.Read(b); err != nil {
		t.Fatal(err)
	}
	return hex.EncodeToString(b)
}

// client is an API client of user (by static token).
func (e *secureEnv) client(t *testing.T, user string) *harness.Client {
	t.Helper()
	c := harness.NewClient(e.srv.URL, secNS)
	hc, err := harness.HTTPClient(e.caFile)
	if err != nil {
		t.Fatal(err)
	}
	c.HTTP, c.Token = hc, e.tokens[user]
	return c
}

// do sends one request with headers and client certificates.
func (e *secureEnv) do(t *testing.T, method, path string, body []byte, headers map[string]string, certs ...tls.Certificate) (int, []byte, http.Header) {
	t.Helper()
	hc, err := harness.HTTPClient(e.caFile, certs...)
	if err != nil {
		t.Fatal(err)
	}
	req, err := http.NewRequestWithContext(t.Context(), method, e.srv.URL+path, bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	for k, v := range headers {
		req.Header.Set(k, v)
	}
	resp, err := hc.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	data, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, data, resp.Header
}

// kubeconfig writes a kubeconfig for the server with the given user entry.
func (e *secureEnv) kubectl(t *testing.T, bin string, user map[string]string) *harness.CLI {
	t.Helper()
	k := harness.NewCLI(t, bin)
	cfg := map[string]any{
		"apiVersion": "v1", "kind": "Config",
		"clusters":        []any{map[string]any{"name": "pkgserver", "cluster": map[string]any{"server": e.srv.URL, "certificate-authority": e.caFile}}},
		"users":           []any{map[string]any{"name": "me", "user": user}},
		"contexts":        []any{map[string]any{"name": "pkgserver", "context": map[string]any{"cluster": "pkgserver", "user": "me", "namespace": secNS}}},
		"current-context": "pkgserver",
	}
	path := filepath.Join(k.Dir, "kubeconfig")
	data, _ := json.Marshal(cfg)
	authtest.WriteFile(t, path, data)
	k.Env = append(k.Env, "KUBECONFIG="+path)
	return k
}

// audit reads the audit log.
func (e *secureEnv) audit(t *testing.T) []auditv1.Event {
	t.Helper()
	data, err := os.ReadFile(e.auditPath)
	if err != nil {
		t.Fatal(err)
	}
	var out []auditv1.Event
	sc := bufio.NewScanner(bytes.NewReader(data))
	sc.Buffer(nil, 1<<20)
	for sc.Scan() {
		var ev auditv1.Event
		if err := json.Unmarshal(sc.Bytes(), &ev); err != nil {
			t.Fatalf("audit line %q: %v", sc.Text(), err)
		}
		out = append(out, ev)
	}
	return out
}

// audited waits until the audit log holds an event matching what.
func (e *secureEnv) audited(t *testing.T, what string, match func(ev auditv1.Event) bool) auditv1.Event {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for {
		for _, ev := range e.audit(t) {
			if match(ev) {
				return ev
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("no audit event for %s", what)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// snapshot is everything the API and /v2/ show of secNS, as the admin sees it.
func (e *secureEnv) snapshot(t *testing.T) string {
	t.Helper()
	root := e.client(t, "root")
	var b strings.Builder
	for _, r := range root.ListRepositories(t).Items {
		fmt.Fprintf(&b, "repo %s %s\n", r.Name, r.ResourceVersion)
	}
	for _, pr := range root.ListRevisions(t, nil).Items {
		fmt.Fprintf(&b, "pr %s %s %s\n", pr.Name, pr.ResourceVersion, pr.Spec.Lifecycle)
	}
	code, body, _ := e.do(t, "GET", "/v2/"+secNS+"/blueprints/apps/nginx/tags/list", nil, map[string]string{"Authorization": basicAuth("root", e.tokens["root"])})
	fmt.Fprintf(&b, "tags %d %s\n", code, body)
	return b.String()
}

func basicAuth(user, pass string) string {
	return "Basic " + base64.StdEncoding.EncodeToString([]byte(user+":"+pass))
}

func bearerAuth(tok string) map[string]string {
	return map[string]string{"Authorization": "Bearer " + tok}
}

// TestSecurity: pkgserver over TLS with static tokens, OIDC, client
// certificates and a front proxy, an RBAC policy, an audit log and allowed
// registries, driven by curl, kubectl (a token and a client certificate in
// its kubeconfig), oras, crane and skopeo. Then a table of denials: each is
// refused with a readable 401 or 403, is in the audit log, and changed nothing.
func TestSecurity(t *testing.T) {
	t.Parallel()
	kubectl, err := harness.KubectlBinary()
	if err != nil {
		t.Fatal(err)
	}
	curl, err := exec.LookPath("curl")
	if err != nil {
		t.Fatal("curl not found: ", err)
	}
	e := newSecureEnv(t)
	prs := "/apis/pkg.pkgserver.dev/v1alpha1/namespaces/" + secNS + "/packagerevisions"
	nginx := harness.RevisionName(catalogID("blueprints", "apps", "nginx", "first"))
	pkgRef := e.srv.Addr + "/" + secNS + "/blueprints/apps/nginx"

	t.Run("curl", func(t *testing.T) {
		run := func(args ...string) (string, string) {
			t.Helper()
			out, err := exec.Command(curl, append([]string{"-sS", "--cacert", e.caFile, "-w", "\n%{http_code}"}, args...)...).CombinedOutput()
			if err != nil {
				t.Fatalf("curl %v: %v\n%s", args, err, out)
			}
			s := strings.TrimSpace(string(out))
			i := strings.LastIndex(s, "\n")
			return s[:i+1], s[i+1:]
		}
		for _, probe := range []string{"/readyz", "/livez", "/healthz"} {
			if body, code := run(e.srv.URL + probe); code != "200" || strings.TrimSpace(body) != "ok" {
				t.Fatalf("%s without credentials: %s %s", probe, code, body)
			}
		}
		body, code := run(e.srv.URL + prs)
		if code != "401" || !strings.Contains(body, `"reason":"Unauthorized"`) || !strings.Contains(body, `Unauthorized: no credentials were presented (to list resource \"packagerevisions\" in API group \"pkg.pkgserver.dev\" in the namespace \"sec\")`) {
			t.Fatalf("list without credentials: %s %s", code, body)
		}
		if body, code = run("-H", "Authorization: Bearer "+e.tokens["victor"], e.srv.URL+prs); code != "200" || !strings.Contains(body, `"kind":"PackageRevisionList"`) {
			t.Fatalf("list as the viewer: %s %s", code, body)
		}
		// A client certificate, with curl.
		carol := e.clientCA.Client(t, "carol", "release-managers")
		cert, key := carol.WriteFiles(t, t.TempDir(), "carol")
		if body, code = run("--cert", cert, "--key", key, "-XPOST", "-H", "Content-Type: application/json", "-d", "{}",
			e.srv.URL+"/apis/authentication.k8s.io/v1/selfsubjectreviews"); code != "201" || !strings.Contains(body, `"username":"carol"`) || !strings.Contains(body, `"release-managers"`) {
			t.Fatalf("whoami with a client certificate: %s %s", code, body)
		}
		// The front proxy, with its certificate and the identity headers.
		proxy := e.proxyCA.Client(t, "front-proxy")
		pcert, pkey := proxy.WriteFiles(t, t.TempDir(), "proxy")
		if body, code = run("--cert", pcert, "--key", pkey, "-H", "X-Remote-User: pat", e.srv.URL+prs); code != "200" {
			t.Fatalf("list through the front proxy as pat: %s %s", code, body)
		}
	})

	root := e.client(t, "root")
	root.CreateRepository(t, &configapi.Repository{
		TypeMeta:   metav1.TypeMeta{APIVersion: configapi.SchemeGroupVersion.String(), Kind: configapi.RepositoryKind},
		ObjectMeta: metav1.ObjectMeta{Name: "blueprints", Namespace: secNS},
		Spec:       configapi.RepositorySpec{Type: configapi.RepositoryTypeOCI},
	})

	t.Run("kubectl with a token", func(t *testing.T) {
		k := e.kubectl(t, kubectl, map[string]string{"token": e.tokens["erin"]})
		who := k.OK(t, "", "auth", "whoami")
		if !strings.Contains(who, "erin") || !strings.Contains(who, "system:authenticated") {
			t.Fatalf("whoami:\n%s", who)
		}
		prFile := filepath.Join(k.Dir, "pr.yaml")
		writeYAML(t, prFile, revisionManifestIn(secNS, catalogID("blueprints", "apps", "nginx", "first")))
		expectOutput(t, k.OK(t, "", "apply", "-f", prFile), prPrefix+nginx+" created\n")
		parseTable(t, k.OK(t, "", "get", "packagerevisions")).expectRow(t, nginx, map[string]string{"LIFECYCLE": "draft"})
		expectOutput(t, k.OK(t, "", "auth", "can-i", "create", "packagerevisions"), "yes\n")
		if r := k.Fail(t, 1, "", "auth", "can-i", "update", "packagerevisions", "--subresource", "approval"); strings.TrimSpace(r.Stdout) != "no" {
			t.Fatalf("can-i approve:\n%s", r)
		}
		expectOutput(t, k.OK(t, "", "patch", "pr", nginx, "--type", "merge", "-p", `{"spec":{"lifecycle":"proposed"}}`), prPrefix+nginx+" patched\n")
		r := k.Fail(t, 1, approvalBody(t, k, nginx), "replace", "--raw", prs+"/"+nginx+"/approval", "-f", "-")
		want := `Error from server (Forbidden): packagerevisions.pkg.pkgserver.dev "` + nginx + `" is forbidden: User "erin" cannot update resource "packagerevisions/approval" in API group "pkg.pkgserver.dev" in the namespace "sec"`
		if !strings.Contains(r.Stderr, want) {
			t.Fatalf("an editor approving: want\n%s\ngot:\n%s", want, r)
		}
		// A viewer reads but does not delete.
		v := e.kubectl(t, kubectl, map[string]string{"token": e.tokens["victor"]})
		parseTable(t, v.OK(t, "", "get", "pr", nginx)).expectRow(t, nginx, map[string]string{"LIFECYCLE": "proposed"})
		if r := v.Fail(t, 1, "", "delete", "pr", nginx); !strings.Contains(r.Stderr, `Error from server (Forbidden): packagerevisions.pkg.pkgserver.dev "`+nginx+`" is forbidden: User "victor" cannot delete resource "packagerevisions"`) {
			t.Fatalf("a viewer deleting:\n%s", r)
		}
		// Impersonation with and without the right.
		ian := e.kubectl(t, kubectl, map[string]string{"token": e.tokens["ian"]})
		if who := ian.OK(t, "", "auth", "whoami", "--as", "alice"); !strings.Contains(who, "alice") {
			t.Fatalf("ian as alice:\n%s", who)
		}
		if r := k.Fail(t, 1, "", "get", "pr", "--as", "alice"); !strings.Contains(r.Stderr, `User "erin" cannot impersonate resource "users" in API group "" at the cluster scope`) {
			t.Fatalf("erin as alice:\n%s", r)
		}
	})

	t.Run("kubectl with a client certificate", func(t *testing.T) {
		carol := e.clientCA.Client(t, "carol", "release-managers")
		cert, key := carol.WriteFiles(t, t.TempDir(), "carol")
		k := e.kubectl(t, kubectl, map[string]string{"client-certificate": cert, "client-key": key})
		if who := k.OK(t, "", "auth", "whoami"); !strings.Contains(who, "carol") || !strings.Contains(who, "release-managers") {
			t.Fatalf("whoami:\n%s", who)
		}
		expectOutput(t, k.OK(t, "", "auth", "can-i", "update", "packagerevisions", "--subresource", "approval"), "yes\n")
		out := k.OK(t, approvalBody(t, k, nginx), "replace", "--raw", prs+"/"+nginx+"/approval", "-f", "-")
		var pr pkgapi.PackageRevision
		if err := json.Unmarshal([]byte(out), &pr); err != nil {
			t.Fatal(err)
		}
		if pr.Spec.PackageRevID.Revision != "v1" || pr.Status.PublishedBy != "carol" {
			t.Fatalf("approved by carol: revision %q publishedBy %q", pr.Spec.PackageRevID.Revision, pr.Status.PublishedBy)
		}
		ev := e.audited(t, "carol's approval", func(ev auditv1.Event) bool {
			return ev.User.Username == "carol" && ev.ObjectRef != nil && ev.ObjectRef.Subresource == "approval" && ev.ResponseStatus != nil && ev.ResponseStatus.Code == 200
		})
		if ev.Verb != "update" || ev.ObjectRef.Name != nginx || ev.Annotations["authorization.k8s.io/decision"] != "allow" {
			t.Fatalf("audit event %+v", ev)
		}
	})

	t.Run("oras", func(t *testing.T) {
		login := func(user string) *harness.Oras {
			o := harness.NewOras(t)
			o.Env = []string{"SSL_CERT_FILE=" + e.caFile}
			if out := o.Run(t, "", "login", e.srv.Addr, "-u", user, "-p", e.tokens[user]); !strings.Contains(out, "Login Succeeded") {
				t.Fatalf("oras login as %s:\n%s", user, out)
			}
			return o
		}
		if out, err := login("victor").Try(t, "", "login", e.srv.Addr, "-u", "victor", "-p", "wrong"); err == nil || !strings.Contains(out, "401") {
			t.Fatalf("oras login with a wrong token: %v\n%s", err, out)
		}
		viewer := login("victor")
		dir := t.TempDir()
		viewer.Run(t, dir, "pull", pkgRef+":v1", "-o", "out")
		if _, err := os.Stat(filepath.Join(dir, "out", "nginx", "Kptfile")); err != nil {
			t.Fatalf("pulled package: %v", err)
		}
		harness.WriteFiles(t, dir, map[string]string{"cm.yaml": configMapYAML("cm", "x")})
		out, err := viewer.Try(t, dir, "push", pkgRef+":ws.viewer", "cm.yaml")
		if err == nil || !strings.Contains(out, "denied") || !strings.Contains(out, `User "victor" cannot create resource "packagerevisions"`) {
			t.Fatalf("a viewer pushing: %v\n%s", err, out)
		}
		editor := login("erin")
		editor.Run(t, dir, "push", pkgRef+":ws.oras", "cm.yaml")
		out, err = editor.Try(t, dir, "push", pkgRef+":v2", "cm.yaml")
		if err == nil || !strings.Contains(out, `cannot update resource "packagerevisions/approval"`) {
			t.Fatalf("an editor pushing v2: %v\n%s", err, out)
		}
		// Other contents than the draft's: one manifest is one revision.
		harness.WriteFiles(t, dir, map[string]string{"cm.yaml": configMapYAML("cm", "v2")})
		approver := login("alice")
		approver.Run(t, dir, "push", pkgRef+":v2", "cm.yaml")
		tags := strings.Fields(viewer.Run(t, "", "repo", "tags", pkgRef))
		if !contains(tags, "ws.oras") || !contains(tags, "v2") || contains(tags, "ws.viewer") {
			t.Fatalf("tags after the pushes: %v", tags)
		}
		if pr := root.GetRevision(t, "catalog.blueprints.apps.nginx.oras"); pr.Spec.Lifecycle != pkgapi.LifecycleDraft {
			t.Fatalf("the draft erin pushed: %+v", pr.Spec)
		}
		e.audited(t, "victor's refused push", func(ev auditv1.Event) bool {
			return ev.User.Username == "victor" && ev.ResponseStatus != nil && ev.ResponseStatus.Code == 403 && ev.Annotations["registry.pkgserver.dev/repository"] == secNS+"/blueprints/apps/nginx"
		})
	})

	t.Run("crane", func(t *testing.T) {
		bin, err := harness.CraneBinary()
		if err != nil {
			t.Fatal(err)
		}
		home := t.TempDir()
		crane := func(args ...string) (string, error) {
			cmd := exec.Command(bin, args...)
			cmd.Env = append(os.Environ(), "HOME="+home, "DOCKER_CONFIG="+filepath.Join(home, ".docker"), "SSL_CERT_FILE="+e.caFile)
			out, err := cmd.CombinedOutput()
			return strings.TrimSpace(string(out)), err
		}
		if out, err := crane("ls", pkgRef); err == nil || !strings.Contains(strings.ToLower(out), "unauthorized") {
			t.Fatalf("crane ls without login: %v\n%s", err, out)
		}
		if out, err := crane("auth", "login", e.srv.Addr, "-u", "victor", "-p", e.tokens["victor"]); err != nil {
			t.Fatalf("crane auth login: %v\n%s", err, out)
		}
		out, err := crane("ls", pkgRef)
		if err != nil || !contains(strings.Fields(out), "v1") {
			t.Fatalf("crane ls: %v\n%s", err, out)
		}
		d, err := crane("digest", pkgRef+":v1")
		if err != nil || d != root.GetRevision(t, nginx).Status.OCI.Digest {
			t.Fatalf("crane digest: %v %s", err, d)
		}
		if out, err := crane("tag", pkgRef+":v1", "latest"); err == nil || !strings.Contains(out, "DENIED") {
			t.Fatalf("crane tag as a viewer: %v\n%s", err, out)
		}
	})

	t.Run("skopeo", func(t *testing.T) {
		sk := harness.NewSkopeo(t)
		certs := t.TempDir() // containers/image trusts the *.crt of --cert-dir
		authtest.WriteFile(t, filepath.Join(certs, "ca.crt"), e.serverCA.PEM)
		if out, errOut, err := sk.Try(t, "login", "--cert-dir", certs, "-u", "victor", "-p", "wrong", e.srv.Addr); err == nil || !strings.Contains(out+errOut, "invalid username/password") {
			t.Fatalf("skopeo login with a wrong token: %v\n%s%s", err, out, errOut)
		}
		if out := sk.Run(t, "login", "--cert-dir", certs, "-u", "victor", "-p", e.tokens["victor"], e.srv.Addr); !strings.Contains(out, "Login Succeeded") {
			t.Fatalf("skopeo login: %s", out)
		}
		var tags struct{ Tags []string }
		if err := json.Unmarshal([]byte(sk.Run(t, "list-tags", "--cert-dir", certs, "docker://"+pkgRef)), &tags); err != nil || !contains(tags.Tags, "v1") {
			t.Fatalf("skopeo list-tags: %v %v", tags.Tags, err)
		}
		sk.Run(t, "inspect", "--raw", "--cert-dir", certs, "docker://"+pkgRef+":v1")
		_, errOut, err := sk.Try(t, "copy", "--src-cert-dir", certs, "--dest-cert-dir", certs, "docker://"+pkgRef+":v1", "docker://"+pkgRef+":ws.skopeo")
		if err == nil || !strings.Contains(errOut, "denied") {
			t.Fatalf("skopeo copy as a viewer: %v\n%s", err, errOut)
		}
	})

	t.Run("OIDC", func(t *testing.T) {
		dana := authtest.Claims{Issuer: e.issuer.URL, Subject: "123", Email: "dana@example.com", Audience: "pkgserver", Groups: []string{"editors"}}
		code, body, _ := e.do(t, "POST", "/apis/authentication.k8s.io/v1/selfsubjectreviews", []byte("{}"), bearerAuth(e.issuer.Key().Token(t, dana)))
		if code != 201 || !strings.Contains(string(body), `"username":"dana@example.com"`) || !strings.Contains(string(body), `"oidc:editors"`) {
			t.Fatalf("OIDC whoami: %d %s", code, body)
		}
		c := e.client(t, "")
		c.Token = e.issuer.Key().Token(t, dana)
		if pr := c.CreateRevision(t, revisionManifestIn(secNS, catalogID("blueprints", "apps", "oidc", "ws"))); pr.Spec.Lifecycle != pkgapi.LifecycleDraft {
			t.Fatalf("dana's draft: %+v", pr.Spec)
		}
	})

	// The denials. Each answer is checked, then the audit log, then that
	// nothing changed.
	dana := authtest.Claims{Issuer: e.issuer.URL, Subject: "123", Email: "dana@example.com", Audience: "pkgserver", Groups: []string{"editors"}}
	oldKey := e.issuer.Key()
	newKey := e.issuer.Rotate(t)
	deadline := time.Now().Add(10 * time.Second)
	for { // the server learns the new key set from the first token of the new key
		code, _, _ := e.do(t, "GET", prs, nil, bearerAuth(newKey.Token(t, dana)))
		if code == 200 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("a token of the rotated-in key: %d", code)
		}
		time.Sleep(100 * time.Millisecond)
	}
	with := func(f func(c *authtest.Claims)) authtest.Claims { c := dana; f(&c); return c }
	carol := e.clientCA.Client(t, "carol", "release-managers").TLS(t)
	danas := root.GetRevision(t, "catalog.blueprints.apps.oidc.ws")
	danas.Spec.Lifecycle = pkgapi.LifecyclePublished
	approval, _ := json.Marshal(danas)
	newRepo, _ := json.Marshal(repositoryManifestIn(secNS, "evil", &configapi.OCIRepository{Registry: "evil.example/packages"}))
	draft, _ := json.Marshal(revisionManifestIn(secNS, catalogID("blueprints", "apps", "nope", "ws")))
	nope := harness.RevisionName(catalogID("blueprints", "apps", "nope", "ws"))
	uploads := "/v2/" + secNS + "/blueprints/apps/nginx/blobs/uploads/"

	before := e.snapshot(t)
	for _, tc := range []struct {
		name    string
		method  string
		path    string
		body    []byte
		headers map[string]string
		certs   []tls.Certificate
		code    int
		user    string // who the audit event names ("" for 401s)
		msg     string // in the body
	}{
		{name: "no credentials", method: "POST", path: prs, body: draft, code: 401, msg: "no credentials were presented"},
		{name: "wrong token", method: "POST", path: prs, body: draft, headers: bearerAuth(randomToken(t)), code: 401, msg: "invalid credentials"},
		{name: "expired OIDC token", method: "POST", path: prs, body: draft, headers: bearerAuth(newKey.Token(t, with(func(c *authtest.Claims) { c.Expiry = time.Now().Add(-time.Minute) }))), code: 401},
		{name: "OIDC token for another audience", method: "POST", path: prs, body: draft, headers: bearerAuth(newKey.Token(t, with(func(c *authtest.Claims) { c.Audience = "another-app" }))), code: 401},
		{name: "OIDC token of another issuer", method: "POST", path: prs, body: draft, headers: bearerAuth(newKey.Token(t, with(func(c *authtest.Claims) { c.Issuer = "https://issuer.example" }))), code: 401},
		{name: "OIDC token of a rotated-out key", method: "POST", path: prs, body: draft, headers: bearerAuth(oldKey.Token(t, dana)), code: 401},
		{name: "forged identity header alone", method: "POST", path: prs, body: draft, headers: map[string]string{"X-Remote-User": "root"}, code: 401},
		{name: "forged identity header with a token", method: "DELETE", path: prs + "/" + nginx, headers: map[string]string{"Authorization": "Bearer " + e.tokens["victor"], "X-Remote-User": "root"},
			code: 403, user: "victor", msg: `User \"victor\" cannot delete resource \"packagerevisions\"`},
		{name: "forged identity header with a client certificate", method: "POST", path: prs, body: draft, headers: map[string]string{"X-Remote-User": "root", "X-Remote-Group": "system:masters"},
			certs: []tls.Certificate{carol}, code: 403, user: "carol", msg: `User \"carol\" cannot create resource \"packagerevisions\"`},
		{name: "an editor approving", method: "PUT", path: prs + "/" + danas.Name + "/approval", body: approval, headers: bearerAuth(e.tokens["erin"]),
			code: 403, user: "erin", msg: `User \"erin\" cannot update resource \"packagerevisions/approval\" in API group \"pkg.pkgserver.dev\" in the namespace \"sec\"`},
		{name: "an OIDC editor approving", method: "PUT", path: prs + "/" + danas.Name + "/approval", body: approval, headers: bearerAuth(newKey.Token(t, dana)),
			code: 403, user: "dana@example.com", msg: `User \"dana@example.com\" cannot update resource \"packagerevisions/approval\"`},
		{name: "a viewer pushing", method: "POST", path: uploads, headers: map[string]string{"Authorization": basicAuth("victor", e.tokens["victor"])},
			code: 403, user: "victor", msg: `"code":"DENIED"`},
		{name: "anonymous pushing", method: "POST", path: uploads, code: 401, msg: `"code":"UNAUTHORIZED"`},
		{name: "server-side apply creating without create", method: "PATCH", path: prs + "/" + nope + "?fieldManager=paula", body: draft,
			headers: map[string]string{"Authorization": "Bearer " + e.tokens["paula"], "Content-Type": "application/apply-patch+yaml"}, code: 403,
			user: "paula", msg: `packagerevisions.pkg.pkgserver.dev \"` + nope + `\" is forbidden: User \"paula\" cannot create resource \"packagerevisions\"`},
		{name: "impersonation without the right", method: "POST", path: prs, body: draft, headers: map[string]string{"Authorization": "Bearer " + e.tokens["erin"], "Impersonate-User": "alice"},
			code: 403, user: "erin", msg: `users \"alice\" is forbidden: User \"erin\" cannot impersonate resource \"users\"`},
		{name: "impersonating someone else", method: "POST", path: prs, body: draft, headers: map[string]string{"Authorization": "Bearer " + e.tokens["ian"], "Impersonate-User": "root"},
			code: 403, user: "ian", msg: `User \"ian\" cannot impersonate`},
		{name: "a Repository outside the allowed registries", method: "POST", path: "/apis/config.pkg.pkgserver.dev/v1alpha1/namespaces/" + secNS + "/repositories", body: newRepo,
			headers: bearerAuth(e.tokens["root"]), code: 403, user: "root", msg: `host \"evil.example\" is not allowed by the server (--allowed-registries)`},
		{name: "an editor registering a Repository", method: "POST", path: "/apis/config.pkg.pkgserver.dev/v1alpha1/namespaces/" + secNS + "/repositories", body: newRepo,
			headers: bearerAuth(e.tokens["erin"]), code: 403, user: "erin", msg: `User \"erin\" cannot create resource \"repositories\"`},
		{name: "an editor writing Repository objects through /v2/", method: "PUT", path: "/v2/pkgserver-system/repositories/manifests/sec.evil", body: []byte("{}"),
			headers: map[string]string{"Authorization": basicAuth("erin", e.tokens["erin"])}, code: 403, user: "erin", msg: `cannot put path`},
	} {
		t.Run("denied/"+tc.name, func(t *testing.T) {
			code, body, hdr := e.do(t, tc.method, tc.path, tc.body, tc.headers, tc.certs...)
			if code != tc.code || !strings.Contains(string(body), tc.msg) {
				t.Fatalf("%s %s: %d %s; want %d with %q", tc.method, tc.path, code, body, tc.code, tc.msg)
			}
			if !strings.HasPrefix(tc.path, "/v2/") {
				var st metav1.Status
				if json.Unmarshal(body, &st) != nil || st.Kind != "Status" || int(st.Code) != code {
					t.Fatalf("not a Status: %s", body)
				}
			} else if code == 401 && !strings.HasPrefix(hdr.Get("WWW-Authenticate"), `Bearer realm="https://`+e.srv.Addr+`/auth/token",service="pkgserver"`) {
				t.Fatalf("challenge %q", hdr.Get("WWW-Authenticate"))
			}
			e.audited(t, tc.name, func(ev auditv1.Event) bool {
				return ev.RequestURI == tc.path && ev.ResponseStatus != nil && int(ev.ResponseStatus.Code) == code && ev.User.Username == tc.user
			})
		})
	}
	if after := e.snapshot(t); after != before {
		t.Fatalf("the denials changed something:\nbefore:\n%s\nafter:\n%s", before, after)
	}

	t.Run("certificate rotation", func(t *testing.T) {
		served := func() string {
			conn, err := tls.Dial("tcp", e.srv.Addr, &tls.Config{RootCAs: e.serverCA.Pool()})
			if err != nil {
				t.Fatal(err)
			}
			defer conn.Close()
			return conn.ConnectionState().PeerCertificates[0].SerialNumber.String()
		}
		next := e.serverCA.Server(t)
		// The key first, then the certificate: in between, the pair does not
		// match and the server keeps the old one.
		authtest.WriteFile(t, e.keyFile, next.KeyPEM)
		authtest.WriteFile(t, e.certFile, next.CertPEM)
		deadline := time.Now().Add(10 * time.Second)
		for served() != next.Cert.SerialNumber.String() {
			if time.Now().After(deadline) {
				t.Fatal("the new certificate is not served")
			}
			time.Sleep(100 * time.Millisecond)
		}
		e.client(t, "victor").ListRevisions(t, nil)
	})
}

// TestRefuseWithoutAuthentication: a server listening beyond loopback with
// no authenticator does not start unless told to let anyone in.
func TestRefuseWithoutAuthentication(t *testing.T) {
	t.Parallel()
	addr, err := harness.FreeAddr()
	if err != nil {
		t.Fatal(err)
	}
	_, port, _ := strings.Cut(addr, ":")
	s, err := harness.Spawn(harness.Options{Bin: serverBin, DataDir: t.TempDir(), Listen: "0.0.0.0:" + port})
	if err != nil {
		t.Fatal(err)
	}
	code, err := s.Wait(20 * time.Second)
	if err != nil || code != 1 || !strings.Contains(s.Output(), "refusing to serve 0.0.0.0:"+port+" without authentication") ||
		!strings.Contains(s.Output(), "--anonymous-auth=true") {
		t.Fatalf("exit %d, %v:\n%s", code, err, s.Output())
	}
	open := harness.Start(t, harness.Options{Bin: serverBin, DataDir: t.TempDir(), Listen: "0.0.0.0:" + port, Args: []string{"--anonymous-auth=true"}})
	c := harness.NewClient("http://127.0.0.1:"+port, namespace)
	c.ListRevisions(t, nil)
	open.Stop(t)
}

// approvalBody is the live object with lifecycle published, as kubectl
// replace --raw sends it to the approval subresource.
func approvalBody(t *testing.T, k *harness.CLI, name string) string {
	t.Helper()
	var live map[string]any
	if err := json.Unmarshal([]byte(k.OK(t, "", "get", "pr", name, "-o", "json")), &live); err != nil {
		t.Fatal(err)
	}
	live["spec"].(map[string]any)["lifecycle"] = "published"
	return mustJSON(t, live)
}

func repositoryManifestIn(ns, name string, oci *configapi.OCIRepository) *configapi.Repository {
	r := repositoryManifest(name, "", oci)
	r.Namespace = ns
	return r
}

func revisionManifestIn(ns string, id pkgapi.PackageRevID) *pkgapi.PackageRevision {
	pr := revisionManifest(id, initTask("refused"), nil)
	pr.Namespace = ns
	return pr
}
