// Package registryauth puts the /v2/ registry under the identities and RBAC
// rules of the API: the token flow of the distribution token authentication
// spec (a challenge naming a token endpoint that turns Basic credentials into
// short-lived signed tokens, so `oras login`, `crane auth login` and `skopeo
// login` work unmodified), and the mapping of each /v2/ request to Kubernetes
// request attributes.
package registryauth

import (
	"context"
	"crypto/rand"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"time"

	"github.com/go-jose/go-jose/v4"
	"github.com/go-jose/go-jose/v4/jwt"
	"k8s.io/apiserver/pkg/authentication/user"

	"pkgserver.dev/pkgserver/pkg/auth/authn"
	"pkgserver.dev/pkgserver/pkg/errdef"
)

// TokenIssuer is the iss of registry tokens.
const TokenIssuer = "pkgserver-registry"

// DefaultTokenTTL is how long a registry token is valid.
const DefaultTokenTTL = 5 * time.Minute

// MinKeyBytes is the shortest signing key accepted.
const MinKeyBytes = 32

// Issuer signs and checks registry tokens (HS256 JWTs). A token carries the
// identity it was issued to, never rights: every /v2/ request is authorized
// against the current policy, so a policy change applies at once.
type Issuer struct {
	key     []byte
	service string
	ttl     time.Duration
	now     func() time.Time
}

// NewIssuer returns an Issuer signing with key for service. A nil key makes
// a random one: tokens then only work on this process (give replicas the same
// --registry-token-key-file).
func NewIssuer(key []byte, service string, ttl time.Duration) (*Issuer, error) {
	if key == nil {
		key = make([]byte, MinKeyBytes)
		if _, err := rand.Read(key); err != nil {
			return nil, err
		}
	}
	if len(key) < MinKeyBytes {
		return nil, fmt.Errorf("registry token key: %d bytes, want at least %d", len(key), MinKeyBytes)
	}
	if ttl <= 0 {
		ttl = DefaultTokenTTL
	}
	return &Issuer{key: key, service: service, ttl: ttl, now: time.Now}, nil
}

// tokenClaims are the private claims of a registry token.
type tokenClaims struct {
	UID    string              `json:"uid,omitempty"`
	Groups []string            `json:"groups,omitempty"`
	Extra  map[string][]string `json:"extra,omitempty"`
	// Access repeats the scopes asked for, for clients that look; the server
	// does not trust it.
	Access []access `json:"access,omitempty"`
}

// access is one entry of the access claim of the distribution token spec.
type access struct {
	Type    string   `json:"type"`
	Name    string   `json:"name"`
	Actions []string `json:"actions"`
}

// Issue signs a token for u.
func (i *Issuer) Issue(u user.Info, scopes []string) (string, time.Time, error) {
	sig, err := jose.NewSigner(jose.SigningKey{Algorithm: jose.HS256, Key: i.key}, (&jose.SignerOptions{}).WithType("JWT"))
	if err != nil {
		return "", time.Time{}, err
	}
	now := i.now()
	exp := now.Add(i.ttl)
	id := make([]byte, 16)
	rand.Read(id)
	std := jwt.Claims{
		Issuer: TokenIssuer, Subject: u.GetName(), Audience: jwt.Audience{i.service},
		Expiry: jwt.NewNumericDate(exp), NotBefore: jwt.NewNumericDate(now.Add(-time.Minute)),
		IssuedAt: jwt.NewNumericDate(now), ID: fmt.Sprintf("%x", id),
	}
	priv := tokenClaims{UID: u.GetUID(), Groups: u.GetGroups(), Extra: u.GetExtra(), Access: parseScopes(scopes)}
	tok, err := jwt.Signed(sig).Claims(std).Claims(priv).Serialize()
	return tok, exp, err
}

// AuthenticateToken implements authn.Token for tokens this issuer signed.
func (i *Issuer) AuthenticateToken(_ context.Context, token string) (user.Info, bool, error) {
	t, err := jwt.ParseSigned(token, []jose.SignatureAlgorithm{jose.HS256})
	if err != nil {
		return nil, false, nil // not a token of ours
	}
	var std jwt.Claims
	var priv tokenClaims
	if err := t.UnsafeClaimsWithoutVerification(&std); err != nil || std.Issuer != TokenIssuer {
		return nil, false, nil
	}
	if err := t.Claims(i.key, &std, &priv); err != nil {
		return nil, false, fmt.Errorf("registry token: %w", err)
	}
	if err := std.ValidateWithLeeway(jwt.Expected{Issuer: TokenIssuer, AnyAudience: jwt.Audience{i.service}, Time: i.now()}, 0); err != nil {
		return nil, false, fmt.Errorf("registry token: %w", err)
	}
	if std.Subject == "" {
		return nil, false, errors.New("registry token: no subject")
	}
	return &user.DefaultInfo{Name: std.Subject, UID: priv.UID, Groups: priv.Groups, Extra: priv.Extra}, true, nil
}

// parseScopes reads `repository:<name>:<actions>` scopes; others are dropped.
func parseScopes(scopes []string) []access {
	var out []access
	for _, s := range scopes {
		for one := range strings.FieldsSeq(s) {
			typ, rest, ok := strings.Cut(one, ":")
			if !ok {
				continue
			}
			i := strings.LastIndex(rest, ":")
			if i <= 0 {
				continue
			}
			out = append(out, access{Type: typ, Name: rest[:i], Actions: strings.Split(rest[i+1:], ",")})
		}
	}
	return out
}

// TokenHandler serves the token endpoint. GET is the distribution token
// spec's: the identity comes from the request (Basic credentials, checked by
// the server's authentication, or none for an anonymous token when anonymous
// requests are allowed). POST is the OAuth2 password grant some clients use;
// its password is checked with tokens. The handler is self-authorized: it
// answers 401 itself when the request could not be authenticated.
func (i *Issuer) TokenHandler(tokens authn.Token, anonymous bool) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var u user.Info
		switch r.Method {
		case http.MethodGet:
			if err := authn.FailureFrom(r.Context()); err != nil {
				tokenError(w, http.StatusUnauthorized, "unauthorized", err)
				return
			}
			u, _ = authn.UserFrom(r.Context())
		case http.MethodPost:
			r.Body = http.MaxBytesReader(w, r.Body, 64<<10)
			if err := r.ParseForm(); err != nil {
				tokenError(w, http.StatusBadRequest, "invalid_request", err)
				return
			}
			if gt := r.PostForm.Get("grant_type"); gt != "password" {
				tokenError(w, http.StatusBadRequest, "unsupported_grant_type", fmt.Errorf("grant_type %q is not supported; use password", gt))
				return
			}
			var ok bool
			var err error
			u, ok, err = tokens.AuthenticateToken(r.Context(), r.PostForm.Get("password"))
			if err != nil || !ok {
				tokenError(w, http.StatusUnauthorized, "invalid_grant", fmt.Errorf("%w: invalid credentials", errdef.ErrUnauthorized))
				return
			}
		default:
			w.Header().Set("Allow", "GET, POST")
			tokenError(w, http.StatusMethodNotAllowed, "invalid_request", errors.New("use GET or POST"))
			return
		}
		if u == nil || (authn.IsAnonymous(u) && !anonymous) {
			tokenError(w, http.StatusUnauthorized, "unauthorized", authn.ErrNoCredentials)
			return
		}
		scopes := r.URL.Query()["scope"]
		if r.Method == http.MethodPost {
			scopes = slices.Concat(scopes, r.PostForm["scope"])
		}
		tok, exp, err := i.Issue(u, scopes)
		if err != nil {
			tokenError(w, http.StatusInternalServerError, "server_error", err)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		w.Header().Set("Cache-Control", "no-store")
		json.NewEncoder(w).Encode(map[string]any{
			"token":        tok,
			"access_token": tok,
			"token_type":   "Bearer",
			"expires_in":   int(i.ttl.Seconds()),
			"issued_at":    exp.Add(-i.ttl).UTC().Format(time.RFC3339),
		})
	})
}

func tokenError(w http.ResponseWriter, code int, kind string, err error) {
	w.Header().Set("Content-Type", "application/json")
	if code == http.StatusUnauthorized {
		w.Header().Set("WWW-Authenticate", `Basic realm="pkgserver"`)
	}
	w.WriteHeader(code)
	json.NewEncoder(w).Encode(map[string]string{"error": kind, "error_description": err.Error()})
}
