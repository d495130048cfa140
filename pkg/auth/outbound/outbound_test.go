package outbound

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"

	"oras.land/oras-go/v2/registry/remote/auth"

	configapi "pkgserver.dev/pkgserver/api/config/v1alpha1"
	"pkgserver.dev/pkgserver/internal/authtest"
	"pkgserver.dev/pkgserver/pkg/errdef"
)

func TestAllowList(t *testing.T) {
	a, err := ParseAllowList([]string{"registry.example", "ghcr.io:443", "*.corp.example", "*.mirror.example:5000", "127.0.0.1:5000", "[::1]:5001", " "})
	if err != nil {
		t.Fatal(err)
	}
	for host, want := range map[string]bool{
		"registry.example":         true,
		"registry.example:5000":    true, // no port in the pattern: any port
		"REGISTRY.example":         true,
		"evil.registry.example":    false,
		"registry.example.evil":    false,
		"ghcr.io:443":              true,
		"ghcr.io":                  false,
		"a.corp.example":           true,
		"a.b.corp.example:8443":    true,
		"corp.example":             false,
		"xcorp.example":            false,
		"a.mirror.example:5000":    true,
		"a.mirror.example":         false,
		"127.0.0.1:5000":           true,
		"127.0.0.1:5001":           false,
		"[::1]:5001":               true,
		"169.254.169.254":          false,
		"localhost:5000":           false,
		"registry.example@evil.io": false,
	} {
		if got := a.Allows(host); got != want {
			t.Errorf("Allows(%q) = %v, want %v", host, got, want)
		}
	}
	if empty, _ := ParseAllowList(nil); !empty.Allows("anything.example") || !empty.Empty() {
		t.Error("an empty list must allow everything")
	}
	for _, bad := range []string{"https://registry.example", "registry.example/team", "*", "a.*.example", "*.", "user@host", "host:"} {
		if _, err := ParseAllowList([]string{bad}); err == nil {
			t.Errorf("ParseAllowList(%q): no error", bad)
		}
	}
}

const credsFile = `
credentials:
- name: team-a-harbor
  registry: harbor.example
  namespaces: [team-a]
  username: robot
  password: s3cret
- name: shared
  registry: 127.0.0.1:5000
  identityToken: refresh
`

func TestParseCredentials(t *testing.T) {
	got, err := ParseCredentials([]byte(credsFile))
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 2 || got["team-a-harbor"].Password != "s3cret" || got["shared"].IdentityToken != "refresh" {
		t.Fatalf("%+v", got)
	}
	if got, err := ParseCredentials([]byte("")); err != nil || len(got) != 0 {
		t.Fatalf("empty file: %v %v", got, err)
	}
	for _, tc := range []struct{ name, data, err string }{
		{"no name", "credentials: [{registry: r, password: p}]", "name is required"},
		{"no registry", "credentials: [{name: a, password: p}]", "registry must be"},
		{"registry with path", "credentials: [{name: a, registry: r/x, password: p}]", "registry must be"},
		{"no secret", "credentials: [{name: a, registry: r}]", "needs password"},
		{"duplicate", "credentials: [{name: a, registry: r, password: p}, {name: a, registry: r, password: p}]", "used twice"},
		{"unknown field", "credentials: [{name: a, registry: r, pasword: p}]", "unknown field"},
		{"not YAML", "credentials: [", "yaml"},
	} {
		if _, err := ParseCredentials([]byte(tc.data)); err == nil || !strings.Contains(err.Error(), tc.err) {
			t.Errorf("%s: err %v, want %q", tc.name, err, tc.err)
		}
	}
}

func repo(ns, registry, secret string) *configapi.Repository {
	r := &configapi.Repository{}
	r.Namespace, r.Name = ns, "r"
	if registry != "" || secret != "" {
		r.Spec.OCI = &configapi.OCIRepository{Registry: registry}
		if secret != "" {
			r.Spec.OCI.SecretRef = &configapi.SecretRef{Name: secret}
		}
	}
	return r
}

func TestPolicy(t *testing.T) {
	p := filepath.Join(t.TempDir(), "creds.yaml")
	authtest.WriteFile(t, p, []byte(credsFile))
	cf, err := LoadCredentialsFile(p, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	allowed, _ := ParseAllowList([]string{"harbor.example", "127.0.0.1:5000"})
	pol := &Policy{Allowed: allowed, Credentials: cf}
	for _, tc := range []struct {
		name string
		r    *configapi.Repository
		err  error
		msg  string
	}{
		{"embedded", repo("team-a", "", ""), nil, ""},
		{"allowed host", repo("team-b", "harbor.example/x", ""), nil, ""},
		{"host outside the allow list", repo("team-a", "evil.example/x", ""), errdef.ErrForbidden, `host "evil.example" is not allowed`},
		{"metadata address", repo("team-a", "169.254.169.254/x", ""), errdef.ErrForbidden, "not allowed"},
		{"entry in its namespace", repo("team-a", "harbor.example/x", "team-a-harbor"), nil, ""},
		{"entry in another namespace", repo("team-b", "harbor.example/x", "team-a-harbor"), errdef.ErrForbidden, `may not be used in namespace "team-b"`},
		{"entry for another registry", repo("team-a", "127.0.0.1:5000/x", "team-a-harbor"), errdef.ErrInvalid, `is for registry "harbor.example"`},
		{"unknown entry", repo("team-a", "harbor.example/x", "nope"), errdef.ErrInvalid, `no credentials entry "nope"`},
		{"entry for everyone", repo("team-z", "127.0.0.1:5000/x", "shared"), nil, ""},
		{"secretRef without registry", repo("team-a", "", "shared"), errdef.ErrInvalid, "without spec.oci.registry"},
		{"empty secretRef", repo("team-a", "harbor.example/x", ""), nil, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := pol.ValidateRepository(tc.r)
			if tc.err == nil && err != nil || tc.err != nil && (!errors.Is(err, tc.err) || !strings.Contains(err.Error(), tc.msg)) {
				t.Fatalf("err %v, want %v %q", err, tc.err, tc.msg)
			}
		})
	}
	noFile := &Policy{}
	if err := noFile.ValidateRepository(repo("a", "h.example/x", "x")); !errors.Is(err, errdef.ErrInvalid) || !strings.Contains(err.Error(), "no registry credentials file") {
		t.Fatalf("secretRef without a file: %v", err)
	}

	ctx := context.Background()
	cs, err := pol.CredentialStore("harbor.example", "team-a", "team-a-harbor")
	if err != nil {
		t.Fatal(err)
	}
	if c, _ := cs.Get(ctx, "harbor.example"); c.Username != "robot" || c.Password != "s3cret" {
		t.Fatalf("entry credentials %+v", c)
	}
	if c, _ := cs.Get(ctx, "evil.example"); c != auth.EmptyCredential {
		t.Fatalf("credentials sent to another host: %+v", c)
	}
	if cs.Put(ctx, "x", auth.Credential{}) == nil || cs.Delete(ctx, "x") == nil {
		t.Fatal("the entry store is writable")
	}
	anon, err := pol.CredentialStore("harbor.example", "team-a", "")
	if err != nil {
		t.Fatal(err)
	}
	if c, _ := anon.Get(ctx, "harbor.example"); c != auth.EmptyCredential {
		t.Fatalf("no secretRef, no Docker: %+v", c)
	}
	if _, err := pol.CredentialStore("evil.example", "team-a", ""); !errors.Is(err, errdef.ErrForbidden) {
		t.Fatalf("store for a host outside the list: %v", err)
	}
}

// A host that is not host[:port] is refused before any pattern sees it, so
// no character makes a host look like an allowed one.
func TestPolicyHostSyntax(t *testing.T) {
	allowed, _ := ParseAllowList([]string{"registry.example", "*.corp.example"})
	for _, pol := range []*Policy{{Allowed: allowed}, {}} {
		for _, tc := range []struct {
			host string
			err  error
		}{
			{"registry.example", nil},
			{"registry.example:5000", nil},
			{"a.corp.example", nil},
			{"A.Corp.Example:443", nil},
			{"evil.example#x.corp.example", errdef.ErrInvalid},
			{"evil.example?x.corp.example", errdef.ErrInvalid},
			{`evil.example\x.corp.example`, errdef.ErrInvalid},
			{"[fe80::1%25x.corp.example]", errdef.ErrInvalid},
			{"registry.example:443@evil.example", errdef.ErrInvalid},
			{"user@registry.example", errdef.ErrInvalid},
			{"registry.example:", errdef.ErrInvalid},
			{"registry.example:0", errdef.ErrInvalid},
			{"registry.example:99999", errdef.ErrInvalid},
			{"registry.example:+443", errdef.ErrInvalid},
			{"registry.example:0443", errdef.ErrInvalid},
			{"registry..example", errdef.ErrInvalid},
			{"-registry.example", errdef.ErrInvalid},
			{"registry.example.", errdef.ErrInvalid},
			{"reg istry.example", errdef.ErrInvalid},
			{"", errdef.ErrInvalid},
			{"[::1]:5000", nil},
			{"::1", errdef.ErrInvalid},
			{"[registry.example]", errdef.ErrInvalid},
			{"127.0.0.1:5000", nil},
		} {
			err := pol.Check(tc.host, "team-a", "")
			if !pol.Allowed.Empty() && tc.err == nil && !pol.Allowed.Allows(tc.host) {
				tc.err = errdef.ErrForbidden
			}
			if tc.err == nil && err != nil || tc.err != nil && !errors.Is(err, tc.err) {
				t.Errorf("allow list %v: Check(%q) = %v, want %v", !pol.Allowed.Empty(), tc.host, err, tc.err)
			}
		}
	}
}

// With an allow list, the hosts a registry names itself (the token endpoint
// of its challenge, the target of a redirect) must be allowed too.
func TestTransport(t *testing.T) {
	var internalHits atomic.Int32
	internal := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		internalHits.Add(1)
		w.Write([]byte("secret"))
	}))
	defer internal.Close()
	other := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { w.Write([]byte("blob")) }))
	defer other.Close()
	reg := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/to-internal":
			http.Redirect(w, r, internal.URL+"/latest/meta-data", http.StatusTemporaryRedirect)
		case "/to-other":
			http.Redirect(w, r, other.URL+"/blob", http.StatusTemporaryRedirect)
		case "/v2/":
			w.Header().Set("WWW-Authenticate", `Bearer realm="`+internal.URL+`/token",service="x"`)
			w.WriteHeader(http.StatusUnauthorized)
		}
	}))
	defer reg.Close()
	host := func(s *httptest.Server) string { return strings.TrimPrefix(s.URL, "http://") }
	allowed, _ := ParseAllowList([]string{host(reg), host(other)})
	client := &http.Client{Transport: (&Policy{Allowed: allowed}).Transport(nil)}

	get := func(url string) (string, error) {
		resp, err := client.Get(url)
		if err != nil {
			return "", err
		}
		defer resp.Body.Close()
		b, err := io.ReadAll(resp.Body)
		return string(b), err
	}
	if body, err := get(reg.URL + "/to-other"); err != nil || body != "blob" {
		t.Fatalf("redirect to an allowed host: %q %v", body, err)
	}
	if _, err := get(reg.URL + "/to-internal"); !errors.Is(err, errdef.ErrForbidden) || !strings.Contains(err.Error(), host(internal)) {
		t.Fatalf("redirect to a host outside the list: %v", err)
	}
	if _, err := get(internal.URL); !errors.Is(err, errdef.ErrForbidden) {
		t.Fatalf("request to a host outside the list: %v", err)
	}

	// The token flow of oras-go, as the remote store runs it.
	ac := &auth.Client{Client: client, Credential: auth.StaticCredential(host(reg), auth.Credential{Username: "u", Password: "p"})}
	req, _ := http.NewRequest(http.MethodGet, reg.URL+"/v2/", nil)
	if resp, err := ac.Do(req); err == nil {
		resp.Body.Close()
		t.Fatalf("token endpoint outside the list was asked: %d", resp.StatusCode)
	} else if !errors.Is(err, errdef.ErrForbidden) {
		t.Fatalf("token endpoint outside the list: %v", err)
	}
	if n := internalHits.Load(); n != 0 {
		t.Fatalf("the host outside the list got %d requests", n)
	}

	// Without a list, everything goes.
	open := &http.Client{Transport: (&Policy{}).Transport(nil)}
	resp, err := open.Get(reg.URL + "/to-internal")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
}
