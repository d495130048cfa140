package diff

import (
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"pkgserver.dev/pkgserver/internal/hostile"
	"pkgserver.dev/pkgserver/pkg/errdef"
)

// loadPackage reads a directory of testdata as the files of a package.
func loadPackage(t testing.TB, dir string) map[string]string {
	t.Helper()
	files := map[string]string{}
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		b, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		rel, err := filepath.Rel(dir, p)
		files[filepath.ToSlash(rel)] = string(b)
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	return files
}

func TestFiles(t *testing.T) {
	tests := []struct {
		name string
		a, b map[string]string
		want []FileDiff
	}{
		{"same", map[string]string{"x": "1\n"}, map[string]string{"x": "1\n"}, nil},
		{"empty", nil, nil, nil},
		{"modified", map[string]string{"x.yaml": "a: 1\nb: 2\n"}, map[string]string{"x.yaml": "a: 1\nb: 3\n"}, []FileDiff{
			{Path: "x.yaml", Status: Modified, Unified: "--- a/x.yaml\n+++ b/x.yaml\n@@ -1,2 +1,2 @@\n a: 1\n-b: 2\n+b: 3\n"},
		}},
		{"added and removed", map[string]string{"old": "x\n", "empty": ""}, map[string]string{"dir/new": "y\n"}, []FileDiff{
			{Path: "dir/new", Status: Added, Unified: "--- /dev/null\n+++ b/dir/new\n@@ -0,0 +1 @@\n+y\n"},
			{Path: "empty", Status: Removed, Unified: "--- a/empty\n+++ /dev/null\n"},
			{Path: "old", Status: Removed, Unified: "--- a/old\n+++ /dev/null\n@@ -1 +0,0 @@\n-x\n"},
		}},
		{"no final newline", map[string]string{"x": "a"}, map[string]string{"x": "b"}, []FileDiff{
			{Path: "x", Status: Modified, Unified: "--- a/x\n+++ b/x\n@@ -1 +1 @@\n-a\n\\ No newline at end of file\n+b\n\\ No newline at end of file\n"},
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := Files(tt.a, tt.b)
			if !slices.Equal(got, tt.want) {
				t.Errorf("Files =\n%#v\nwant\n%#v", got, tt.want)
			}
		})
	}
}

func TestFilesFixture(t *testing.T) {
	got := Files(loadPackage(t, "testdata/a"), loadPackage(t, "testdata/b"))
	var paths []string
	for _, d := range got {
		paths = append(paths, d.Path+":"+d.Status)
		if !strings.HasPrefix(d.Unified, "--- ") || !strings.Contains(d.Unified, "\n+++ ") {
			t.Errorf("%s: no unified headers:\n%s", d.Path, d.Unified)
		}
	}
	want := []string{"README.md:modified", "config.yaml:added", "deployment.yaml:modified", "hpa.yaml:removed", "service.yaml:modified"}
	if !slices.Equal(paths, want) {
		t.Errorf("Files = %v, want %v", paths, want)
	}
}

func TestResources(t *testing.T) {
	got, err := Resources(loadPackage(t, "testdata/a"), loadPackage(t, "testdata/b"))
	if err != nil {
		t.Fatal(err)
	}
	// The ConfigMap moved to another file and the Service changed only its
	// layout: neither is a change. The Kptfile and README do not count.
	want := []ResourceDiff{
		{Group: "apps", Kind: "Deployment", Namespace: "default", Name: "web", Path: "deployment.yaml", Change: Changed},
		{Group: "autoscaling", Kind: "HorizontalPodAutoscaler", Namespace: "default", Name: "web", Path: "hpa.yaml", Change: Removed},
		{Group: "policy", Kind: "PodDisruptionBudget", Namespace: "default", Name: "web", Path: "config.yaml", Change: Added},
	}
	if !slices.Equal(got, want) {
		t.Errorf("Resources =\n%+v\nwant\n%+v", got, want)
	}
}

func TestResourcesTable(t *testing.T) {
	const cm = "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: c\n"
	tests := []struct {
		name string
		a, b map[string]string
		want []ResourceDiff
		err  string
	}{
		{"empty", nil, nil, nil, ""},
		{"same in two files", map[string]string{"a.yaml": cm}, map[string]string{"b.yml": "---\n" + cm + "---\n"}, nil, ""},
		{"core group", nil, map[string]string{"a.yaml": cm}, []ResourceDiff{{Kind: "ConfigMap", Name: "c", Path: "a.yaml", Change: Added}}, ""},
		{"namespace is identity", map[string]string{"a.yaml": cm}, map[string]string{"a.yaml": cm + "  namespace: n\n"}, []ResourceDiff{
			{Kind: "ConfigMap", Name: "c", Path: "a.yaml", Change: Removed},
			{Kind: "ConfigMap", Namespace: "n", Name: "c", Path: "a.yaml", Change: Added},
		}, ""},
		{"duplicates compared per file", map[string]string{"x/a.yaml": cm, "y/a.yaml": cm}, map[string]string{"x/a.yaml": cm, "y/a.yaml": cm + "data: {a: b}\n"}, []ResourceDiff{
			{Kind: "ConfigMap", Name: "c", Path: "y/a.yaml", Change: Changed},
		}, ""},
		{"non-YAML ignored", map[string]string{"README": "{"}, nil, nil, ""},
		{"invalid YAML", map[string]string{"a.yaml": "a: ["}, nil, nil, `resources["a.yaml"]: invalid YAML`},
		{"not KRM", nil, map[string]string{"a.yaml": "- 1\n"}, nil, `resources["a.yaml"]: document 1: not a KRM object`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := Resources(tt.a, tt.b)
			if tt.err != "" {
				if !errors.Is(err, errdef.ErrInvalid) || !strings.Contains(err.Error(), tt.err) {
					t.Fatalf("Resources error = %v, want ErrInvalid and %q", err, tt.err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if !slices.Equal(got, tt.want) {
				t.Errorf("Resources =\n%+v\nwant\n%+v", got, tt.want)
			}
		})
	}
}

func FuzzResources(f *testing.F) {
	a := loadPackage(f, "testdata/a")
	b := loadPackage(f, "testdata/b")
	f.Add(a["service.yaml"], b["service.yaml"])
	f.Add("a: &x [*x, *x]", "{")
	f.Add(hostile.AliasBomb(9, 10), hostile.DuplicateKeys(50))
	f.Add(hostile.Nested(120), hostile.Documents(3))
	f.Fuzz(func(t *testing.T, x, y string) {
		pa, pb := map[string]string{"a.yaml": x}, map[string]string{"a.yaml": y}
		got, err := Resources(pa, pb)
		if err != nil {
			if !errors.Is(err, errdef.ErrInvalid) {
				t.Fatalf("error %v does not wrap ErrInvalid", err)
			}
			return
		}
		if x == y && len(got) != 0 {
			t.Fatalf("Resources of equal packages = %v", got)
		}
		// Files never panics on the same input, and agrees on sameness.
		if fd := Files(pa, pb); (len(fd) == 0) != (x == y) {
			t.Fatalf("Files = %v", fd)
		}
	})
}
