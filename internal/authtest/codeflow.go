package authtest

import (
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"net/http"
	"net/url"
	"testing"
	"time"
)

// codeFlow is the issuer's side of the OAuth2 authorization code flow
// with PKCE (RFC 7636, S256 only): whoever Login names signs in at once.
type codeFlow struct {
	t       testing.TB
	user    *Claims // who signs in at /auth; nil refuses
	secret  string  // the client secret the token endpoint wants ("": none)
	codes   map[string]grant
	refresh map[string]Claims
	// Exchanges counts the codes exchanged, Refreshes the refresh grants.
	Exchanges, Refreshes int
}

type grant struct {
	claims                             Claims
	challenge, redirect, client, nonce string
}

// Login makes c the user who signs in at the authorization endpoint
// (Issuer and Audience are set by the flow); secret is the client secret
// the token endpoint checks ("" for a public client).
func (iss *Issuer) Login(c Claims, secret string) {
	iss.mu.Lock()
	defer iss.mu.Unlock()
	iss.flow.user, iss.flow.secret = &c, secret
}

// Counts returns how many codes were exchanged and refresh tokens used.
func (iss *Issuer) Counts() (exchanges, refreshes int) {
	iss.mu.Lock()
	defer iss.mu.Unlock()
	return iss.flow.Exchanges, iss.flow.Refreshes
}

func randomHex() string {
	b := make([]byte, 16)
	if _, err := rand.Read(b); err != nil {
		panic(err)
	}
	return hex.EncodeToString(b)
}

func (iss *Issuer) authorize(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	redirect, err := url.Parse(q.Get("redirect_uri"))
	if err != nil || redirect.Scheme == "" {
		http.Error(w, "bad redirect_uri", http.StatusBadRequest)
		return
	}
	back := redirect.Query()
	back.Set("state", q.Get("state"))
	iss.mu.Lock()
	user := iss.flow.user
	switch {
	case q.Get("response_type") != "code":
		back.Set("error", "unsupported_response_type")
	case q.Get("code_challenge_method") != "S256" || q.Get("code_challenge") == "":
		back.Set("error", "invalid_request")
		back.Set("error_description", "PKCE with S256 is required")
	case user == nil:
		back.Set("error", "access_denied")
	default:
		code := randomHex()
		if iss.flow.codes == nil {
			iss.flow.codes = map[string]grant{}
		}
		iss.flow.codes[code] = grant{claims: *user, challenge: q.Get("code_challenge"), redirect: q.Get("redirect_uri"),
			client: q.Get("client_id"), nonce: q.Get("nonce")}
		back.Set("code", code)
	}
	iss.mu.Unlock()
	redirect.RawQuery = back.Encode()
	http.Redirect(w, r, redirect.String(), http.StatusFound)
}

// token answers the authorization_code and refresh_token grants.
func (iss *Issuer) token(w http.ResponseWriter, r *http.Request) {
	if err := r.ParseForm(); err != nil {
		tokenError(w, "invalid_request")
		return
	}
	client, secret, basic := r.BasicAuth()
	if !basic {
		client, secret = r.PostForm.Get("client_id"), r.PostForm.Get("client_secret")
	}
	iss.mu.Lock()
	defer iss.mu.Unlock()
	if secret != iss.flow.secret {
		tokenError(w, "invalid_client")
		return
	}
	var c Claims
	switch r.PostForm.Get("grant_type") {
	case "authorization_code":
		g, ok := iss.flow.codes[r.PostForm.Get("code")]
		delete(iss.flow.codes, r.PostForm.Get("code"))
		sum := sha256.Sum256([]byte(r.PostForm.Get("code_verifier")))
		if !ok || g.client != client || g.redirect != r.PostForm.Get("redirect_uri") ||
			base64.RawURLEncoding.EncodeToString(sum[:]) != g.challenge {
			tokenError(w, "invalid_grant")
			return
		}
		c, c.Nonce, c.Audience = g.claims, g.nonce, client
		iss.flow.Exchanges++
	case "refresh_token":
		var ok bool
		if c, ok = iss.flow.refresh[r.PostForm.Get("refresh_token")]; !ok {
			tokenError(w, "invalid_grant")
			return
		}
		c.Nonce, c.Expiry = "", time.Time{}
		iss.flow.Refreshes++
	default:
		tokenError(w, "unsupported_grant_type")
		return
	}
	c.Issuer = iss.URL
	refresh := randomHex()
	if iss.flow.refresh == nil {
		iss.flow.refresh = map[string]Claims{}
	}
	iss.flow.refresh[refresh] = c
	id := iss.keys[0].Token(iss.flow.t, c)
	w.Header().Set("Content-Type", "application/json")
	json.NewEncoder(w).Encode(map[string]any{
		"access_token": randomHex(), "token_type": "Bearer", "expires_in": 3600, "id_token": id, "refresh_token": refresh,
	})
}

func tokenError(w http.ResponseWriter, code string) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(http.StatusBadRequest)
	json.NewEncoder(w).Encode(map[string]string{"error": code})
}
