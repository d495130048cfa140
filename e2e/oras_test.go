package e2e

import (
	"io/fs"
	"maps"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"testing"

	"pkgserver.dev/pkgserver/e2e/internal/harness"
)

// testOrasPull publishes a package and pulls it with the real oras CLI: the
// pulled directory, named after the package, must hold exactly its files.
func testOrasPull(t *testing.T, e *env) {
	oras, err := harness.OrasBinary()
	if err != nil {
		t.Fatal(err)
	}
	if !e.b.remote {
		// The embedded store is pulled from the server's own /v2/ API.
		resp, err := e.c.Do(t.Context(), http.MethodGet, "/v2/", nil)
		if err != nil {
			t.Fatal(err)
		}
		if resp.Code == http.StatusNotFound {
			t.Fatal("pkgserver does not serve the OCI distribution API on /v2/ (product.md: the embedded store is served on /v2/)")
		}
	}
	c := e.c
	e.createRepo(t, "blueprints", false)
	id := catalogID("blueprints", "team/web", "nginx", "ws1")
	name := harness.RevisionName(id)
	createDraft(t, c, id, initTask("nginx"), nil)
	files := maps.Clone(c.GetResources(t, name).Spec.Resources)
	files["deployment.yaml"] = deploymentYAML("nginx", 2)
	files["config/service.yaml"] = serviceYAML("nginx")
	files["README.md"] = "# nginx\n\nNot YAML, kept as is.\n"
	putFiles(t, c, name, files)
	v1 := publish(t, c, name)

	dir := t.TempDir()
	cmd := exec.Command(oras, "pull", "--plain-http", v1.Status.OCI.Reference, "-o", dir)
	cmd.Env = append(os.Environ(), "HOME="+t.TempDir()) // no user credentials or config
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("oras pull --plain-http %s: %v\n%s", v1.Status.OCI.Reference, err, out)
	}
	got := map[string]string{}
	err = filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		data, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(dir, p)
		got[filepath.ToSlash(rel)] = string(data)
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]string{}
	for p, text := range files {
		want[id.Package+"/"+p] = text
	}
	assertFiles(t, "oras pull of "+v1.Status.OCI.Reference, got, want)

	// pulling by digest gives the same
	byDigest := e.ociRepo(id, false) + "@" + v1.Status.OCI.Digest
	dir2 := t.TempDir()
	cmd = exec.Command(oras, "pull", "--plain-http", byDigest, "-o", dir2)
	cmd.Env = append(os.Environ(), "HOME="+t.TempDir())
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("oras pull --plain-http %s: %v\n%s", byDigest, err, out)
	}
	if _, err := os.Stat(filepath.Join(dir2, id.Package, "deployment.yaml")); err != nil {
		t.Fatalf("pull by digest: %v", err)
	}
}
