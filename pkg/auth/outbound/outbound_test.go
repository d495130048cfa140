package outbound

import (
	"context"
	"errors"
	"log/slog"
	"path/filepath"
	"strings"
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
