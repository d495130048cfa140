package server

import (
	"log/slog"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"

	"pkgserver.dev/pkgserver/internal/authtest"
	"pkgserver.dev/pkgserver/pkg/auth/authn"
	"pkgserver.dev/pkgserver/pkg/auth/authz"
	"pkgserver.dev/pkgserver/pkg/store"
)

func TestSecurityBuild(t *testing.T) {
	dir := t.TempDir()
	tokens := filepath.Join(dir, "tokens.csv")
	authtest.WriteFile(t, tokens, []byte("t,alice,1\n"))
	badPolicy := filepath.Join(dir, "policy.yaml")
	authtest.WriteFile(t, badPolicy, []byte("kind: Nope\n"))
	ca := authtest.NewCA(t, "ca")
	certFile, keyFile := ca.Server(t).WriteFiles(t, dir, "tls")
	clientCA, otherCA := filepath.Join(dir, "client-ca.pem"), filepath.Join(dir, "other-ca.pem")
	authtest.WriteFile(t, clientCA, ca.PEM)
	authtest.WriteFile(t, otherCA, authtest.NewCA(t, "proxy-ca").PEM)
	bundle := filepath.Join(dir, "bundle.pem")
	authtest.WriteFile(t, bundle, append(authtest.NewCA(t, "proxy-ca").PEM, ca.PEM...))
	shortKey := filepath.Join(dir, "short.key")
	authtest.WriteFile(t, shortKey, []byte("short"))
	log := slog.New(slog.DiscardHandler)

	for _, tc := range []struct {
		name   string
		listen string
		sec    Security
		err    string
	}{
		{name: "zero configuration on loopback", listen: "127.0.0.1:8080"},
		{name: "zero configuration on ::1", listen: "[::1]:8080"},
		{name: "zero configuration on localhost", listen: "localhost:8080"},
		{name: "zero configuration on every interface", listen: ":8080", err: "refusing to serve :8080 without authentication"},
		{name: "zero configuration on 0.0.0.0", listen: "0.0.0.0:8080", err: "--anonymous-auth=true"},
		{name: "anonymous on purpose", listen: "0.0.0.0:8080", sec: Security{AnonymousAuth: true}},
		{name: "tokens on every interface", listen: "0.0.0.0:8080", sec: Security{TokenAuthFile: tokens}},
		{name: "TLS", listen: "0.0.0.0:8443", sec: Security{TokenAuthFile: tokens, TLSCertFile: certFile, TLSPrivateKeyFile: keyFile}},
		{name: "TLS half", listen: "127.0.0.1:0", sec: Security{TLSCertFile: certFile}, err: "go together"},
		{name: "front proxy and clients with their own CAs", listen: "0.0.0.0:8443", sec: Security{TLSCertFile: certFile, TLSPrivateKeyFile: keyFile, ClientCAFile: clientCA,
			RequestHeader: RequestHeader{ClientCAFile: otherCA}}},
		// Every client certificate would be a front proxy, and claim any identity.
		{name: "front proxy CA shared with clients", listen: "0.0.0.0:8443", sec: Security{TLSCertFile: certFile, TLSPrivateKeyFile: keyFile, ClientCAFile: clientCA,
			RequestHeader: RequestHeader{ClientCAFile: bundle}}, err: "--requestheader-client-ca-file shares a CA with --client-ca-file"},
		{name: "front proxy CA shared, names limited", listen: "0.0.0.0:8443", sec: Security{TLSCertFile: certFile, TLSPrivateKeyFile: keyFile, ClientCAFile: clientCA,
			RequestHeader: RequestHeader{ClientCAFile: clientCA, AllowedNames: []string{"front-proxy"}}}},
		{name: "client CA without TLS", listen: "127.0.0.1:0", sec: Security{ClientCAFile: certFile}, err: "need TLS"},
		{name: "OIDC client without issuer", listen: "127.0.0.1:0", sec: Security{OIDC: authn.OIDCOptions{ClientID: "x"}}, err: "--oidc-client-id needs --oidc-issuer-url"},
		{name: "missing token file", listen: "127.0.0.1:0", sec: Security{TokenAuthFile: filepath.Join(dir, "nope")}, err: "--token-auth-file"},
		{name: "bad policy", listen: "127.0.0.1:0", sec: Security{AuthorizationPolicyFile: badPolicy}, err: "--authorization-policy-file"},
		{name: "bad allowed registry", listen: "127.0.0.1:0", sec: Security{AllowedRegistries: []string{"https://x"}}, err: "--allowed-registries"},
		{name: "short token key", listen: "127.0.0.1:0", sec: Security{RegistryTokenKeyFile: shortKey}, err: "--registry-token-key-file"},
		{name: "missing credentials file", listen: "127.0.0.1:0", sec: Security{RegistryCredentialsFile: filepath.Join(dir, "nope")}, err: "--registry-credentials-file"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s, err := tc.sec.build(tc.listen, log)
			if tc.err != "" {
				if err == nil || !strings.Contains(err.Error(), tc.err) {
					t.Fatalf("err %v, want %q", err, tc.err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			s.close()
		})
	}

	s, err := Security{}.build("127.0.0.1:0", log)
	if err != nil {
		t.Fatal(err)
	}
	if s.chain.Configured() || s.guardsRegistry() || s.tls != nil {
		t.Fatal("the zero configuration authenticates, guards /v2/ or serves TLS")
	}
	if _, ok := s.authorizer.(authz.AlwaysAllow); !ok {
		t.Fatalf("zero configuration authorizer %T", s.authorizer)
	}
	// Identity headers are removed even without a front proxy, so nothing
	// after authentication can read a forged one.
	r := httptest.NewRequest("GET", "/apis", nil)
	r.Header.Set("X-Remote-User", "root")
	r.Header.Set("X-Remote-Group", "admins")
	r.Header.Set("X-Remote-Extra-Scopes", "all")
	if s.strip == nil {
		t.Fatal("no header strip without a front proxy")
	}
	if s.strip(r); len(r.Header) != 0 {
		t.Fatalf("headers left: %v", r.Header)
	}
	s, err = Security{TokenAuthFile: tokens, TLSCertFile: certFile, TLSPrivateKeyFile: keyFile}.build("127.0.0.1:0", log)
	if err != nil {
		t.Fatal(err)
	}
	if !s.chain.Configured() || !s.guardsRegistry() || s.tls == nil || s.chain.Anonymous {
		t.Fatal("tokens and TLS: not configured as asked")
	}
}

// The stores of remote Repositories connect only to allowed hosts, even when
// the registry names another one for its token endpoint or redirects there.
func TestRemoteStoresStayInsideTheAllowList(t *testing.T) {
	var elsewhere atomic.Int32
	internal := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		elsewhere.Add(1)
		w.Write([]byte(`{"token":"x"}`))
	}))
	defer internal.Close()
	reg := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/v2/_catalog" && r.Header.Get("Authorization") == "" {
			w.Header().Set("WWW-Authenticate", `Bearer realm="`+internal.URL+`/token",service="x",scope="registry:catalog:*"`)
			w.WriteHeader(http.StatusUnauthorized)
			return
		}
		http.Redirect(w, r, internal.URL+r.URL.Path, http.StatusTemporaryRedirect)
	}))
	defer reg.Close()
	host := strings.TrimPrefix(reg.URL, "http://")
	s, err := Security{AllowedRegistries: []string{host}}.build("127.0.0.1:0", slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	st, err := s.remoteStores(host, true, "team-a", "")
	if err != nil {
		t.Fatal(err)
	}
	ctx := t.Context()
	err = st.(store.Lister).Repositories(ctx, "", func([]string) error { return nil })
	if err == nil || !strings.Contains(err.Error(), strings.TrimPrefix(internal.URL, "http://")+`" is not allowed`) {
		t.Fatalf("listing through a token endpoint outside the list: %v", err)
	}
	repo, err := st.Repository(ctx, "team-a/pkg")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := repo.Resolve(ctx, "v1"); err == nil {
		t.Fatal("a redirect outside the list was followed")
	}
	if n := elsewhere.Load(); n != 0 {
		t.Fatalf("the host outside the allow list got %d requests", n)
	}
}
