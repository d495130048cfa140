package cli

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"sigs.k8s.io/yaml"

	pkgapi "pkgserver.dev/pkgserver/api/pkg/v1alpha1"
	"pkgserver.dev/pkgserver/pkg/names"
)

func TestVerbs(t *testing.T) {
	tests := []struct {
		name   string
		setup  func(h *harness)
		stdin  string
		args   []string
		code   int
		stdout string // substring
		stderr string // substring; empty means none
		// sent, when set, is a request the fake must have seen.
		sent string
	}{
		// repo
		{
			name:   "repo register embedded",
			args:   []string{"repo", "register", "team", "--description", "mine"},
			stdout: "team registered\n",
			sent:   "POST /apis/config.pkg.pkgserver.dev/v1alpha1/namespaces/default/repositories",
		},
		{
			name:   "repo register remote deployment as json",
			args:   []string{"repo", "register", "prod", "--registry", "reg.example:5000/pkgs", "--plain-http", "--deployment", "-o", "json"},
			stdout: `"plainHTTP": true`,
		},
		{
			name:   "repo register taken",
			args:   []string{"repo", "register", "edge"},
			code:   ExitError,
			stderr: `pkgctl: cannot register repository "edge": already exists: repository "edge"`,
		},
		{
			name:   "repo register plain-http alone",
			args:   []string{"repo", "register", "x", "--plain-http"},
			code:   ExitUsage,
			stderr: "pkgctl: --plain-http needs --registry\nRun 'pkgctl repo register --help' for usage.\n",
		},
		{
			name:   "repo get",
			args:   []string{"repo", "get"},
			stdout: "NAME         TYPE   DEPLOYMENT   READY   ADDRESS\nblueprints   oci    false        True    fake.registry/default/blueprints\nedge         oci    true         True    fake.registry/default/edge\n",
		},
		{
			name:   "repo get one",
			args:   []string{"repo", "get", "repository/edge", "-o", "name"},
			stdout: "repository.config.pkg.pkgserver.dev/edge\n",
		},
		{
			name:   "repo get all namespaces",
			args:   []string{"-A", "repo", "get"},
			code:   ExitUsage,
			stderr: "pkgctl: unknown flag -A\nRun 'pkgctl --help' for usage.\n", // -A belongs to the verb, not the globals
		},
		{
			name:   "repo get -A",
			args:   []string{"repo", "get", "-A", "-o", "yaml"},
			stdout: "kind: RepositoryList",
			sent:   "GET /apis/config.pkg.pkgserver.dev/v1alpha1/repositories",
		},
		{
			name:   "repo get missing",
			args:   []string{"repo", "get", "nope"},
			code:   ExitError,
			stderr: "pkgctl: repository \"nope\" not found in namespace \"default\"\n",
		},
		{
			name:   "repo get in an empty namespace",
			args:   []string{"repo", "get", "-n", "other"},
			stderr: "No repositories found in namespace \"other\".\n",
		},
		{
			name:   "repo unregister",
			args:   []string{"repo", "unregister", "edge", "blueprints"},
			stdout: "edge unregistered\nblueprints unregistered\n",
		},
		{
			name:   "repo unregister one missing",
			args:   []string{"repo", "unregister", "nope", "edge"},
			code:   ExitError,
			stdout: "edge unregistered\n",
			stderr: "pkgctl: repository \"nope\" not found in namespace \"default\"\n",
		},

		// rpkg get
		{
			name: "rpkg get filters",
			setup: func(h *harness) {
				h.published("vpc", "a", nil)
				h.revision("vpc", "b", pkgapi.LifecycleDraft)
				h.revision("db", "a", pkgapi.LifecycleDraft)
			},
			args:   []string{"rpkg", "get", "--name", "vpc", "--lifecycle", "draft"},
			stdout: "catalog.blueprints..vpc.b",
			sent:   "GET /apis/pkg.pkgserver.dev/v1alpha1/namespaces/default/packagerevisions?fieldSelector=spec.packageRevID.package%3Dvpc%2Cspec.lifecycle%3Ddraft",
		},
		{
			name:   "rpkg get revision number",
			setup:  func(h *harness) { h.published("vpc", "a", nil) },
			args:   []string{"rpkg", "get", "--revision", "1", "--repository", "blueprints", "-l", "pkg.pkgserver.dev/latest-revision=true"},
			stdout: "catalog.blueprints..vpc.a   vpc       a           v1         true     published   blueprints\n",
			sent:   "GET /apis/pkg.pkgserver.dev/v1alpha1/namespaces/default/packagerevisions?fieldSelector=spec.packageRevID.revision%3Dv1%2Cspec.packageRevID.repository%3Dblueprints&labelSelector=pkg.pkgserver.dev%2Flatest-revision%3Dtrue",
		},
		{
			name:   "rpkg get all namespaces",
			setup:  func(h *harness) { h.published("vpc", "a", nil) },
			args:   []string{"rpkg", "get", "-A"},
			stdout: "NAMESPACE   NAME                        PACKAGE",
			sent:   "GET /apis/pkg.pkgserver.dev/v1alpha1/packagerevisions",
		},
		{
			name:   "rpkg get json list",
			args:   []string{"rpkg", "get", "-o", "json"},
			stdout: "\"kind\": \"PackageRevisionList\",\n    \"apiVersion\": \"pkg.pkgserver.dev/v1alpha1\",\n    \"metadata\": {},\n    \"items\": []",
		},
		{
			name:   "rpkg get none",
			args:   []string{"rpkg", "get"},
			stderr: "No package revisions found in namespace \"default\".\n",
		},
		{
			name:   "rpkg get missing",
			args:   []string{"rpkg", "get", "catalog.blueprints..nope.ws"},
			code:   ExitError,
			stderr: "pkgctl: package revision \"catalog.blueprints..nope.ws\" not found in namespace \"default\"\n",
		},
		{
			name:   "rpkg get bad lifecycle",
			args:   []string{"rpkg", "get", "--lifecycle", "done"},
			code:   ExitUsage,
			stderr: `--lifecycle "done": use draft, proposed, published or deletionProposed`,
		},
		{
			name:   "rpkg get name and filter",
			args:   []string{"rpkg", "get", "x", "--name", "vpc"},
			code:   ExitUsage,
			stderr: "a NAME cannot be combined with filters",
		},

		// rpkg init, clone, copy
		{
			name:   "init into a deployment repository needs a target",
			args:   []string{"rpkg", "init", "app", "--repository", "edge", "--workspace", "w"},
			code:   ExitUsage,
			stderr: `repository "edge" is a deployment repository: give the deployment target with --target`,
		},
		{
			name:   "init with target",
			args:   []string{"rpkg", "init", "app", "--repository", "edge", "--workspace", "w", "--target", "site1", "-o", "name"},
			stdout: "packagerevision.pkg.pkgserver.dev/site1.edge..app.w\n",
		},
		{
			name:   "init into a missing repository",
			args:   []string{"rpkg", "init", "app", "--repository", "nope", "--workspace", "w"},
			code:   ExitError,
			stderr: "pkgctl: repository \"nope\" not found in namespace \"default\"\n",
		},
		{
			name:   "init without workspace",
			args:   []string{"rpkg", "init", "app", "--repository", "blueprints"},
			code:   ExitUsage,
			stderr: "--workspace is required",
		},
		{
			name:   "init twice",
			setup:  func(h *harness) { h.revision("vpc", "a", pkgapi.LifecycleDraft) },
			args:   []string{"rpkg", "init", "vpc", "--repository", "blueprints", "--workspace", "a"},
			code:   ExitError,
			stderr: `pkgctl: cannot create package revision "catalog.blueprints..vpc.a": already exists: package "vpc" already has a revision with workspace "a"`,
		},
		{
			name:   "clone a draft",
			setup:  func(h *harness) { h.revision("vpc", "a", pkgapi.LifecycleDraft) },
			args:   []string{"rpkg", "clone", "catalog.blueprints..vpc.a", "net", "--repository", "blueprints", "--workspace", "w"},
			code:   ExitError,
			stderr: `is not a published package revision`,
		},
		{
			name:   "clone needs two arguments",
			args:   []string{"rpkg", "clone", "x", "--repository", "blueprints", "--workspace", "w"},
			code:   ExitUsage,
			stderr: "missing the UPSTREAM-NAME and the PACKAGE name",
		},
		{
			name:   "copy a draft",
			setup:  func(h *harness) { h.revision("vpc", "a", pkgapi.LifecycleDraft) },
			args:   []string{"rpkg", "copy", "catalog.blueprints..vpc.a", "--workspace", "b"},
			code:   ExitError,
			stderr: `pkgctl: cannot copy package revision "catalog.blueprints..vpc.a": it is draft; only published revisions can be copied`,
		},
		{
			name:   "copy a missing revision",
			args:   []string{"rpkg", "copy", "catalog.blueprints..vpc.a", "--workspace", "b"},
			code:   ExitError,
			stderr: `pkgctl: package revision "catalog.blueprints..vpc.a" not found in namespace "default"`,
		},

		// lifecycle verbs
		{
			name:   "approve a draft",
			setup:  func(h *harness) { h.revision("vpc", "a", pkgapi.LifecycleDraft) },
			args:   []string{"rpkg", "approve", "catalog.blueprints..vpc.a"},
			code:   ExitError,
			stderr: "pkgctl: cannot approve package revision \"catalog.blueprints..vpc.a\": it is draft, not proposed\n",
		},
		{
			name: "propose several, one missing",
			setup: func(h *harness) {
				h.revision("vpc", "a", pkgapi.LifecycleDraft)
				h.revision("vpc", "b", pkgapi.LifecycleDraft)
			},
			args:   []string{"rpkg", "propose", "catalog.blueprints..vpc.a", "packagerevision/catalog.blueprints..nope.x", "catalog.blueprints..vpc.b"},
			code:   ExitError,
			stdout: "catalog.blueprints..vpc.a proposed\ncatalog.blueprints..vpc.b proposed\n",
			stderr: "pkgctl: package revision \"catalog.blueprints..nope.x\" not found in namespace \"default\"\n",
		},
		{
			name:   "delete a published revision",
			setup:  func(h *harness) { h.published("vpc", "a", nil) },
			args:   []string{"rpkg", "del", "catalog.blueprints..vpc.a"},
			code:   ExitError,
			stderr: "a published revision cannot be deleted; propose it for deletion",
		},
		{
			name:   "reject a published revision",
			setup:  func(h *harness) { h.published("vpc", "a", nil) },
			args:   []string{"rpkg", "reject", "catalog.blueprints..vpc.a"},
			code:   ExitError,
			stderr: "it is published, not proposed or deletionProposed",
		},
		{
			name:   "propose-delete as yaml",
			setup:  func(h *harness) { h.published("vpc", "a", nil) },
			args:   []string{"rpkg", "propose-delete", "catalog.blueprints..vpc.a", "-o", "yaml"},
			stdout: "lifecycle: deletionProposed",
			sent:   "PUT /apis/pkg.pkgserver.dev/v1alpha1/namespaces/default/packagerevisions/catalog.blueprints..vpc.a/approval",
		},
		{
			name:   "lifecycle verb without a name",
			args:   []string{"rpkg", "propose"},
			code:   ExitUsage,
			stderr: "pkgctl: missing the package revision NAME\nRun 'pkgctl rpkg propose --help' for usage.\n",
		},

		// pull and push through stdin and stdout
		{
			name:   "push from stdin",
			setup:  func(h *harness) { h.revision("vpc", "a", pkgapi.LifecycleDraft) },
			stdin:  "kind: PackageRevisionResources\nspec:\n  resources:\n    Kptfile: |\n      apiVersion: kpt.dev/v1\n      kind: Kptfile\n      metadata: {name: vpc}\n    cm.yaml: |\n      kind: ConfigMap\n      apiVersion: v1\n      metadata: {name: x}\n",
			args:   []string{"rpkg", "push", "catalog.blueprints..vpc.a", "-"},
			stdout: "catalog.blueprints..vpc.a pushed (2 files)\n",
		},
		{
			name:   "push invalid YAML from stdin",
			setup:  func(h *harness) { h.revision("vpc", "a", pkgapi.LifecycleDraft) },
			stdin:  "spec: [\n",
			args:   []string{"rpkg", "push", "catalog.blueprints..vpc.a", "-"},
			code:   ExitError,
			stderr: "pkgctl: cannot push stdin: want a PackageRevisionResources in YAML or JSON:",
		},
		{
			name:   "push a package file of invalid YAML",
			setup:  func(h *harness) { h.revision("vpc", "a", pkgapi.LifecycleDraft) },
			stdin:  `{"spec":{"resources":{"Kptfile":"kind: Kptfile\n","bad.yaml":"a: [\n"}}}`,
			args:   []string{"rpkg", "push", "catalog.blueprints..vpc.a", "-"},
			code:   ExitError,
			stderr: "bad.yaml",
		},
		{
			name:   "push the wrong kind",
			stdin:  "kind: ConfigMap\n",
			args:   []string{"rpkg", "push", "x", "-"},
			code:   ExitError,
			stderr: `want a PackageRevisionResources, got kind "ConfigMap"`,
		},
		{
			name:   "push nothing",
			stdin:  "kind: PackageRevisionResources\n",
			args:   []string{"rpkg", "push", "x", "-"},
			code:   ExitError,
			stderr: "pkgctl: cannot push stdin: it holds no files\n",
		},
		{
			name:   "push an escaping path",
			stdin:  `{"spec":{"resources":{"../x":"a"}}}`,
			args:   []string{"rpkg", "push", "x", "-"},
			code:   ExitError,
			stderr: `a file path "../x" that is not a relative path inside the package`,
		},
		{
			name:   "push to a published revision",
			setup:  func(h *harness) { h.published("vpc", "a", nil) },
			stdin:  `{"spec":{"resources":{"Kptfile":"kind: Kptfile\n"}}}`,
			args:   []string{"rpkg", "push", "catalog.blueprints..vpc.a", "-"},
			code:   ExitError,
			stderr: "contents change only in draft; this revision is published",
		},
		{
			name:   "pull a missing revision",
			args:   []string{"rpkg", "pull", "catalog.blueprints..vpc.a"},
			code:   ExitError,
			stderr: "pkgctl: package revision \"catalog.blueprints..vpc.a\" not found in namespace \"default\"\n",
		},
		{
			name:   "pull json to stdout",
			setup:  func(h *harness) { h.published("vpc", "a", nil) },
			args:   []string{"rpkg", "pull", "catalog.blueprints..vpc.a", "-", "-o", "json"},
			stdout: `"kind": "PackageRevisionResources"`,
		},

		// usage and globals
		{
			name:   "no arguments",
			args:   nil,
			code:   ExitUsage,
			stderr: "Usage:\n  pkgctl [global flags]",
		},
		{
			name:   "help",
			args:   []string{"--help"},
			stdout: "Commands:\n  repo",
		},
		{
			name:   "group help",
			args:   []string{"rpkg", "--help"},
			stdout: "propose-delete",
		},
		{
			name:   "verb help",
			args:   []string{"rpkg", "pull", "-h"},
			stdout: "Usage:\n  pkgctl rpkg pull NAME [DIR|-]",
		},
		{
			name:   "group alone",
			args:   []string{"repo"},
			code:   ExitUsage,
			stderr: "Verbs:",
		},
		{
			name:   "unknown command",
			args:   []string{"pkg", "get"},
			code:   ExitUsage,
			stderr: "pkgctl: unknown command \"pkg\"\nRun 'pkgctl --help' for usage.\n",
		},
		{
			name:   "unknown flag",
			args:   []string{"rpkg", "get", "--bogus"},
			code:   ExitUsage,
			stderr: "pkgctl: unknown flag --bogus\n",
		},
		{
			name:   "bad output",
			args:   []string{"rpkg", "get", "-o", "wide"},
			code:   ExitUsage,
			stderr: `unknown output format "wide"`,
		},
		{
			name:   "too many arguments",
			args:   []string{"rpkg", "get", "a", "b"},
			code:   ExitUsage,
			stderr: `unexpected arguments ["b"]`,
		},
		{
			name:   "bad server",
			args:   []string{"rpkg", "get", "--server", "localhost:8080"},
			code:   ExitUsage,
			stderr: `--server: server URL "localhost:8080": want an http:// or https:// URL`,
		},
		{
			name:   "namespace before the command",
			args:   []string{"-n", "other", "--user", "bob", "rpkg", "get"},
			stderr: `No package revisions found in namespace "other"`,
			sent:   "GET /apis/pkg.pkgserver.dev/v1alpha1/namespaces/other/packagerevisions",
		},
		{
			name:   "flags after --",
			args:   []string{"repo", "get", "--", "-o"},
			code:   ExitError,
			stderr: `repository "-o" not found`,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := newHarness(t)
			if tt.setup != nil {
				tt.setup(h)
			}
			r := h.run(t, tt.stdin, tt.args...)
			check(t, r, tt.code, tt.stdout, tt.stderr)
			if tt.sent != "" && !containsString(h.fake.Requests(), tt.sent) {
				t.Errorf("request %q not sent; sent:\n%s", tt.sent, strings.Join(h.fake.Requests(), "\n"))
			}
		})
	}
}

func containsString(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

func TestUnreachableServer(t *testing.T) {
	h := newHarness(t)
	h.env[EnvServer] = "http://127.0.0.1:1"
	r := h.run(t, "", "rpkg", "get")
	check(t, r, ExitError, "", "pkgctl: cannot reach the server at http://127.0.0.1:1: ")
	if !strings.Contains(r.stderr, "(set --server or PKGSERVER_SERVER)") {
		t.Errorf("stderr = %q", r.stderr)
	}
}

func TestServerFlagOverridesEnv(t *testing.T) {
	h := newHarness(t)
	url := h.env[EnvServer]
	h.env[EnvServer] = "http://127.0.0.1:1"
	r := h.run(t, "", "repo", "get", "--server", url, "-o", "name")
	check(t, r, ExitOK, "repository.config.pkg.pkgserver.dev/blueprints\n", "")
}

func TestUserHeader(t *testing.T) {
	h := newHarness(t)
	name := h.revision("vpc", "a", pkgapi.LifecycleProposed)
	h.env[EnvUser] = "carol"
	h.must(t, "rpkg", "approve", name)
	out := h.must(t, "rpkg", "get", name, "-o", "json")
	var pr pkgapi.PackageRevision
	if err := json.Unmarshal([]byte(out), &pr); err != nil {
		t.Fatal(err)
	}
	if pr.Status.PublishedBy != "carol" {
		t.Errorf("publishedBy = %q, want carol", pr.Status.PublishedBy)
	}
}

func TestStalePush(t *testing.T) {
	h := newHarness(t)
	name := h.revision("vpc", "a", pkgapi.LifecycleDraft)
	mine, theirs := filepath.Join(t.TempDir(), "mine"), filepath.Join(t.TempDir(), "theirs")
	h.must(t, "rpkg", "pull", name, mine)
	h.must(t, "rpkg", "pull", name, theirs)
	writeFile(t, filepath.Join(theirs, "a.yaml"), "kind: A\napiVersion: v1\nmetadata: {name: a}\n")
	h.must(t, "rpkg", "push", name, theirs)

	writeFile(t, filepath.Join(mine, "b.yaml"), "kind: B\napiVersion: v1\nmetadata: {name: b}\n")
	r := h.run(t, "", "rpkg", "push", name, mine)
	check(t, r, ExitError, "", `pkgctl: refusing a stale push: package revision "catalog.blueprints..vpc.a" has changed on the server since `+mine+` was pulled; pull it again, redo your changes there and push`)

	// The same stale resourceVersion from stdin is refused too.
	meta, err := os.ReadFile(filepath.Join(mine, MetadataFile))
	if err != nil {
		t.Fatal(err)
	}
	var prr pkgapi.PackageRevisionResources
	if err := yaml.Unmarshal(meta, &prr); err != nil {
		t.Fatal(err)
	}
	prr.Spec.Resources = map[string]string{"Kptfile": kptfile("vpc")}
	stdin, err := yaml.Marshal(&prr)
	if err != nil {
		t.Fatal(err)
	}
	r = h.run(t, string(stdin), "rpkg", "push", name, "-")
	check(t, r, ExitError, "", "refusing a stale push")
}

func TestPushToAnotherRevision(t *testing.T) {
	h := newHarness(t)
	first := h.published("vpc", "a", nil)
	second := h.revision("vpc", "b", pkgapi.LifecycleDraft)
	dir := filepath.Join(t.TempDir(), "pkg")
	h.must(t, "rpkg", "pull", first, dir)
	r := h.run(t, "", "rpkg", "push", second, dir)
	check(t, r, ExitOK, second+" pushed", `pkgctl: note: `+dir+` was pulled from "`+first+`"; pushing to "`+second+`" without checking`)
	// The directory follows the revision it was pushed to.
	meta, _ := os.ReadFile(filepath.Join(dir, MetadataFile))
	if !strings.Contains(string(meta), "name: "+second) {
		t.Errorf("metadata file after push:\n%s", meta)
	}
}

func TestPullDirectory(t *testing.T) {
	h := newHarness(t)
	name := h.published("vpc", "a", map[string]string{
		"Kptfile":         "kind: Kptfile\n",
		"deep/er/cm.yaml": "kind: ConfigMap\n",
		"README.md":       "# vpc\n",
	})
	dir := filepath.Join(t.TempDir(), "out")
	h.must(t, "rpkg", "pull", name, dir)
	for p, want := range map[string]string{"Kptfile": "kind: Kptfile\n", "deep/er/cm.yaml": "kind: ConfigMap\n", "README.md": "# vpc\n"} {
		got, err := os.ReadFile(filepath.Join(dir, filepath.FromSlash(p)))
		if err != nil || string(got) != want {
			t.Errorf("%s = %q, %v; want %q", p, got, err, want)
		}
	}
	meta, err := os.ReadFile(filepath.Join(dir, MetadataFile))
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"kind: PackageRevisionResources", "name: " + name, "namespace: default", "resourceVersion:", "package: vpc"} {
		if !strings.Contains(string(meta), want) {
			t.Errorf("%s lacks %q:\n%s", MetadataFile, want, meta)
		}
	}
	if strings.Contains(string(meta), "resources:") {
		t.Errorf("%s holds the files:\n%s", MetadataFile, meta)
	}

	// A second pull into the same directory is refused.
	r := h.run(t, "", "rpkg", "pull", name, dir)
	check(t, r, ExitError, "", "the directory is not empty; pull into a new directory")
}

func TestPullRefusesEscapingPaths(t *testing.T) {
	for _, p := range []string{"../evil", "/etc/evil", "a/../../evil", "./a", MetadataFile} {
		t.Run(p, func(t *testing.T) {
			h := newHarness(t)
			id := names.ID{Target: "catalog", Repository: "blueprints", Package: "vpc", Workspace: "a"}
			h.fake.AddPackageRevision("default", id, pkgapi.LifecycleDraft, map[string]string{p: "x"})
			base := t.TempDir()
			dir := filepath.Join(base, "out")
			r := h.run(t, "", "rpkg", "pull", id.Name(), dir)
			check(t, r, ExitError, "", "the server sent a file")
			if _, err := os.Stat(dir); err == nil {
				t.Errorf("%s was created", dir)
			}
		})
	}
}

func TestPushDirectoryRefusesSymlinks(t *testing.T) {
	h := newHarness(t)
	name := h.revision("vpc", "a", pkgapi.LifecycleDraft)
	dir := t.TempDir()
	writeFile(t, filepath.Join(dir, "Kptfile"), "kind: Kptfile\n")
	if err := os.Symlink("/etc/passwd", filepath.Join(dir, "link.yaml")); err != nil {
		t.Skip(err)
	}
	r := h.run(t, "", "rpkg", "push", name, dir)
	check(t, r, ExitError, "", "link.yaml is not a regular file")
}

func TestPushDirectoryRefusesBinary(t *testing.T) {
	h := newHarness(t)
	name := h.revision("vpc", "a", pkgapi.LifecycleDraft)
	dir := t.TempDir()
	writeFile(t, filepath.Join(dir, "blob"), "\xff\xfe")
	r := h.run(t, "", "rpkg", "push", name, dir)
	check(t, r, ExitError, "", "blob is not a text file")
}

func TestPushMissingDirectory(t *testing.T) {
	h := newHarness(t)
	r := h.run(t, "", "rpkg", "push", "x", filepath.Join(t.TempDir(), "nope"))
	check(t, r, ExitError, "", "pkgctl: cannot push ")
}
