package console_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/labstack/echo/v4"
	auditv1 "k8s.io/apiserver/pkg/apis/audit/v1"

	configapi "pkgserver.dev/pkgserver/api/config/v1alpha1"
	pkgapi "pkgserver.dev/pkgserver/api/pkg/v1alpha1"
	"pkgserver.dev/pkgserver/pkg/apiserver"
	"pkgserver.dev/pkgserver/pkg/auth/audit"
	"pkgserver.dev/pkgserver/pkg/auth/authn"
	"pkgserver.dev/pkgserver/pkg/auth/authz"
	"pkgserver.dev/pkgserver/pkg/console"
	"pkgserver.dev/pkgserver/pkg/coord/local"
	"pkgserver.dev/pkgserver/pkg/engine"
	"pkgserver.dev/pkgserver/pkg/store/layout"
)

// testNS is the namespace of the handler tests.
const testNS = "team"

// policy binds the default roles in testNS (docs/security.md).
const policy = `
apiVersion: rbac.authorization.k8s.io/v1
kind: RoleBinding
metadata: {name: viewers, namespace: team}
roleRef: {apiGroup: rbac.authorization.k8s.io, kind: ClusterRole, name: viewer}
subjects: [{kind: User, name: victor}]
---
apiVersion: rbac.authorization.k8s.io/v1
kind: RoleBinding
metadata: {name: editors, namespace: team}
roleRef: {apiGroup: rbac.authorization.k8s.io, kind: ClusterRole, name: editor}
subjects: [{kind: User, name: erin}, {kind: User, name: dana@example.com}]
---
apiVersion: rbac.authorization.k8s.io/v1
kind: RoleBinding
metadata: {name: approvers, namespace: team}
roleRef: {apiGroup: rbac.authorization.k8s.io, kind: ClusterRole, name: approver}
subjects: [{kind: User, name: alice}]
---
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRoleBinding
metadata: {name: admins}
roleRef: {apiGroup: rbac.authorization.k8s.io, kind: ClusterRole, name: admin}
subjects: [{kind: User, name: root}]
`

// users of the token file: the token of each is "token-<name>".
var users = []string{"root", "erin", "victor", "alice"}

// stackOptions choose how the server under test is secured.
type stackOptions struct {
	// secure: tokens, the policy and the audit log; otherwise the zero
	// configuration (everyone anonymous, everything allowed).
	secure bool
	// oidc, when set, adds OIDC sign-in.
	oidc *console.OIDCOptions
	// extraTokens authenticate besides the token file (the OIDC issuer's).
	extraTokens authn.Token
	liveWait    time.Duration
	// tls serves HTTPS (Secure cookies).
	tls bool
}

// stack is the API with its engine and the console, as pkg/server wires
// them, behind an httptest server.
type stack struct {
	t     *testing.T
	srv   *httptest.Server
	eng   *engine.Engine
	audit *syncBuffer
	cons  *console.Console
	// tokenFile is the token file of a secure stack.
	tokenFile string
}

func newStack(t *testing.T, o stackOptions) *stack {
	t.Helper()
	dir := t.TempDir()
	log := slog.New(slog.DiscardHandler)
	st, err := layout.Open(filepath.Join(dir, "data"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	co, err := local.Open(filepath.Join(dir, "state"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { co.Close() })
	eng, err := engine.New(engine.Options{Embedded: st, EmbeddedAddress: "pkgserver.test:8080", Coordinator: co, Logger: log})
	if err != nil {
		t.Fatal(err)
	}
	if err := eng.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { eng.Close() })

	s := &stack{t: t, eng: eng, audit: &syncBuffer{}}
	var api http.Handler
	front := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { api.ServeHTTP(w, r) })
	if o.tls {
		s.srv = httptest.NewTLSServer(front)
	} else {
		s.srv = httptest.NewServer(front)
	}
	t.Cleanup(s.srv.Close)
	if o.oidc != nil && o.oidc.RedirectURL == "" {
		o.oidc.RedirectURL = s.srv.URL + "/ui/oidc/callback"
	}
	auth := apiserver.Auth{SelfAuthorized: console.Owns}
	copts := console.Options{LiveWait: o.liveWait, OIDC: o.oidc, TLS: o.tls}
	if o.secure {
		var csv strings.Builder
		for i, u := range users {
			fmt.Fprintf(&csv, "token-%s,%s,%d\n", u, u, i+1)
		}
		s.tokenFile = writeFile(t, dir, "tokens.csv", csv.String())
		tf, err := authn.NewTokenFile(s.tokenFile, log)
		if err != nil {
			t.Fatal(err)
		}
		tokens := authn.Tokens{tf}
		if o.extraTokens != nil {
			tokens = append(tokens, o.extraTokens)
		}
		pf, err := authz.NewPolicyFile(writeFile(t, dir, "policy.yaml", policy), log)
		if err != nil {
			t.Fatal(err)
		}
		auth.Authenticator = &authn.Chain{Authenticators: []authn.Request{authn.Bearer(tokens), authn.Basic(tokens)}}
		auth.Authorizer = pf
		auth.Audit = audit.New(s.audit)
		copts.Authorizer, copts.Tokens = pf, tokens
	}
	copts.API = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { api.ServeHTTP(w, r) })
	cons, err := console.New(copts)
	if err != nil {
		t.Fatal(err)
	}
	s.cons = cons
	e := apiserver.New(eng, apiserver.Options{Auth: auth, Mount: func(e *echo.Echo) {
		h := echo.WrapHandler(cons)
		e.Any("/ui", h)
		e.Any("/ui/*", h)
	}})
	api = e
	t.Cleanup(cons.Close)
	return s
}

func writeFile(t *testing.T, dir, name, data string) string {
	t.Helper()
	p := filepath.Join(dir, name)
	if err := os.WriteFile(p, []byte(data), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

// syncBuffer collects the audit log.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.Write(p)
}

// events are the audit events written so far.
func (b *syncBuffer) events(t *testing.T) []auditv1.Event {
	t.Helper()
	b.mu.Lock()
	defer b.mu.Unlock()
	var out []auditv1.Event
	for _, l := range bytes.Split(bytes.TrimSpace(b.b.Bytes()), []byte("\n")) {
		if len(l) == 0 {
			continue
		}
		var ev auditv1.Event
		if err := json.Unmarshal(l, &ev); err != nil {
			t.Fatal(err)
		}
		out = append(out, ev)
	}
	return out
}

// api sends a request to the API as root (or anonymously on an
// unsecured stack) and decodes the answer.
func (s *stack) api(method, path string, body, out any) {
	s.t.Helper()
	var rd io.Reader
	if body != nil {
		b, _ := json.Marshal(body)
		rd = bytes.NewReader(b)
	}
	req, _ := http.NewRequest(method, s.srv.URL+path, rd)
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Authorization", "Bearer token-root")
	resp, err := s.srv.Client().Do(req)
	if err != nil {
		s.t.Fatal(err)
	}
	defer resp.Body.Close()
	data, _ := io.ReadAll(resp.Body)
	if resp.StatusCode >= 300 {
		s.t.Fatalf("%s %s: %d %s", method, path, resp.StatusCode, data)
	}
	if out != nil {
		if err := json.Unmarshal(data, out); err != nil {
			s.t.Fatal(err)
		}
	}
}

const (
	pkgPath  = "/apis/pkg.pkgserver.dev/v1alpha1/namespaces/" + testNS
	repoPath = "/apis/config.pkg.pkgserver.dev/v1alpha1/namespaces/" + testNS + "/repositories"
)

func (s *stack) repository(name string, deployment bool, description string) {
	s.api("POST", repoPath, configapi.Repository{
		TypeMeta:   metaType(configapi.SchemeGroupVersion.String(), configapi.RepositoryKind),
		ObjectMeta: objMeta(name),
		Spec:       configapi.RepositorySpec{Type: "oci", Deployment: deployment, Description: description},
	}, nil)
}

// draft creates a revision with a task and returns its name.
func (s *stack) draft(id pkgapi.PackageRevID, task pkgapi.Task) string {
	var out pkgapi.PackageRevision
	s.api("POST", pkgPath+"/packagerevisions", pkgapi.PackageRevision{
		TypeMeta: metaType(pkgapi.SchemeGroupVersion.String(), pkgapi.PackageRevisionKind),
		Spec:     pkgapi.PackageRevisionSpec{PackageRevID: id, Tasks: []pkgapi.Task{task}},
	}, &out)
	return out.Name
}

func (s *stack) get(name string) *pkgapi.PackageRevision {
	var pr pkgapi.PackageRevision
	s.api("GET", pkgPath+"/packagerevisions/"+name, nil, &pr)
	return &pr
}

// setFiles replaces a draft's files.
func (s *stack) setFiles(name string, files map[string]string) {
	var prr pkgapi.PackageRevisionResources
	s.api("GET", pkgPath+"/packagerevisionresources/"+name, nil, &prr)
	prr.Spec.Resources = files
	s.api("PUT", pkgPath+"/packagerevisionresources/"+name, prr, nil)
}

// move changes the lifecycle (through approval past proposed).
func (s *stack) move(name string, l pkgapi.Lifecycle, approval bool) {
	pr := s.get(name)
	pr.Spec.Lifecycle = l
	p := pkgPath + "/packagerevisions/" + name
	if approval {
		p += "/approval"
	}
	s.api("PUT", p, pr, nil)
}

// publish proposes and approves a draft.
func (s *stack) publish(name string) {
	s.move(name, pkgapi.LifecycleProposed, false)
	s.move(name, pkgapi.LifecyclePublished, true)
}

// browser is a client with a cookie jar, like a browser of one user.
type browser struct {
	t      *testing.T
	s      *stack
	client *http.Client
}

func (s *stack) browser() *browser {
	jar, _ := cookiejar.New(nil)
	return &browser{t: s.t, s: s, client: &http.Client{Transport: s.srv.Client().Transport, Jar: jar,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}}
}

// page is an answer of the console.
type page struct {
	code   int
	header http.Header
	body   string
}

func (b *browser) do(req *http.Request) page {
	b.t.Helper()
	resp, err := b.client.Do(req)
	if err != nil {
		b.t.Fatal(err)
	}
	defer resp.Body.Close()
	data, _ := io.ReadAll(resp.Body)
	return page{code: resp.StatusCode, header: resp.Header, body: string(data)}
}

func (b *browser) get(path string, header ...string) page {
	b.t.Helper()
	req, _ := http.NewRequest("GET", b.s.srv.URL+path, nil)
	for i := 0; i+1 < len(header); i += 2 {
		req.Header.Set(header[i], header[i+1])
	}
	return b.do(req)
}

// post sends a form as the browser would from the console's own page.
func (b *browser) post(path string, form url.Values) page {
	b.t.Helper()
	req, _ := http.NewRequest("POST", b.s.srv.URL+path, strings.NewReader(form.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("Origin", b.s.srv.URL)
	return b.do(req)
}

var csrfMeta = regexp.MustCompile(`<meta name="csrf-token" content="([^"]+)">`)

// csrf is the token of the browser's session, read from a page.
func (b *browser) csrf() string {
	b.t.Helper()
	p := b.get("/ui/signin")
	m := csrfMeta.FindStringSubmatch(p.body)
	if m == nil {
		b.t.Fatalf("no CSRF token in the sign-in page:\n%s", p.body)
	}
	return m[1]
}

// signIn signs in with a user's token.
func (b *browser) signIn(user string) {
	b.t.Helper()
	p := b.post("/ui/signin", url.Values{"csrf": {b.csrf()}, "token": {"token-" + user}, "return": {"/ui/"}})
	if p.code != http.StatusSeeOther {
		b.t.Fatalf("sign in as %s: %d\n%s", user, p.code, p.body)
	}
}

// form posts a console form with the session's CSRF token.
func (b *browser) form(path string, kv ...string) page {
	b.t.Helper()
	f := url.Values{"csrf": {b.csrf()}}
	for i := 0; i+1 < len(kv); i += 2 {
		f.Set(kv[i], kv[i+1])
	}
	return b.post(path, f)
}
