package console

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/hkdf"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"net/http"
	"time"
)

// A session lives in one cookie, sealed (AES-256-GCM) with a key derived
// from the server's key: replicas that share the key share sessions, and
// nothing is kept on the server. It holds the credential the user signed
// in with, which is authenticated again on every request, so a revoked
// token or an expired ID token ends the session at once.
type session struct {
	// ID is random; the CSRF token of the session is derived from it.
	ID string `json:"sid"`
	// Kind is how the user signed in: "" (not signed in), "token" or "oidc".
	Kind string `json:"kind,omitempty"`
	// Token is the bearer token (kind token) or the OIDC ID token.
	Token string `json:"tok,omitempty"`
	// Refresh is the OIDC refresh token, when the issuer gave one.
	Refresh string `json:"rt,omitempty"`
	// Expires ends the session whatever its credential says.
	Expires int64 `json:"exp"`
}

// sessionLifetime bounds a session; the credential's own expiry comes first.
const sessionLifetime = 12 * time.Hour

// maxCookieBytes is the largest cookie value browsers keep (4096 bytes
// with the name and attributes); a larger one is dropped without a word.
const maxCookieBytes = 3900

// sealer seals and opens cookies and derives CSRF tokens.
type sealer struct {
	aead cipher.AEAD
	csrf []byte
	now  func() time.Time
}

func newSealer(key []byte, now func() time.Time) (*sealer, error) {
	if len(key) == 0 {
		key = make([]byte, 32)
		if _, err := rand.Read(key); err != nil {
			return nil, err
		}
	}
	enc, err := hkdf.Key(sha256.New, key, nil, "pkgserver console session v1", 32)
	if err != nil {
		return nil, err
	}
	csrf, err := hkdf.Key(sha256.New, key, nil, "pkgserver console csrf v1", 32)
	if err != nil {
		return nil, err
	}
	block, err := aes.NewCipher(enc)
	if err != nil {
		return nil, err
	}
	aead, err := cipher.NewGCM(block)
	if err != nil {
		return nil, err
	}
	return &sealer{aead: aead, csrf: csrf, now: now}, nil
}

// seal encrypts v for a cookie named name (the name is authenticated too,
// so one cookie cannot be replayed as another).
func (s *sealer) seal(name string, v any) (string, error) {
	plain, err := json.Marshal(v)
	if err != nil {
		return "", err
	}
	nonce := make([]byte, s.aead.NonceSize())
	if _, err := rand.Read(nonce); err != nil {
		return "", err
	}
	return base64.RawURLEncoding.EncodeToString(s.aead.Seal(nonce, nonce, plain, []byte(name))), nil
}

var errBadCookie = errors.New("the cookie is not one this server sealed")

// open decrypts a value seal made for the same name.
func (s *sealer) open(name, value string, v any) error {
	raw, err := base64.RawURLEncoding.DecodeString(value)
	if err != nil || len(raw) < s.aead.NonceSize() {
		return errBadCookie
	}
	n := s.aead.NonceSize()
	plain, err := s.aead.Open(nil, raw[:n], raw[n:], []byte(name))
	if err != nil {
		return errBadCookie
	}
	return json.Unmarshal(plain, v)
}

// fits reports whether sess sealed fits in a cookie.
func (s *sealer) fits(name string, sess *session) bool {
	v, err := s.seal(name, sess)
	return err == nil && len(v) <= maxCookieBytes
}

// newSession starts a session that is not signed in.
func (s *sealer) newSession() *session {
	b := make([]byte, 18)
	if _, err := rand.Read(b); err != nil {
		panic(err) // crypto/rand does not fail on supported systems
	}
	return &session{ID: base64.RawURLEncoding.EncodeToString(b), Expires: s.now().Add(sessionLifetime).Unix()}
}

// csrfToken is the token every form of session sess carries.
func (s *sealer) csrfToken(sess *session) string {
	m := hmac.New(sha256.New, s.csrf)
	m.Write([]byte(sess.ID))
	return base64.RawURLEncoding.EncodeToString(m.Sum(nil))
}

// checkCSRF reports whether token is sess's CSRF token.
func (s *sealer) checkCSRF(sess *session, token string) bool {
	return token != "" && hmac.Equal([]byte(token), []byte(s.csrfToken(sess)))
}

// cookies names and writes the console's cookies.
type cookies struct {
	secure bool // the server speaks TLS
}

// session is the session cookie's name: with TLS the __Host- prefix makes
// browsers refuse it unless it is Secure, host-only and for path /.
func (c cookies) session() string {
	if c.secure {
		return "__Host-pkgserver-console"
	}
	return "pkgserver-console"
}

// pending is the cookie of an OIDC sign-in under way.
func (c cookies) pending() string {
	if c.secure {
		return "__Host-pkgserver-oidc"
	}
	return "pkgserver-oidc"
}

// set writes a cookie: HttpOnly, Secure over TLS, SameSite Strict (Lax
// for the OIDC one, which must come back with the issuer's redirect).
func (c cookies) set(w http.ResponseWriter, name, value string, maxAge time.Duration, lax bool) {
	same := http.SameSiteStrictMode
	if lax {
		same = http.SameSiteLaxMode
	}
	age := int(maxAge / time.Second)
	if age <= 0 {
		age = -1
	}
	http.SetCookie(w, &http.Cookie{
		Name: name, Value: value, Path: "/", MaxAge: age,
		HttpOnly: true, Secure: c.secure, SameSite: same,
	})
}
