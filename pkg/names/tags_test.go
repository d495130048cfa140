package names

import (
	"math"
	"strconv"
	"testing"
)

func TestParseRevision(t *testing.T) {
	tests := []struct {
		in string
		n  int
		ok bool
	}{
		{"v1", 1, true},
		{"v42", 42, true},
		{"v" + strconv.Itoa(math.MaxInt), math.MaxInt, true},
		{"", 0, false},
		{"v", 0, false},
		{"v0", 0, false},
		{"v01", 0, false},
		{"1", 0, false},
		{"V1", 0, false},
		{"v-1", 0, false},
		{"v+1", 0, false},
		{"v1.0", 0, false},
		{"v 1", 0, false},
		{"v1 ", 0, false},
		{"v99999999999999999999999", 0, false},
		{"latest", 0, false},
		{"ws.v1", 0, false},
		{"v1.deletion-proposed", 0, false},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			n, ok := ParseRevision(tt.in)
			if n != tt.n || ok != tt.ok {
				t.Errorf("ParseRevision(%q) = %d, %v; want %d, %v", tt.in, n, ok, tt.n, tt.ok)
			}
		})
	}
}

func TestTags(t *testing.T) {
	if got := RevisionTag(3); got != "v3" {
		t.Errorf("RevisionTag(3) = %q", got)
	}
	if got := WorkspaceTag("main"); got != "ws.main" {
		t.Errorf("WorkspaceTag = %q", got)
	}
	if got := DeletionTag(7); got != "v7.deletion-proposed" {
		t.Errorf("DeletionTag = %q", got)
	}
	if ws, ok := ParseWorkspaceTag("ws.main"); !ok || ws != "main" {
		t.Errorf("ParseWorkspaceTag(ws.main) = %q, %v", ws, ok)
	}
	for _, bad := range []string{"main", "ws.", "ws.Main", "ws.a.b", "v1", "latest", "ws.-x"} {
		if ws, ok := ParseWorkspaceTag(bad); ok {
			t.Errorf("ParseWorkspaceTag(%q) = %q, true", bad, ws)
		}
	}
	if n, ok := ParseDeletionTag("v7.deletion-proposed"); !ok || n != 7 {
		t.Errorf("ParseDeletionTag = %d, %v", n, ok)
	}
	for _, bad := range []string{"v7", "v0.deletion-proposed", ".deletion-proposed", "v07.deletion-proposed", "v7.deletion-proposedx", "ws.a.deletion-proposed"} {
		if n, ok := ParseDeletionTag(bad); ok {
			t.Errorf("ParseDeletionTag(%q) = %d, true", bad, n)
		}
	}
}

// TestTagsDoNotCollide checks the promise that the three tag families and
// "latest" are disjoint, whatever the workspace name.
func TestTagsDoNotCollide(t *testing.T) {
	for _, ws := range []string{"v1", "latest", "main", "1", "deletion-proposed"} {
		tag := WorkspaceTag(ws)
		if _, ok := ParseRevision(tag); ok {
			t.Errorf("workspace tag %q parses as a revision", tag)
		}
		if _, ok := ParseDeletionTag(tag); ok {
			t.Errorf("workspace tag %q parses as a deletion marker", tag)
		}
		if tag == LatestTag {
			t.Errorf("workspace tag %q is latest", tag)
		}
	}
	if _, ok := ParseRevision(DeletionTag(1)); ok {
		t.Error("deletion tag parses as a revision")
	}
}

// ociTag is the tag grammar of the OCI distribution spec ("Pulling manifests").
func ociTag(s string) bool {
	if len(s) == 0 || len(s) > 128 {
		return false
	}
	for i, c := range []byte(s) {
		alnum := c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '_'
		if !alnum && (i == 0 || c != '.' && c != '-') {
			return false
		}
	}
	return true
}

func TestTagsAreOCITags(t *testing.T) {
	for _, tag := range []string{RevisionTag(math.MaxInt), DeletionTag(math.MaxInt), WorkspaceTag("w23456789-123456789-123456789-123456789-123456789-123456789-123"), LatestTag} {
		if !ociTag(tag) {
			t.Errorf("%q is not a valid OCI tag", tag)
		}
	}
}

func FuzzParseRevision(f *testing.F) {
	for _, s := range []string{"v1", "v0", "v01", "v", "v9223372036854775807", "v9223372036854775808", "v-1", "v+1"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		n, ok := ParseRevision(s)
		if !ok {
			if n != 0 {
				t.Fatalf("ParseRevision(%q) = %d, false", s, n)
			}
			return
		}
		if n < 1 {
			t.Fatalf("ParseRevision(%q) = %d", s, n)
		}
		if got := RevisionTag(n); got != s {
			t.Fatalf("RevisionTag(ParseRevision(%q)) = %q", s, got)
		}
		if m, ok := ParseDeletionTag(DeletionTag(n)); !ok || m != n {
			t.Fatalf("ParseDeletionTag(DeletionTag(%d)) = %d, %v", n, m, ok)
		}
	})
}
