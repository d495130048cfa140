package layout

import (
	"errors"
	"path"
	"regexp"
	"strings"
	"testing"

	"pkgserver.dev/pkgserver/pkg/errdef"
)

// nameGrammar is the distribution spec grammar, the oracle for the scanner.
var nameGrammar = regexp.MustCompile(`^[a-z0-9]+((\.|_|__|-+)[a-z0-9]+)*(/[a-z0-9]+((\.|_|__|-+)[a-z0-9]+)*)*$`)

func TestValidateRepositoryName(t *testing.T) {
	for _, tt := range []struct {
		name string
		ok   bool
	}{
		{"default/catalog/realm/pkg", true},
		{"a", true},
		{"a.b_c__d---e/f0", true},
		{"", false},
		{"A", false},
		{"a/", false},
		{"/a", false},
		{"a//b", false},
		{"a/../b", false},
		{"a/./b", false},
		{"a___b", false},
		{"a..b", false},
		{"-a", false},
		{"a-", false},
		{"a b", false},
		{strings.Repeat("a", 256), false},
	} {
		err := ValidateRepositoryName(tt.name)
		if (err == nil) != tt.ok {
			t.Errorf("ValidateRepositoryName(%q) = %v, want ok=%v", tt.name, err, tt.ok)
		}
		if err != nil && !errors.Is(err, errdef.ErrInvalid) {
			t.Errorf("ValidateRepositoryName(%q) = %v, want errdef.ErrInvalid", tt.name, err)
		}
	}
}

func FuzzRepositoryName(f *testing.F) {
	for _, s := range []string{"default/catalog/realm/pkg", "a__b", "a___b", "a/../b", "a--b.c", "/", "A"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, name string) {
		err := ValidateRepositoryName(name)
		want := len(name) <= maxNameLength && nameGrammar.MatchString(name)
		if (err == nil) != want {
			t.Fatalf("ValidateRepositoryName(%q) = %v, grammar says %v", name, err, want)
		}
		// An accepted name is a clean relative path that cannot escape the data dir.
		if err == nil && (path.Clean(name) != name || path.IsAbs(name) || strings.Contains(name, "..")) {
			t.Fatalf("accepted unsafe name %q", name)
		}
	})
}
