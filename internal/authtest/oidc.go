package authtest

import (
	"crypto/ecdsa"
	"crypto/rand"
	"crypto/tls"
	"encoding/hex"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"time"

	"github.com/go-jose/go-jose/v4"
	"github.com/go-jose/go-jose/v4/jwt"
)

// Issuer is an OpenID Connect issuer over HTTPS: discovery document and
// JWKS, with keys that can be rotated, and tokens signed with go-jose.
type Issuer struct {
	Server *httptest.Server
	// URL is the issuer URL (iss).
	URL string
	// CAPEM is the certificate to trust for Server, PEM-encoded.
	CAPEM []byte

	mu   sync.Mutex
	keys []*SigningKey // served in the JWKS
	flow codeFlow      // the authorization code flow (codeflow.go)
}

// SigningKey is one key of the issuer.
type SigningKey struct {
	ID  string
	key *ecdsa.PrivateKey
}

// NewIssuer starts an issuer with one key; it stops with the test.
func NewIssuer(t testing.TB) *Issuer {
	t.Helper()
	iss := &Issuer{}
	iss.keys = []*SigningKey{NewSigningKey(t)}
	mux := http.NewServeMux()
	mux.HandleFunc("/.well-known/openid-configuration", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		json.NewEncoder(w).Encode(map[string]any{
			"issuer":                                iss.URL,
			"jwks_uri":                              iss.URL + "/keys",
			"authorization_endpoint":                iss.URL + "/auth",
			"token_endpoint":                        iss.URL + "/token",
			"response_types_supported":              []string{"id_token", "code"},
			"code_challenge_methods_supported":      []string{"S256"},
			"subject_types_supported":               []string{"public"},
			"id_token_signing_alg_values_supported": []string{"ES256"},
		})
	})
	mux.HandleFunc("/keys", func(w http.ResponseWriter, r *http.Request) {
		iss.mu.Lock()
		set := jose.JSONWebKeySet{}
		for _, k := range iss.keys {
			set.Keys = append(set.Keys, jose.JSONWebKey{Key: &k.key.PublicKey, KeyID: k.ID, Algorithm: string(jose.ES256), Use: "sig"})
		}
		iss.mu.Unlock()
		w.Header().Set("Content-Type", "application/json")
		json.NewEncoder(w).Encode(set)
	})
	ca := NewCA(t, "oidc-ca")
	leaf := ca.Server(t)
	iss.flow.t = t
	mux.HandleFunc("/auth", iss.authorize)
	mux.HandleFunc("/token", iss.token)
	iss.Server = httptest.NewUnstartedServer(mux)
	iss.Server.TLS = &tls.Config{Certificates: []tls.Certificate{leaf.TLS(t)}}
	iss.Server.StartTLS()
	t.Cleanup(iss.Server.Close)
	iss.URL = iss.Server.URL
	iss.CAPEM = ca.PEM
	return iss
}

// NewSigningKey makes a key that the issuer may or may not serve.
func NewSigningKey(t testing.TB) *SigningKey {
	t.Helper()
	b := make([]byte, 8)
	rand.Read(b)
	return &SigningKey{ID: hex.EncodeToString(b), key: newKey(t)}
}

// Key is the key the issuer signs with now (the first one served).
func (iss *Issuer) Key() *SigningKey {
	iss.mu.Lock()
	defer iss.mu.Unlock()
	return iss.keys[0]
}

// Rotate replaces the served keys with one new key and returns it.
func (iss *Issuer) Rotate(t testing.TB) *SigningKey {
	k := NewSigningKey(t)
	iss.mu.Lock()
	iss.keys = []*SigningKey{k}
	iss.mu.Unlock()
	return k
}

// Claims of a test token; zero fields are left out.
type Claims struct {
	Issuer   string
	Subject  string
	Audience string
	Email    string
	Groups   []string
	Expiry   time.Time
	// NotBefore, when set, is the nbf claim.
	NotBefore time.Time
	// EmailUnverified sets email_verified to false.
	EmailUnverified bool
	// Nonce is the nonce of an authorization request (code flow).
	Nonce string
}

// Token signs claims with key as a compact JWS (an ID token).
func (k *SigningKey) Token(t testing.TB, c Claims) string {
	t.Helper()
	sig, err := jose.NewSigner(jose.SigningKey{Algorithm: jose.ES256, Key: k.key},
		(&jose.SignerOptions{}).WithType("JWT").WithHeader("kid", k.ID))
	if err != nil {
		t.Fatal(err)
	}
	if c.Expiry.IsZero() {
		c.Expiry = time.Now().Add(time.Hour)
	}
	std := jwt.Claims{
		Issuer:   c.Issuer,
		Subject:  c.Subject,
		Audience: jwt.Audience{c.Audience},
		Expiry:   jwt.NewNumericDate(c.Expiry),
		IssuedAt: jwt.NewNumericDate(time.Now().Add(-time.Minute)),
	}
	if !c.NotBefore.IsZero() {
		std.NotBefore = jwt.NewNumericDate(c.NotBefore)
	}
	extra := map[string]any{}
	if c.Email != "" {
		extra["email"] = c.Email
		extra["email_verified"] = !c.EmailUnverified
	}
	if c.Groups != nil {
		extra["groups"] = c.Groups
	}
	if c.Nonce != "" {
		extra["nonce"] = c.Nonce
	}
	tok, err := jwt.Signed(sig).Claims(std).Claims(extra).Serialize()
	if err != nil {
		t.Fatal(err)
	}
	return tok
}
