package upgrade

import (
	"errors"
	"io/fs"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"pkgserver.dev/pkgserver/internal/hostile"
	"pkgserver.dev/pkgserver/pkg/errdef"
	"pkgserver.dev/pkgserver/pkg/yamlbound"
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

// loadCase reads testdata/<name>/{original,upstream,local,want}.
func loadCase(t testing.TB, name string) (original, upstream, local, want map[string]string) {
	dir := filepath.Join("testdata", name)
	return loadPackage(t, filepath.Join(dir, "original")), loadPackage(t, filepath.Join(dir, "upstream")),
		loadPackage(t, filepath.Join(dir, "local")), loadPackage(t, filepath.Join(dir, "want"))
}

// assertFiles compares packages: KRM files as data (comments, layout and key
// order aside), other files as text.
func assertFiles(t *testing.T, got, want map[string]string) {
	t.Helper()
	if g, w := slices.Sorted(maps.Keys(got)), slices.Sorted(maps.Keys(want)); !slices.Equal(g, w) {
		t.Fatalf("files = %v, want %v", g, w)
	}
	for p, w := range want {
		g := got[p]
		if g == w {
			continue
		}
		if !isYAML(p) {
			t.Errorf("%s =\n%s\nwant\n%s", p, g, w)
			continue
		}
		gd, errG := parseDocs(p, g, yamlbound.NewBudget(yamlbound.DefaultLimits()))
		wd, errW := parseDocs(p, w, yamlbound.NewBudget(yamlbound.DefaultLimits()))
		if errG != nil || errW != nil {
			t.Fatalf("%s: parse: %v, %v", p, errG, errW)
		}
		same := len(gd) == len(wd)
		for i := 0; same && i < len(gd); i++ {
			same = equal(gd[i].body(), wd[i].body())
		}
		if !same {
			t.Errorf("%s =\n%s\nwant\n%s", p, g, w)
		}
	}
}

func TestResourceMerge(t *testing.T) {
	tests := []struct {
		name      string
		conflicts []Conflict
	}{
		{name: "fields"},
		{name: "add-resources"},
		{name: "conflict", conflicts: []Conflict{
			{Path: "deployment.yaml", Resource: "apps/Deployment/default/web", Field: "spec.replicas", Local: "3", Upstream: "5"},
			{Path: "deployment.yaml", Resource: "apps/Deployment/default/web", Field: "spec.template.spec.containers[name=app].image", Local: "nginx:1.26-alpine", Upstream: "nginx:1.27"},
		}},
		{name: "upstream-deletes", conflicts: []Conflict{
			{Path: "service.yaml", Resource: "/Service/default/web", Local: "*", Upstream: ""},
		}},
		{name: "local-deletes", conflicts: []Conflict{
			{Path: "configmap.yaml", Resource: "/ConfigMap/default/web-config", Local: "", Upstream: "*"},
		}},
		{name: "kptfile"},
		{name: "text-files", conflicts: []Conflict{
			{Path: "NOTES.txt", Local: "local\n", Upstream: "upstream\n"},
		}},
		{name: "moved"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel() // also shows kyaml's global schema is safe to share
			original, upstream, local, want := loadCase(t, tt.name)
			inputs := []map[string]string{maps.Clone(original), maps.Clone(upstream), maps.Clone(local)}
			res, err := Upgrade(original, upstream, local, ResourceMerge)
			if err != nil {
				t.Fatal(err)
			}
			assertFiles(t, res.Files, want)
			assertConflicts(t, res.Conflicts, tt.conflicts)
			for i, m := range []map[string]string{original, upstream, local} {
				if !maps.Equal(m, inputs[i]) {
					t.Errorf("Upgrade modified input %d", i)
				}
			}
		})
	}
}

// assertConflicts compares conflicts; a want Local or Upstream of "*" means
// any non-empty text (a whole resource).
func assertConflicts(t *testing.T, got, want []Conflict) {
	t.Helper()
	if len(got) != len(want) {
		t.Fatalf("conflicts = %v, want %v", got, want)
	}
	match := func(g, w string) bool { return g == w || w == "*" && g != "" }
	for i := range want {
		g, w := got[i], want[i]
		if g.Path != w.Path || g.Resource != w.Resource || g.Field != w.Field || !match(g.Local, w.Local) || !match(g.Upstream, w.Upstream) {
			t.Errorf("conflict %d = %+v, want %+v", i, g, w)
		}
	}
}

// TestResourceMergeKeepsText checks that files nothing happened to keep
// their exact text, comments included, and changed files keep comments.
func TestResourceMergeKeepsText(t *testing.T) {
	original, upstream, local, _ := loadCase(t, "fields")
	local["service.yaml"] = "# the public face\n" + local["service.yaml"]
	local["deployment.yaml"] = strings.Replace(local["deployment.yaml"], "replicas: 3", "replicas: 3 # sized for prod", 1)
	res, err := Upgrade(original, upstream, local, ResourceMerge)
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range []string{"service.yaml", "configmap.yaml", "Kptfile", "README.md"} {
		if res.Files[p] != local[p] {
			t.Errorf("%s changed:\n%s", p, res.Files[p])
		}
	}
	if d := res.Files["deployment.yaml"]; !strings.Contains(d, "replicas: 3 # sized for prod") || !strings.Contains(d, "image: nginx:1.27") {
		t.Errorf("deployment.yaml =\n%s", d)
	}
}

// TestResourceMergeLists covers lists: named elements merge one by one,
// even in kinds kyaml has no schema for; other lists merge whole.
func TestResourceMergeLists(t *testing.T) {
	const tmpl = `apiVersion: example.com/v1
kind: Widget
metadata:
  name: w
spec:
  parts:
  - name: a
    size: A
  - name: b
    size: B
  tags: [TAGS]
`
	obj := func(a, b, tags string) map[string]string {
		r := strings.NewReplacer("size: A", "size: "+a, "size: B", "size: "+b, "TAGS", tags)
		return map[string]string{"w.yaml": r.Replace(tmpl)}
	}
	tests := []struct {
		name                      string
		original, upstream, local map[string]string
		want                      map[string]string
		fields                    []string
	}{
		{"elements", obj("1", "1", "x"), obj("1", "2", "x"), obj("3", "1", "x"), obj("3", "2", "x"), nil},
		{"element conflict", obj("1", "1", "x"), obj("1", "2", "x"), obj("1", "3", "x"), obj("1", "3", "x"), []string{"spec.parts[name=b].size"}},
		{"scalar list", obj("1", "1", "x"), obj("1", "1", "x, y"), obj("1", "1", "x"), obj("1", "1", "x, y"), nil},
		{"scalar list conflict", obj("1", "1", "x"), obj("1", "1", "x, y"), obj("1", "1", "z"), obj("1", "1", "z"), []string{"spec.tags"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			res, err := Upgrade(tt.original, tt.upstream, tt.local, ResourceMerge)
			if err != nil {
				t.Fatal(err)
			}
			assertFiles(t, res.Files, tt.want)
			var fields []string
			for _, c := range res.Conflicts {
				fields = append(fields, c.Field)
			}
			if !slices.Equal(fields, tt.fields) {
				t.Errorf("conflicting fields = %q, want %q", fields, tt.fields)
			}
		})
	}
}

func TestFastForward(t *testing.T) {
	original, upstream, local, _ := loadCase(t, "fields")
	// The clone only renamed the package and recorded its upstream: not an edit.
	clean := maps.Clone(original)
	clean["Kptfile"] = local["Kptfile"]
	res, err := Upgrade(original, upstream, clean, FastForward)
	if err != nil {
		t.Fatalf("fast-forward of an unedited package: %v", err)
	}
	want := maps.Clone(upstream)
	want["Kptfile"] = local["Kptfile"]
	assertFiles(t, res.Files, want)

	_, err = Upgrade(original, upstream, local, FastForward)
	if !errors.Is(err, errdef.ErrInvalid) || !strings.Contains(err.Error(), "edited locally (deployment.yaml)") {
		t.Fatalf("fast-forward after a local edit = %v, want ErrInvalid naming deployment.yaml", err)
	}
	added := maps.Clone(clean)
	added["extra.yaml"] = "a: b\n"
	if _, err := Upgrade(original, upstream, added, FastForward); err == nil || !strings.Contains(err.Error(), "extra.yaml") {
		t.Fatalf("fast-forward after adding a file = %v", err)
	}
}

func TestReplaceStrategies(t *testing.T) {
	original, upstream, local, _ := loadCase(t, "upstream-deletes")
	local["local-only.yaml"] = local["service.yaml"]
	local["README.md"] = "local readme\n"
	original["gone.txt"] = "x\n"
	local["gone.txt"] = "x\n"

	kept := maps.Clone(upstream)
	kept["Kptfile"] = local["Kptfile"]
	// copy-merge: upstream files win, files upstream deleted go (service.yaml,
	// gone.txt), local-only files stay.
	copyMerged := maps.Clone(kept)
	copyMerged["local-only.yaml"] = local["local-only.yaml"]

	tests := []struct {
		s    Strategy
		want map[string]string
	}{
		{ForceDeleteReplace, kept},
		{CopyMerge, copyMerged},
	}
	for _, tt := range tests {
		t.Run(string(tt.s), func(t *testing.T) {
			res, err := Upgrade(original, upstream, local, tt.s)
			if err != nil {
				t.Fatal(err)
			}
			assertFiles(t, res.Files, tt.want)
			if len(res.Conflicts) != 0 {
				t.Errorf("conflicts = %v", res.Conflicts)
			}
		})
	}
}

func TestStrategies(t *testing.T) {
	original, upstream, local, want := loadCase(t, "fields")
	for _, s := range []Strategy{"", ResourceMerge} {
		res, err := Upgrade(original, upstream, local, s)
		if err != nil {
			t.Fatalf("%q: %v", s, err)
		}
		assertFiles(t, res.Files, want)
	}
	if _, err := Upgrade(original, upstream, local, "rebase"); !errors.Is(err, errdef.ErrInvalid) || !strings.Contains(err.Error(), "resource-merge, fast-forward") {
		t.Errorf("unknown strategy: %v", err)
	}
}

func TestUnchangedUpstreamKeepsLocal(t *testing.T) {
	_, _, local, _ := loadCase(t, "conflict")
	original, _, _, _ := loadCase(t, "conflict")
	res, err := Upgrade(original, original, local, ResourceMerge)
	if err != nil {
		t.Fatal(err)
	}
	if !maps.Equal(res.Files, local) || len(res.Conflicts) != 0 {
		t.Errorf("Upgrade onto the same upstream changed the package: %v", res.Conflicts)
	}
}

// TestMerge3TakesUpstream pins what kyaml's merge3 does alone when both
// sides changed a field (upstream wins), which is why the checker exists.
func TestMerge3TakesUpstream(t *testing.T) {
	o, u, l, _ := loadCase(t, "conflict")
	pk, err := parsePackages(yamlbound.NewBudget(yamlbound.DefaultLimits()), o, u, l)
	if err != nil {
		t.Fatal(err)
	}
	const id = "apps/Deployment/default/web"
	m := runMerge3(pk[2].byID[id].body(), pk[0].byID[id].body(), pk[1].byID[id].body())
	if got := render(lookup(m, []step{{key: "spec"}, {key: "replicas"}})); got != "5" {
		t.Errorf("merge3 spec.replicas = %q, want upstream's 5", got)
	}
}

func TestConflictString(t *testing.T) {
	tests := []struct {
		c    Conflict
		want string
	}{
		{Conflict{Path: "d.yaml", Resource: "apps/Deployment/default/web", Field: "spec.replicas", Local: "3", Upstream: "5"},
			"d.yaml: apps/Deployment/default/web: spec.replicas: local 3, upstream 5; kept local"},
		{Conflict{Path: "s.yaml", Resource: "/Service/default/web", Local: "kind: Service\n...", Upstream: ""},
			"s.yaml: /Service/default/web: local changed, upstream deleted; kept local"},
		{Conflict{Path: "NOTES.txt", Local: "a\n", Upstream: "b\n"}, "NOTES.txt: local changed, upstream changed; kept local"},
	}
	for _, tt := range tests {
		if got := tt.c.String(); got != tt.want {
			t.Errorf("String() = %q, want %q", got, tt.want)
		}
	}
}

func TestFieldPath(t *testing.T) {
	p := []step{{key: "metadata"}, {key: "annotations"}, {key: "example.com/x"}}
	if got, want := fieldPath(p), `metadata.annotations["example.com/x"]`; got != want {
		t.Errorf("fieldPath = %s, want %s", got, want)
	}
}

func FuzzUpgrade(f *testing.F) {
	original, upstream, local, _ := loadCase(f, "conflict")
	f.Add(original["deployment.yaml"], upstream["deployment.yaml"], local["deployment.yaml"])
	f.Add("a: &x [*x]", "{", "- a\n- b")
	f.Add(hostile.AliasBomb(9, 10), hostile.DuplicateKeys(40), hostile.Nested(120))
	f.Add(hostile.Documents(3), hostile.AliasFanout(10, 10), hostile.DuplicateKeys(5))
	f.Add("kind: K\napiVersion: v1\nmetadata: {name: a}\nspec: [1]", "kind: K\napiVersion: v1\nmetadata: {name: a}\nspec: {a: 1}", "kind: K\napiVersion: v1\nmetadata: {name: a}\nspec: 1")
	f.Fuzz(func(t *testing.T, o, u, l string) {
		pkgs := make([]map[string]string, 3)
		for i, text := range []string{o, u, l} {
			pkgs[i] = map[string]string{"a.yaml": text, "Kptfile": text, "README": text}
		}
		for _, s := range Strategies {
			res, err := Upgrade(pkgs[0], pkgs[1], pkgs[2], s)
			if err != nil && !errors.Is(err, errdef.ErrInvalid) {
				t.Fatalf("%s: %v", s, err)
			}
			_ = res
		}
		// An upstream that did not change leaves the local package alone.
		res, err := Upgrade(pkgs[0], pkgs[0], pkgs[2], ResourceMerge)
		if errors.Is(err, errdef.ErrTooLarge) {
			return // over a YAML limit: refused whole, as it should be
		}
		if err != nil || !maps.Equal(res.Files, pkgs[2]) || len(res.Conflicts) != 0 {
			t.Fatalf("Upgrade(o, o, l) = %v, %v, %v", res.Files, res.Conflicts, err)
		}
	})
}
