package console

import (
	"fmt"
	"html/template"
	"net/url"
	"strings"
	"time"
	"unicode"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// funcs are the helpers templates use; none of them returns unescaped
// HTML built from data except highlight, whose tokens chroma escapes.
// Names and text of files, resources and diffs go through visible.
var funcs = template.FuncMap{
	"static":    staticURL,
	"highlight": highlight,
	"age":       age,
	"when":      when,
	"short":     shortDigest,
	"path":      url.PathEscape,
	"revURL":    revURL,
	"join":      strings.Join,
	"nsURL":     nsURL,
	"dict":      dict,
	"refresh":   refreshAttr,
	"reopen":    reopenAttr,
	"visible":   visible,
}

// visible shows the characters that change how text reads without being
// seen, each as ⟨U+XXXX⟩: bidirectional controls (the "Trojan Source"
// trick, which makes a reviewer read a line other than the one that is
// there), zero-width and other format characters, control characters, and
// line separators that are not newlines. Tabs and line ends stay.
func visible(s string) string {
	if !strings.ContainsFunc(s, invisible) {
		return s
	}
	var b strings.Builder
	for _, r := range s {
		if invisible(r) {
			fmt.Fprintf(&b, "⟨U+%04X⟩", r)
		} else {
			b.WriteRune(r)
		}
	}
	return b.String()
}

func invisible(r rune) bool {
	switch r {
	case '\t', '\n', '\r':
		return false
	}
	return unicode.IsControl(r) || unicode.In(r, unicode.Cf, unicode.Zl, unicode.Zp)
}

// dict makes a map of key, value pairs, to pass several values to a
// template.
func dict(kv ...any) (map[string]any, error) {
	if len(kv)%2 != 0 {
		return nil, fmt.Errorf("dict: %d arguments, want pairs", len(kv))
	}
	m := make(map[string]any, len(kv)/2)
	for i := 0; i < len(kv); i += 2 {
		k, ok := kv[i].(string)
		if !ok {
			return nil, fmt.Errorf("dict: key %v is not a string", kv[i])
		}
		m[k] = kv[i+1]
	}
	return m, nil
}

// refreshAttr is the content attribute of a meta refresh to a console
// path (html/template refuses data in that attribute, since it may hold a
// URL): only paths safeReturn lets through, escaped.
func refreshAttr(target string) template.HTMLAttr {
	return template.HTMLAttr(`content="0;url=` + template.HTMLEscapeString(safeReturn(target)) + `"`)
}

// reopenAttr is the content attribute of a meta refresh that opens a
// console address again (any page, the sign-in page too); anything else
// opens the start page.
func reopenAttr(target string) template.HTMLAttr {
	if !strings.HasPrefix(target, Prefix) || strings.ContainsAny(target, "\\\r\n") {
		target = Prefix
	}
	return template.HTMLAttr(`content="0;url=` + template.HTMLEscapeString(target) + `"`)
}

// revURL is the console path of a revision page, with an optional tail
// ("/diff", "/history").
func revURL(ns, name string, tail ...string) string {
	return Prefix + "namespaces/" + url.PathEscape(ns) + "/revisions/" + url.PathEscape(name) + strings.Join(tail, "")
}

// nsURL is the console path of a namespace's page.
func nsURL(ns, page string) string {
	if ns == "" {
		ns = defaultNamespace
	}
	return Prefix + "namespaces/" + url.PathEscape(ns) + "/" + page
}

// timeOf accepts the time types of the API.
func timeOf(v any) (time.Time, bool) {
	switch t := v.(type) {
	case metav1.Time:
		return t.Time, !t.IsZero()
	case *metav1.Time:
		if t == nil {
			return time.Time{}, false
		}
		return t.Time, !t.IsZero()
	case time.Time:
		return t, !t.IsZero()
	}
	return time.Time{}, false
}

// when is a time as RFC 3339 in UTC, for <time datetime> and titles.
func when(v any) string {
	t, ok := timeOf(v)
	if !ok {
		return ""
	}
	return t.UTC().Format(time.RFC3339)
}

// age is how long ago, the way kubectl prints it (5m, 3h, 2d).
func age(v any) string {
	t, ok := timeOf(v)
	if !ok {
		return ""
	}
	return humanDuration(time.Since(t))
}

func humanDuration(d time.Duration) string {
	switch {
	case d < 0:
		return "now"
	case d < time.Minute:
		return fmt.Sprintf("%ds", int(d.Seconds()))
	case d < time.Hour:
		return fmt.Sprintf("%dm", int(d.Minutes()))
	case d < 48*time.Hour:
		return fmt.Sprintf("%dh", int(d.Hours()))
	}
	return fmt.Sprintf("%dd", int(d.Hours()/24))
}

// shortDigest keeps the algorithm and 12 hex digits.
func shortDigest(d string) string {
	alg, hex, ok := strings.Cut(d, ":")
	if !ok || len(hex) <= 12 {
		return d
	}
	return alg + ":" + hex[:12]
}
