package console_test

import (
	"net/http"
	"net/url"
	"os"
	"strings"
	"testing"
	"time"
)

// Signing in with a token: the session cookie is HttpOnly, SameSite
// Strict and (over TLS) Secure and __Host-; a page without a session
// sends the browser to sign in and back.
func TestSignIn(t *testing.T) {
	for _, tls := range []bool{false, true} {
		t.Run(map[bool]string{false: "http", true: "https"}[tls], func(t *testing.T) {
			s := newStack(t, stackOptions{secure: true, tls: tls})
			f := seed(s, false)
			b := s.browser()

			p := b.get(rev(f.v1) + "?file=README.md")
			if p.code != http.StatusSeeOther || !strings.HasPrefix(p.header.Get("Location"), "/ui/signin?return=") {
				t.Fatalf("page without a session: %d Location %q", p.code, p.header.Get("Location"))
			}
			ret, _ := url.Parse(p.header.Get("Location"))
			if got := ret.Query().Get("return"); got != rev(f.v1)+"?file=README.md" {
				t.Fatalf("return %q", got)
			}
			p = b.post("/ui/signin", url.Values{"csrf": {b.csrf()}, "token": {"nope"}, "return": {ret.Query().Get("return")}})
			if p.code != http.StatusUnauthorized || !strings.Contains(p.body, "not accepted") {
				t.Fatalf("wrong token: %d\n%s", p.code, p.body)
			}
			p = b.post("/ui/signin", url.Values{"csrf": {b.csrf()}, "token": {"token-erin"}, "return": {ret.Query().Get("return")}})
			if p.code != http.StatusSeeOther || !strings.HasPrefix(p.header.Get("Location"), rev(f.v1)+"?") {
				t.Fatalf("sign in: %d Location %q", p.code, p.header.Get("Location"))
			}
			var ck *http.Cookie
			for _, c := range (&http.Response{Header: p.header}).Cookies() {
				ck = c
			}
			wantName := map[bool]string{false: "pkgserver-console", true: "__Host-pkgserver-console"}[tls]
			if ck == nil || ck.Name != wantName || !ck.HttpOnly || ck.SameSite != http.SameSiteStrictMode || ck.Secure != tls || ck.Path != "/" {
				t.Fatalf("session cookie %+v", ck)
			}
			if strings.Contains(ck.Value, "token-erin") {
				t.Fatal("the token is in the cookie in clear")
			}
			p = b.get(rev(f.v1))
			if p.code != http.StatusOK || !strings.Contains(p.body, `<span class="user" title="signed in as">erin</span>`) || !strings.Contains(p.body, "Sign out") {
				t.Fatalf("signed in page: %d\n%s", p.code, p.body)
			}
			p = b.form("/ui/signout")
			if p.code != http.StatusSeeOther {
				t.Fatalf("sign out: %d", p.code)
			}
			if p = b.get(rev(f.v1)); p.code != http.StatusSeeOther {
				t.Fatalf("after signing out: %d", p.code)
			}
		})
	}
}

// The return address after signing in stays in the console.
func TestSignInReturn(t *testing.T) {
	s := newStack(t, stackOptions{secure: true})
	for _, tc := range []struct{ ret, want string }{
		{ret: "/ui/namespaces/team/revisions?q=x", want: "/ui/namespaces/team/revisions?done=signedin&q=x"},
		{ret: "https://evil.example/ui/", want: "/ui/?done=signedin"},
		{ret: "//evil.example/ui/", want: "/ui/?done=signedin"},
		{ret: "/apis/x", want: "/ui/?done=signedin"},
		{ret: "/ui/signin", want: "/ui/?done=signedin"},
		{ret: "/ui/\\evil", want: "/ui/?done=signedin"},
		{ret: "/ui/../apis/x", want: "/ui/?done=signedin"},
		{ret: "/ui", want: "/ui/?done=signedin"},
		{ret: "/uix/", want: "/ui/?done=signedin"},
	} {
		t.Run(tc.ret, func(t *testing.T) {
			b := s.browser()
			p := b.post("/ui/signin", url.Values{"csrf": {b.csrf()}, "token": {"token-victor"}, "return": {tc.ret}})
			if got := p.header.Get("Location"); got != tc.want {
				t.Fatalf("Location %q, want %q", got, tc.want)
			}
		})
	}
}

// A revoked token ends the session at the next request.
func TestRevokedToken(t *testing.T) {
	s := newStack(t, stackOptions{secure: true})
	b := s.browser()
	b.signIn("victor")
	if p := b.get("/ui/namespaces/team/revisions"); p.code != http.StatusOK {
		t.Fatalf("%d", p.code)
	}
	// The token file is read again when it changes (checked once a second).
	time.Sleep(1100 * time.Millisecond)
	if err := os.WriteFile(s.tokenFile, []byte("token-root,root,1\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(5 * time.Second)
	for {
		p := b.get("/ui/namespaces/team/revisions")
		if p.code == http.StatusSeeOther && strings.Contains(p.header.Get("Location"), "expired=1") {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the session of a revoked token goes on: %d %q", p.code, p.header.Get("Location"))
		}
		time.Sleep(100 * time.Millisecond)
	}
	b.signIn("root")
	// A session cookie of another server (another key) is no session.
	other := newStack(t, stackOptions{secure: true})
	ob := other.browser()
	ob.signIn("root")
	u, _ := url.Parse(other.srv.URL)
	mine, _ := url.Parse(s.srv.URL)
	b.client.Jar.SetCookies(mine, ob.client.Jar.Cookies(u))
	if p := b.get("/ui/namespaces/team/revisions"); p.code != http.StatusSeeOther {
		t.Fatalf("foreign cookie: %d", p.code)
	}
}

// Without the /ui/ path right, a signed-in user is refused the console.
func TestConsoleNeedsSignIn(t *testing.T) {
	s := newStack(t, stackOptions{secure: true})
	b := s.browser()
	p := b.get("/ui/namespaces/team/revisions", "HX-Request", "true")
	if p.code != http.StatusUnauthorized {
		t.Fatalf("htmx request without a session: %d", p.code)
	}
	p = b.post("/ui/namespaces/team/revisions/x/lifecycle", url.Values{"csrf": {b.csrf()}, "action": {"propose"}})
	if p.code != http.StatusUnauthorized {
		t.Fatalf("form without a session: %d\n%s", p.code, p.body)
	}
}

// Signing in and out are in the audit log as the user who did it.
func TestSignInAudited(t *testing.T) {
	s := newStack(t, stackOptions{secure: true})
	b := s.browser()
	b.signIn("erin")
	if p := b.form("/ui/signout"); p.code != http.StatusSeeOther {
		t.Fatalf("sign out: %d", p.code)
	}
	seen := map[string]string{}
	for _, ev := range s.audit.events(t) {
		if ev.ResponseStatus != nil && ev.ResponseStatus.Code == http.StatusSeeOther {
			seen[ev.RequestURI] = ev.User.Username
		}
	}
	for _, path := range []string{"/ui/signin", "/ui/signout"} {
		if seen[path] != "erin" {
			t.Errorf("%s audited as %q, want erin (events %v)", path, seen[path], seen)
		}
	}
}

// A link to the console on another site (a chat message, a ticket) is a
// cross-site navigation, on which the browser does not send the
// SameSite=Strict session cookie. The console answers with a page that
// opens the same address from itself (then the cookie goes), and sets no
// cookie: before, it sent a signed-in user to sign in again, and its fresh
// cookie replaced theirs, so any site could sign console users out.
func TestCrossSiteLink(t *testing.T) {
	s := newStack(t, stackOptions{secure: true})
	f := seed(s, false)
	crossSite := []string{"Sec-Fetch-Site", "cross-site", "Sec-Fetch-Mode", "navigate", "Sec-Fetch-Dest", "document"}
	b := s.browser()
	for _, tc := range []struct {
		path, to string
	}{
		{path: rev(f.v1) + "?file=README.md", to: rev(f.v1) + "?file=README.md"},
		{path: "/ui/signin?return=%2Fui%2Fnamespaces%2Fteam%2Frevisions", to: "/ui/signin?return=%2Fui%2Fnamespaces%2Fteam%2Frevisions"},
		{path: "/ui/", to: "/ui/"},
	} {
		p := b.get(tc.path, crossSite...)
		if p.code != http.StatusOK || !strings.Contains(p.body, `http-equiv="refresh" content="0;url=`+strings.ReplaceAll(tc.to, "&", "&amp;")+`"`) {
			t.Errorf("GET %s from another site: %d\n%s", tc.path, p.code, p.body)
		}
		if c := p.header.Values("Set-Cookie"); len(c) > 0 {
			t.Errorf("GET %s from another site sets %q", tc.path, c)
		}
	}
	// The same links from the console itself, or typed, work as before.
	if p := b.get(rev(f.v1), "Sec-Fetch-Site", "same-origin", "Sec-Fetch-Mode", "navigate"); p.code != http.StatusSeeOther {
		t.Errorf("same-origin without a session: %d", p.code)
	}
	if p := b.get(rev(f.v1), "Sec-Fetch-Site", "none", "Sec-Fetch-Mode", "navigate"); p.code != http.StatusSeeOther {
		t.Errorf("typed without a session: %d", p.code)
	}
	// A form another site posts (refused: no session, no CSRF token) sets no
	// cookie either, or any site could sign users out with one.
	for _, path := range []string{rev(f.v1, "/lifecycle"), "/ui/signout", "/ui/signin"} {
		req, _ := http.NewRequest("POST", s.srv.URL+path, strings.NewReader("action=propose&csrf=x&token=token-erin"))
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		for i := 0; i+1 < len(crossSite); i += 2 {
			req.Header.Set(crossSite[i], crossSite[i+1])
		}
		req.Header.Set("Origin", "https://elsewhere.example")
		p := s.browser().do(req) // the browser leaves the Strict cookie out
		if p.code < 400 {
			t.Errorf("POST %s from another site: %d", path, p.code)
		}
		if c := p.header.Values("Set-Cookie"); len(c) > 0 {
			t.Errorf("POST %s from another site sets %q", path, c)
		}
	}
	// Static files and the issuer's answer are not bounced.
	if p := b.get("/ui/static/console.css", crossSite...); p.code != http.StatusOK || !strings.Contains(p.header.Get("Content-Type"), "css") {
		t.Errorf("static file from another site: %d", p.code)
	}
	if p := b.get("/ui/oidc/callback?code=x&state=y", crossSite...); strings.Contains(p.body, `http-equiv="refresh"`) {
		t.Errorf("the OIDC callback was bounced")
	}
}
