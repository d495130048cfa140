package e2e

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"sigs.k8s.io/yaml"

	pkgapi "pkgserver.dev/pkgserver/api/pkg/v1alpha1"
	"pkgserver.dev/pkgserver/e2e/internal/harness"
)

// TestPkgctl drives pkgserver with the built pkgctl only, as docs/cli.md
// tells users to, and checks what it prints and how it exits.
func TestPkgctl(t *testing.T) {
	for _, b := range backends {
		t.Run(b.name, func(t *testing.T) {
			t.Parallel()
			t.Run("Lifecycle", func(t *testing.T) {
				t.Parallel()
				testPkgctlLifecycle(t, newEnv(t, b))
			})
			if b.remote {
				return
			}
			t.Run("Errors", func(t *testing.T) {
				t.Parallel()
				testPkgctlErrors(t, newEnv(t, b))
			})
		})
	}
}

// pkgctl returns a pkgctl bound to e's server and namespace, run in a
// directory of its own.
func (e *env) pkgctl(t *testing.T) *harness.CLI {
	t.Helper()
	return harness.NewCLI(t, pkgctlBin, "--server", e.srv.URL, "-n", namespace)
}

// registerArgs are the arguments of `repo register` for repository name on
// e's backend.
func (e *env) registerArgs(name string, deployment bool) []string {
	args := []string{"repo", "register", name}
	if deployment {
		args = append(args, "--deployment")
	}
	if e.b.remote {
		args = append(args, "--registry", e.registryPrefix(name), "--plain-http")
	}
	return args
}

// repoAddress is the ADDRESS pkgctl and kubectl print for repository name.
func (e *env) repoAddress(name string) string {
	if e.b.remote {
		return e.registryPrefix(name)
	}
	return e.srv.Addr + "/" + namespace + "/" + name
}

func testPkgctlLifecycle(t *testing.T, e *env) {
	p := e.pkgctl(t)
	expectOutput(t, p.OK(t, "", append(e.registerArgs("blueprints", false), "--description", "network blueprints")...), "blueprints registered\n")
	repos := parseTable(t, p.OK(t, "", "repo", "get"))
	repos.expectHeader(t, "NAME", "TYPE", "DEPLOYMENT", "READY", "ADDRESS")
	repos.expectRow(t, "blueprints", map[string]string{"TYPE": "oci", "DEPLOYMENT": "false", "READY": "True", "ADDRESS": e.repoAddress("blueprints")})

	// init, pull, edit, push.
	v1 := "catalog.blueprints.infra:net.vpc.first"
	expectOutput(t, p.OK(t, "", "rpkg", "init", "vpc", "--repository", "blueprints", "--workspace", "first", "--realm", "infra/net", "--description", "a network"),
		v1+" created\n")
	expectOutput(t, p.OK(t, "", "rpkg", "pull", v1, "vpc"), v1+" pulled into vpc (1 files)\n")
	dir := filepath.Join(p.Dir, "vpc")
	kptfile := readFile(t, filepath.Join(dir, "Kptfile"))
	if !strings.Contains(kptfile, "description: a network") {
		t.Fatalf("pulled Kptfile has no description: a network:\n%s", kptfile)
	}
	if _, err := os.Stat(filepath.Join(dir, ".KptRevisionMetadata")); err != nil {
		t.Fatalf("pull wrote no .KptRevisionMetadata: %v", err)
	}
	want := map[string]string{
		"Kptfile":     strings.Replace(kptfile, "description: a network", "description: a virtual network", 1),
		"net/cm.yaml": configMapYAML("vpc-settings", "blue"),
	}
	writeFiles(t, dir, want)
	expectOutput(t, p.OK(t, "", "rpkg", "push", v1, "vpc"), v1+" pushed (2 files)\n")
	assertFiles(t, "pulled after push", pullFiles(t, p, v1), want)
	// The recorded resourceVersion moved on with the push: pushing again works.
	expectOutput(t, p.OK(t, "", "rpkg", "push", v1, "vpc"), v1+" pushed (2 files)\n")

	// propose, approve: v1, latest.
	expectOutput(t, p.OK(t, "", "rpkg", "propose", v1), v1+" proposed\n")
	expectOutput(t, p.OK(t, "", "rpkg", "approve", v1, "--user", "alice"), v1+" approved (published as v1)\n")
	prs := parseTable(t, p.OK(t, "", "rpkg", "get"))
	prs.expectHeader(t, "NAME", "PACKAGE", "WORKSPACE", "REVISION", "LATEST", "LIFECYCLE", "REPOSITORY")
	prs.expectRow(t, v1, map[string]string{"PACKAGE": "vpc", "WORKSPACE": "first", "REVISION": "v1", "LATEST": "true", "LIFECYCLE": "published", "REPOSITORY": "blueprints"})
	pr := getRevisionJSON(t, p, v1)
	if pr.Status.PublishedBy != "alice" || pr.Spec.PackageRevID.Revision != "v1" || pr.Labels[pkgapi.LatestRevisionLabel] != "true" {
		t.Fatalf("%s: publishedBy %q, revision %q, labels %v; want alice, v1 and the latest-revision label", v1, pr.Status.PublishedBy, pr.Spec.PackageRevID.Revision, pr.Labels)
	}
	expectOutput(t, p.OK(t, "", "rpkg", "get", "--name", "vpc", "--lifecycle", "published", "-o", "name"), "packagerevision.pkg.pkgserver.dev/"+v1+"\n")

	// clone into a deployment repository.
	expectOutput(t, p.OK(t, "", e.registerArgs("edge", true)...), "edge registered\n")
	deployed := "site1.edge..vpc.w"
	expectOutput(t, p.OK(t, "", "rpkg", "clone", v1, "vpc", "--repository", "edge", "--workspace", "w", "--target", "site1"), deployed+" created\n")
	clone := getRevisionJSON(t, p, deployed)
	if clone.Spec.Upstream == nil || clone.Spec.Upstream.Name != v1 || clone.Status.UpstreamLock == nil || clone.Status.UpstreamLock.Digest != pr.Status.OCI.Digest {
		t.Fatalf("clone %s: upstream %+v, lock %+v; want %s at %s", deployed, clone.Spec.Upstream, clone.Status.UpstreamLock, v1, pr.Status.OCI.Digest)
	}
	if got := pullFiles(t, p, deployed)["net/cm.yaml"]; got != want["net/cm.yaml"] {
		t.Fatalf("clone's net/cm.yaml = %q, want %q", got, want["net/cm.yaml"])
	}

	// copy: the draft of v2, with v1's files.
	v2 := "catalog.blueprints.infra:net.vpc.second"
	expectOutput(t, p.OK(t, "", "rpkg", "copy", v1, "--workspace", "second"), v2+" created\n")
	prs = parseTable(t, p.OK(t, "", "rpkg", "get", "--name", "vpc", "--repository", "blueprints"))
	prs.expectRow(t, v2, map[string]string{"REVISION": "", "LATEST": "false", "LIFECYCLE": "draft"})
	if got := pullFiles(t, p, v2)["net/cm.yaml"]; got != want["net/cm.yaml"] {
		t.Fatalf("copy's net/cm.yaml = %q, want %q", got, want["net/cm.yaml"])
	}

	// propose-delete and del (an upstream goes after its clones); then unregister.
	expectOutput(t, p.OK(t, "", "rpkg", "propose-delete", v1), v1+" proposed for deletion\n")
	r := p.Fail(t, 1, "", "rpkg", "del", v1)
	if !strings.Contains(r.Stderr, "is the upstream of "+deployed) {
		t.Fatalf("deleting the upstream of a clone: want the clone named:\n%s", r)
	}
	expectOutput(t, p.OK(t, "", "rpkg", "del", deployed, v2, v1), deployed+" deleted\n"+v2+" deleted\n"+v1+" deleted\n")
	r = p.Fail(t, 1, "", "rpkg", "get", v1)
	expectOutput(t, r.Stderr, "pkgctl: package revision \""+v1+"\" not found in namespace \""+namespace+"\"\n")
	r = p.Run(t, "", "rpkg", "get")
	if r.Code != 0 || r.Stdout != "" || r.Stderr != "No package revisions found in namespace \""+namespace+"\".\n" {
		t.Fatalf("rpkg get of an empty namespace: want exit 0, nothing on stdout and the note on stderr:\n%s", r)
	}
	expectOutput(t, p.OK(t, "", "repo", "unregister", "edge", "blueprints"), "edge unregistered\nblueprints unregistered\n")
	p.Fail(t, 1, "", "repo", "get", "edge")
}

func testPkgctlErrors(t *testing.T, e *env) {
	p := e.pkgctl(t)
	p.OK(t, "", e.registerArgs("blueprints", false)...)
	name := "catalog.blueprints..vpc.first"
	p.OK(t, "", "rpkg", "init", "vpc", "--repository", "blueprints", "--workspace", "first")

	t.Run("UnknownName", func(t *testing.T) {
		missing := "catalog.blueprints..nope.x"
		for _, args := range [][]string{
			{"rpkg", "get", missing},
			{"rpkg", "pull", missing, "out"},
			{"rpkg", "propose", missing},
			{"rpkg", "approve", missing},
			{"rpkg", "del", missing},
		} {
			r := p.Fail(t, 1, "", args...)
			expectOutput(t, r.Stderr, "pkgctl: package revision \""+missing+"\" not found in namespace \""+namespace+"\"\n")
		}
		r := p.Fail(t, 1, "", "repo", "unregister", "nope")
		expectOutput(t, r.Stderr, "pkgctl: repository \"nope\" not found in namespace \""+namespace+"\"\n")
		// Several names: go on after a failure, report each, exit 1.
		r = p.Fail(t, 1, "", "rpkg", "propose", missing, name)
		if r.Stdout != name+" proposed\n" || !strings.Contains(r.Stderr, missing) {
			t.Fatalf("propose of a missing and an existing revision:\n%s", r)
		}
		p.OK(t, "", "rpkg", "reject", name)
	})

	t.Run("UsageAndLifecycle", func(t *testing.T) {
		r := p.Fail(t, 2, "", "rpkg", "approve")
		if !strings.HasPrefix(r.Stderr, "pkgctl: ") || !strings.Contains(r.Stderr, "--help") {
			t.Fatalf("usage error: want a pkgctl: line and a pointer to --help:\n%s", r)
		}
		p.Fail(t, 2, "", "bogus")
		r = p.Fail(t, 1, "", "rpkg", "approve", name)
		expectOutput(t, r.Stderr, "pkgctl: cannot approve package revision \""+name+"\": it is draft, not proposed\n")
	})

	t.Run("StalePush", func(t *testing.T) {
		p.OK(t, "", "rpkg", "pull", name, "a")
		p.OK(t, "", "rpkg", "pull", name, "b")
		mine := configMapYAML("cfg", "from-a")
		writeFiles(t, filepath.Join(p.Dir, "a"), map[string]string{"cm.yaml": mine})
		p.OK(t, "", "rpkg", "push", name, "a")
		writeFiles(t, filepath.Join(p.Dir, "b"), map[string]string{"cm.yaml": configMapYAML("cfg", "from-b")})
		r := p.Fail(t, 1, "", "rpkg", "push", name, "b")
		expectOutput(t, r.Stderr, "pkgctl: refusing a stale push: package revision \""+name+"\" has changed on the server since b was pulled; pull it again, redo your changes there and push\n")
		if got := pullFiles(t, p, name)["cm.yaml"]; got != mine {
			t.Fatalf("after a refused stale push cm.yaml = %q, want the first push's %q", got, mine)
		}
	})

	t.Run("InvalidYAML", func(t *testing.T) {
		p.OK(t, "", "rpkg", "pull", name, "bad")
		before := pullFiles(t, p, name)
		writeFiles(t, filepath.Join(p.Dir, "bad"), map[string]string{"broken.yaml": "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: [x\n"})
		r := p.Fail(t, 1, "", "rpkg", "push", name, "bad")
		if !strings.HasPrefix(r.Stderr, "pkgctl: ") || strings.Count(r.Stderr, "\n") != 1 ||
			!strings.Contains(r.Stderr, "broken.yaml") || !strings.Contains(r.Stderr, "line 4") {
			t.Fatalf("push of invalid YAML: want one pkgctl: line naming broken.yaml and line 4:\n%s", r)
		}
		assertFiles(t, "after a refused push", pullFiles(t, p, name), before)
	})
}

// pullFiles pulls a revision to stdout and returns its files.
func pullFiles(t *testing.T, p *harness.CLI, name string) map[string]string {
	t.Helper()
	var prr pkgapi.PackageRevisionResources
	if err := yaml.UnmarshalStrict([]byte(p.OK(t, "", "rpkg", "pull", name)), &prr); err != nil {
		t.Fatalf("rpkg pull %s: stdout is not a PackageRevisionResources: %v", name, err)
	}
	if prr.Kind != pkgapi.PackageRevisionResourcesKind || prr.Name != name {
		t.Fatalf("rpkg pull %s: got %s %q", name, prr.Kind, prr.Name)
	}
	return prr.Spec.Resources
}

// getRevisionJSON reads a revision with `rpkg get NAME -o json`.
func getRevisionJSON(t *testing.T, p *harness.CLI, name string) *pkgapi.PackageRevision {
	t.Helper()
	var pr pkgapi.PackageRevision
	if err := json.Unmarshal([]byte(p.OK(t, "", "rpkg", "get", name, "-o", "json")), &pr); err != nil {
		t.Fatalf("rpkg get %s -o json: %v", name, err)
	}
	return &pr
}

func expectOutput(t *testing.T, got, want string) {
	t.Helper()
	if got != want {
		t.Fatalf("output\n%q\nwant\n%q", got, want)
	}
}

func readFile(t *testing.T, path string) string {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return string(data)
}

func writeFiles(t *testing.T, dir string, files map[string]string) {
	t.Helper()
	for name, text := range files {
		path := filepath.Join(dir, filepath.FromSlash(name))
		if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, []byte(text), 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

// table is the text table kubectl or pkgctl printed, cut into cells by the
// positions of the header's columns (cells may be empty).
type table struct {
	header []string
	starts []int
	rows   [][]string
	text   string
}

func parseTable(t *testing.T, out string) *table {
	t.Helper()
	lines := strings.Split(strings.TrimRight(out, "\n"), "\n")
	if len(lines) == 0 || lines[0] == "" {
		t.Fatalf("no table in output %q", out)
	}
	tb := &table{text: out}
	head := lines[0]
	for i := 0; i < len(head); {
		if head[i] == ' ' {
			i++
			continue
		}
		j := i
		for j < len(head) && head[j] != ' ' {
			j++
		}
		tb.header = append(tb.header, head[i:j])
		tb.starts = append(tb.starts, i)
		i = j
	}
	for _, line := range lines[1:] {
		row := make([]string, len(tb.starts))
		for c, start := range tb.starts {
			end := len(line)
			if c+1 < len(tb.starts) && tb.starts[c+1] < end {
				end = tb.starts[c+1]
			}
			if start < len(line) {
				row[c] = strings.TrimSpace(line[start:end])
			}
		}
		tb.rows = append(tb.rows, row)
	}
	return tb
}

func (tb *table) expectHeader(t *testing.T, want ...string) {
	t.Helper()
	if strings.Join(tb.header, " ") != strings.Join(want, " ") {
		t.Fatalf("table header %q, want %q\n%s", tb.header, want, tb.text)
	}
}

// row returns the cells of the row whose first column (or NAME) is name.
func (tb *table) row(t *testing.T, name string) map[string]string {
	t.Helper()
	key := 0
	for i, h := range tb.header {
		if h == "NAME" {
			key = i
			break
		}
	}
	for _, r := range tb.rows {
		if r[key] == name {
			return tb.rowMap(r)
		}
	}
	t.Fatalf("no row %q in\n%s", name, tb.text)
	return nil
}

func (tb *table) expectRow(t *testing.T, name string, want map[string]string) {
	t.Helper()
	got := tb.row(t, name)
	for col, w := range want {
		if g, ok := got[col]; !ok || g != w {
			t.Fatalf("row %q: column %s = %q, want %q\n%s", name, col, g, w, tb.text)
		}
	}
}

// names returns the NAME column.
func (tb *table) names(t *testing.T) []string {
	t.Helper()
	var out []string
	for _, r := range tb.rows {
		out = append(out, tb.rowMap(r)["NAME"])
	}
	return out
}

// rowMap returns a row's cells by column name.
func (tb *table) rowMap(r []string) map[string]string {
	out := map[string]string{}
	for i, h := range tb.header {
		out[h] = r[i]
	}
	return out
}
