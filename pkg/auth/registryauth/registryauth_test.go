package registryauth

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"

	"k8s.io/apiserver/pkg/authentication/user"

	"pkgserver.dev/pkgserver/pkg/auth/authn"
	"pkgserver.dev/pkgserver/pkg/auth/authz"
	"pkgserver.dev/pkgserver/pkg/errdef"
)

func TestIssuer(t *testing.T) {
	key := []byte(strings.Repeat("k", 32))
	i, err := NewIssuer(key, "pkgserver", time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	alice := &user.DefaultInfo{Name: "alice", UID: "1", Groups: []string{"team-a", user.AllAuthenticated}, Extra: map[string][]string{"k": {"v"}}}
	tok, exp, err := i.Issue(alice, []string{"repository:team-a/bp/apps/web:pull,push"})
	if err != nil {
		t.Fatal(err)
	}
	if d := time.Until(exp); d < 50*time.Second || d > time.Minute {
		t.Fatalf("expires in %s", d)
	}
	u, ok, err := i.AuthenticateToken(context.Background(), tok)
	if !ok || err != nil || u.GetName() != "alice" || u.GetUID() != "1" || strings.Join(u.GetGroups(), ",") != "team-a,"+user.AllAuthenticated || u.GetExtra()["k"][0] != "v" {
		t.Fatalf("own token: %v %v %v", u, ok, err)
	}

	other, _ := NewIssuer([]byte(strings.Repeat("x", 32)), "pkgserver", time.Minute)
	otherTok, _, _ := other.Issue(alice, nil)
	otherService, _ := NewIssuer(key, "elsewhere", time.Minute)
	otherServiceTok, _, _ := otherService.Issue(alice, nil)
	expired, _ := NewIssuer(key, "pkgserver", time.Minute)
	expired.now = func() time.Time { return time.Now().Add(-2 * time.Minute) }
	expiredTok, _, _ := expired.Issue(alice, nil)
	for _, tc := range []struct {
		name, token string
		err         bool
	}{
		{"another key", otherTok, true},
		{"another service", otherServiceTok, true},
		{"expired", expiredTok, true},
		{"tampered", tok[:len(tok)-4] + "AAAA", true},
		{"not a JWT", "static-token", false},
		{"a JWT of another issuer", "eyJhbGciOiJIUzI1NiJ9.eyJpc3MiOiJodHRwczovL2lzc3Vlci5leGFtcGxlIn0.c2ln", false},
	} {
		_, ok, err := i.AuthenticateToken(context.Background(), tc.token)
		if ok || (err != nil) != tc.err {
			t.Errorf("%s: ok %v err %v, want an error: %v", tc.name, ok, err, tc.err)
		}
	}
	if _, err := NewIssuer([]byte("short"), "s", 0); err == nil {
		t.Fatal("short key accepted")
	}
	if r, err := NewIssuer(nil, "s", 0); err != nil || len(r.key) != MinKeyBytes || r.ttl != DefaultTokenTTL {
		t.Fatalf("random key: %v", err)
	}
	if got := parseScopes([]string{"repository:a/b:pull,push registry:catalog:*", "junk", "repository::pull"}); len(got) != 2 || got[0].Name != "a/b" || got[0].Actions[1] != "push" || got[1].Type != "registry" {
		t.Fatalf("scopes %+v", got)
	}
}

type tokens map[string]string // token -> user

func (ts tokens) AuthenticateToken(_ context.Context, tok string) (user.Info, bool, error) {
	if n, ok := ts[tok]; ok {
		return &user.DefaultInfo{Name: n}, true, nil
	}
	return nil, false, nil
}

func TestTokenHandler(t *testing.T) {
	i, _ := NewIssuer(nil, "pkgserver", time.Minute)
	known := tokens{"s3cret": "bob"}
	for _, tc := range []struct {
		name      string
		anonymous bool
		req       func() *http.Request
		code      int
		user      string
	}{
		{"GET as the authenticated user", false, func() *http.Request {
			r := httptest.NewRequest("GET", "/auth/token?service=pkgserver&scope=repository:a/b:pull", nil)
			return r.WithContext(authn.WithUser(r.Context(), &user.DefaultInfo{Name: "alice"}))
		}, 200, "alice"},
		{"GET after failed authentication", false, func() *http.Request {
			r := httptest.NewRequest("GET", "/auth/token", nil)
			return r.WithContext(authn.WithFailure(r.Context(), errdef.ErrUnauthorized))
		}, 401, ""},
		{"GET anonymous, allowed", true, func() *http.Request {
			r := httptest.NewRequest("GET", "/auth/token", nil)
			return r.WithContext(authn.WithUser(r.Context(), authn.Anonymous()))
		}, 200, user.Anonymous},
		{"GET anonymous, not allowed", false, func() *http.Request {
			r := httptest.NewRequest("GET", "/auth/token", nil)
			return r.WithContext(authn.WithUser(r.Context(), authn.Anonymous()))
		}, 401, ""},
		{"POST password grant", false, func() *http.Request {
			r := httptest.NewRequest("POST", "/auth/token", strings.NewReader(url.Values{"grant_type": {"password"}, "username": {"bob"}, "password": {"s3cret"}, "service": {"pkgserver"}}.Encode()))
			r.Header.Set("Content-Type", "application/x-www-form-urlencoded")
			return r
		}, 200, "bob"},
		{"POST wrong password", false, func() *http.Request {
			r := httptest.NewRequest("POST", "/auth/token", strings.NewReader("grant_type=password&username=bob&password=nope"))
			r.Header.Set("Content-Type", "application/x-www-form-urlencoded")
			return r
		}, 401, ""},
		{"POST refresh token", false, func() *http.Request {
			r := httptest.NewRequest("POST", "/auth/token", strings.NewReader("grant_type=refresh_token&refresh_token=x"))
			r.Header.Set("Content-Type", "application/x-www-form-urlencoded")
			return r
		}, 400, ""},
		{"DELETE", false, func() *http.Request { return httptest.NewRequest("DELETE", "/auth/token", nil) }, 405, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			rec := httptest.NewRecorder()
			i.TokenHandler(known, tc.anonymous).ServeHTTP(rec, tc.req())
			if rec.Code != tc.code {
				t.Fatalf("code %d, want %d: %s", rec.Code, tc.code, rec.Body)
			}
			if tc.code != 200 {
				if tc.code == 401 && !strings.HasPrefix(rec.Header().Get("WWW-Authenticate"), "Basic") {
					t.Errorf("401 without a Basic challenge")
				}
				return
			}
			var body struct {
				Token       string `json:"token"`
				AccessToken string `json:"access_token"`
				ExpiresIn   int    `json:"expires_in"`
			}
			if err := json.Unmarshal(rec.Body.Bytes(), &body); err != nil {
				t.Fatal(err)
			}
			u, ok, err := i.AuthenticateToken(context.Background(), body.Token)
			if !ok || err != nil || u.GetName() != tc.user || body.ExpiresIn != 60 || body.AccessToken != body.Token {
				t.Fatalf("token for %v (%v %v), expires in %d; want %s", u, ok, err, body.ExpiresIn, tc.user)
			}
		})
	}
}

const policy = `
apiVersion: rbac.authorization.k8s.io/v1
kind: RoleBinding
metadata: {name: v, namespace: team-a}
roleRef: {apiGroup: rbac.authorization.k8s.io, kind: ClusterRole, name: viewer}
subjects: [{kind: User, name: victor}]
---
apiVersion: rbac.authorization.k8s.io/v1
kind: RoleBinding
metadata: {name: e, namespace: team-a}
roleRef: {apiGroup: rbac.authorization.k8s.io, kind: ClusterRole, name: editor}
subjects: [{kind: User, name: erin}]
---
apiVersion: rbac.authorization.k8s.io/v1
kind: RoleBinding
metadata: {name: a, namespace: team-a}
roleRef: {apiGroup: rbac.authorization.k8s.io, kind: ClusterRole, name: approver}
subjects: [{kind: User, name: alice}]
---
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRole
metadata: {name: creator}
rules: [{apiGroups: [pkg.pkgserver.dev], resources: [packagerevisions], verbs: [create]}]
---
apiVersion: rbac.authorization.k8s.io/v1
kind: RoleBinding
metadata: {name: c, namespace: team-a}
roleRef: {apiGroup: rbac.authorization.k8s.io, kind: ClusterRole, name: creator}
subjects: [{kind: User, name: cory}]
---
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRole
metadata: {name: mirror}
rules: [{nonResourceURLs: [/v2/mirror/*], verbs: [get, head, post, put, patch]}]
---
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRoleBinding
metadata: {name: mirror}
roleRef: {apiGroup: rbac.authorization.k8s.io, kind: ClusterRole, name: mirror}
subjects: [{kind: User, name: mia}]
---
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRoleBinding
metadata: {name: root}
roleRef: {apiGroup: rbac.authorization.k8s.io, kind: ClusterRole, name: admin}
subjects: [{kind: User, name: root}]
`

func TestAuthorize(t *testing.T) {
	p, err := authz.ParsePolicy([]byte(policy))
	if err != nil {
		t.Fatal(err)
	}
	az, err := authz.CompileWithDefaults(p)
	if err != nil {
		t.Fatal(err)
	}
	var reached *http.Request
	h := Authorize(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { reached = r; w.WriteHeader(299) }), Options{
		Authorizer: az,
		Owner: func(_ context.Context, name string) (string, string, bool) {
			if strings.HasPrefix(name, "team-a/bp/") {
				return "team-a", "bp", true
			}
			return "", "", false
		},
		TagExists: func(_ context.Context, name, tag string) bool { return tag == "ws.old" },
		Challenge: true, Service: "pkgserver", RealmPath: "/auth/token",
	})
	const pkg = "/v2/team-a/bp/apps/web"
	const dgst = "sha256:" + "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"
	for _, tc := range []struct {
		name, who, method, target string
		code                      int // 299: reached the registry
	}{
		{"ping anonymous: challenge", "", "GET", "/v2/", 401},
		{"ping authenticated", "victor", "GET", "/v2/", 299},
		{"viewer pulls a manifest", "victor", "GET", pkg + "/manifests/v1", 299},
		{"viewer heads a blob", "victor", "HEAD", pkg + "/blobs/" + dgst, 299},
		{"viewer lists tags", "victor", "GET", pkg + "/tags/list", 299},
		{"viewer referrers", "victor", "GET", pkg + "/referrers/" + dgst, 299},
		{"anonymous pull: challenge", "", "GET", pkg + "/manifests/v1", 401},
		{"viewer pushes a blob", "victor", "POST", pkg + "/blobs/uploads/", 403},
		{"viewer pushes a draft", "victor", "PUT", pkg + "/manifests/ws.new", 403},
		{"viewer deletes", "victor", "DELETE", pkg + "/manifests/ws.old", 403},
		{"editor uploads", "erin", "POST", pkg + "/blobs/uploads/", 299},
		{"editor chunk", "erin", "PATCH", pkg + "/blobs/uploads/abc", 299},
		{"editor pushes a new draft", "erin", "PUT", pkg + "/manifests/ws.new", 299},
		{"editor pushes an existing draft", "erin", "PUT", pkg + "/manifests/ws.old", 299},
		{"editor pushes vN", "erin", "PUT", pkg + "/manifests/v2", 403},
		{"editor pushes latest", "erin", "PUT", pkg + "/manifests/latest", 403},
		{"editor pushes by digest with a vN tag", "erin", "PUT", pkg + "/manifests/" + dgst + "?tag=ws.x&tag=v3", 403},
		{"editor deletes a draft", "erin", "DELETE", pkg + "/manifests/ws.old", 299},
		{"editor deletes by digest", "erin", "DELETE", pkg + "/manifests/" + dgst, 299},
		{"editor deletes latest", "erin", "DELETE", pkg + "/manifests/latest", 403},
		{"creator creates a draft", "cory", "PUT", pkg + "/manifests/ws.new", 299},
		{"creator cannot update a draft", "cory", "PUT", pkg + "/manifests/ws.old", 403},
		{"approver uploads", "alice", "POST", pkg + "/blobs/uploads/", 299},
		{"approver pushes vN", "alice", "PUT", pkg + "/manifests/v2", 299},
		{"approver pushes a draft", "alice", "PUT", pkg + "/manifests/ws.new", 403},
		{"editor outside prefixes", "erin", "GET", "/v2/mirror/x/manifests/v1", 403},
		{"mirror role pulls", "mia", "HEAD", "/v2/mirror/x/manifests/v1", 299},
		{"mirror role pushes", "mia", "PUT", "/v2/mirror/x/manifests/v1", 299},
		{"mirror role deletes", "mia", "DELETE", "/v2/mirror/x/manifests/v1", 403},
		{"mirror role elsewhere", "mia", "GET", "/v2/mirrors/x/manifests/v1", 403},
		{"catalog needs its path", "erin", "GET", "/v2/_catalog", 403},
		{"admin catalog", "root", "GET", "/v2/_catalog", 299},
		{"admin writes Repository objects", "root", "PUT", "/v2/pkgserver-system/repositories/manifests/x", 299},
		{"editor cannot write Repository objects", "erin", "PUT", "/v2/pkgserver-system/repositories/manifests/x", 403},
		{"other namespace", "erin", "GET", "/v2/team-b/bp/apps/web/manifests/v1", 403},
	} {
		t.Run(tc.name, func(t *testing.T) {
			reached = nil
			r := httptest.NewRequest(tc.method, tc.target, nil)
			r.Host = "pkgserver.test:8443"
			if tc.who == "" {
				r = r.WithContext(authn.WithUser(r.Context(), authn.Anonymous()))
			} else {
				r = r.WithContext(authn.WithUser(r.Context(), &user.DefaultInfo{Name: tc.who, Groups: []string{user.AllAuthenticated}}))
			}
			rec := httptest.NewRecorder()
			h.ServeHTTP(rec, r)
			if rec.Code != tc.code {
				t.Fatalf("code %d, want %d: %s", rec.Code, tc.code, rec.Body)
			}
			switch tc.code {
			case 401:
				ch := rec.Header().Get("WWW-Authenticate")
				if !strings.HasPrefix(ch, `Bearer realm="http://pkgserver.test:8443/auth/token",service="pkgserver"`) {
					t.Fatalf("challenge %q", ch)
				}
				if strings.Contains(tc.target, "/manifests/") && !strings.Contains(ch, `scope="repository:team-a/bp/apps/web:pull"`) {
					t.Fatalf("challenge without scope: %q", ch)
				}
			case 403:
				if tc.method != "HEAD" && (!strings.Contains(rec.Body.String(), `"code":"DENIED"`) || !strings.Contains(rec.Body.String(), `User \"`+tc.who+`\" cannot`)) {
					t.Fatalf("body %s", rec.Body)
				}
			}
			if (reached != nil) != (tc.code == 299) {
				t.Fatal("the registry was reached by a refused request, or not by an allowed one")
			}
		})
	}
}

func TestAuthorizeMount(t *testing.T) {
	p, _ := authz.ParsePolicy([]byte(policy))
	az, _ := authz.CompileWithDefaults(p)
	var got string
	h := Authorize(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { got = r.URL.RawQuery }), Options{
		Authorizer: az,
		Owner: func(_ context.Context, name string) (string, string, bool) {
			ns, _, _ := strings.Cut(name, "/")
			return ns, "bp", ns == "team-a" || ns == "team-b"
		},
	})
	const d = "sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"
	for _, tc := range []struct{ from, want string }{
		{"team-a/bp/x", "from=team-a%2Fbp%2Fx&mount=" + url.QueryEscape(d)}, // erin reads team-a
		{"team-b/bp/x", ""}, // erin cannot read team-b: a plain upload instead
		{"", ""},            // anonymous mount: never
	} {
		q := url.Values{"mount": {d}}
		if tc.from != "" {
			q.Set("from", tc.from)
		}
		r := httptest.NewRequest("POST", "/v2/team-a/bp/y/blobs/uploads/?"+q.Encode(), nil)
		r = r.WithContext(authn.WithUser(r.Context(), &user.DefaultInfo{Name: "erin"}))
		h.ServeHTTP(httptest.NewRecorder(), r)
		if got != tc.want {
			t.Errorf("from %q: query %q, want %q", tc.from, got, tc.want)
		}
	}
}
