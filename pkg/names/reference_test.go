package names

import (
	"errors"
	"regexp"
	"strings"
	"testing"

	"pkgserver.dev/pkgserver/pkg/errdef"
)

// The distribution spec's grammars ("Pulling manifests"), as the fuzzers' oracle.
var (
	specName = regexp.MustCompile(`^[a-z0-9]+((\.|_|__|-+)[a-z0-9]+)*(/[a-z0-9]+((\.|_|__|-+)[a-z0-9]+)*)*$`)
	specTag  = regexp.MustCompile(`^[a-zA-Z0-9_][a-zA-Z0-9._-]{0,127}$`)
)

func TestValidateOCIRepository(t *testing.T) {
	tests := []struct {
		path string
		ok   bool
	}{
		{"a", true},
		{"default/catalog/realm/pkg", true},
		{"a/oci-layout", true},
		{"a/index.json", true},
		{"a/blobs/sha256/x", true},
		{"a__b/c.d/e-f/g--h", true},
		{"a_b", true},
		{"0", true},
		{strings.Repeat("a", MaxOCIRepositoryLength), true},
		{strings.Repeat("a", MaxOCIRepositoryLength+1), false},
		{"", false},
		{"A", false},
		{"a/B", false},
		{"_", false},
		{"a/_", false},
		{"a/_/b", false},
		{"a/", false},
		{"/a", false},
		{"a//b", false},
		{"a/../b", false},
		{"..", false},
		{"a/./b", false},
		{"a___b", false},
		{"a..b", false},
		{"a._b", false},
		{"-a", false},
		{"a-", false},
		{"a b", false},
		{"a:b", false},
		{"a@b", false},
		{"localhost:5000/a", false},
		{"é", false},
	}
	for _, tt := range tests {
		t.Run(tt.path, func(t *testing.T) {
			err := ValidateOCIRepository(tt.path)
			if (err == nil) != tt.ok {
				t.Fatalf("ValidateOCIRepository(%q) = %v, want ok=%v", tt.path, err, tt.ok)
			}
			if err != nil && !errors.Is(err, errdef.ErrInvalid) {
				t.Fatalf("error %v does not wrap errdef.ErrInvalid", err)
			}
		})
	}
}

func TestValidateOCITag(t *testing.T) {
	tests := []struct {
		tag string
		ok  bool
	}{
		{"v1", true},
		{"latest", true},
		{"ws.draft-1", true},
		{"v1.deletion-proposed", true},
		{"_x", true},
		{"A.b-C_9", true},
		{strings.Repeat("a", 128), true},
		{strings.Repeat("a", 129), false},
		{"", false},
		{".v1", false},
		{"-v1", false},
		{"a/b", false},
		{"a:b", false},
		{"a@b", false},
		{"a b", false},
		{"sha256:abc", false},
	}
	for _, tt := range tests {
		t.Run(tt.tag, func(t *testing.T) {
			err := ValidateOCITag(tt.tag)
			if (err == nil) != tt.ok {
				t.Fatalf("ValidateOCITag(%q) = %v, want ok=%v", tt.tag, err, tt.ok)
			}
			if err != nil && !errors.Is(err, errdef.ErrInvalid) {
				t.Fatalf("error %v does not wrap errdef.ErrInvalid", err)
			}
		})
	}
}

func FuzzValidateOCIRepository(f *testing.F) {
	for _, s := range []string{"default/catalog/realm/pkg", "a__b", "a___b", "a/../b", "a--b.c", "/", "A", "_", "a/_/b", "localhost/a"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, path string) {
		err := ValidateOCIRepository(path)
		want := len(path) <= MaxOCIRepositoryLength && specName.MatchString(path)
		if (err == nil) != want {
			t.Fatalf("ValidateOCIRepository(%q) = %v, spec grammar says %v", path, err, want)
		}
		// An accepted path is clean, relative, and never has a "_" component
		// (the embedded store keeps its files under one).
		if err == nil {
			for _, c := range strings.Split(path, "/") {
				if c == "" || c == "." || c == ".." || c == "_" {
					t.Fatalf("accepted unsafe path %q", path)
				}
			}
		}
	})
}

func FuzzValidateOCITag(f *testing.F) {
	for _, s := range []string{"v1", "latest", ".x", "-x", "a:b", "a/b", strings.Repeat("a", 129)} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, tag string) {
		err := ValidateOCITag(tag)
		if want := specTag.MatchString(tag); (err == nil) != want {
			t.Fatalf("ValidateOCITag(%q) = %v, spec grammar says %v", tag, err, want)
		}
	})
}
