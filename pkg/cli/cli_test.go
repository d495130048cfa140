package cli

import (
	"bytes"
	"context"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"

	pkgapi "pkgserver.dev/pkgserver/api/pkg/v1alpha1"
	"pkgserver.dev/pkgserver/pkg/client/clienttest"
	"pkgserver.dev/pkgserver/pkg/names"
)

// harness is a fake pkgserver with a catalog repository "blueprints" and a
// deployment repository "edge" in namespace "default".
type harness struct {
	fake *clienttest.Server
	url  string
	env  map[string]string
}

func newHarness(t *testing.T) *harness {
	t.Helper()
	fake := clienttest.NewServer()
	fake.AddRepository("default", "blueprints", false)
	fake.AddRepository("default", "edge", true)
	srv := httptest.NewServer(fake)
	t.Cleanup(srv.Close)
	return &harness{fake: fake, url: srv.URL, env: map[string]string{EnvServer: srv.URL}}
}

// published adds a published revision catalog.blueprints..<pkg>.<ws>.
func (h *harness) published(pkg, ws string, files map[string]string) string {
	id := names.ID{Target: "catalog", Repository: "blueprints", Package: pkg, Workspace: ws}
	if files == nil {
		files = map[string]string{"Kptfile": kptfile(pkg)}
	}
	return h.fake.AddPackageRevision("default", id, pkgapi.LifecyclePublished, files).Name
}

// revision adds a revision of package pkg in lifecycle l.
func (h *harness) revision(pkg, ws string, l pkgapi.Lifecycle) string {
	id := names.ID{Target: "catalog", Repository: "blueprints", Package: pkg, Workspace: ws}
	return h.fake.AddPackageRevision("default", id, l, map[string]string{"Kptfile": kptfile(pkg)}).Name
}

type result struct {
	code           int
	stdout, stderr string
}

func (h *harness) run(t *testing.T, stdin string, args ...string) result {
	t.Helper()
	var out, errOut bytes.Buffer
	code := run(context.Background(), func(k string) string { return h.env[k] }, args, strings.NewReader(stdin), &out, &errOut)
	return result{code, out.String(), errOut.String()}
}

// must runs args and fails the test unless it succeeds.
func (h *harness) must(t *testing.T, args ...string) string {
	t.Helper()
	r := h.run(t, "", args...)
	if r.code != ExitOK {
		t.Fatalf("pkgctl %s: exit %d\nstdout: %s\nstderr: %s", strings.Join(args, " "), r.code, r.stdout, r.stderr)
	}
	return r.stdout
}

// check compares a result with the exit code and substrings wanted.
func check(t *testing.T, r result, code int, stdout, stderr string) {
	t.Helper()
	if r.code != code {
		t.Errorf("exit code = %d, want %d\nstdout: %s\nstderr: %s", r.code, code, r.stdout, r.stderr)
	}
	if !strings.Contains(r.stdout, stdout) {
		t.Errorf("stdout = %q, want it to contain %q", r.stdout, stdout)
	}
	if !strings.Contains(r.stderr, stderr) {
		t.Errorf("stderr = %q, want it to contain %q", r.stderr, stderr)
	}
	if stderr == "" && r.stderr != "" {
		t.Errorf("unexpected stderr: %q", r.stderr)
	}
}

// TestLifecycle drives one package from init to deletion with pkgctl only.
func TestLifecycle(t *testing.T) {
	h := newHarness(t)
	const name = "catalog.blueprints.infra:net.vpc.first"

	out := h.must(t, "rpkg", "init", "vpc", "--repository", "blueprints", "--workspace", "first", "--realm", "infra/net", "--description", "a network")
	if out != name+" created\n" {
		t.Errorf("init: %q", out)
	}
	out = h.must(t, "rpkg", "get")
	wantTable := "NAME                                     PACKAGE   WORKSPACE   REVISION   LATEST   LIFECYCLE   REPOSITORY\n" +
		name + "   vpc       first                  false    draft       blueprints\n"
	if out != wantTable {
		t.Errorf("get:\n%s\nwant:\n%s", out, wantTable)
	}

	dir := filepath.Join(t.TempDir(), "vpc")
	out = h.must(t, "rpkg", "pull", name, dir)
	if out != name+" pulled into "+dir+" (1 files)\n" {
		t.Errorf("pull: %q", out)
	}
	kptfile, err := os.ReadFile(filepath.Join(dir, "Kptfile"))
	if err != nil || !strings.Contains(string(kptfile), "a network") {
		t.Fatalf("Kptfile: %q, %v", kptfile, err)
	}
	writeFile(t, filepath.Join(dir, "net", "cm.yaml"), "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: cfg\n")
	out = h.must(t, "rpkg", "push", name, dir)
	if out != name+" pushed (2 files)\n" {
		t.Errorf("push: %q", out)
	}
	// The metadata file now holds the new resourceVersion: pushing again works.
	h.must(t, "rpkg", "push", name, dir)

	if out = h.must(t, "rpkg", "propose", name); out != name+" proposed\n" {
		t.Errorf("propose: %q", out)
	}
	if out = h.must(t, "rpkg", "approve", name, "--user", "alice"); out != name+" approved (published as v1)\n" {
		t.Errorf("approve: %q", out)
	}
	out = h.must(t, "rpkg", "get", name, "-o", "yaml")
	for _, want := range []string{"kind: PackageRevision", "lifecycle: published", "revision: v1", "publishedBy: alice", "pkg.pkgserver.dev/latest-revision: \"true\""} {
		if !strings.Contains(out, want) {
			t.Errorf("get -o yaml lacks %q:\n%s", want, out)
		}
	}

	// A second revision from the first, then clone it into a deployment repository.
	const second = "catalog.blueprints.infra:net.vpc.second"
	if out = h.must(t, "rpkg", "copy", name, "--workspace", "second"); out != second+" created\n" {
		t.Errorf("copy: %q", out)
	}
	out = h.must(t, "rpkg", "pull", second)
	if !strings.Contains(out, "net/cm.yaml") || !strings.Contains(out, "kind: PackageRevisionResources") {
		t.Errorf("pull to stdout: %s", out)
	}
	if out = h.must(t, "rpkg", "clone", name, "vpc", "--repository", "edge", "--workspace", "w", "--target", "site1"); out != "site1.edge..vpc.w created\n" {
		t.Errorf("clone: %q", out)
	}

	if out = h.must(t, "rpkg", "propose-delete", name); out != name+" proposed for deletion\n" {
		t.Errorf("propose-delete: %q", out)
	}
	if out = h.must(t, "rpkg", "reject", name); out != name+" rejected (back to published)\n" {
		t.Errorf("reject: %q", out)
	}
	h.must(t, "rpkg", "propose-delete", name)
	if out = h.must(t, "rpkg", "del", name, second); out != name+" deleted\n"+second+" deleted\n" {
		t.Errorf("del: %q", out)
	}
	out = h.must(t, "rpkg", "get", "-o", "name")
	if out != "packagerevision.pkg.pkgserver.dev/site1.edge..vpc.w\n" {
		t.Errorf("get -o name after del: %q", out)
	}
}

func writeFile(t *testing.T, p, text string) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(p, []byte(text), 0o644); err != nil {
		t.Fatal(err)
	}
}

func kptfile(pkg string) string {
	return "apiVersion: kpt.dev/v1\nkind: Kptfile\nmetadata:\n  name: " + pkg + "\n"
}
