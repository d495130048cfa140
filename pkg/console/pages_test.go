package console_test

import (
	"net/http"
	"strings"
	"testing"
)

// rev is the console path of a revision page.
func rev(name string, tail ...string) string {
	return "/ui/namespaces/" + testNS + "/revisions/" + name + strings.Join(tail, "")
}

// Every page answers with its status and shows what it is about; hostile
// names and contents come out escaped.
func TestPages(t *testing.T) {
	s := newStack(t, stackOptions{secure: true})
	f := seed(s, true)
	b := s.browser()
	b.signIn("root")
	for _, tc := range []struct {
		name, path string
		code       int
		want       []string
	}{
		{name: "start", path: "/ui/", code: http.StatusSeeOther},
		{name: "start in a namespace", path: "/ui/?namespace=" + testNS, code: http.StatusSeeOther},
		{name: "start in a bad namespace", path: "/ui/?namespace=Not%20One", code: http.StatusBadRequest, want: []string{"namespace"}},
		{name: "repositories", path: "/ui/namespaces/" + testNS + "/repositories", code: http.StatusOK,
			want: []string{"blueprints", "sites", "catalog", "deployment", "pkgserver.test:8080/team/blueprints", "ready", `<td class="num">1</td>`, "Rescan", "&lt;img src=x"}},
		{name: "revisions", path: "/ui/namespaces/" + testNS + "/revisions", code: http.StatusOK,
			want: []string{f.v1, f.v2, f.clone, f.draft, "upgrade available", `id="live"`, `hx-get=`}},
		{name: "revisions by repository", path: "/ui/namespaces/" + testNS + "/revisions?repository=sites", code: http.StatusOK, want: []string{f.clone}},
		{name: "revisions by lifecycle", path: "/ui/namespaces/" + testNS + "/revisions?lifecycle=draft", code: http.StatusOK, want: []string{f.draft}},
		{name: "revisions by text", path: "/ui/namespaces/" + testNS + "/revisions?q=THIRD", code: http.StatusOK, want: []string{f.draft}},
		{name: "revisions by realm", path: "/ui/namespaces/" + testNS + "/revisions?realm=apps", code: http.StatusOK, want: []string{f.v1, f.clone}},
		{name: "revision", path: rev(f.v1), code: http.StatusOK,
			want: []string{"web", "v1", "published", "sha256:", "pkgserver.test:8080/team/blueprints/apps/web:v1", "a web server",
				"Deployment", "Service", "deploy/", "svc.yaml", "Kptfile", "oras pull", "kubectl get", "OCIRepository", "argoproj.io", f.clone,
				"&lt;img src=x onerror=alert(2)&gt;", `class="hl-`}},
		{name: "revision file", path: rev(f.v1) + "?file=README.md", code: http.StatusOK, want: []string{"&lt;/script&gt;&lt;script&gt;alert(1)&lt;/script&gt;"}},
		{name: "revision yaml with a script", path: rev(f.v1) + "?file=deploy/svc.yaml", code: http.StatusOK, want: []string{"&lt;/script&gt;&lt;script&gt;alert(3)"}},
		{name: "revision with upgrade", path: rev(f.clone), code: http.StatusOK, want: []string{"upgrade available", "Upgrade…", f.v1, f.v2}},
		{name: "revision missing", path: rev("catalog.blueprints.apps.nope.x"), code: http.StatusNotFound, want: []string{"not found"}},
		{name: "revision bad name", path: rev("%3Cscript%3Ealert(1)%3C%2Fscript%3E"), code: http.StatusNotFound},
		{name: "diff default", path: rev(f.clone, "/diff"), code: http.StatusOK, want: []string{"from", f.v1, "No file changed"}},
		{name: "diff against", path: rev(f.v2, "/diff") + "?against=" + f.v1, code: http.StatusOK,
			want: []string{"deploy/app.yaml", "modified", "replicas: 3", "replicas: 2", "ConfigMap", "added", `class="diff unified"`}},
		{name: "diff side by side", path: rev(f.v2, "/diff") + "?against=" + f.v1 + "&view=split", code: http.StatusOK,
			want: []string{`class="diff split"`, "replicas: 3", "&lt;/script&gt;"}},
		{name: "diff against nothing known", path: rev(f.v2, "/diff") + "?against=catalog.blueprints.apps.nope.x", code: http.StatusUnprocessableEntity},
		{name: "history", path: rev(f.v2, "/history"), code: http.StatusOK, want: []string{"v1", "v2", "root", f.clone, "third", "sha256:"}},
		{name: "edit page", path: rev(f.draft, "/edit") + "?file=deploy/app.yaml", code: http.StatusOK, want: []string{"replicas: 2", `name="content"`, `name="rv"`}},
		{name: "new file page", path: rev(f.draft, "/edit"), code: http.StatusOK, want: []string{"New file"}},
		{name: "clone page", path: rev(f.v1, "/new/clone"), code: http.StatusOK, want: []string{"Clone web", "sites (deployment)", `name="workspace"`}},
		{name: "new draft page", path: rev(f.v2, "/new/edit"), code: http.StatusOK, want: []string{"New draft of web"}},
		{name: "upgrade page", path: rev(f.clone, "/new/upgrade"), code: http.StatusOK, want: []string{"Upgrade web", f.v2, "resource-merge"}},
		{name: "upgrade page without upgrade", path: rev(f.v2, "/new/upgrade"), code: http.StatusUnprocessableEntity},
		{name: "clone of a draft", path: rev(f.draft, "/new/clone"), code: http.StatusUnprocessableEntity},
		{name: "unknown task", path: rev(f.v1, "/new/magic"), code: http.StatusNotFound},
		{name: "confirm approve", path: rev(f.draft, "/confirm/approve"), code: http.StatusOK, want: []string{"Approve web?", "cannot be undone", "confirmed"}},
		{name: "confirm delete", path: rev(f.v1, "/confirm/delete"), code: http.StatusOK, want: []string{"Delete", f.clone}},
		{name: "confirm unknown", path: rev(f.v1, "/confirm/propose"), code: http.StatusNotFound},
		{name: "unknown page", path: "/ui/nope/%3Cb%3E", code: http.StatusNotFound, want: []string{"&lt;b&gt;"}},
		{name: "hostile namespace", path: "/ui/namespaces/%3Cscript%3Ealert(1)%3C%2Fscript%3E/revisions", code: http.StatusOK,
			want: []string{"&lt;script&gt;alert(1)&lt;/script&gt;"}},
		{name: "sign-in page", path: "/ui/signin", code: http.StatusOK, want: []string{`name="token"`}},
		{name: "stylesheet", path: "/ui/static/console.css", code: http.StatusOK},
		{name: "highlight stylesheet", path: "/ui/static/highlight.css", code: http.StatusOK, want: []string{".hl-"}},
		{name: "script", path: "/ui/static/htmx.min.js", code: http.StatusOK, want: []string{"htmx"}},
		{name: "unknown asset", path: "/ui/static/nope.js", code: http.StatusNotFound},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p := b.get(tc.path)
			if p.code != tc.code {
				t.Fatalf("GET %s: %d, want %d\n%s", tc.path, p.code, tc.code, p.body)
			}
			for _, w := range tc.want {
				if !strings.Contains(p.body, w) {
					t.Errorf("GET %s: no %q in\n%s", tc.path, w, p.body)
				}
			}
			checkEscaped(t, tc.path, p)
			if csp := p.header.Get("Content-Security-Policy"); !strings.Contains(csp, "default-src 'none'") || strings.Contains(csp, "unsafe") {
				t.Errorf("GET %s: Content-Security-Policy %q", tc.path, csp)
			}
		})
	}
}

// checkEscaped fails when hostile text came out as markup.
func checkEscaped(t *testing.T, path string, p page) {
	t.Helper()
	for _, bad := range []string{"<script>alert", "<img src=x", "onerror=alert(2)>"} {
		if strings.Contains(p.body, bad) {
			t.Errorf("GET %s: unescaped %q in the page", path, bad)
		}
	}
	if strings.HasPrefix(p.header.Get("Content-Type"), "text/html") && p.header.Get("Cache-Control") != "no-store" {
		t.Errorf("GET %s: Cache-Control %q, want no-store", path, p.header.Get("Cache-Control"))
	}
}

// Without an authenticator (make run on loopback) the console works
// without signing in, as the anonymous user the API uses then.
func TestAnonymousConsole(t *testing.T) {
	s := newStack(t, stackOptions{})
	f := seed(s, false)
	b := s.browser()
	p := b.get(rev(f.v2))
	if p.code != http.StatusOK || !strings.Contains(p.body, "system:anonymous") || !strings.Contains(p.body, "Approve…") {
		t.Fatalf("revision page as anonymous: %d\n%s", p.code, p.body)
	}
	if strings.Contains(p.body, "Sign in") || strings.Contains(p.body, "Sign out") {
		t.Error("the console offers to sign in or out with no authenticator")
	}
	p = b.form(rev(f.v2, "/lifecycle"), "action", "reject", "rv", s.get(f.v2).ResourceVersion)
	if p.code != http.StatusSeeOther {
		t.Fatalf("reject as anonymous: %d\n%s", p.code, p.body)
	}
	if got := s.get(f.v2).Spec.Lifecycle; got != "draft" {
		t.Fatalf("lifecycle %s after reject", got)
	}
}
