package console_test

import (
	"net/http"
	"regexp"
	"strings"
	"testing"
	"time"

	pkgapi "pkgserver.dev/pkgserver/api/pkg/v1alpha1"
)

var liveURL = regexp.MustCompile(`id="live" class="live" hx-get="([^"]+)"`)

// liveOf returns the URL a page's live element asks.
func liveOf(t *testing.T, p page) string {
	t.Helper()
	m := liveURL.FindStringSubmatch(p.body)
	if m == nil {
		t.Fatalf("no live element in\n%s", p.body)
	}
	return strings.ReplaceAll(m[1], "&amp;", "&")
}

// Live pages: the waiting request answers the same element when nothing
// changed, and the whole page (for htmx to swap #main) when something did,
// whoever changed it.
func TestLive(t *testing.T) {
	s := newStack(t, stackOptions{secure: true, liveWait: time.Second})
	f := seed(s, false)
	b := s.browser()
	b.signIn("victor")
	htmx := []string{"HX-Request", "true"}

	t.Run("nothing changes", func(t *testing.T) {
		u := liveOf(t, b.get(rev(f.v2)))
		start := time.Now()
		p := b.get(u, htmx...)
		if p.code != http.StatusOK || strings.Contains(p.body, "<main") || liveOf(t, p) != u {
			t.Fatalf("%d\n%s", p.code, p.body)
		}
		if d := time.Since(start); d < 900*time.Millisecond {
			t.Fatalf("answered after %s, before the wait ended", d)
		}
	})
	t.Run("the revision changes", func(t *testing.T) {
		u := liveOf(t, b.get(rev(f.v2)))
		go func() {
			time.Sleep(100 * time.Millisecond)
			s.move(f.v2, pkgapi.LifecyclePublished, true)
		}()
		p := b.get(u, htmx...)
		if p.code != http.StatusOK || p.header.Get("HX-Retarget") != "#main" || p.header.Get("HX-Reselect") != "#main" {
			t.Fatalf("%d %v\n%s", p.code, p.header, p.body)
		}
		if !strings.Contains(p.body, `<span class="lc lc-published">published</span>`) || liveOf(t, p) == u {
			t.Fatalf("the page after the change:\n%s", p.body)
		}
	})
	t.Run("the list changes", func(t *testing.T) {
		u := liveOf(t, b.get("/ui/namespaces/team/revisions?lifecycle=draft"))
		go func() {
			time.Sleep(100 * time.Millisecond)
			s.draft(pkgapi.PackageRevID{Target: "catalog", Repository: "blueprints", Package: "fresh", Workspace: "w"},
				pkgapi.Task{Type: pkgapi.TaskTypeInit, Init: &pkgapi.InitTask{}})
		}()
		p := b.get(u, htmx...)
		if p.header.Get("HX-Retarget") != "#main" || !strings.Contains(p.body, "catalog.blueprints..fresh.w") {
			t.Fatalf("%d %v\n%s", p.code, p.header, p.body)
		}
	})
	t.Run("a change outside the filter is not one", func(t *testing.T) {
		u := liveOf(t, b.get("/ui/namespaces/team/revisions?repository=sites"))
		go func() {
			time.Sleep(100 * time.Millisecond)
			s.draft(pkgapi.PackageRevID{Target: "catalog", Repository: "blueprints", Package: "other", Workspace: "w"},
				pkgapi.Task{Type: pkgapi.TaskTypeInit, Init: &pkgapi.InitTask{}})
		}()
		if p := b.get(u, htmx...); p.header.Get("HX-Retarget") != "" {
			t.Fatalf("answered a change of another repository:\n%s", p.body)
		}
	})
	t.Run("an unknown resourceVersion reloads", func(t *testing.T) {
		p := b.get(rev(f.v2)+"?wait=nonsense", htmx...)
		if p.header.Get("HX-Retarget") != "#main" {
			t.Fatalf("%d %v", p.code, p.header)
		}
	})
	t.Run("shutdown ends the wait", func(t *testing.T) {
		s2 := newStack(t, stackOptions{secure: true, liveWait: 30 * time.Second})
		b2 := s2.browser()
		b2.signIn("victor")
		u := liveOf(t, b2.get("/ui/namespaces/team/revisions"))
		go func() {
			time.Sleep(200 * time.Millisecond)
			s2.cons.Close()
		}()
		start := time.Now()
		if p := b2.get(u, htmx...); p.code != http.StatusNoContent || time.Since(start) > 5*time.Second {
			t.Fatalf("%d after %s", p.code, time.Since(start))
		}
	})
}
