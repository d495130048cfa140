package console_test

import (
	"net/http"
	"regexp"
	"strings"
	"testing"

	pkgapi "pkgserver.dev/pkgserver/api/pkg/v1alpha1"
)

var rvField = regexp.MustCompile(`name="rv" value="([^"]+)"`)

// editorRV opens the editor of a file and returns the resourceVersion it
// was opened at.
func editorRV(t *testing.T, b *browser, name, file string) string {
	t.Helper()
	p := b.get(rev(name, "/edit") + "?file=" + file)
	m := rvField.FindStringSubmatch(p.body)
	if p.code != http.StatusOK || m == nil {
		t.Fatalf("editor: %d\n%s", p.code, p.body)
	}
	return m[1]
}

func (s *stack) files(name string) map[string]string {
	var prr pkgapi.PackageRevisionResources
	s.api("GET", pkgPath+"/packagerevisionresources/"+name, nil, &prr)
	return prr.Spec.Resources
}

// Editing a draft's file: the API's validation errors come back at the
// file and line, nothing is saved until the file is right, and a draft
// changed meanwhile is a conflict.
func TestEdit(t *testing.T) {
	s := newStack(t, stackOptions{secure: true})
	f := seed(s, false)
	b := s.browser()
	b.signIn("erin")
	broken := "apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: web\nspec:\n  replicas: [3\n"
	noName := "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  labels: {}\n"
	for _, tc := range []struct {
		name, path, original, content string
		code                          int
		want                          []string
	}{
		{name: "YAML error", path: "deploy/app.yaml", original: "deploy/app.yaml", content: broken, code: http.StatusUnprocessableEntity,
			want: []string{`<a href="#L6">line 6</a>`, "invalid YAML", `class="hl-line hl-hl"`, "replicas: [3"}},
		{name: "missing name", path: "deploy/cm.yaml", content: noName, code: http.StatusUnprocessableEntity, want: []string{"metadata.name", "line "}},
		{name: "bad path", path: "../escape.yaml", content: "x: 1\n", code: http.StatusUnprocessableEntity, want: []string{"escape.yaml"}},
		{name: "absolute path", path: "/etc/passwd", content: "x\n", code: http.StatusUnprocessableEntity, want: []string{"relative"}},
		{name: "NUL in the path", path: "a\x00.yaml", content: "x: 1\n", code: http.StatusUnprocessableEntity, want: []string{"NUL"}},
		{name: "backslashes", path: `..\..\x.yaml`, content: "x: 1\n", code: http.StatusUnprocessableEntity, want: []string{"separator"}},
		{name: "no path", path: " ", content: "x\n", code: http.StatusUnprocessableEntity, want: []string{"needs a path"}},
		{name: "hostile content is escaped", path: "bad.yaml", content: "</textarea><script>alert(1)</script>: [\n", code: http.StatusUnprocessableEntity,
			want: []string{"&lt;/textarea&gt;&lt;script&gt;alert(1)"}},
		{name: "new file over another", path: "Kptfile", content: "x: 1\n", code: http.StatusConflict, want: []string{"has a file Kptfile already"}},
		{name: "fixed", path: "deploy/app.yaml", original: "deploy/app.yaml", content: strings.Replace(broken, "[3", "3", 1), code: http.StatusSeeOther},
		{name: "new file", path: "deploy/extra.yaml", content: "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: extra\n", code: http.StatusSeeOther},
		{name: "renamed", path: "deploy/extra2.yaml", original: "deploy/extra.yaml", content: "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: extra\n", code: http.StatusSeeOther},
	} {
		t.Run(tc.name, func(t *testing.T) {
			before := s.files(f.draft)
			rv := editorRV(t, b, f.draft, tc.original)
			p := b.form(rev(f.draft, "/edit"), "path", tc.path, "original", tc.original, "rv", rv, "content", strings.ReplaceAll(tc.content, "\n", "\r\n"))
			if p.code != tc.code {
				t.Fatalf("%d, want %d\n%s", p.code, tc.code, p.body)
			}
			for _, w := range tc.want {
				if !strings.Contains(p.body, w) {
					t.Errorf("no %q in\n%s", w, p.body)
				}
			}
			checkEscaped(t, "edit", p)
			if strings.Contains(p.body, "</textarea><script>") {
				t.Fatal("the content closed the textarea")
			}
			after := s.files(f.draft)
			if tc.code != http.StatusSeeOther {
				if len(after) != len(before) || after[tc.original] != before[tc.original] {
					t.Fatal("a refused edit changed the draft")
				}
				return
			}
			if after[strings.TrimSpace(tc.path)] != tc.content {
				t.Fatalf("saved %q, want %q", after[tc.path], tc.content)
			}
			if tc.original != "" && tc.original != tc.path {
				if _, ok := after[tc.original]; ok {
					t.Fatal("the renamed file is still there")
				}
			}
		})
	}

	t.Run("conflict", func(t *testing.T) {
		rv := editorRV(t, b, f.draft, "Kptfile")
		files := s.files(f.draft)
		files["other.yaml"] = "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: other\n"
		s.setFiles(f.draft, files)
		p := b.form(rev(f.draft, "/edit"), "path", "Kptfile", "original", "Kptfile", "rv", rv, "content", "apiVersion: kpt.dev/v1\nkind: Kptfile\nmetadata:\n  name: changed\n")
		if p.code != http.StatusConflict || !strings.Contains(p.body, "changed since you opened the editor") || !strings.Contains(p.body, "name: changed") {
			t.Fatalf("%d\n%s", p.code, p.body)
		}
		if strings.Contains(s.files(f.draft)["Kptfile"], "changed") {
			t.Fatal("a conflicting edit was saved")
		}
	})
	t.Run("remove", func(t *testing.T) {
		rv := editorRV(t, b, f.draft, "deploy/extra2.yaml")
		if p := b.form(rev(f.draft, "/remove"), "path", "deploy/extra2.yaml", "rv", rv); p.code != http.StatusBadRequest {
			t.Fatalf("remove without confirmation: %d", p.code)
		}
		if p := b.form(rev(f.draft, "/remove"), "path", "deploy/extra2.yaml", "rv", rv, "confirmed", "yes"); p.code != http.StatusSeeOther {
			t.Fatalf("remove: %d\n%s", p.code, p.body)
		}
		if _, ok := s.files(f.draft)["deploy/extra2.yaml"]; ok {
			t.Fatal("the file is still there")
		}
	})
	t.Run("published revisions cannot be edited", func(t *testing.T) {
		rv := editorRV(t, b, f.v1, "Kptfile")
		p := b.form(rev(f.v1, "/edit"), "path", "Kptfile", "original", "Kptfile", "rv", rv, "content", "x")
		if p.code != http.StatusForbidden {
			t.Fatalf("%d\n%s", p.code, p.body)
		}
	})
}

// Whatever stops a save, the editor comes back with the text the user
// typed: a draft deleted meanwhile, a user who may not save.
func TestEditKeepsTextWhenSaveFails(t *testing.T) {
	s := newStack(t, stackOptions{secure: true})
	f := seed(s, false)
	const text = "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: typed-for-an-hour\n"
	for _, tc := range []struct {
		name, user string
		before     func(name string)
		code       int
		want       string
	}{
		{name: "draft deleted meanwhile", user: "erin", before: func(name string) {
			s.api("DELETE", pkgPath+"/packagerevisions/"+name, nil, nil)
		}, code: http.StatusNotFound, want: "not found"},
		{name: "may not save", user: "victor", code: http.StatusForbidden, want: "cannot update"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			name := s.draft(pkgapi.PackageRevID{Target: "catalog", Repository: "blueprints", Realm: "apps", Package: "web", Workspace: "w-" + tc.user},
				pkgapi.Task{Type: pkgapi.TaskTypeEdit, Edit: &pkgapi.EditTask{Source: pkgapi.UpstreamRef{Name: f.v1}}})
			b := s.browser()
			b.signIn(tc.user)
			rv := editorRV(t, b, name, "Kptfile")
			if tc.before != nil {
				tc.before(name)
			}
			p := b.form(rev(name, "/edit"), "path", "cm.yaml", "rv", rv, "content", text)
			if p.code != tc.code || !strings.Contains(p.body, "name: typed-for-an-hour") || !strings.Contains(p.body, tc.want) ||
				!strings.Contains(p.body, "<textarea") {
				t.Fatalf("%d, want %d with the text and %q:\n%s", p.code, tc.code, tc.want, p.body)
			}
		})
	}
}
