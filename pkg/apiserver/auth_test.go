package apiserver

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"maps"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/labstack/echo/v4"
	authnv1 "k8s.io/api/authentication/v1"
	authzv1 "k8s.io/api/authorization/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	auditv1 "k8s.io/apiserver/pkg/apis/audit/v1"
	"k8s.io/apiserver/pkg/authentication/user"

	pkgapi "pkgserver.dev/pkgserver/api/pkg/v1alpha1"
	"pkgserver.dev/pkgserver/pkg/auth/audit"
	"pkgserver.dev/pkgserver/pkg/auth/authn"
	"pkgserver.dev/pkgserver/pkg/auth/authz"
	"pkgserver.dev/pkgserver/pkg/errdef"
)

// The users of the tests: token "tok-<name>", in the namespace default.
const testPolicy = `
apiVersion: rbac.authorization.k8s.io/v1
kind: RoleBinding
metadata: {name: viewers, namespace: default}
roleRef: {apiGroup: rbac.authorization.k8s.io, kind: ClusterRole, name: viewer}
subjects: [{kind: User, name: victor}]
---
apiVersion: rbac.authorization.k8s.io/v1
kind: RoleBinding
metadata: {name: editors, namespace: default}
roleRef: {apiGroup: rbac.authorization.k8s.io, kind: ClusterRole, name: editor}
subjects: [{kind: User, name: erin}]
---
apiVersion: rbac.authorization.k8s.io/v1
kind: RoleBinding
metadata: {name: approvers, namespace: default}
roleRef: {apiGroup: rbac.authorization.k8s.io, kind: ClusterRole, name: approver}
subjects: [{kind: User, name: alice}, {kind: User, name: imp}]
---
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRole
metadata: {name: impersonate-alice}
rules: [{apiGroups: [""], resources: [users], resourceNames: [alice], verbs: [impersonate]}]
---
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRoleBinding
metadata: {name: imp}
roleRef: {apiGroup: rbac.authorization.k8s.io, kind: ClusterRole, name: impersonate-alice}
subjects: [{kind: User, name: imp}]
---
apiVersion: rbac.authorization.k8s.io/v1
kind: Role
metadata: {name: patcher, namespace: default}
rules: [{apiGroups: [config.pkg.pkgserver.dev], resources: [repositories], verbs: [get, patch]}]
---
apiVersion: rbac.authorization.k8s.io/v1
kind: RoleBinding
metadata: {name: patcher, namespace: default}
roleRef: {apiGroup: rbac.authorization.k8s.io, kind: Role, name: patcher}
subjects: [{kind: User, name: patcher}]
`

// namedTokens knows "tok-<name>" as user <name>.
type namedTokens struct{}

func (namedTokens) AuthenticateToken(_ context.Context, tok string) (user.Info, bool, error) {
	name, ok := strings.CutPrefix(tok, "tok-")
	if !ok {
		return nil, false, nil
	}
	return &user.DefaultInfo{Name: name}, true, nil
}

// syncBuffer collects audit lines.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) events(t *testing.T) []auditv1.Event {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []auditv1.Event
	sc := bufio.NewScanner(bytes.NewReader(s.b.Bytes()))
	for sc.Scan() {
		var ev auditv1.Event
		if err := json.Unmarshal(sc.Bytes(), &ev); err != nil {
			t.Fatal(err)
		}
		out = append(out, ev)
	}
	s.b.Reset()
	return out
}

func securedServer(t *testing.T, anonymous bool) (*echo.Echo, *fakeEngine, *syncBuffer) {
	t.Helper()
	p, err := authz.ParsePolicy([]byte(testPolicy))
	if err != nil {
		t.Fatal(err)
	}
	az, err := authz.CompileWithDefaults(p)
	if err != nil {
		t.Fatal(err)
	}
	f := newFake()
	buf := &syncBuffer{}
	e := New(f, Options{
		Auth: Auth{
			Authenticator: &authn.Chain{Authenticators: []authn.Request{authn.Bearer(namedTokens{})}, Anonymous: anonymous},
			Authorizer:    az,
			Audit:         audit.New(buf),
			SelfAuthorized: func(p string) bool {
				return strings.HasPrefix(p, "/v2/")
			},
		},
		Mount: func(e *echo.Echo) {
			// A self-authorized handler reports what the middleware left it.
			e.GET("/v2/*", func(c echo.Context) error {
				u, _ := authn.UserFrom(c.Request().Context())
				fail := authn.FailureFrom(c.Request().Context())
				name := ""
				if u != nil {
					name = u.GetName()
				}
				return c.JSON(http.StatusOK, map[string]any{"user": name, "unauthorized": errors.Is(fail, errdef.ErrUnauthorized)})
			})
		},
	})
	return e, f, buf
}

func bearer(name string) map[string]string {
	return map[string]string{"Authorization": "Bearer tok-" + name}
}

func TestAuthMiddleware(t *testing.T) {
	e, f, auditBuf := securedServer(t, false)
	publish := prBody(site1, pkgapi.LifecyclePublished, "")
	for _, tc := range []struct {
		call
		// audited is the verb and code of the audit event, if one is written.
		audited  string
		auditUsr string
		decision string
	}{
		{call: call{name: "no credentials", method: "GET", path: prs, code: 401, reason: metav1.StatusReasonUnauthorized,
			contains: []string{`Unauthorized: no credentials were presented (to list resource \"packagerevisions\" in API group \"pkg.pkgserver.dev\" in the namespace \"default\")`}},
			audited: "list 401"},
		{call: call{name: "wrong token", method: "GET", path: prs, header: map[string]string{"Authorization": "Bearer nope"}, code: 401, reason: metav1.StatusReasonUnauthorized,
			contains: []string{"invalid credentials"}}, audited: "list 401"},
		{call: call{name: "forged proxy header is no credential", method: "GET", path: prs, header: map[string]string{"X-Remote-User": "alice"}, code: 401},
			audited: "list 401"},
		{call: call{name: "health without credentials", method: "GET", path: "/readyz", code: 200}},
		{call: call{name: "liveness without credentials", method: "GET", path: "/livez", code: 200, contains: []string{"ok"}}},
		{call: call{name: "healthz without credentials", method: "GET", path: "/healthz", code: 200, contains: []string{"ok"}}},
		{call: call{name: "discovery needs authentication", method: "GET", path: "/apis", code: 401}, audited: "get 401"},
		{call: call{name: "discovery", method: "GET", path: "/apis", header: bearer("victor"), code: 200}},
		{call: call{name: "metrics are admin only", method: "GET", path: "/metrics", header: bearer("victor"), code: 403, reason: metav1.StatusReasonForbidden,
			contains: []string{`forbidden: User \"victor\" cannot get path \"/metrics\"`}}, audited: "get 403", auditUsr: "victor", decision: "forbid"},
		{call: call{name: "viewer reads", method: "GET", path: prs + "/" + nginx, header: bearer("victor"), code: 200}},
		{call: call{name: "viewer lists", method: "GET", path: prs, header: bearer("victor"), code: 200}},
		{call: call{name: "viewer in another namespace", method: "GET", path: "/apis/pkg.pkgserver.dev/v1alpha1/namespaces/team-b/packagerevisions", header: bearer("victor"), code: 403,
			contains: []string{`in the namespace \"team-b\"`}}, audited: "list 403", auditUsr: "victor", decision: "forbid"},
		{call: call{name: "viewer across namespaces", method: "GET", path: allPRs, header: bearer("victor"), code: 403, contains: []string{"at the cluster scope"}},
			audited: "list 403"},
		{call: call{name: "viewer creates", method: "POST", path: prs, header: bearer("victor"), body: prBody("catalog.blueprints.base.new.main", "", ""), code: 403,
			reason:   metav1.StatusReasonForbidden,
			contains: []string{`packagerevisions.pkg.pkgserver.dev is forbidden: User \"victor\" cannot create resource \"packagerevisions\" in API group \"pkg.pkgserver.dev\" in the namespace \"default\"`}},
			audited: "create 403", auditUsr: "victor", decision: "forbid"},
		{call: call{name: "editor approves", method: "PUT", path: prs + "/" + site1 + "/approval", header: bearer("erin"), body: publish, code: 403,
			contains: []string{`packagerevisions.pkg.pkgserver.dev \"` + site1 + `\" is forbidden: User \"erin\" cannot update resource \"packagerevisions/approval\"`,
				`"details":{"name":"` + site1 + `","group":"pkg.pkgserver.dev","kind":"packagerevisions"}`}},
			audited: "update 403", auditUsr: "erin", decision: "forbid"},
		{call: call{name: "impersonation without the right", method: "PUT", path: prs + "/" + site1 + "/approval", body: publish,
			header: map[string]string{"Authorization": "Bearer tok-erin", "Impersonate-User": "alice"}, code: 403,
			contains: []string{`users \"alice\" is forbidden: User \"erin\" cannot impersonate resource \"users\" in API group \"\" at the cluster scope`}},
			audited: "update 403", auditUsr: "erin"},
		{call: call{name: "editor edits", method: "PUT", path: prs + "/" + redis, header: bearer("erin"), body: prBody(redis, pkgapi.LifecycleProposed, ""), code: 200},
			audited: "update 200", auditUsr: "erin", decision: "allow"},
		{call: call{name: "approver approves: publishedBy is the authenticated user", method: "PUT", path: prs + "/" + site1 + "/approval",
			header: map[string]string{"Authorization": "Bearer tok-alice", "X-Remote-User": "mallory"}, body: publish, code: 200,
			contains: []string{`"publishedBy":"alice"`}},
			audited: "update 200", auditUsr: "alice", decision: "allow"},
		// Server-side apply creates a missing object: that needs create as
		// well as patch, as in Kubernetes.
		{call: call{name: "apply cannot create without create", method: "PATCH", path: repos + "/applied?fieldManager=kubectl", header: withHeader(bearer("patcher"), applyHeader),
			body: repoApply("sneaked in"), code: 403, reason: metav1.StatusReasonForbidden,
			contains: []string{`repositories.config.pkg.pkgserver.dev \"applied\" is forbidden: User \"patcher\" cannot create resource \"repositories\" in API group \"config.pkg.pkgserver.dev\" in the namespace \"default\"`}},
			audited: "patch 403", auditUsr: "patcher", decision: "forbid"},
		{call: call{name: "apply cannot create in a dry run either", method: "PATCH", path: repos + "/applied?fieldManager=kubectl&dryRun=All", header: withHeader(bearer("patcher"), applyHeader),
			body: repoApply("sneaked in"), code: 403, contains: []string{`cannot create resource \"repositories\"`}},
			audited: "patch 403", auditUsr: "patcher", decision: "forbid"},
		{call: call{name: "apply patches what exists with patch alone", method: "PATCH", path: repos + "/blueprints?fieldManager=kubectl&force=true", header: withHeader(bearer("patcher"), applyHeader),
			body: strings.Replace(repoApply("patched"), "name: applied", "name: blueprints", 1), code: 200, contains: []string{`"description":"patched"`}},
			audited: "patch 200", auditUsr: "patcher", decision: "allow"},
		{call: call{name: "self-authorized path gets the failure", method: "GET", path: "/v2/x/manifests/v1", code: 200, contains: []string{`"unauthorized":true`}}},
		{call: call{name: "self-authorized path gets the user", method: "GET", path: "/v2/x/manifests/v1", header: bearer("victor"), code: 200, contains: []string{`"user":"victor"`}}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			before := f.snapshot()
			tc.verify(t, serve(t, e, tc.call))
			if tc.code >= 400 && f.snapshot() != before {
				t.Fatal("a refused request changed the store")
			}
			evs := auditBuf.events(t)
			if tc.audited == "" {
				if len(evs) != 0 {
					t.Fatalf("audited %+v", evs)
				}
				return
			}
			if len(evs) != 1 {
				t.Fatalf("%d audit events, want 1", len(evs))
			}
			ev := evs[0]
			if got := ev.Verb + " " + itoa(ev.ResponseStatus.Code); got != tc.audited {
				t.Errorf("audited %q, want %q", got, tc.audited)
			}
			if tc.auditUsr != "" && ev.User.Username != tc.auditUsr {
				t.Errorf("audit user %q, want %q", ev.User.Username, tc.auditUsr)
			}
			if tc.decision != "" && ev.Annotations[audit.AnnotationDecision] != tc.decision {
				t.Errorf("audit decision %q, want %q", ev.Annotations[audit.AnnotationDecision], tc.decision)
			}
			if ev.RequestURI != tc.path || (strings.HasPrefix(tc.path, "/apis/") && ev.ObjectRef == nil) {
				t.Errorf("audit event %+v", ev)
			}
		})
	}
}

// withHeader merges header maps.
func withHeader(hs ...map[string]string) map[string]string {
	out := map[string]string{}
	for _, h := range hs {
		maps.Copy(out, h)
	}
	return out
}

func itoa(n int32) string { b, _ := json.Marshal(n); return string(b) }

// snapshot is the fake's whole state as JSON.
func (f *fakeEngine) snapshot() string {
	f.mu.Lock()
	defer f.mu.Unlock()
	b, _ := json.Marshal([]any{f.repos, f.prs, f.prrs})
	return string(b)
}

func TestImpersonationWithTheRight(t *testing.T) {
	e, _, buf := securedServer(t, false)
	call{code: 200, contains: []string{`"publishedBy":"alice"`}}.verify(t, serve(t, e, call{
		method: "PUT", path: prs + "/" + site1 + "/approval", body: prBody(site1, pkgapi.LifecyclePublished, ""),
		header: map[string]string{"Authorization": "Bearer tok-imp", "Impersonate-User": "alice"},
	}))
	evs := buf.events(t)
	if len(evs) != 1 || evs[0].User.Username != "imp" || evs[0].ImpersonatedUser == nil || evs[0].ImpersonatedUser.Username != "alice" {
		t.Fatalf("audit %+v", evs)
	}
}

func TestAnonymousAllowed(t *testing.T) {
	e, _, _ := securedServer(t, true)
	// Anonymous is let in, then refused by RBAC with a 403 naming it.
	call{code: 403, contains: []string{`User \"system:anonymous\" cannot list`}}.verify(t, serve(t, e, call{method: "GET", path: prs}))
	// A wrong token is still a 401, never anonymous.
	call{code: 401}.verify(t, serve(t, e, call{method: "GET", path: prs, header: map[string]string{"Authorization": "Bearer nope"}}))
}

func TestReviews(t *testing.T) {
	e, _, _ := securedServer(t, false)
	rec := serve(t, e, call{method: "POST", path: "/apis/authentication.k8s.io/v1/selfsubjectreviews", header: bearer("erin"),
		body: `{"apiVersion":"authentication.k8s.io/v1","kind":"SelfSubjectReview"}`})
	call{code: 201}.verify(t, rec)
	ssr := decode[authnv1.SelfSubjectReview](t, rec.Body.Bytes())
	if ssr.Kind != "SelfSubjectReview" || ssr.Status.UserInfo.Username != "erin" || !strings.Contains(strings.Join(ssr.Status.UserInfo.Groups, ","), user.AllAuthenticated) {
		t.Fatalf("SelfSubjectReview %+v", ssr)
	}

	can := func(who string, spec string) *authzv1.SelfSubjectAccessReview {
		t.Helper()
		rec := serve(t, e, call{method: "POST", path: "/apis/authorization.k8s.io/v1/selfsubjectaccessreviews", header: bearer(who),
			body: `{"apiVersion":"authorization.k8s.io/v1","kind":"SelfSubjectAccessReview","spec":` + spec + `}`})
		call{code: 201}.verify(t, rec)
		return decode[authzv1.SelfSubjectAccessReview](t, rec.Body.Bytes())
	}
	approve := `{"resourceAttributes":{"namespace":"default","verb":"update","group":"pkg.pkgserver.dev","resource":"packagerevisions","subresource":"approval"}}`
	if r := can("erin", approve); r.Status.Allowed {
		t.Fatalf("editor can approve: %+v", r.Status)
	}
	if r := can("alice", approve); !r.Status.Allowed || !strings.Contains(r.Status.Reason, `RoleBinding "default/approvers"`) {
		t.Fatalf("approver cannot approve: %+v", r.Status)
	}
	if r := can("victor", `{"nonResourceAttributes":{"path":"/metrics","verb":"get"}}`); r.Status.Allowed {
		t.Fatalf("viewer can read metrics: %+v", r.Status)
	}
	call{code: 422, reason: metav1.StatusReasonInvalid}.verify(t, serve(t, e, call{method: "POST", path: "/apis/authorization.k8s.io/v1/selfsubjectaccessreviews",
		header: bearer("erin"), body: `{"spec":{}}`}))

	rec = serve(t, e, call{method: "POST", path: "/apis/authorization.k8s.io/v1/selfsubjectrulesreviews", header: bearer("erin"),
		body: `{"apiVersion":"authorization.k8s.io/v1","kind":"SelfSubjectRulesReview","spec":{"namespace":"default"}}`})
	call{code: 201}.verify(t, rec)
	rules := decode[authzv1.SelfSubjectRulesReview](t, rec.Body.Bytes())
	if len(rules.Status.ResourceRules) == 0 || len(rules.Status.NonResourceRules) == 0 || rules.Status.Incomplete {
		t.Fatalf("rules %+v", rules.Status)
	}
	// Anonymous users get no reviews when they are refused at the door.
	call{code: 401}.verify(t, serve(t, e, call{method: "POST", path: "/apis/authentication.k8s.io/v1/selfsubjectreviews", body: `{}`}))
}

func TestZeroConfiguration(t *testing.T) {
	e := New(newFake(), Options{})
	// Everyone is anonymous, may do everything, and may impersonate.
	call{code: 200}.verify(t, serve(t, e, call{method: "GET", path: "/metrics"}))
	rec := serve(t, e, call{method: "POST", path: "/apis/authentication.k8s.io/v1/selfsubjectreviews", body: `{}`, header: map[string]string{"Impersonate-User": "alice"}})
	call{code: 201, contains: []string{`"username":"alice"`}}.verify(t, rec)
	rec = serve(t, e, call{method: "POST", path: "/apis/authorization.k8s.io/v1/selfsubjectaccessreviews",
		body: `{"spec":{"nonResourceAttributes":{"path":"/metrics","verb":"get"}}}`})
	call{code: 201, contains: []string{`"allowed":true`}}.verify(t, rec)
}

// A watch ends within the hour whatever the client asks, so a user whose
// credentials were revoked stops getting changes: the next watch is
// authenticated again. Without timeoutSeconds it lasts 30 to 60 minutes, as
// in Kubernetes.
func TestWatchDuration(t *testing.T) {
	for _, asked := range []time.Duration{0, -time.Second, 2 * time.Hour, 1000 * time.Hour} {
		for range 100 {
			if d := watchDuration(asked); d < 30*time.Minute || d > time.Hour {
				t.Fatalf("watchDuration(%v) = %v", asked, d)
			}
		}
	}
	for _, asked := range []time.Duration{time.Second, 5 * time.Minute, time.Hour} {
		if d := watchDuration(asked); d != asked {
			t.Fatalf("watchDuration(%v) = %v", asked, d)
		}
	}
}
