package console_test

import (
	"log/slog"
	"net/http"
	"net/url"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"pkgserver.dev/pkgserver/internal/authtest"
	"pkgserver.dev/pkgserver/pkg/auth/authn"
	"pkgserver.dev/pkgserver/pkg/console"
)

// oidcStack is a secure stack whose API also takes the issuer's ID tokens
// and whose console signs in with the issuer.
func oidcStack(t *testing.T, secret string) (*stack, *authtest.Issuer) {
	t.Helper()
	iss := authtest.NewIssuer(t)
	caFile := filepath.Join(t.TempDir(), "oidc-ca.pem")
	authtest.WriteFile(t, caFile, iss.CAPEM)
	o, err := authn.NewOIDC(authn.OIDCOptions{IssuerURL: iss.URL, ClientID: "pkgserver", UsernameClaim: "email", CAFile: caFile}, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	opts := &console.OIDCOptions{IssuerURL: iss.URL, ClientID: "pkgserver", ClientSecret: secret, HTTPClient: o.HTTPClient()}
	s := newStack(t, stackOptions{secure: true, oidc: opts, extraTokens: o})
	return s, iss
}

// oidcSignIn goes through the issuer as a browser would and returns the
// answer of the callback.
func oidcSignIn(t *testing.T, b *browser, iss *authtest.Issuer, ret string) page {
	t.Helper()
	p := b.get("/ui/oidc/login?return=" + url.QueryEscape(ret))
	if p.code != http.StatusFound {
		t.Fatalf("login: %d\n%s", p.code, p.body)
	}
	auth, _ := url.Parse(p.header.Get("Location"))
	q := auth.Query()
	if !strings.HasPrefix(auth.String(), iss.URL+"/auth?") || q.Get("code_challenge_method") != "S256" || q.Get("code_challenge") == "" ||
		q.Get("nonce") == "" || q.Get("state") == "" || !strings.Contains(q.Get("scope"), "openid") || q.Get("code_verifier") != "" {
		t.Fatalf("authorization request %s", auth)
	}
	client := iss.Server.Client()
	client.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
	resp, err := client.Get(auth.String())
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	back, _ := url.Parse(resp.Header.Get("Location"))
	if !strings.HasPrefix(back.String(), b.s.srv.URL+"/ui/oidc/callback?") {
		t.Fatalf("the issuer sends back to %s", back)
	}
	return b.get(back.RequestURI())
}

func TestOIDCSignIn(t *testing.T) {
	s, iss := oidcStack(t, "")
	f := seed(s, false)
	dana := authtest.Claims{Subject: "123", Email: "dana@example.com"}
	iss.Login(dana, "")

	t.Run("sign in", func(t *testing.T) {
		b := s.browser()
		p := b.get("/ui/signin")
		if !strings.Contains(p.body, "/ui/oidc/login?return=") || !strings.Contains(p.body, `name="token"`) {
			t.Fatalf("sign-in page offers no OIDC and token sign-in:\n%s", p.body)
		}
		p = oidcSignIn(t, b, iss, rev(f.draft))
		if p.code != http.StatusOK || !strings.Contains(p.body, `http-equiv="refresh"`) || !strings.Contains(p.body, "url="+rev(f.draft)) {
			t.Fatalf("callback: %d\n%s", p.code, p.body)
		}
		p = b.get(rev(f.draft))
		if p.code != http.StatusOK || !strings.Contains(p.body, "dana@example.com") || !strings.Contains(p.body, "Propose</button>") {
			t.Fatalf("signed in with OIDC: %d\n%s", p.code, p.body)
		}
	})
	t.Run("state of another sign-in", func(t *testing.T) {
		b := s.browser()
		b.get("/ui/oidc/login")
		p := b.get("/ui/oidc/callback?code=x&state=forged")
		if p.code != http.StatusUnauthorized || !strings.Contains(p.body, "does not belong to this sign-in") {
			t.Fatalf("%d\n%s", p.code, p.body)
		}
	})
	t.Run("no sign-in under way", func(t *testing.T) {
		b := s.browser()
		if p := b.get("/ui/oidc/callback?code=x&state=y"); p.code != http.StatusUnauthorized {
			t.Fatalf("%d\n%s", p.code, p.body)
		}
	})
	t.Run("the issuer refuses", func(t *testing.T) {
		b := s.browser()
		p := b.get("/ui/oidc/login")
		state, _ := url.Parse(p.header.Get("Location"))
		p = b.get("/ui/oidc/callback?error=access_denied&error_description=no&state=" + state.Query().Get("state"))
		if p.code != http.StatusUnauthorized || !strings.Contains(p.body, "access_denied") {
			t.Fatalf("%d\n%s", p.code, p.body)
		}
	})
	t.Run("pending cookie", func(t *testing.T) {
		b := s.browser()
		p := b.get("/ui/oidc/login")
		var found bool
		for _, c := range (&http.Response{Header: p.header}).Cookies() {
			if c.Name == "pkgserver-oidc" {
				found = c.HttpOnly && c.SameSite == http.SameSiteLaxMode
			}
		}
		if !found {
			t.Fatalf("cookies %v", p.header["Set-Cookie"])
		}
	})
	t.Run("expired ID token is refreshed", func(t *testing.T) {
		short := dana
		short.Expiry = time.Now().Add(2 * time.Second)
		iss.Login(short, "")
		b := s.browser()
		oidcSignIn(t, b, iss, "/ui/")
		_, before := iss.Counts()
		time.Sleep(2100 * time.Millisecond)
		p := b.get(rev(f.draft))
		if p.code != http.StatusOK || !strings.Contains(p.body, "dana@example.com") {
			t.Fatalf("after the ID token expired: %d %s", p.code, p.header.Get("Location"))
		}
		if _, after := iss.Counts(); after != before+1 {
			t.Fatalf("refresh grants %d -> %d", before, after)
		}
	})
}

func TestOIDCClientSecret(t *testing.T) {
	s, iss := oidcStack(t, "s3cret")
	iss.Login(authtest.Claims{Subject: "1", Email: "dana@example.com"}, "s3cret")
	if p := oidcSignIn(t, s.browser(), iss, "/ui/"); p.code != http.StatusOK {
		t.Fatalf("with the right secret: %d\n%s", p.code, p.body)
	}
	iss.Login(authtest.Claims{Subject: "1", Email: "dana@example.com"}, "other")
	if p := oidcSignIn(t, s.browser(), iss, "/ui/"); p.code != http.StatusUnauthorized || !strings.Contains(p.body, "did not accept the code") {
		t.Fatalf("with a wrong secret: %d\n%s", p.code, p.body)
	}
}

// The issuer's answer is good once, in the browser that started the
// sign-in: replayed, or carried to another browser (login CSRF: an
// attacker's own code in a victim's browser), it signs nobody in and no
// code is exchanged.
func TestOIDCCallbackReplay(t *testing.T) {
	s, iss := oidcStack(t, "")
	iss.Login(authtest.Claims{Subject: "1", Email: "dana@example.com"}, "")
	b := s.browser()
	p := b.get("/ui/oidc/login?return=/ui/")
	auth, _ := url.Parse(p.header.Get("Location"))
	client := iss.Server.Client()
	client.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
	resp, err := client.Get(auth.String())
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	back, _ := url.Parse(resp.Header.Get("Location"))

	// Another browser (the victim's), with a sign-in of its own under way.
	victim := s.browser()
	victim.get("/ui/oidc/login")
	if p := victim.get(back.RequestURI()); p.code != http.StatusUnauthorized || !strings.Contains(p.body, "does not belong to this sign-in") {
		t.Fatalf("the attacker's answer in the victim's browser: %d\n%s", p.code, p.body)
	}
	if p := b.get(back.RequestURI()); p.code != http.StatusOK {
		t.Fatalf("the answer in its own browser: %d\n%s", p.code, p.body)
	}
	if p := b.get(back.RequestURI()); p.code != http.StatusUnauthorized || !strings.Contains(p.body, "did not start here") {
		t.Fatalf("the answer replayed: %d\n%s", p.code, p.body)
	}
	if exchanges, _ := iss.Counts(); exchanges != 1 {
		t.Fatalf("%d codes exchanged, want 1", exchanges)
	}
	if p := victim.get("/ui/namespaces/team/revisions"); p.code != http.StatusSeeOther {
		t.Fatalf("the victim is signed in: %d", p.code)
	}
}
