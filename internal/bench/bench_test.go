package bench

import (
	"bytes"
	"context"
	"io"
	"reflect"
	"strings"
	"testing"
	"time"

	"pkgserver.dev/pkgserver/pkg/format"
	"pkgserver.dev/pkgserver/pkg/krm"
	"pkgserver.dev/pkgserver/pkg/names"
	"pkgserver.dev/pkgserver/pkg/store/layout"
)

// TestQuickRun runs the whole harness once at a tiny size, so that `make test`
// keeps it working, and checks that the table has every row with numbers.
func TestQuickRun(t *testing.T) {
	if testing.Short() {
		t.Skip("starts pkgserver and a registry")
	}
	cfg := QuickConfig()
	cfg.Log = testWriter{t}
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	rep, err := Run(ctx, cfg)
	if err != nil {
		t.Fatal(err)
	}
	var md bytes.Buffer
	if err := rep.WriteMarkdown(&md); err != nil {
		t.Fatal(err)
	}
	t.Log("\n" + md.String())

	// A cell may lack a number only for these reasons.
	allowed := []string{noRegistry, "pkgserver has no /v2/ yet (404)"}
	for _, row := range rep.Rows {
		for _, c := range []struct {
			backend string
			cell    Cell
		}{{"embedded", row.Embedded}, {"remote", row.Remote}} {
			if len(c.cell.Values) > 0 {
				continue
			}
			ok := false
			for _, a := range allowed {
				ok = ok || c.cell.NA == a
			}
			if !ok {
				t.Errorf("%s / %s, %s: no number (%q)", row.Section, row.Name, c.backend, c.cell.NA)
			}
		}
		if !strings.Contains(md.String(), "| "+row.Name+" |") {
			t.Errorf("markdown lacks row %q", row.Name)
		}
	}
	want := []string{"create (init)", "put resources", "propose", "approve (publish)", "total",
		"get PackageRevision, warm", "get PackageRevisionResources, warm", "get PackageRevision, cold",
		"get PackageRevisionResources, cold", "oras-go push of the same package", "oras-go pull of the same package",
		"warm list (ms p50 / p99)", "server peak RSS (MiB)", "registry requests, first list / warm list",
		"process start → a list returns every revision (s)"}
	for _, name := range want {
		found := false
		for _, row := range rep.Rows {
			found = found || row.Name == name
		}
		if !found {
			t.Errorf("no row %q", name)
		}
	}
	for _, size := range cfg.ListSizes {
		row, ok := rep.Row(listSection(size), "revisions listed")
		if !ok {
			t.Errorf("no list section for %d revisions", size)
			continue
		}
		wantItems := float64(packagesOf(size) * RevisionsPerPackage)
		for _, c := range []Cell{row.Embedded, row.Remote} {
			if len(c.Values) != 1 || c.Values[0] != wantItems {
				t.Errorf("list of %d: listed %v, want %v", size, c.Values, wantItems)
			}
		}
	}
	if len(rep.Targets) == 0 {
		t.Error("no targets")
	}
}

type testWriter struct{ t *testing.T }

func (w testWriter) Write(b []byte) (int, error) {
	w.t.Log(strings.TrimRight(string(b), "\n"))
	return len(b), nil
}

func TestGeneratePackage(t *testing.T) {
	a := GeneratePackage("app", 7)
	if !reflect.DeepEqual(a, GeneratePackage("app", 7)) {
		t.Fatal("same name and seed gave different packages")
	}
	if reflect.DeepEqual(a, GeneratePackage("app", 8)) {
		t.Error("different seeds gave the same package")
	}
	if len(a) != filesPerPackage {
		t.Errorf("%d files, want %d", len(a), filesPerPackage)
	}
	kinds := map[string]bool{}
	for p, text := range a {
		if p == "Kptfile" {
			continue
		}
		if n := len(text); n < 1024 || n > 5*1024+256 {
			t.Errorf("%s: %d bytes, want about 1–5 KB", p, n)
		}
		for _, k := range []string{"Deployment", "Service", "ConfigMap"} {
			if strings.Contains(text, "\nkind: "+k+"\n") {
				kinds[k] = true
			}
		}
	}
	if len(kinds) != 3 {
		t.Errorf("kinds %v, want Deployment, Service and ConfigMap", kinds)
	}
	if err := krm.Validate(a); err != nil {
		t.Errorf("generated package is not valid KRM: %v", err)
	}
}

func TestPathKind(t *testing.T) {
	tests := map[string]string{
		"/v2/":                                "base",
		"/v2/_catalog":                        "catalog",
		"/v2/a/b/tags/list":                   "tags",
		"/v2/a/b/manifests/v1":                "manifest",
		"/v2/a/blobs/sha256:abc":              "blob",
		"/v2/a/blobs/uploads/":                "upload",
		"/v2/a/blobs/uploads/123-abc":         "upload",
		"/v2/a/referrers/sha256:abc":          "referrers",
		"/apis/pkg.pkgserver.dev/v1alpha1/xx": "other",
	}
	for path, want := range tests {
		if got := PathKind(path); got != want {
			t.Errorf("PathKind(%q) = %q, want %q", path, got, want)
		}
	}
}

func TestSamples(t *testing.T) {
	var s Samples
	for i := 1; i <= 100; i++ {
		s = append(s, time.Duration(101-i)*time.Millisecond)
	}
	if got := s.P50(); got != 50 {
		t.Errorf("p50 = %v, want 50", got)
	}
	if got := s.P99(); got != 99 {
		t.Errorf("p99 = %v, want 99", got)
	}
	if got := (Samples{time.Millisecond}).P99(); got != 1 {
		t.Errorf("p99 of one sample = %v, want 1", got)
	}
}

// TestFillLayoutIsReadByTheStore checks that the direct pre-fill writes what
// the embedded store reads: tags, manifests and layers.
func TestFillLayoutIsReadByTheStore(t *testing.T) {
	dir := t.TempDir()
	pool, err := newLayerPool(2)
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	if err := FillLayout(ctx, dir, "ns/repo", 0, 3, pool); err != nil {
		t.Fatal(err)
	}
	s, err := layout.Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	var repos []string
	if err := s.Repositories(ctx, "", func(r []string) error { repos = append(repos, r...); return nil }); err != nil {
		t.Fatal(err)
	}
	if len(repos) != 3 {
		t.Fatalf("repositories %v, want 3", repos)
	}
	want := fillPackageAt("ns/repo", 1, pool)
	repo, err := s.Repository(ctx, want.path)
	if err != nil {
		t.Fatal(err)
	}
	for r, tag := range []string{"v1", "v2", "v3", names.LatestTag} {
		desc, err := repo.Resolve(ctx, tag)
		if err != nil {
			t.Fatalf("resolve %s: %v", tag, err)
		}
		m := want.manifests[min(r, RevisionsPerPackage-1)]
		if desc.Digest != m.Descriptor.Digest {
			t.Errorf("%s: digest %s, want %s", tag, desc.Digest, m.Descriptor.Digest)
		}
	}
	rc, err := repo.Fetch(ctx, want.layers[0].Descriptor)
	if err != nil {
		t.Fatal(err)
	}
	data, err := io.ReadAll(rc)
	rc.Close()
	if err != nil {
		t.Fatal(err)
	}
	files := map[string]string{}
	if err := format.ReadLayer(want.layers[0].Descriptor, data, files); err != nil {
		t.Fatal(err)
	}
	if len(files) != filesPerPackage {
		t.Errorf("layer has %d files, want %d", len(files), filesPerPackage)
	}
}
