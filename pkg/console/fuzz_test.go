package console

import (
	"net/url"
	"strings"
	"testing"
	"unicode/utf8"
)

// Return addresses come from links anyone can make: whatever they hold, the
// console sends the browser to one of its own pages.
func FuzzSafeReturn(f *testing.F) {
	for _, s := range []string{"/ui/", "/ui/namespaces/a/revisions?q=x", "//evil.example/ui/", "/ui/..//evil", "/ui/%2F%2Fevil",
		"https://evil.example", "/ui/\\evil", "/ui/\t/evil", "/ui/signin", "/ui/oidc/callback", "javascript:alert(1)", "/ui/?a=\"><script>"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		out := safeReturn(s)
		u, err := url.Parse(out)
		if err != nil || u.Scheme != "" || u.Host != "" || u.User != nil || !strings.HasPrefix(out, Prefix) ||
			strings.HasPrefix(out, "//") || strings.ContainsAny(out, "\\\r\n\t\x00") {
			t.Fatalf("safeReturn(%q) = %q", s, out)
		}
		for _, attr := range []string{string(refreshAttr(s)), string(reopenAttr(s))} {
			if strings.ContainsAny(strings.TrimSuffix(strings.TrimPrefix(attr, `content="`), `"`), "\"<>") {
				t.Fatalf("attribute %q", attr)
			}
		}
	})
}

// Files, diffs and names hold anything: shown, they are escaped text of a
// bounded size, with nothing invisible left in them.
func FuzzShow(f *testing.F) {
	for _, s := range []string{"a: 1\n", "</script><script>alert(1)</script>", "x\u202Ey\n", "- [- [- [", "a: |\n  x\n", "\xff\xfe\x00"} {
		f.Add("a.yaml", s, 1)
		f.Add("README.md", s, 2)
	}
	f.Fuzz(func(t *testing.T, name, text string, line int) {
		for _, out := range []string{string(highlight(name, text, line)), string(excerpt(name, text, line))} {
			if strings.Contains(out, "<script") || strings.Contains(out, "<img") || strings.Contains(out, "\u202E") {
				t.Fatalf("unescaped or invisible text in %q", out)
			}
			if len(out) > 64*len(text)+8192 {
				t.Fatalf("%d bytes shown for %d", len(out), len(text))
			}
		}
		lines, _ := parseUnified(text, newDiffBudget())
		for _, l := range lines {
			if strings.ContainsFunc(l.Text, invisible) && utf8.ValidString(l.Text) {
				t.Fatalf("diff line %q", l.Text)
			}
		}
	})
}
