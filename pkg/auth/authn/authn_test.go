package authn

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math/big"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"k8s.io/apiserver/pkg/authentication/user"

	"pkgserver.dev/pkgserver/internal/authtest"
	"pkgserver.dev/pkgserver/pkg/errdef"
)

var quiet = slog.New(slog.DiscardHandler)

func TestParseTokenFile(t *testing.T) {
	for _, tc := range []struct {
		name, data string
		want       map[string]user.DefaultInfo // token -> user
		err        string
	}{
		{name: "empty", data: "", want: map[string]user.DefaultInfo{}},
		{name: "three fields", data: "t1,alice,1\n", want: map[string]user.DefaultInfo{"t1": {Name: "alice", UID: "1"}}},
		{name: "groups, comments and blank lines", data: "# who\n\nt1,alice,1,\"team-a, approvers\"\nt2, bob ,2,editors\n",
			want: map[string]user.DefaultInfo{
				"t1": {Name: "alice", UID: "1", Groups: []string{"team-a", "approvers"}},
				"t2": {Name: "bob", UID: "2", Groups: []string{"editors"}},
			}},
		{name: "empty uid allowed", data: "t1,alice,\n", want: map[string]user.DefaultInfo{"t1": {Name: "alice"}}},
		{name: "too few fields", data: "t1,alice\n", err: "line 1: want token,user,uid"},
		{name: "empty token", data: "t0,x,0\n,alice,1\n", err: "line 2: the token and the user name must not be empty"},
		{name: "empty user", data: "t1, ,1\n", err: "must not be empty"},
		{name: "duplicate token", data: "t1,alice,1\nt1,bob,2\n", err: `line 2: a token of user "bob" is given twice`},
		{name: "bad quoting", data: "t1,\"alice,1\n", err: "token file"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := ParseTokenFile([]byte(tc.data))
			if tc.err != "" {
				if err == nil || !strings.Contains(err.Error(), tc.err) {
					t.Fatalf("err %v, want %q", err, tc.err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if len(got) != len(tc.want) {
				t.Fatalf("%d tokens, want %d", len(got), len(tc.want))
			}
			for tok, want := range tc.want {
				u := lookup(got, tok)
				if u == nil || u.Name != want.Name || u.UID != want.UID || !slices.Equal(u.Groups, want.Groups) {
					t.Errorf("token %s: %+v, want %+v", tok, u, want)
				}
			}
		})
	}
}

func lookup(m tokenMap, tok string) *user.DefaultInfo {
	return m[sha256Of(tok)]
}

func TestTokenFileReload(t *testing.T) {
	p := filepath.Join(t.TempDir(), "tokens.csv")
	authtest.WriteFile(t, p, []byte("old,alice,1\n"))
	f, err := NewTokenFile(p, quiet)
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	if u, ok, err := f.AuthenticateToken(ctx, "old"); !ok || err != nil || u.GetName() != "alice" {
		t.Fatalf("old token: %v %v %v", u, ok, err)
	}
	if _, ok, err := f.AuthenticateToken(ctx, "nope"); ok || err != nil {
		t.Fatalf("unknown token: %v %v", ok, err)
	}
	authtest.WriteFile(t, p, []byte("new,alice,1\n"))
	deadline := time.Now().Add(5 * time.Second)
	for {
		_, okNew, _ := f.AuthenticateToken(ctx, "new")
		_, okOld, _ := f.AuthenticateToken(ctx, "old")
		if okNew && !okOld {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("token file not reloaded: the new token is unknown or the old one still works")
		}
		time.Sleep(50 * time.Millisecond)
	}
	if _, err := NewTokenFile(filepath.Join(t.TempDir(), "missing"), quiet); err == nil || !strings.Contains(err.Error(), "--token-auth-file") {
		t.Fatalf("missing file: %v", err)
	}
}

func TestParseAuthorization(t *testing.T) {
	for _, tc := range []struct {
		in, scheme, cred string
		ok               bool
	}{
		{"Bearer abc", "bearer", "abc", true},
		{"bearer   abc  ", "bearer", "abc", true},
		{"BASIC dXNlcjpwYXNz", "basic", "dXNlcjpwYXNz", true},
		{"Bearer", "", "", false},
		{"Bearer ", "", "", false},
		{"", "", "", false},
		{" abc", "", "", false},
		{"Bearer a b", "", "", false},
		{"Bearer a\tb", "", "", false},
	} {
		scheme, cred, ok := ParseAuthorization(tc.in)
		if scheme != tc.scheme || cred != tc.cred || ok != tc.ok {
			t.Errorf("ParseAuthorization(%q) = %q, %q, %v; want %q, %q, %v", tc.in, scheme, cred, ok, tc.scheme, tc.cred, tc.ok)
		}
	}
}

// staticTokens knows one token per user name: "tok-<name>".
type staticTokens struct{}

func (staticTokens) AuthenticateToken(_ context.Context, tok string) (user.Info, bool, error) {
	name, ok := strings.CutPrefix(tok, "tok-")
	if !ok {
		return nil, false, nil
	}
	if name == "expired" {
		return nil, false, errors.New("token expired")
	}
	return &user.DefaultInfo{Name: name, Groups: []string{"g"}}, true, nil
}

func TestChain(t *testing.T) {
	tokens := Tokens{staticTokens{}}
	chain := func(anonymous bool) *Chain {
		return &Chain{Authenticators: []Request{Bearer(tokens), Basic(tokens)}, Anonymous: anonymous}
	}
	for _, tc := range []struct {
		name      string
		chain     *Chain
		header    string
		user      string
		groups    []string
		err       error
		errSubstr string
		onBehalf  user.Info
	}{
		{name: "zero configuration: anonymous", chain: &Chain{}, user: user.Anonymous, groups: []string{user.AllUnauthenticated}},
		{name: "nil chain: anonymous", chain: nil, user: user.Anonymous},
		{name: "zero configuration ignores tokens", chain: &Chain{}, header: "Bearer tok-alice", user: user.Anonymous},
		{name: "bearer", chain: chain(false), header: "Bearer tok-alice", user: "alice", groups: []string{"g", user.AllAuthenticated}},
		{name: "basic with the token as password", chain: chain(false), header: basic("whoever", "tok-bob"), user: "bob"},
		{name: "no credentials", chain: chain(false), err: ErrNoCredentials},
		{name: "no credentials, anonymous allowed", chain: chain(true), user: user.Anonymous},
		{name: "unknown token", chain: chain(false), header: "Bearer nope", err: errdef.ErrUnauthorized, errSubstr: "invalid bearer token"},
		{name: "unknown token is not anonymous", chain: chain(true), header: "Bearer nope", err: errdef.ErrUnauthorized},
		{name: "expired token", chain: chain(true), header: "Bearer tok-expired", err: errdef.ErrUnauthorized, errSubstr: "token expired"},
		{name: "wrong basic password", chain: chain(true), header: basic("alice", "nope"), err: errdef.ErrUnauthorized, errSubstr: "invalid basic credentials"},
		{name: "malformed basic", chain: chain(true), header: "Basic !!!", err: errdef.ErrUnauthorized, errSubstr: "malformed"},
		{name: "other scheme is no credential", chain: chain(false), header: "Digest x", err: ErrNoCredentials},
		{name: "on behalf of a user, no credentials", chain: chain(false), onBehalf: &user.DefaultInfo{Name: "carol", Groups: []string{"c", user.AllAuthenticated}}, user: "carol", groups: []string{"c", user.AllAuthenticated}},
		{name: "on behalf of a user, headers unread", chain: chain(false), header: "Bearer nope", onBehalf: &user.DefaultInfo{Name: "carol", Groups: []string{"c", user.AllAuthenticated}}, user: "carol"},
		{name: "on behalf of a user, zero configuration", chain: &Chain{}, onBehalf: &user.DefaultInfo{Name: "carol", Groups: []string{"c", user.AllAuthenticated}}, user: "carol"},
		{name: "on behalf of anonymous", chain: chain(false), onBehalf: Anonymous(), user: user.Anonymous, groups: []string{user.AllUnauthenticated}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := httptest.NewRequest("GET", "/apis", nil)
			if tc.header != "" {
				r.Header.Set("Authorization", tc.header)
			}
			if tc.onBehalf != nil {
				r = r.WithContext(OnBehalfOf(r.Context(), tc.onBehalf))
			}
			u, err := tc.chain.Authenticate(r)
			if tc.err != nil {
				if !errors.Is(err, tc.err) || !strings.Contains(errString(err), tc.errSubstr) {
					t.Fatalf("err %v, want %v containing %q", err, tc.err, tc.errSubstr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if u.GetName() != tc.user || (tc.groups != nil && !slices.Equal(u.GetGroups(), tc.groups)) {
				t.Fatalf("user %q groups %v, want %q %v", u.GetName(), u.GetGroups(), tc.user, tc.groups)
			}
		})
	}
}

func errString(err error) string {
	if err == nil {
		return ""
	}
	return err.Error()
}

func basic(user, pass string) string {
	r, _ := http.NewRequest("GET", "/", nil)
	r.SetBasicAuth(user, pass)
	return r.Header.Get("Authorization")
}

func TestOnlyUnder(t *testing.T) {
	a := OnlyUnder("/v2/", Bearer(staticTokens{}))
	for path, want := range map[string]bool{"/v2/x/manifests/v1": true, "/apis": false, "/v2": false} {
		r := httptest.NewRequest("GET", path, nil)
		r.Header.Set("Authorization", "Bearer tok-alice")
		if _, ok, _ := a.AuthenticateRequest(r); ok != want {
			t.Errorf("%s: ok %v, want %v", path, ok, want)
		}
	}
}

func tlsRequest(certs ...*x509.Certificate) *http.Request {
	r := httptest.NewRequest("GET", "/apis", nil)
	r.TLS = &tls.ConnectionState{PeerCertificates: certs}
	return r
}

// issue signs tmpl with the CA's certificate and key; the certificate's key
// is key when given, else the CA's (tests never use it).
func issue(t *testing.T, ca *x509.Certificate, caKey *ecdsa.PrivateKey, tmpl *x509.Certificate, key ...*ecdsa.PrivateKey) *x509.Certificate {
	t.Helper()
	tmpl.SerialNumber = big.NewInt(time.Now().UnixNano())
	if tmpl.NotAfter.IsZero() {
		tmpl.NotBefore, tmpl.NotAfter = time.Now().Add(-time.Hour), time.Now().Add(time.Hour)
	}
	pub := &caKey.PublicKey
	if len(key) > 0 {
		pub = &key[0].PublicKey
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca, pub, caKey)
	if err != nil {
		t.Fatal(err)
	}
	c, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func TestClientCertAndRequestHeader(t *testing.T) {
	clientCA := authtest.NewCA(t, "client-ca")
	proxyCA := authtest.NewCA(t, "proxy-ca")
	otherCA := authtest.NewCA(t, "other-ca")
	alice := clientCA.Client(t, "alice", "team-a", "approvers").Cert
	proxy := proxyCA.Client(t, "front-proxy").Cert
	otherProxy := proxyCA.Client(t, "not-allowed").Cert
	stranger := otherCA.Client(t, "mallory").Cert
	noCN := clientCA.Client(t, "").Cert
	// Certificates authtest does not make: expired, for servers only, and
	// through an intermediate CA.
	expired := issue(t, clientCA.Cert, clientCA.Key, &x509.Certificate{Subject: pkix.Name{CommonName: "old"}, NotBefore: time.Now().Add(-48 * time.Hour), NotAfter: time.Now().Add(-24 * time.Hour),
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}})
	serverOnly := issue(t, clientCA.Cert, clientCA.Key, &x509.Certificate{Subject: pkix.Name{CommonName: "www"}, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}})
	interKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	inter := issue(t, clientCA.Cert, clientCA.Key, &x509.Certificate{Subject: pkix.Name{CommonName: "intermediate"}, IsCA: true, BasicConstraintsValid: true,
		KeyUsage: x509.KeyUsageCertSign}, interKey)
	viaInter := issue(t, inter, interKey, &x509.Certificate{Subject: pkix.Name{CommonName: "dave", Organization: []string{"ops"}}, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}})

	rh := &RequestHeader{
		CAs: proxyCA.Pool, AllowedNames: []string{"front-proxy"},
		UsernameHeaders: DefaultUsernameHeaders, GroupHeaders: DefaultGroupHeaders, ExtraHeaderPrefixes: DefaultExtraHeaderPrefixes,
	}
	chain := &Chain{Authenticators: []Request{rh, ClientCert{CAs: clientCA.Pool}}}
	for _, tc := range []struct {
		name    string
		certs   []*x509.Certificate
		headers map[string]string
		user    string
		groups  []string
		extra   map[string][]string
		err     error
	}{
		{name: "client certificate", certs: []*x509.Certificate{alice}, user: "alice", groups: []string{"team-a", "approvers", user.AllAuthenticated}},
		{name: "client certificate ignores identity headers", certs: []*x509.Certificate{alice}, headers: map[string]string{"X-Remote-User": "admin"}, user: "alice"},
		{name: "front proxy with headers", certs: []*x509.Certificate{proxy},
			headers: map[string]string{"X-Remote-User": "carol", "X-Remote-Group": "ops", "X-Remote-Extra-Scopes": "a"},
			user:    "carol", groups: []string{"ops", user.AllAuthenticated}, extra: map[string][]string{"scopes": {"a"}}},
		{name: "front proxy name not allowed", certs: []*x509.Certificate{otherProxy}, headers: map[string]string{"X-Remote-User": "carol"}, err: errdef.ErrUnauthorized},
		{name: "forged headers without a certificate", headers: map[string]string{"X-Remote-User": "admin"}, err: ErrNoCredentials},
		{name: "forged headers with an unknown certificate", certs: []*x509.Certificate{stranger}, headers: map[string]string{"X-Remote-User": "admin"}, err: errdef.ErrUnauthorized},
		{name: "certificate without a common name", certs: []*x509.Certificate{noCN}, err: errdef.ErrUnauthorized},
		{name: "expired certificate", certs: []*x509.Certificate{expired}, err: errdef.ErrUnauthorized},
		{name: "server certificate", certs: []*x509.Certificate{serverOnly}, err: errdef.ErrUnauthorized},
		{name: "chain through an intermediate", certs: []*x509.Certificate{viaInter, inter}, user: "dave", groups: []string{"ops", user.AllAuthenticated}},
		{name: "intermediate not presented", certs: []*x509.Certificate{viaInter}, err: errdef.ErrUnauthorized},
		{name: "front proxy certificate without headers is no user", certs: []*x509.Certificate{proxy}, err: errdef.ErrUnauthorized},
		{name: "client certificate is no front proxy", certs: []*x509.Certificate{alice}, headers: map[string]string{"X-Remote-User": "root", "X-Remote-Group": "admins"}, user: "alice", groups: []string{"team-a", "approvers", user.AllAuthenticated}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := tlsRequest(tc.certs...)
			if tc.certs == nil {
				r.TLS = nil
			}
			for k, v := range tc.headers {
				r.Header.Set(k, v)
			}
			u, err := chain.Authenticate(r)
			if tc.err != nil {
				if !errors.Is(err, tc.err) {
					t.Fatalf("err %v, want %v", err, tc.err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if u.GetName() != tc.user || (tc.groups != nil && !slices.Equal(u.GetGroups(), tc.groups)) {
				t.Fatalf("user %q groups %v, want %q %v", u.GetName(), u.GetGroups(), tc.user, tc.groups)
			}
			for k, v := range tc.extra {
				if !slices.Equal(u.GetExtra()[k], v) {
					t.Fatalf("extra %v, want %v", u.GetExtra(), tc.extra)
				}
			}
			rh.Strip(r)
			for k := range tc.headers {
				if r.Header.Get(k) != "" {
					t.Fatalf("header %s not stripped", k)
				}
			}
		})
	}
}

func TestOIDC(t *testing.T) {
	iss := authtest.NewIssuer(t)
	caFile := filepath.Join(t.TempDir(), "ca.pem")
	authtest.WriteFile(t, caFile, iss.CAPEM)
	o, err := NewOIDC(OIDCOptions{IssuerURL: iss.URL, ClientID: "pkgserver", GroupsClaim: "groups", GroupsPrefix: "oidc:", CAFile: caFile}, quiet)
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	good := authtest.Claims{Issuer: iss.URL, Subject: "alice", Audience: "pkgserver", Groups: []string{"team-a"}}
	key := iss.Key()

	u, ok, err := o.AuthenticateToken(ctx, key.Token(t, good))
	if !ok || err != nil || u.GetName() != iss.URL+"#alice" || !slices.Equal(u.GetGroups(), []string{"oidc:team-a"}) {
		t.Fatalf("good token: %v %v %v", u, ok, err)
	}
	with := func(f func(*authtest.Claims)) authtest.Claims { c := good; f(&c); return c }
	unknown := authtest.NewSigningKey(t)
	// Forged tokens: no signature, or signed with HMAC keyed by the
	// issuer's public key set (the algorithm confusion attack).
	resp, err := o.HTTPClient().Get(iss.URL + "/keys")
	if err != nil {
		t.Fatal(err)
	}
	jwks, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	claims := map[string]any{"iss": iss.URL, "sub": "alice", "aud": "pkgserver", "exp": time.Now().Add(time.Hour).Unix(), "iat": time.Now().Unix()}
	byEmail, err := NewOIDC(OIDCOptions{IssuerURL: iss.URL, ClientID: "pkgserver", UsernameClaim: "email", CAFile: caFile}, quiet)
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name  string
		token string
		ok    bool // the token is OIDC's business (else: another authenticator's)
		err   string
	}{
		{"wrong audience", key.Token(t, with(func(c *authtest.Claims) { c.Audience = "someone-else" })), false, "audience"},
		{"expired", key.Token(t, with(func(c *authtest.Claims) { c.Expiry = time.Now().Add(-time.Minute) })), false, "expired"},
		{"key the issuer never served", unknown.Token(t, good), false, "verify"},
		{"other issuer: not ours", key.Token(t, with(func(c *authtest.Claims) { c.Issuer = "https://elsewhere.example" })), false, ""},
		{"not a JWT", "abc", false, ""},
		{"alg none", forgedJWT(t, "none", key.ID, claims, nil), false, "malformed jwt"},
		{"HS256 keyed by the public keys", forgedJWT(t, "HS256", key.ID, claims, jwks), false, "malformed jwt"},
		{"not yet valid", key.Token(t, with(func(c *authtest.Claims) { c.NotBefore = time.Now().Add(time.Hour) })), false, "nbf"},
		{"unverified email", key.Token(t, with(func(c *authtest.Claims) { c.Email, c.EmailUnverified = "alice@example.com", true })), false, "email_verified"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			o := o
			if tc.name == "unverified email" {
				o = byEmail
			}
			_, ok, err := o.AuthenticateToken(ctx, tc.token)
			if ok {
				t.Fatal("accepted")
			}
			if tc.err == "" && err != nil || tc.err != "" && (err == nil || !strings.Contains(err.Error(), tc.err)) {
				t.Fatalf("err %v, want %q", err, tc.err)
			}
		})
	}

	// Rotation: tokens of the new key work at once (the JWKS is fetched
	// again for an unknown key id); once the new set is known, tokens of the
	// key that was rotated out are refused.
	// (go-oidc hands a fetch that just finished to its waiters before it
	// replaces its cache, so for a moment either set can be seen.)
	newKey := iss.Rotate(t)
	eventually(t, func() error {
		_, _, err := o.AuthenticateToken(ctx, newKey.Token(t, good))
		return err
	})
	eventually(t, func() error {
		if _, ok, err := o.AuthenticateToken(ctx, key.Token(t, good)); ok || err == nil {
			return fmt.Errorf("token of the rotated-out key accepted: %v %v", ok, err)
		}
		return nil
	})

	for _, bad := range []OIDCOptions{
		{IssuerURL: "http://plain.example", ClientID: "x"},
		{IssuerURL: iss.URL},
		{IssuerURL: iss.URL, ClientID: "x", CAFile: filepath.Join(t.TempDir(), "missing")},
	} {
		if _, err := NewOIDC(bad, quiet); err == nil {
			t.Errorf("NewOIDC(%+v): no error", bad)
		}
	}
}

func TestOIDCIssuerDown(t *testing.T) {
	o, err := NewOIDC(OIDCOptions{IssuerURL: "https://127.0.0.1:1", ClientID: "x", UsernameClaim: "email"}, quiet)
	if err != nil {
		t.Fatal(err)
	}
	tok := authtest.NewSigningKey(t).Token(t, authtest.Claims{Issuer: "https://127.0.0.1:1", Subject: "a", Audience: "x"})
	if _, ok, err := o.AuthenticateToken(context.Background(), tok); ok || err == nil || !strings.Contains(err.Error(), "not reachable") {
		t.Fatalf("issuer down: %v %v", ok, err)
	}
}

// forgedJWT is a compact JWS with the given alg and kid, signed with HMAC
// SHA-256 under hmacKey, or unsigned when hmacKey is nil.
func forgedJWT(t *testing.T, alg, kid string, claims map[string]any, hmacKey []byte) string {
	t.Helper()
	h, err := json.Marshal(map[string]string{"alg": alg, "typ": "JWT", "kid": kid})
	if err != nil {
		t.Fatal(err)
	}
	p, err := json.Marshal(claims)
	if err != nil {
		t.Fatal(err)
	}
	in := base64.RawURLEncoding.EncodeToString(h) + "." + base64.RawURLEncoding.EncodeToString(p)
	sig := ""
	if hmacKey != nil {
		m := hmac.New(sha256.New, hmacKey)
		m.Write([]byte(in))
		sig = base64.RawURLEncoding.EncodeToString(m.Sum(nil))
	}
	return in + "." + sig
}

func sha256Of(s string) [32]byte { return sha256.Sum256([]byte(s)) }

// eventually retries f for a few seconds until it returns nil.
func eventually(t *testing.T, f func() error) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for {
		err := f()
		if err == nil {
			return
		}
		if time.Now().After(deadline) {
			t.Fatal(err)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func TestTokenUser(t *testing.T) {
	for _, tc := range []struct {
		name, token string
		t           Token
		user        string
		err         string
	}{
		{name: "known", t: Tokens{staticTokens{}}, token: "tok-alice", user: "alice"},
		{name: "unknown", t: Tokens{staticTokens{}}, token: "nope", err: "invalid token"},
		{name: "failing", t: Tokens{staticTokens{}}, token: "tok-expired", err: "token expired"},
		{name: "no authenticator", t: nil, token: "tok-alice", err: "no token authenticator"},
		{name: "empty list", t: Tokens{}, token: "tok-alice", err: "invalid token"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			u, err := TokenUser(context.Background(), tc.t, tc.token)
			if tc.err != "" {
				if !errors.Is(err, errdef.ErrUnauthorized) || !strings.Contains(err.Error(), tc.err) {
					t.Fatalf("err %v, want ErrUnauthorized with %q", err, tc.err)
				}
				return
			}
			if err != nil || u.GetName() != tc.user || !slices.Contains(u.GetGroups(), user.AllAuthenticated) {
				t.Fatalf("user %v, err %v", u, err)
			}
		})
	}
}
