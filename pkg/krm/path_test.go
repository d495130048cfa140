package krm

import (
	"errors"
	"path"
	"strings"
	"testing"

	"pkgserver.dev/pkgserver/pkg/errdef"
)

func TestValidatePath(t *testing.T) {
	tests := []struct {
		p    string
		want string // "" means valid
	}{
		{"Kptfile", ""},
		{"deploy/app.yaml", ""},
		{".hidden", ""},
		{"a/..b/c..", ""},
		{"a/.../b", ""},
		{strings.Repeat("a", MaxPathLength), ""},
		{"", "must not be empty"},
		{".", "not the package root"},
		{"..", `".." segment`},
		{"../x", `".." segment`},
		{"a/../b", `".." segment`},
		{"a/..", `".." segment`},
		{"/etc/passwd", "must be relative"},
		{"/", "must be relative"},
		{`a\b`, `not "\"`},
		{`..\x`, `not "\"`},
		{"C:\\x", `not "\"`},
		{"a\x00b", "NUL"},
		{"./a", `must be clean ("a")`},
		{"a/./b", `must be clean ("a/b")`},
		{"a//b", `must be clean ("a/b")`},
		{"a/", `must be clean ("a")`},
		{strings.Repeat("a", MaxPathLength+1), "longer than 4096"},
	}
	for _, tt := range tests {
		t.Run(tt.p, func(t *testing.T) {
			err := ValidatePath(tt.p)
			if tt.want == "" {
				if err != nil {
					t.Fatalf("ValidatePath(%q) = %v", tt.p, err)
				}
				return
			}
			if err == nil || !errors.Is(err, errdef.ErrInvalid) {
				t.Fatalf("ValidatePath(%q) = %v, want ErrInvalid", tt.p, err)
			}
			if msg := err.Error(); !strings.Contains(msg, tt.want) || !strings.Contains(msg, "path ") {
				t.Errorf("ValidatePath(%q) = %q, want it to name the path and say %q", tt.p, msg, tt.want)
			}
		})
	}
}

func FuzzValidatePath(f *testing.F) {
	for _, s := range []string{"a", "a/b", "../a", "/a", "a//b", ".", "a\\b", "a/./b", "a/.."} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, p string) {
		if ValidatePath(p) != nil {
			return
		}
		// An accepted path stays inside the package wherever it is joined.
		if path.Clean(p) != p || path.IsAbs(p) || strings.ContainsAny(p, "\\\x00") || p == "." {
			t.Fatalf("ValidatePath accepted %q", p)
		}
		if j := path.Join("root", p); !strings.HasPrefix(j, "root/") {
			t.Fatalf("ValidatePath accepted %q, which escapes: %q", p, j)
		}
	})
}
