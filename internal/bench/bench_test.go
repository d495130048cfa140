package bench

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"pkgserver.dev/pkgserver/pkg/format"
	"pkgserver.dev/pkgserver/pkg/krm"
	"pkgserver.dev/pkgserver/pkg/names"
	"pkgserver.dev/pkgserver/pkg/store/layout"
)

// TestQuickRun runs every phase of the harness once at a tiny size, so that
// `make test` keeps it working, and checks that every table and target has
// its numbers.
func TestQuickRun(t *testing.T) {
	if testing.Short() {
		t.Skip("starts pkgserver, a registry and etcd")
	}
	cfg := QuickConfig()
	cfg.Log = testWriter{t}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
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
	missing := []string{"no samples", "not measured", "lists not run", "start not run", "not run"}
	for _, tab := range rep.Tables {
		for _, row := range tab.Rows {
			if len(row.Cells) != len(tab.Columns)-1 {
				t.Errorf("%s / %s: %d cells for %d columns", tab.Title, row.Name, len(row.Cells), len(tab.Columns)-1)
			}
			for i, c := range row.Cells {
				if slices.Contains(missing, c.NA) {
					t.Errorf("%s / %s / %s: no number (%q)", tab.Title, row.Name, tab.Columns[i+1], c.NA)
				}
			}
			if !strings.Contains(md.String(), "| "+row.Name+" |") {
				t.Errorf("markdown lacks row %q", row.Name)
			}
		}
	}
	for _, title := range []string{"Lifecycle", "Registry requests", "Reads", "Cost curve, embedded store: memory", "Cost curve, embedded store: lists",
		"Fill of 30 ", "Fill of 90 ", "Watchers", "Informers", "etcd coordination", "Throughput with several replicas"} {
		if _, ok := rep.Table(title); !ok {
			t.Errorf("no table %q", title)
		}
	}
	issues := map[string]int{}
	for _, tg := range rep.Targets {
		issues[tg.Issue]++
		// Only the starts at 100,000 and 1,000,000 need sizes a quick run has not.
		if tg.Status == statusNotRun && !strings.HasPrefix(tg.Target, "start: complete list of") {
			t.Errorf("target %q not run", tg.Target)
		}
		if !strings.Contains(md.String(), "| "+tg.Target+" |") {
			t.Errorf("markdown lacks target %q", tg.Target)
		}
	}
	for _, is := range []string{"13", "11", "12", "6"} {
		if issues[is] == 0 {
			t.Errorf("no target of issue %s", is)
		}
	}
	for _, size := range cfg.ListSizes {
		tab, _ := rep.Table(fmt.Sprintf("Fill of %d ", size))
		if tab == nil {
			continue
		}
		want := float64(fillRevisions(packagesOf(size)))
		for _, row := range tab.Rows {
			if row.Name != "revisions listed" {
				continue
			}
			// The embedded fill also holds what the write loads of earlier
			// stages published.
			if emb := row.Cells[0]; len(emb.Values) != 1 || emb.Values[0] < want {
				t.Errorf("fill of %d, embedded: listed %v, want at least %v", size, emb.Values, want)
			}
			if reg := row.Cells[1]; len(reg.Values) != 1 || reg.Values[0] != want {
				t.Errorf("fill of %d, remote: listed %v, want %v", size, reg.Values, want)
			}
		}
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
	if err := FillLayout(ctx, dir, "ns/repo", 0, 8, pool); err != nil {
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
	if len(repos) != 8 {
		t.Fatalf("repositories %v, want 8", repos)
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

	// Package 7 has a proposed revision; package 5 is a clone of package 0.
	p7 := fillPackageAt("ns/repo", 7, pool)
	repo7, err := s.Repository(ctx, p7.path)
	if err != nil {
		t.Fatal(err)
	}
	desc, err := repo7.Resolve(ctx, names.WorkspaceTag("ws4"))
	if err != nil {
		t.Fatalf("resolve the proposed revision: %v", err)
	}
	if desc.Digest != p7.manifests[RevisionsPerPackage].Descriptor.Digest {
		t.Errorf("proposed revision: digest %s", desc.Digest)
	}
	if !strings.Contains(string(p7.manifests[RevisionsPerPackage].Data), "proposed") {
		t.Error("the fourth manifest of package 7 is not proposed")
	}
	if !strings.Contains(string(fillPackageAt("ns/repo", 5, pool).manifests[0].Data), fillRevisionName(0, 2)) {
		t.Error("package 5 does not name its upstream")
	}
}

func TestFillRevisions(t *testing.T) {
	for _, pkgs := range []int{1, 7, 8, 1007, 1008, 33334} {
		want := 0
		for i := range pkgs {
			want += len(fillPackageAt("p", i, layerPool{{}}).manifests)
		}
		if got := fillRevisions(pkgs); got != want {
			t.Errorf("fillRevisions(%d) = %d, want %d", pkgs, got, want)
		}
	}
}

func TestSelectiveQueriesCount(t *testing.T) {
	// What the queries expect, counted the slow way from the fill.
	const pkgs = 2500
	var all []fillPackage
	for i := range pkgs {
		all = append(all, fillPackageAt("p", i, layerPool{{}}))
	}
	for _, q := range selectiveQueries(pkgs, 0, 500) {
		for k := range 5 {
			params, want := q.run(k)
			got := 0
			for i, p := range all {
				for r, m := range p.manifests {
					proposed := r >= RevisionsPerPackage
					latest := r == RevisionsPerPackage-1
					data := string(m.Data)
					switch {
					case params.Get("fieldSelector") == "spec.lifecycle=proposed":
						if proposed {
							got++
						}
					case strings.HasPrefix(params.Get("fieldSelector"), "spec.packageRevID.package="):
						if fillID(i).Package == strings.TrimPrefix(params.Get("fieldSelector"), "spec.packageRevID.package=") &&
							(params.Get("labelSelector") == "" || latest) {
							got++
						}
					case strings.HasPrefix(params.Get("fieldSelector"), "spec.upstream.name="):
						if strings.Contains(data, `\"name\":\"`+strings.TrimPrefix(params.Get("fieldSelector"), "spec.upstream.name=")+`\"`) {
							got++
						}
					case params.Get("labelSelector") != "":
						if latest {
							got++
						}
					}
				}
			}
			if params.Get("limit") != "" {
				got = min(got, 500)
			}
			if got != want {
				t.Errorf("%s run %d (%s): want %d, the fill has %d", q.name, k, params.Encode(), want, got)
			}
		}
	}
}

func TestEventOf(t *testing.T) {
	tests := []struct {
		line string
		typ  string
		rv   uint64
		ok   bool
	}{
		{`{"type":"ADDED","object":{"kind":"PackageRevision","metadata":{"name":"a","resourceVersion":"1048577"},"spec":{}}}`, "ADDED", 1048577, true},
		{`{"type":"BOOKMARK","object":{"metadata":{"resourceVersion":"7"}}}`, "BOOKMARK", 7, true},
		{`{"type":"ERROR","object":{"code":410}}`, "ERROR", 0, true},
		{`{"type":"MODIFIED","object":{}}`, "MODIFIED", 0, false},
		{`garbage`, "", 0, false},
	}
	for _, tt := range tests {
		typ, rv, ok := eventOf([]byte(tt.line))
		if typ != tt.typ || rv != tt.rv || ok != tt.ok {
			t.Errorf("eventOf(%s) = %q %d %v, want %q %d %v", tt.line, typ, rv, ok, tt.typ, tt.rv, tt.ok)
		}
	}
}

func TestScanWriter(t *testing.T) {
	body := `{"items":[{"metadata":{"uid":"a"}},{"metadata":{"uid":"b"}},{"metadata":{"uid":"c"}}],"metadata":{"resourceVersion":"9","continue":"x"}}`
	// Every split point, so that a key across two writes is counted once.
	for cut := range len(body) {
		var w scanWriter
		w.Write([]byte(body[:cut]))
		w.Write([]byte(body[cut:]))
		if w.count != 3 || w.n != len(body) || string(w.tail) != body {
			t.Fatalf("cut %d: count %d, n %d", cut, w.count, w.n)
		}
	}
}

func TestUpdateDoc(t *testing.T) {
	path := filepath.Join(t.TempDir(), "perf.md")
	doc := "# Perf\n\nintro\n\n<!-- pkgbench:bench:begin -->\nold numbers\n<!-- pkgbench:bench:end -->\n\nafter\n"
	if err := os.WriteFile(path, []byte(doc), 0o644); err != nil {
		t.Fatal(err)
	}
	rep := &Report{Config: QuickConfig(), Duration: "1s"}
	rep.target("13", "a target", "1 ms", "2 ms", "0.50×", statusMet)
	tab := rep.table("A table", "measure", "value")
	tab.add("a row", "", numbers("%.1f", 1.5))
	for range 2 { // twice: a rerun replaces, never appends
		if err := rep.UpdateDoc(path, "bench"); err != nil {
			t.Fatal(err)
		}
	}
	data, _ := os.ReadFile(path)
	got := string(data)
	for _, want := range []string{"# Perf\n\nintro\n", "| a target | 1 ms | 2 ms | 0.50× | met |", "### A table", "| a row | 1.5 |", "<!-- pkgbench:bench:end -->\n\nafter\n"} {
		if !strings.Contains(got, want) {
			t.Errorf("document lacks %q:\n%s", want, got)
		}
	}
	if strings.Contains(got, "old numbers") || strings.Count(got, "### A table") != 1 {
		t.Errorf("the old section was not replaced:\n%s", got)
	}
	if err := rep.UpdateDoc(path, "scale"); err == nil {
		t.Error("a document without the section's markers was accepted")
	}
}
