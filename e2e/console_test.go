package e2e

import (
	"context"
	"encoding/pem"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/cdproto/page"
	"github.com/chromedp/chromedp"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	auditv1 "k8s.io/apiserver/pkg/apis/audit/v1"

	configapi "pkgserver.dev/pkgserver/api/config/v1alpha1"
	pkgapi "pkgserver.dev/pkgserver/api/pkg/v1alpha1"
	"pkgserver.dev/pkgserver/e2e/internal/harness"
	"pkgserver.dev/pkgserver/internal/authtest"
)

// envUpdateScreenshots, set to 1, makes TestConsole write the screenshots
// of docs/console.md, so they show the console as it is.
const envUpdateScreenshots = "PKGSERVER_UPDATE_SCREENSHOTS"

// stepTimeout bounds one browser step.
const stepTimeout = 20 * time.Second

// tab is one user's browser tab on the console.
type tab struct {
	t    *testing.T
	ctx  context.Context
	base string // the server's URL
}

// do runs browser actions, failing t after stepTimeout.
func (tb *tab) do(actions ...chromedp.Action[chromedp.Void]) {
	tb.t.Helper()
	ctx, cancel := context.WithTimeout(tb.ctx, stepTimeout)
	defer cancel()
	if err := chromedp.Do(ctx, actions...); err != nil {
		tb.t.Fatalf("browser: %v\npage:\n%s", err, tb.text())
	}
}

// eval evaluates JavaScript in the page (DevTools evaluation, which the
// page's Content-Security-Policy does not apply to).
func eval[T any](tb *tab, js string) T {
	tb.t.Helper()
	ctx, cancel := context.WithTimeout(tb.ctx, stepTimeout)
	defer cancel()
	v, err := chromedp.Run(ctx, chromedp.Evaluate[T](js, chromedp.EvalAwaitPromise))
	if err != nil {
		tb.t.Fatalf("evaluate %s: %v", js, err)
	}
	return v
}

// waitFor waits until a JavaScript condition holds, across navigations
// (which end the evaluations under way).
func (tb *tab) waitFor(js string) {
	tb.t.Helper()
	deadline := time.Now().Add(stepTimeout)
	for time.Now().Before(deadline) {
		ctx, cancel := context.WithTimeout(tb.ctx, time.Second)
		ok, err := chromedp.Run(ctx, chromedp.Evaluate[bool](js))
		cancel()
		if err == nil && ok {
			return
		}
		time.Sleep(50 * time.Millisecond)
	}
	tb.t.Fatalf("%s never held; page:\n%s", js, tb.text())
}

// text is the address and text of the page, for failure messages.
func (tb *tab) text() string {
	ctx, cancel := context.WithTimeout(tb.ctx, 5*time.Second)
	defer cancel()
	s, err := chromedp.Run(ctx, chromedp.Evaluate[string](`document.location.href + " (" + document.readyState + ")\n" + document.body.innerText`))
	if err != nil {
		return "(no page: " + err.Error() + ")"
	}
	return s
}

// open navigates to a console path.
func (tb *tab) open(path string) {
	tb.t.Helper()
	tb.do(chromedp.Navigate(tb.base + path))
}

// path is the page's path and query.
func (tb *tab) path() string {
	tb.t.Helper()
	return eval[string](tb, `location.pathname + location.search`)
}

// has reports whether the page has an element matching a CSS selector.
func (tb *tab) has(css string) bool {
	tb.t.Helper()
	return eval[bool](tb, fmt.Sprintf(`document.querySelector(%q) !== null`, css))
}

// waitText waits until the element of css contains text, across
// navigations like waitFor.
func (tb *tab) waitText(css, text string) {
	tb.t.Helper()
	tb.waitFor(fmt.Sprintf(`[...document.querySelectorAll(%q)].some(e => e.textContent.includes(%q))`, css, text))
}

// screenshot writes docs/console/<name>.png of the window when the
// screenshots are being updated.
func (tb *tab) screenshot(name string) {
	tb.t.Helper()
	tb.capture(name, chromedp.CaptureScreenshot())
}

// screenshotFull is screenshot of the whole page.
func (tb *tab) screenshotFull(name string) {
	tb.t.Helper()
	tb.capture(name, chromedp.FullScreenshot(100))
}

func (tb *tab) capture(name string, shot chromedp.Action[[]byte]) {
	tb.t.Helper()
	if os.Getenv(envUpdateScreenshots) != "1" {
		return
	}
	ctx, cancel := context.WithTimeout(tb.ctx, stepTimeout)
	defer cancel()
	png, err := chromedp.Run(ctx, shot)
	if err != nil {
		tb.t.Fatal(err)
	}
	root, err := harness.ModuleRoot()
	if err != nil {
		tb.t.Fatal(err)
	}
	dir := filepath.Join(root, "docs", "console")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		tb.t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, name+".png"), png, 0o644); err != nil {
		tb.t.Fatal(err)
	}
}

// signIn signs in on the token form the console sends the browser to.
func (tb *tab) signIn(path, token string) {
	tb.t.Helper()
	tb.open(path)
	if p := tb.path(); !strings.HasPrefix(p, "/ui/signin?") {
		tb.t.Fatalf("not sent to sign in: %s", p)
	}
	tb.do(chromedp.SendKeys(chromedp.ID("token"), token))
	tb.click(`form.stack button[type=submit]`)
	if p := tb.path(); !strings.HasPrefix(p, path) {
		tb.t.Fatalf("after signing in at %s, not back: %s", path, p)
	}
}

// click clicks the element of css and waits for the page it loads.
func (tb *tab) click(css string) {
	tb.t.Helper()
	ctx, cancel := context.WithTimeout(tb.ctx, stepTimeout)
	defer cancel()
	if _, err := chromedp.Run(ctx, chromedp.WaitEvent(page.LoadEventFired, nil, chromedp.Click(chromedp.CSS(css)))); err != nil {
		tb.t.Fatalf("click %s: %v\npage:\n%s", css, err, tb.text())
	}
}

// consoleData is what TestConsole starts from: a catalog package
// published as v1, and an empty deployment repository.
func consoleData(t *testing.T, e *secureEnv) (v1 string) {
	t.Helper()
	root := e.client(t, "root")
	for _, r := range []struct {
		name   string
		deploy bool
		desc   string
	}{{"blueprints", false, "templates of the platform team"}, {"sites", true, "what runs where"}} {
		root.CreateRepository(t, &configapi.Repository{ObjectMeta: metav1.ObjectMeta{Name: r.name},
			Spec: configapi.RepositorySpec{Type: "oci", Deployment: r.deploy, Description: r.desc}})
	}
	pr := root.CreateRevision(t, &pkgapi.PackageRevision{Spec: pkgapi.PackageRevisionSpec{
		PackageRevID: pkgapi.PackageRevID{Target: "catalog", Repository: "blueprints", Realm: "apps", Package: "web", Workspace: "v1"},
		Tasks:        []pkgapi.Task{{Type: pkgapi.TaskTypeInit, Init: &pkgapi.InitTask{Description: "a web server"}}},
	}})
	prr := root.GetResources(t, pr.Name)
	prr.Spec.Resources = map[string]string{
		"Kptfile":         "apiVersion: kpt.dev/v1\nkind: Kptfile\nmetadata:\n  name: web\ninfo:\n  description: a web server\n",
		"deploy/app.yaml": "apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: web\nspec:\n  replicas: 2\n  template:\n    spec:\n      containers:\n      - name: web\n        image: nginx:1.27\n",
		"deploy/svc.yaml": "apiVersion: v1\nkind: Service\nmetadata:\n  name: web\nspec:\n  ports:\n  - port: 80\n",
		"README.md":       "# web\n\nThe platform's web server.\n",
	}
	root.UpdateResources(t, prr)
	pr = root.GetRevision(t, pr.Name)
	pr.Spec.Lifecycle = pkgapi.LifecycleProposed
	pr = root.UpdateRevision(t, pr)
	root.Approve(t, pr, pkgapi.LifecyclePublished)

	// A draft whose readiness gate fails, for the list's badges.
	gated := root.CreateRevision(t, &pkgapi.PackageRevision{Spec: pkgapi.PackageRevisionSpec{
		PackageRevID: pkgapi.PackageRevID{Target: "catalog", Repository: "blueprints", Realm: "apps", Package: "cache", Workspace: "first"},
		Tasks:        []pkgapi.Task{{Type: pkgapi.TaskTypeInit, Init: &pkgapi.InitTask{Description: "a cache"}}},
	}})
	gated.Spec.ReadinessGates = []pkgapi.ReadinessGate{{ConditionType: "ci.example.com/tested"}}
	gated = root.UpdateRevision(t, gated)
	gated.Status.Conditions = []metav1.Condition{{Type: "ci.example.com/tested", Status: metav1.ConditionFalse, Reason: "Failed",
		Message: "2 of 40 checks failed", LastTransitionTime: metav1.Now()}}
	root.Expect(t, http.MethodPut, root.RevisionsPath(gated.Name)+"/status", gated, http.StatusOK, nil)
	return pr.Name
}

// TestConsole drives the web console in real headless Chromium (one
// browser for all of it) against the built server with TLS, tokens, OIDC,
// RBAC and the audit log: an editor clones, edits, sees a YAML error at
// its line, fixes it and proposes; the editor's page follows another
// client's change live; an approver reads the diff and approves; a viewer
// sees no actions and forged forms are refused; and no page asks anything
// of another server.
func TestConsole(t *testing.T) {
	bin, err := harness.ChromiumBinary()
	if err != nil {
		t.Fatal(err)
	}
	// The OIDC sign-in comes back to localhost, another site than the
	// issuer's 127.0.0.1, as a real issuer is another site.
	addr, err := harness.FreeAddr()
	if err != nil {
		t.Fatal(err)
	}
	_, port, _ := net.SplitHostPort(addr)
	atLocalhost := "https://localhost:" + port
	e := newSecureEnv(t, func(o *harness.Options) {
		o.Listen = addr
		o.Args = append(o.Args, "--oidc-redirect-url", atLocalhost+"/ui/oidc/callback")
	})
	v1 := consoleData(t, e)
	issuerCert := filepath.Join(t.TempDir(), "issuer.pem")
	authtest.WriteFile(t, issuerCert, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: e.issuer.Server.Certificate().Raw}))
	browser := harness.StartBrowser(t, harness.BrowserOptions{Bin: bin, TrustCertFiles: []string{e.certFile, issuerCert}})
	newTab := func(t *testing.T) *tab { return &tab{t: t, ctx: browser.Tab(t), base: e.srv.URL} }
	list := "/ui/namespaces/" + secNS + "/revisions"
	draft := "eu.sites.apps.web.initial"
	draftPage := list + "/" + draft

	erin := newTab(t)
	t.Run("editor clones, edits, sees the error at its line, fixes it and proposes", func(t *testing.T) {
		erin.t = t
		erin.open(list)
		erin.screenshot("signin")
		erin.signIn(list, e.tokens["erin"])
		erin.click(`a[href$="/revisions/` + v1 + `"]`)
		erin.screenshotFull("revision")
		erin.click(`a[href$="/new/clone"]`)
		erin.do(chromedp.SetValue(chromedp.ID("repository"), "sites"), chromedp.SetValue(chromedp.ID("target"), "eu"),
			chromedp.SetValue(chromedp.ID("workspace"), "initial"))
		erin.click(`form.stack button[type=submit]`)
		if p := erin.path(); !strings.HasPrefix(p, draftPage) {
			t.Fatalf("after cloning: %s\n%s", p, erin.text())
		}
		erin.click(`.tree a[href*="app.yaml"]`)
		erin.click(`.actions a[href*="/edit?file=deploy"]`)
		broken := "apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: web\nspec:\n  replicas: [3\n"
		erin.do(chromedp.SetValue(chromedp.ID("content"), broken))
		erin.click(`form.editor button[type=submit]`)
		erin.waitText(".problem", "line 6")
		if !erin.has(`#L6`) || !erin.has(`.hl-hl #L6`) {
			t.Fatalf("line 6 is not marked in the preview:\n%s", erin.text())
		}
		erin.screenshot("edit-error")
		fixed := strings.Replace(broken, "[3", "3", 1) + "  template:\n    spec:\n      containers:\n      - name: web\n        image: nginx:1.27\n"
		erin.do(chromedp.SetValue(chromedp.ID("content"), fixed))
		erin.click(`form.editor button[type=submit]`)
		erin.waitText(".notice", "Saved")
		erin.click(`form[action$="/lifecycle"] button.primary`)
		erin.waitText(".state", "waiting for approval")
		if got := e.client(t, "root").GetRevision(t, draft); got.Spec.Lifecycle != pkgapi.LifecycleProposed {
			t.Fatalf("lifecycle %s", got.Spec.Lifecycle)
		}
	})

	t.Run("the editor's page follows another client's change live", func(t *testing.T) {
		erin.t = t
		eval[string](erin, `window.__marker = "still this page"`)
		start := time.Now()
		root := e.client(t, "root")
		pr := root.GetRevision(t, draft)
		pr.Status.Conditions = []metav1.Condition{{Type: "ci.example.com/tested", Status: metav1.ConditionTrue, Reason: "Passed", Message: "suite green", LastTransitionTime: metav1.Now()}}
		root.Expect(t, http.MethodPut, root.RevisionsPath(draft)+"/status", pr, http.StatusOK, nil)
		erin.waitText("td", "ci.example.com/tested")
		if m := eval[string](erin, `window.__marker || ""`); m != "still this page" {
			t.Fatalf("the page was reloaded, not updated (marker %q)", m)
		}
		t.Logf("the change reached the open page in %s", time.Since(start).Round(time.Millisecond))
	})

	t.Run("approver reads the diff and approves", func(t *testing.T) {
		alice := newTab(t)
		alice.signIn(list, e.tokens["alice"])
		alice.waitText(".badge", "waiting for approval")
		alice.screenshot("packages")
		alice.open(draftPage)
		alice.click(`.tabs a[href$="/diff"]`)
		alice.waitText(".filediff", "replicas: 3")
		alice.waitText(".filediff", "replicas: 2")
		alice.screenshot("diff")
		alice.do(chromedp.SetValue(chromedp.CSS(`select[name=view]`), "split"))
		alice.click(`form.filters button[type=submit]`)
		if !alice.has("table.diff.split") {
			t.Fatalf("no side-by-side diff:\n%s", alice.text())
		}
		alice.screenshot("diff-split")
		alice.open(draftPage)
		alice.click(`a[href$="/confirm/approve"]`)
		alice.waitText("h1", "Approve web?")
		alice.screenshot("confirm")
		alice.click(`form.buttons button.primary`)
		alice.waitText(".state", "published")
		pr := e.client(t, "root").GetRevision(t, draft)
		if pr.Spec.Lifecycle != pkgapi.LifecyclePublished || pr.Status.PublishedBy != "alice" || pr.Spec.PackageRevID.Revision != "v1" {
			t.Fatalf("after approval: %s by %q as %q", pr.Spec.Lifecycle, pr.Status.PublishedBy, pr.Spec.PackageRevID.Revision)
		}
		// The editor's open page shows the publication too.
		erin.t = t
		erin.waitText(".state", "published")
		alice.open(list + "/" + v1 + "/history")
		alice.waitText("td", draft)
		alice.screenshot("history")
		alice.open("/ui/namespaces/" + secNS + "/repositories")
		alice.screenshot("repositories")
		e.audited(t, "alice's approval from the console", func(ev auditv1.Event) bool {
			return ev.User.Username == "alice" && ev.ObjectRef != nil && ev.ObjectRef.Subresource == "approval" &&
				ev.ResponseStatus.Code == http.StatusOK && strings.HasPrefix(ev.UserAgent, "pkgserver-console")
		})
	})

	t.Run("viewer sees no actions and forged forms are refused", func(t *testing.T) {
		victor := newTab(t)
		victor.signIn(draftPage, e.tokens["victor"])
		for _, css := range []string{"section.actions", `form input[name=action]`, `a[href*="/confirm/"]`, `a[href*="/new/"]`, `a[href*="/edit"]`} {
			if victor.has(css) {
				t.Errorf("the viewer sees %s", css)
			}
		}
		victor.open(list + "/" + v1)
		if victor.has("section.actions") {
			t.Error("the viewer sees actions on the catalog revision")
		}
		victor.screenshot("viewer")
		post := func(form string) int {
			return eval[int](victor, `fetch(location.pathname + "/lifecycle", {method: "POST", headers: {"Content-Type": "application/x-www-form-urlencoded"}, body: `+
				fmt.Sprintf("%q", form)+`}).then(r => r.status)`)
		}
		rv := e.client(t, "root").GetRevision(t, v1).ResourceVersion
		csrf := eval[string](victor, `document.querySelector('meta[name="csrf-token"]').content`)
		for _, tc := range []struct {
			name, form string
			want       int
		}{
			{"no CSRF token", "action=propose-deletion&confirmed=yes&rv=" + rv, http.StatusForbidden},
			{"wrong CSRF token", "action=propose-deletion&confirmed=yes&rv=" + rv + "&csrf=forged", http.StatusForbidden},
			{"right token, no right", "action=propose-deletion&confirmed=yes&rv=" + rv + "&csrf=" + csrf, http.StatusForbidden},
		} {
			if got := post(tc.form); got != tc.want {
				t.Errorf("%s: %d, want %d", tc.name, got, tc.want)
			}
		}
		if got := e.client(t, "root").GetRevision(t, v1).Spec.Lifecycle; got != pkgapi.LifecyclePublished {
			t.Fatalf("a refused form changed the revision: %s", got)
		}
		e.audited(t, "victor's forged form", func(ev auditv1.Event) bool {
			return ev.User.Username == "victor" && strings.HasSuffix(ev.RequestURI, "/lifecycle") && ev.ResponseStatus.Code == http.StatusForbidden &&
				ev.Annotations["authorization.k8s.io/decision"] == "forbid"
		})
	})

	t.Run("keyboard alone reaches a revision", func(t *testing.T) {
		victor := newTab(t)
		victor.signIn(list, e.tokens["victor"])
		victor.do(chromedp.KeyEvent("\t"))
		if got := eval[string](victor, `document.activeElement.textContent`); got != "Skip to the content" {
			t.Fatalf("the first Tab reaches %q, not the skip link", got)
		}
		victor.do(chromedp.KeyEvent("\r"))
		for i := 0; ; i++ {
			if i == 40 {
				t.Fatal("Tab never reached the first revision")
			}
			victor.do(chromedp.KeyEvent("\t"))
			if eval[bool](victor, `document.activeElement.matches("table.revisions a")`) {
				break
			}
		}
		ctx, cancel := context.WithTimeout(victor.ctx, stepTimeout)
		defer cancel()
		if _, err := chromedp.Run(ctx, chromedp.WaitEvent(page.LoadEventFired, nil, chromedp.KeyEvent("\r"))); err != nil {
			t.Fatal(err)
		}
		if p := victor.path(); !strings.HasPrefix(p, list+"/") {
			t.Fatalf("Enter on the link led to %s", p)
		}
	})

	anon := harness.Start(t, harness.Options{Bin: serverBin, DataDir: t.TempDir()})
	t.Run("without an authenticator the console needs no sign-in", func(t *testing.T) {
		tb := &tab{t: t, ctx: browser.Tab(t), base: anon.URL}
		tb.open("/ui/")
		if p := tb.path(); p != "/ui/namespaces/default/revisions" {
			t.Fatalf("start page %s", p)
		}
		tb.waitText(".who .user", "system:anonymous")
		if tb.has(`a[href="/ui/signin"]`) || tb.has(`form[action="/ui/signout"]`) {
			t.Error("the console offers to sign in or out without an authenticator")
		}
	})

	t.Run("no request leaves the server", func(t *testing.T) {
		reqs := browser.Requests()
		if len(reqs) < 20 {
			t.Fatalf("only %d requests recorded", len(reqs))
		}
		for _, u := range reqs {
			if !strings.HasPrefix(u, e.srv.URL+"/") && !strings.HasPrefix(u, anon.URL+"/") {
				t.Errorf("a page asked %s", u)
			}
		}
		t.Logf("%d requests, all to the servers under test", len(reqs))
	})

	t.Run("no page breaks its Content-Security-Policy or throws", func(t *testing.T) {
		for _, p := range browser.Problems() {
			// The 4xx answers of the refused forms above are on purpose.
			if !strings.HasPrefix(p, "error network: Failed to load resource: the server responded with a status of 4") {
				t.Errorf("a page reported: %s", p)
			}
		}
	})

	// Last: this one visits the issuer, on purpose.
	t.Run("OIDC sign-in at the issuer, with PKCE", func(t *testing.T) {
		e.issuer.Login(authtest.Claims{Subject: "42", Email: "dana@example.com", Groups: []string{"editors"}}, "")
		dana := &tab{t: t, ctx: browser.Tab(t), base: atLocalhost}
		dana.open(list)
		if p := dana.path(); !strings.HasPrefix(p, "/ui/signin?") {
			t.Fatalf("not sent to sign in: %s", p)
		}
		dana.click(`a[href^="/ui/oidc/login"]`)
		// The issuer sends the browser back; the console's page then goes on
		// by itself (a meta refresh), so its SameSite=Strict cookie is sent.
		dana.waitFor(`location.pathname === "/ui/namespaces/sec/revisions" && document.readyState === "complete"`)
		dana.waitText(".who .user", "dana@example.com")
		if exchanges, _ := e.issuer.Counts(); exchanges != 1 {
			t.Fatalf("%d codes exchanged", exchanges)
		}
		dana.open(list + "/" + draft)
		if !dana.has(`a[href$="/new/clone"]`) {
			t.Fatalf("dana (group oidc:editors) sees no clone action:\n%s", dana.text())
		}

		// A link on another site (127.0.0.1 is not localhost's site) opens
		// the page signed in: the browser leaves the SameSite=Strict cookie
		// out of that navigation, and the console opens it again itself.
		elsewhere := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			fmt.Fprintf(w, `<!DOCTYPE html><title>chat</title><a id="link" href="%s">the draft</a>`, atLocalhost+list+"/"+draft+"?file=Kptfile")
		}))
		defer elsewhere.Close()
		dana.do(chromedp.Navigate(elsewhere.URL))
		dana.click(`#link`)
		// One condition: the page can still be reloading itself when a part holds.
		dana.waitFor(`location.pathname === "` + list + "/" + draft + `" && [...document.querySelectorAll(".who .user")].some(e => e.textContent.includes("dana@example.com"))`)
		dana.open(list)
		dana.waitText(".who .user", "dana@example.com")
	})
}
