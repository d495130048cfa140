package console_test

import (
	"net/http"
	"net/url"
	"strings"
	"testing"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	configapi "pkgserver.dev/pkgserver/api/config/v1alpha1"
	pkgapi "pkgserver.dev/pkgserver/api/pkg/v1alpha1"
)

// Each user sees the actions their role allows, and no other.
func TestActionsShownByRole(t *testing.T) {
	s := newStack(t, stackOptions{secure: true})
	f := seed(s, false) // v2 is proposed
	all := []string{"Propose</button>", "Approve…", "Reject</button>", "Withdraw the proposal", "Edit ", "New file", "New draft…",
		"Clone…", "Upgrade…", "Keep (", "Propose deletion…", "Delete…", "Rescan"}
	for _, tc := range []struct {
		user, page string
		want       []string
	}{
		{user: "victor", page: rev(f.v2)},
		{user: "victor", page: rev(f.draft)},
		{user: "victor", page: rev(f.v1)},
		{user: "victor", page: "/ui/namespaces/" + testNS + "/repositories"},
		{user: "erin", page: rev(f.draft), want: []string{"Propose</button>", "Edit ", "New file", "Delete…"}},
		{user: "erin", page: rev(f.v2), want: []string{"Withdraw the proposal", "Delete…"}},
		{user: "erin", page: rev(f.v1), want: []string{"New draft…", "Clone…"}},
		{user: "erin", page: "/ui/namespaces/" + testNS + "/repositories", want: []string{"Rescan"}},
		{user: "alice", page: rev(f.v2), want: []string{"Approve…", "Reject</button>"}},
		{user: "alice", page: rev(f.v1), want: []string{"Propose deletion…"}},
		{user: "alice", page: rev(f.draft)},
	} {
		t.Run(tc.user+" "+tc.page, func(t *testing.T) {
			b := s.browser()
			b.signIn(tc.user)
			p := b.get(tc.page)
			if p.code != http.StatusOK {
				t.Fatalf("%d\n%s", p.code, p.body)
			}
			for _, a := range all {
				want := false
				for _, w := range tc.want {
					want = want || w == a
				}
				if got := strings.Contains(p.body, a); got != want {
					t.Errorf("%s on %s: action %q shown %v, want %v", tc.user, tc.page, a, got, want)
				}
			}
			if len(tc.want) == 0 && strings.Contains(p.body, `name="action"`) {
				t.Errorf("%s sees an action form", tc.user)
			}
		})
	}
}

// Forms without the session's CSRF token, or from another site, are
// refused and audited, and change nothing.
func TestForgedForms(t *testing.T) {
	s := newStack(t, stackOptions{secure: true})
	f := seed(s, false)
	b := s.browser()
	b.signIn("alice")
	rv := s.get(f.v2).ResourceVersion
	action := rev(f.v2, "/lifecycle")
	other := s.browser()
	other.signIn("alice")
	for _, tc := range []struct {
		name   string
		form   url.Values
		origin string
		site   string
	}{
		{name: "no token", form: url.Values{"action": {"reject"}, "rv": {rv}}},
		{name: "wrong token", form: url.Values{"action": {"reject"}, "rv": {rv}, "csrf": {"AAAA"}}},
		{name: "token of another session", form: url.Values{"action": {"reject"}, "rv": {rv}, "csrf": {other.csrf()}}},
		{name: "other origin", form: url.Values{"action": {"reject"}, "rv": {rv}, "csrf": {b.csrf()}}, origin: "https://evil.example"},
		{name: "cross-site fetch", form: url.Values{"action": {"reject"}, "rv": {rv}, "csrf": {b.csrf()}}, site: "cross-site"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			req, _ := http.NewRequest("POST", s.srv.URL+action, strings.NewReader(tc.form.Encode()))
			req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
			if tc.origin != "" {
				req.Header.Set("Origin", tc.origin)
			}
			if tc.site != "" {
				req.Header.Set("Sec-Fetch-Site", tc.site)
			}
			p := b.do(req)
			if p.code != http.StatusForbidden || !strings.Contains(p.body, "CSRF") {
				t.Fatalf("forged form: %d\n%s", p.code, p.body)
			}
			if got := s.get(f.v2).Spec.Lifecycle; got != pkgapi.LifecycleProposed {
				t.Fatalf("lifecycle %s after a forged form", got)
			}
		})
	}
	denied := 0
	for _, ev := range s.audit.events(t) {
		if ev.RequestURI == action && ev.ResponseStatus.Code == http.StatusForbidden && ev.User.Username == "alice" &&
			ev.Annotations["authorization.k8s.io/decision"] == "forbid" {
			denied++
		}
	}
	if denied != 5 {
		t.Errorf("%d forged forms in the audit log, want 5:\n%v", denied, s.audit.events(t))
	}
}

// A user without the right gets the API's 403, audited as that user.
func TestActionRefusedByRBAC(t *testing.T) {
	s := newStack(t, stackOptions{secure: true})
	f := seed(s, false)
	b := s.browser()
	b.signIn("erin")
	p := b.form(rev(f.v2, "/lifecycle"), "action", "approve", "confirmed", "yes", "rv", s.get(f.v2).ResourceVersion)
	if p.code != http.StatusForbidden || !strings.Contains(p.body, `User &#34;erin&#34; cannot update resource &#34;packagerevisions/approval&#34;`) {
		t.Fatalf("approve as editor: %d\n%s", p.code, p.body)
	}
	found := false
	for _, ev := range s.audit.events(t) {
		found = found || (ev.ObjectRef != nil && ev.ObjectRef.Subresource == "approval" && ev.User.Username == "erin" &&
			ev.ResponseStatus.Code == http.StatusForbidden && strings.HasPrefix(ev.UserAgent, "pkgserver-console"))
	}
	if !found {
		t.Errorf("no audit event of the refused approval by erin:\n%v", s.audit.events(t))
	}
}

// The whole release through the console's forms: propose, approve (with
// its confirmation), propose deletion, keep, and delete of a draft; each
// is the API call of the signed-in user, in the audit log.
func TestLifecycle(t *testing.T) {
	s := newStack(t, stackOptions{secure: true})
	f := seed(s, false)
	erin, alice := s.browser(), s.browser()
	erin.signIn("erin")
	alice.signIn("alice")
	step := func(b *browser, name, action string, confirmed bool, want pkgapi.Lifecycle) {
		t.Helper()
		kv := []string{"action", action, "rv", s.get(name).ResourceVersion}
		if confirmed {
			kv = append(kv, "confirmed", "yes")
		}
		p := b.form(rev(name, "/lifecycle"), kv...)
		if p.code != http.StatusSeeOther {
			t.Fatalf("%s: %d\n%s", action, p.code, p.body)
		}
		if want != "" {
			if got := s.get(name).Spec.Lifecycle; got != want {
				t.Fatalf("after %s: %s, want %s", action, got, want)
			}
		}
	}
	step(erin, f.draft, "propose", false, pkgapi.LifecycleProposed)
	step(erin, f.draft, "withdraw", false, pkgapi.LifecycleDraft)
	step(erin, f.draft, "propose", false, pkgapi.LifecycleProposed)
	step(alice, f.draft, "reject", false, pkgapi.LifecycleDraft)
	managers := map[string]bool{}
	for _, m := range s.get(f.draft).ManagedFields {
		managers[m.Manager] = true
	}
	if !managers["pkgserver-console"] {
		t.Errorf("the console's writes are not its own in managedFields: %v", managers)
	}

	// Irreversible steps need the confirmation page's field.
	p := alice.form(rev(f.v2, "/lifecycle"), "action", "approve", "rv", s.get(f.v2).ResourceVersion)
	if p.code != http.StatusBadRequest {
		t.Fatalf("approve without confirmation: %d", p.code)
	}
	// A stale page is a conflict, not a surprise.
	p = alice.form(rev(f.v2, "/lifecycle"), "action", "approve", "confirmed", "yes", "rv", "1")
	if p.code != http.StatusConflict {
		t.Fatalf("approve from a stale page: %d\n%s", p.code, p.body)
	}
	step(alice, f.v2, "approve", true, pkgapi.LifecyclePublished)
	if pr := s.get(f.v2); pr.Status.PublishedBy != "alice" || pr.Spec.PackageRevID.Revision != "v2" {
		t.Fatalf("published by %q as %q", pr.Status.PublishedBy, pr.Spec.PackageRevID.Revision)
	}

	step(alice, f.v2, "propose-deletion", true, pkgapi.LifecycleDeletionProposed)
	step(alice, f.v2, "keep", false, pkgapi.LifecyclePublished)
	step(erin, f.draft, "delete", true, "")
	if p := erin.get(rev(f.draft)); p.code != http.StatusNotFound {
		t.Fatalf("deleted draft: %d", p.code)
	}

	want := map[string]string{"erin": "update", "alice": "update"}
	seen := map[string]bool{}
	for _, ev := range s.audit.events(t) {
		if ev.ObjectRef != nil && strings.HasPrefix(ev.UserAgent, "pkgserver-console") && ev.ResponseStatus.Code < 300 {
			if want[ev.User.Username] == ev.Verb || ev.Verb == "delete" {
				seen[ev.User.Username+" "+ev.Verb+" "+ev.ObjectRef.Subresource] = true
			}
		}
	}
	for _, k := range []string{"erin update ", "alice update approval", "erin delete "} {
		if !seen[k] {
			t.Errorf("no audit event %q in %v", k, seen)
		}
	}
}

// Drafts made by clone, edit and upgrade from the console.
func TestCreate(t *testing.T) {
	s := newStack(t, stackOptions{secure: true})
	f := seed(s, true)
	b := s.browser()
	b.signIn("erin")
	for _, tc := range []struct {
		name, from, task string
		kv               []string
		code             int
		want             string
	}{
		{name: "clone", from: f.v2, task: "clone", kv: []string{"repository", "sites", "target", "us", "realm", "apps", "package", "web", "workspace", "first"},
			code: http.StatusSeeOther, want: "us.sites.apps.web.first"},
		{name: "clone into a catalog", from: f.v2, task: "clone", kv: []string{"repository", "blueprints", "target", "ignored", "realm", "", "package", "web2", "workspace", "a"},
			code: http.StatusSeeOther, want: "catalog.blueprints..web2.a"},
		{name: "new draft", from: f.v2, task: "edit", kv: []string{"workspace", "fourth"}, code: http.StatusSeeOther, want: "catalog.blueprints.apps.web.fourth"},
		{name: "upgrade", from: f.clone, task: "upgrade", kv: []string{"workspace", "up", "strategy", "resource-merge"}, code: http.StatusSeeOther, want: "eu.sites.apps.web.up"},
		{name: "taken workspace", from: f.v2, task: "edit", kv: []string{"workspace", "first"}, code: http.StatusConflict, want: "already exists"},
		{name: "bad workspace", from: f.v2, task: "edit", kv: []string{"workspace", "Not_OK"}, code: http.StatusUnprocessableEntity, want: "workspace"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p := b.form(rev(tc.from, "/new/"+tc.task), tc.kv...)
			if p.code != tc.code {
				t.Fatalf("%d, want %d\n%s", p.code, tc.code, p.body)
			}
			if tc.code == http.StatusSeeOther {
				if loc := p.header.Get("Location"); !strings.Contains(loc, tc.want) {
					t.Fatalf("Location %q, want %q", loc, tc.want)
				}
				s.get(tc.want)
			} else if !strings.Contains(p.body, tc.want) {
				t.Fatalf("no %q in\n%s", tc.want, p.body)
			}
		})
	}
}

// Every action of the console, posted by a user without its right (the
// buttons are hidden, the forms still postable), is refused by the API as
// that user, audited, and changes nothing; so is any action in a namespace
// where the user has no role.
func TestEveryActionNeedsItsRight(t *testing.T) {
	s := newStack(t, stackOptions{secure: true})
	f := seed(s, true) // v1, v2 published; the clone has an upgrade; a draft
	proposed := s.draft(pkgapi.PackageRevID{Target: "catalog", Repository: "blueprints", Realm: "apps", Package: "web", Workspace: "fourth"},
		pkgapi.Task{Type: pkgapi.TaskTypeEdit, Edit: &pkgapi.EditTask{Source: pkgapi.UpstreamRef{Name: f.v2}}})
	s.move(proposed, pkgapi.LifecycleProposed, false)
	s.move(f.v1, pkgapi.LifecycleDeletionProposed, true)
	const otherNS = "elsewhere"
	otherPath := "/apis/pkg.pkgserver.dev/v1alpha1/namespaces/" + otherNS
	s.api("POST", "/apis/config.pkg.pkgserver.dev/v1alpha1/namespaces/"+otherNS+"/repositories", configapi.Repository{
		TypeMeta: metaType(configapi.SchemeGroupVersion.String(), configapi.RepositoryKind), ObjectMeta: metav1.ObjectMeta{Name: "blueprints", Namespace: otherNS},
		Spec: configapi.RepositorySpec{Type: "oci"}}, nil)
	var other pkgapi.PackageRevision
	s.api("POST", otherPath+"/packagerevisions", pkgapi.PackageRevision{
		TypeMeta: metaType(pkgapi.SchemeGroupVersion.String(), pkgapi.PackageRevisionKind),
		Spec: pkgapi.PackageRevisionSpec{PackageRevID: pkgapi.PackageRevID{Target: "catalog", Repository: "blueprints", Package: "web", Workspace: "w"},
			Tasks: []pkgapi.Task{{Type: pkgapi.TaskTypeInit, Init: &pkgapi.InitTask{}}}},
	}, &other)

	// state is every object's resourceVersion, in both namespaces.
	state := func() map[string]string {
		out := map[string]string{}
		for _, p := range []string{pkgPath + "/packagerevisions", otherPath + "/packagerevisions", repoPath,
			"/apis/config.pkg.pkgserver.dev/v1alpha1/namespaces/" + otherNS + "/repositories"} {
			var l metav1.PartialObjectMetadataList
			s.api("GET", p, nil, &l)
			for _, o := range l.Items {
				out[o.Namespace+"/"+o.Name] = o.ResourceVersion
			}
		}
		return out
	}
	before := state()
	rvOf := func(ns, name string) string {
		var pr pkgapi.PackageRevision
		s.api("GET", "/apis/pkg.pkgserver.dev/v1alpha1/namespaces/"+ns+"/packagerevisions/"+name, nil, &pr)
		return pr.ResourceVersion
	}
	lc := func(name, action string) []string {
		return []string{"/lifecycle", name, "action", action, "confirmed", "yes", "rv", rvOf(testNS, name)}
	}
	type post struct {
		user string
		path []string // tail, revision, then form fields
	}
	var posts []post
	for _, p := range [][]string{
		lc(f.draft, "propose"), lc(proposed, "withdraw"), lc(proposed, "approve"), lc(proposed, "reject"),
		lc(f.v2, "propose-deletion"), lc(f.v1, "keep"), lc(f.draft, "delete"),
		{"/edit", f.draft, "path", "Kptfile", "original", "Kptfile", "content", "x: 1\n", "rv", s.get(f.draft).ResourceVersion},
		{"/remove", f.draft, "path", "Kptfile", "confirmed", "yes", "rv", s.get(f.draft).ResourceVersion},
		{"/new/clone", f.v2, "repository", "sites", "target", "us", "package", "web", "workspace", "x"},
		{"/new/edit", f.v2, "workspace", "x"},
		{"/new/upgrade", f.clone, "workspace", "x", "strategy", "resource-merge"},
		{"refresh", "blueprints"},
	} {
		posts = append(posts, post{user: "victor", path: p})
	}
	for _, p := range [][]string{lc(proposed, "approve"), lc(proposed, "reject"), lc(f.v2, "propose-deletion"), lc(f.v1, "keep")} {
		posts = append(posts, post{user: "erin", path: p})
	}
	for _, user := range []string{"victor", "erin", "alice"} {
		for _, a := range []string{"propose", "delete"} {
			posts = append(posts, post{user: user, path: []string{"/lifecycle", other.Name, "action", a, "confirmed", "yes", "rv", other.ResourceVersion, "ns", otherNS}})
		}
		posts = append(posts, post{user: user, path: []string{"/edit", other.Name, "path", "a.yaml", "content", "x: 1\n", "rv", other.ResourceVersion, "ns", otherNS}})
	}
	for _, p := range posts {
		name := p.user + " " + strings.Join(p.path[:2], " ")
		if len(p.path) > 3 && p.path[2] == "action" {
			name += " " + p.path[3]
		}
		t.Run(name, func(t *testing.T) {
			b := s.browser()
			b.signIn(p.user)
			kv := p.path[2:]
			ns := testNS
			if n := len(kv); n >= 2 && kv[n-2] == "ns" {
				ns, kv = kv[n-1], kv[:n-2]
			}
			path := "/ui/namespaces/" + ns + "/revisions/" + p.path[1] + p.path[0]
			if p.path[0] == "refresh" {
				path = "/ui/namespaces/" + ns + "/repositories/" + p.path[1] + "/refresh"
			}
			pg := b.form(path, kv...)
			if pg.code != http.StatusForbidden {
				t.Fatalf("%d, want 403\n%s", pg.code, pg.body)
			}
			if !strings.Contains(pg.body, `User &#34;`+p.user+`&#34; cannot`) {
				t.Errorf("the refusal does not name the user and the right:\n%s", pg.body)
			}
		})
	}
	after := state()
	for k, v := range before {
		if after[k] != v {
			t.Errorf("%s changed: resourceVersion %s -> %s", k, v, after[k])
		}
	}
	if len(after) != len(before) {
		t.Errorf("%d objects before, %d after", len(before), len(after))
	}
	refused := map[string]int{}
	for _, ev := range s.audit.events(t) {
		if ev.ResponseStatus != nil && ev.ResponseStatus.Code == http.StatusForbidden && strings.HasPrefix(ev.UserAgent, "pkgserver-console") {
			refused[ev.User.Username]++
		}
	}
	if refused["victor"] < 13 || refused["erin"] < 4 || refused["alice"] < 3 {
		t.Errorf("refusals in the audit log by user: %v", refused)
	}
}
