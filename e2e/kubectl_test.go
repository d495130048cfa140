package e2e

import (
	"encoding/json"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"sigs.k8s.io/yaml"

	configapi "pkgserver.dev/pkgserver/api/config/v1alpha1"
	pkgapi "pkgserver.dev/pkgserver/api/pkg/v1alpha1"
	"pkgserver.dev/pkgserver/e2e/internal/harness"
)

// watchTimeout bounds how long `kubectl get -w` may take to show a change.
const watchTimeout = 15 * time.Second

// TestKubectl drives pkgserver with the real kubectl only, with no cluster
// and no kubeconfig: `kubectl --server http://127.0.0.1:PORT`. Every
// successful command must leave stderr empty (no warning about discovery,
// OpenAPI or anything else).
func TestKubectl(t *testing.T) {
	kubectl, err := harness.KubectlBinary()
	if err != nil {
		t.Fatal(err) // the machine has kubectl; without it this suite proves nothing
	}
	for _, sc := range []struct {
		name string
		b    backend
		run  func(t *testing.T, e *env, k *harness.CLI)
	}{
		{"Lifecycle", backends[0], testKubectlLifecycle},
		{"Errors", backends[0], testKubectlErrors},
		{"DistributionRepository", backends[1], testKubectlDistribution},
	} {
		t.Run(sc.name, func(t *testing.T) {
			t.Parallel()
			e := newEnv(t, sc.b)
			sc.run(t, e, e.kubectl(t, kubectl))
		})
	}
}

// kubectl returns a kubectl talking to e's server in the test namespace,
// with an empty kubeconfig and a HOME (discovery cache) of its own.
func (e *env) kubectl(t *testing.T, bin string) *harness.CLI {
	t.Helper()
	k := harness.NewCLI(t, bin, "--server", e.srv.URL, "-n", namespace)
	kubeconfig := filepath.Join(k.Dir, "kubeconfig")
	if err := os.WriteFile(kubeconfig, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	k.Env = append(k.Env, "KUBECONFIG="+kubeconfig)
	return k
}

const (
	prPrefix   = "packagerevision.pkg.pkgserver.dev/"
	repoPrefix = "repository.config.pkg.pkgserver.dev/"
	// approvalPath is the approval subresource, without the name.
	approvalPath = "/apis/pkg.pkgserver.dev/v1alpha1/namespaces/" + namespace + "/packagerevisions/"
)

func testKubectlLifecycle(t *testing.T, e *env, k *harness.CLI) {
	// Discovery: the three kinds.
	res := parseTable(t, k.OK(t, "", "api-resources"))
	res.expectHeader(t, "NAME", "SHORTNAMES", "APIVERSION", "NAMESPACED", "KIND")
	res.expectRow(t, "repositories", map[string]string{"SHORTNAMES": "repo", "APIVERSION": "config.pkg.pkgserver.dev/v1alpha1", "NAMESPACED": "true", "KIND": "Repository"})
	res.expectRow(t, "packagerevisions", map[string]string{"SHORTNAMES": "pr", "APIVERSION": "pkg.pkgserver.dev/v1alpha1", "NAMESPACED": "true", "KIND": "PackageRevision"})
	res.expectRow(t, "packagerevisionresources", map[string]string{"SHORTNAMES": "prr", "APIVERSION": "pkg.pkgserver.dev/v1alpha1", "NAMESPACED": "true", "KIND": "PackageRevisionResources"})
	if len(res.rows) != 3 {
		t.Fatalf("api-resources: want exactly the three kinds:\n%s", res.text)
	}

	// apply -f a Repository: create, then update of the same file.
	repoFile := filepath.Join(k.Dir, "repo.yaml")
	writeYAML(t, repoFile, repositoryManifest("blueprints", "first description", nil))
	expectOutput(t, k.OK(t, "", "apply", "-f", repoFile), repoPrefix+"blueprints created\n")
	writeYAML(t, repoFile, repositoryManifest("blueprints", "second description", nil))
	expectOutput(t, k.OK(t, "", "apply", "-f", repoFile), repoPrefix+"blueprints configured\n")
	expectOutput(t, k.OK(t, "", "apply", "-f", repoFile), repoPrefix+"blueprints unchanged\n")
	repos := parseTable(t, k.OK(t, "", "get", "repositories"))
	repos.expectHeader(t, "NAME", "TYPE", "DEPLOYMENT", "ADDRESS", "READY", "AGE")
	repos.expectRow(t, "blueprints", map[string]string{"TYPE": "oci", "DEPLOYMENT": "false", "ADDRESS": e.repoAddress("blueprints"), "READY": "True"})
	repos = parseTable(t, k.OK(t, "", "get", "repo", "blueprints", "-o", "wide"))
	repos.expectRow(t, "blueprints", map[string]string{"DESCRIPTION": "second description"})

	// A watch from before anything exists sees every step.
	watch := k.Start(t, "get", "packagerevisions", "--watch", "--output-watch-events")

	// apply -f a PackageRevision: create, then update of the same file.
	name := "catalog.blueprints.apps.nginx.first"
	prFile := filepath.Join(k.Dir, "pr.yaml")
	manifest := revisionManifest(catalogID("blueprints", "apps", "nginx", "first"), initTask("an nginx server"), map[string]string{"team": "web"})
	writeYAML(t, prFile, manifest)
	expectOutput(t, k.OK(t, "", "apply", "-f", prFile), prPrefix+name+" created\n")
	watchEvent(t, watch, "ADDED", name, "draft")
	manifest.Labels["tier"] = "frontend"
	manifest.Annotations = map[string]string{"owner": "web-team"}
	writeYAML(t, prFile, manifest)
	expectOutput(t, k.OK(t, "", "apply", "-f", prFile), prPrefix+name+" configured\n")
	expectOutput(t, k.OK(t, "", "get", "pr", name, "-o", "jsonpath={.metadata.labels.tier} {.metadata.annotations.owner}"), "frontend web-team")
	expectOutput(t, k.OK(t, "", "apply", "-f", prFile), prPrefix+name+" unchanged\n")

	// A second revision, made with create from stdin.
	redis := "catalog.blueprints.apps.redis.first"
	expectOutput(t, k.OK(t, string(toYAML(t, revisionManifest(catalogID("blueprints", "apps", "redis", "first"), initTask("a cache"), nil))), "create", "-f", "-"),
		prPrefix+redis+" created\n")

	// get: the server-side table, wide, yaml, json, name, selectors, -A.
	prs := parseTable(t, k.OK(t, "", "get", "packagerevisions"))
	prs.expectHeader(t, "NAME", "READY", "REPOSITORY", "TARGET", "REALM", "PACKAGE", "REVISION", "WORKSPACE", "LIFECYCLE", "AGE")
	prs.expectRow(t, name, map[string]string{"READY": "True", "REPOSITORY": "blueprints", "TARGET": "catalog", "REALM": "apps", "PACKAGE": "nginx", "REVISION": "", "WORKSPACE": "first", "LIFECYCLE": "draft"})
	if got := prs.names(t); !slices.Equal(got, []string{name, redis}) {
		t.Fatalf("get packagerevisions: rows %q, want %q", got, []string{name, redis})
	}
	wide := parseTable(t, k.OK(t, "", "get", "pr", name, "-o", "wide"))
	wide.expectHeader(t, "NAME", "READY", "REPOSITORY", "TARGET", "REALM", "PACKAGE", "REVISION", "WORKSPACE", "LIFECYCLE", "LATEST", "DIGEST", "AGE")
	if row := wide.row(t, name); row["LATEST"] != "false" || !strings.HasPrefix(row["DIGEST"], "sha256:") {
		t.Fatalf("get -o wide: LATEST %q DIGEST %q, want false and a sha256 digest", row["LATEST"], row["DIGEST"])
	}
	var fromYAML, fromJSON pkgapi.PackageRevision
	if err := yaml.UnmarshalStrict([]byte(k.OK(t, "", "get", "pr", name, "-o", "yaml")), &fromYAML); err != nil {
		t.Fatalf("get -o yaml: %v", err)
	}
	if err := json.Unmarshal([]byte(k.OK(t, "", "get", "pr", name, "-o", "json")), &fromJSON); err != nil {
		t.Fatalf("get -o json: %v", err)
	}
	for _, pr := range []pkgapi.PackageRevision{fromYAML, fromJSON} {
		if pr.Kind != pkgapi.PackageRevisionKind || pr.Name != name || pr.Spec.PackageRevID != manifest.Spec.PackageRevID || pr.Spec.Lifecycle != pkgapi.LifecycleDraft || pr.ResourceVersion == "" {
			t.Fatalf("get -o yaml|json: %s %q id %+v lifecycle %q rv %q", pr.Kind, pr.Name, pr.Spec.PackageRevID, pr.Spec.Lifecycle, pr.ResourceVersion)
		}
	}
	expectOutput(t, k.OK(t, "", "get", "pr", "-o", "name"), prPrefix+name+"\n"+prPrefix+redis+"\n")
	expectOutput(t, k.OK(t, "", "get", "pr", "-l", "team=web", "-o", "name"), prPrefix+name+"\n")
	expectOutput(t, k.OK(t, "", "get", "pr", "-l", "team!=web", "-o", "name"), prPrefix+redis+"\n")
	expectOutput(t, k.OK(t, "", "get", "pr", "--field-selector", "spec.packageRevID.package=redis", "-o", "name"), prPrefix+redis+"\n")
	expectOutput(t, k.OK(t, "", "get", "pr", "--field-selector", "spec.lifecycle=draft,spec.packageRevID.repository=blueprints", "-o", "name"), prPrefix+name+"\n"+prPrefix+redis+"\n")
	all := parseTable(t, k.OK(t, "", "get", "pr", "-A"))
	if all.header[0] != "NAMESPACE" {
		t.Fatalf("get -A: want a NAMESPACE column first:\n%s", all.text)
	}
	all.expectRow(t, name, map[string]string{"NAMESPACE": namespace, "LIFECYCLE": "draft"})
	expectOutput(t, k.OK(t, "", "get", "repo", "-A", "-o", "name"), repoPrefix+"blueprints\n")

	// label, annotate.
	expectOutput(t, k.OK(t, "", "label", "pr", name, "reviewed=yes"), prPrefix+name+" labeled\n")
	expectOutput(t, k.OK(t, "", "annotate", "pr", name, "note=hello"), prPrefix+name+" annotated\n")
	expectOutput(t, k.OK(t, "", "get", "pr", name, "-o", "jsonpath={.metadata.labels.reviewed} {.metadata.annotations.note}"), "yes hello")

	// The status subresource takes conditions, e.g. from a checker.
	expectOutput(t, k.OK(t, "", "patch", "pr", name, "--subresource", "status", "--type", "merge", "-p",
		`{"status":{"conditions":[{"type":"Checked","status":"True","reason":"Passed","message":"all checks passed","lastTransitionTime":"2026-01-01T00:00:00Z"}]}}`),
		prPrefix+name+" patched\n")
	expectOutput(t, k.OK(t, "", "get", "pr", name, "-o", `jsonpath={.status.conditions[?(@.type=="Checked")].status}`), "True")

	// patch to proposed (merge patch; JSON patch on the other one).
	expectOutput(t, k.OK(t, "", "patch", "pr", name, "--type", "merge", "-p", `{"spec":{"lifecycle":"proposed"}}`), prPrefix+name+" patched\n")
	watchEvent(t, watch, "MODIFIED", name, "proposed")
	expectOutput(t, k.OK(t, "", "patch", "pr", redis, "--type", "json", "-p", `[{"op":"replace","path":"/spec/lifecycle","value":"proposed"}]`), prPrefix+redis+" patched\n")

	// approve through the approval subresource; --as is who publishes.
	var live map[string]any
	if err := json.Unmarshal([]byte(k.OK(t, "", "get", "pr", name, "-o", "json")), &live); err != nil {
		t.Fatal(err)
	}
	live["spec"].(map[string]any)["lifecycle"] = "published"
	var published pkgapi.PackageRevision
	out := k.OK(t, mustJSON(t, live), "replace", "--raw", approvalPath+name+"/approval", "-f", "-", "--as", "alice")
	if err := json.Unmarshal([]byte(out), &published); err != nil {
		t.Fatalf("replace --raw approval: %v\n%s", err, out)
	}
	if published.Spec.Lifecycle != pkgapi.LifecyclePublished || published.Spec.PackageRevID.Revision != "v1" || published.Status.PublishedBy != "alice" {
		t.Fatalf("approved: lifecycle %q revision %q publishedBy %q; want published, v1, alice", published.Spec.Lifecycle, published.Spec.PackageRevID.Revision, published.Status.PublishedBy)
	}
	watchEvent(t, watch, "MODIFIED", name, "published", "v1")
	prs = parseTable(t, k.OK(t, "", "get", "pr", name))
	prs.expectRow(t, name, map[string]string{"REVISION": "v1", "LIFECYCLE": "published"})
	expectOutput(t, k.OK(t, "", "get", "pr", "-l", pkgapi.LatestRevisionLabel+"=true", "-o", "name"), prPrefix+name+"\n")
	expectOutput(t, k.OK(t, "", "get", "pr", "--field-selector", "spec.packageRevID.revision=v1", "-o", "name"), prPrefix+name+"\n")

	// edit: an editor script sends the proposed revision back to draft.
	editor := filepath.Join(k.Dir, "editor.sh")
	if err := os.WriteFile(editor, []byte("#!/bin/sh\nsed -i 's/^  lifecycle: proposed$/  lifecycle: draft/' \"$1\"\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	edit := *k
	edit.Env = append(slices.Clone(k.Env), "KUBE_EDITOR="+editor)
	expectOutput(t, edit.OK(t, "", "edit", "pr", redis), prPrefix+redis+" edited\n")
	expectOutput(t, k.OK(t, "", "get", "pr", redis, "-o", "jsonpath={.spec.lifecycle}"), "draft")
	watchEvent(t, watch, "MODIFIED", redis, "draft")

	// explain, from /openapi/v3.
	explain := k.OK(t, "", "explain", "packagerevision.spec")
	for _, want := range []string{"KIND:       PackageRevision", "VERSION:    v1alpha1", "FIELD: spec <PackageRevisionSpec>", "lifecycle\t<string>", "packageRevID\t<PackageRevID>", "tasks\t<[]Task>"} {
		if !strings.Contains(explain, want) {
			t.Fatalf("explain packagerevision.spec: no %q in\n%s", want, explain)
		}
	}
	explain = k.OK(t, "", "explain", "packagerevision.spec.packageRevID")
	for _, field := range []string{"target", "repository", "realm", "package", "workspace", "revision"} {
		if !strings.Contains(explain, "\n  "+field+"\t<string>") {
			t.Fatalf("explain packagerevision.spec.packageRevID: no field %s in\n%s", field, explain)
		}
	}

	// delete: a draft goes, a published revision is refused.
	expectOutput(t, k.OK(t, "", "delete", "pr", redis), "packagerevision.pkg.pkgserver.dev \""+redis+"\" deleted\n")
	watchEvent(t, watch, "DELETED", redis, "")
	r := k.Fail(t, 1, "", "delete", "pr", name)
	if !strings.Contains(r.Stderr, "Error from server (Forbidden)") {
		t.Fatalf("delete of a published revision: want Forbidden:\n%s", r)
	}
	if r = k.Fail(t, 1, "", "get", "pr", redis); !strings.HasPrefix(r.Stderr, "Error from server (NotFound): ") {
		t.Fatalf("get after delete: want NotFound:\n%s", r)
	}
	if s := watch.Stderr(); s != "" {
		t.Fatalf("kubectl get -w wrote to stderr:\n%s", s)
	}
}

func testKubectlErrors(t *testing.T, e *env, k *harness.CLI) {
	repoFile := filepath.Join(k.Dir, "repo.yaml")
	writeYAML(t, repoFile, repositoryManifest("blueprints", "", nil))
	k.OK(t, "", "apply", "-f", repoFile)
	name := "catalog.blueprints.apps.nginx.first"
	k.OK(t, string(toYAML(t, revisionManifest(catalogID("blueprints", "apps", "nginx", "first"), initTask("nginx"), nil))), "create", "-f", "-")

	t.Run("UnknownName", func(t *testing.T) {
		missing := "catalog.blueprints.apps.nope.x"
		for _, args := range [][]string{
			{"get", "pr", missing},
			{"get", "prr", missing},
			{"delete", "pr", missing},
			{"patch", "pr", missing, "--type", "merge", "-p", `{"spec":{"lifecycle":"proposed"}}`},
			{"label", "pr", missing, "a=b"},
		} {
			// kubectl checks the namespace (GET /api/v1/namespaces/NS) after a
			// NotFound in a namespace other than default, and shows that error
			// instead when the namespace is not found.
			r := k.Fail(t, 1, "", args...)
			if !strings.HasPrefix(r.Stderr, "Error from server (NotFound): ") || !strings.Contains(r.Stderr, `"`+missing+`"`) {
				t.Errorf("want a NotFound error naming %s:\n%s", missing, r)
			}
		}
		r := k.Fail(t, 1, "", "get", "repo", "nope")
		if !strings.HasPrefix(r.Stderr, "Error from server (NotFound): ") || !strings.Contains(r.Stderr, `"nope"`) {
			t.Errorf("want a NotFound error naming the repository:\n%s", r)
		}
	})

	// Invalid YAML in the files is a 422 (kubectl: "is invalid") that names
	// the file and the line, and changes nothing.
	t.Run("InvalidYAML", func(t *testing.T) {
		var prr map[string]any
		if err := yaml.Unmarshal([]byte(k.OK(t, "", "get", "prr", name, "-o", "yaml")), &prr); err != nil {
			t.Fatal(err)
		}
		before := k.OK(t, "", "get", "prr", name, "-o", "jsonpath={.spec.resources}")
		prr["spec"].(map[string]any)["resources"].(map[string]any)["broken.yaml"] = "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: [x\n"
		file := filepath.Join(k.Dir, "prr.yaml")
		writeYAML(t, file, prr)
		for _, verb := range []string{"replace", "apply"} {
			r := k.Fail(t, 1, "", verb, "-f", file)
			if !strings.Contains(r.Stderr, `The packagerevisionresources "`+name+`" is invalid`) {
				t.Errorf("%s of invalid YAML: want kubectl's 422 (Invalid) message:\n%s", verb, r)
			}
			if !strings.Contains(r.Stderr, "broken.yaml") || !strings.Contains(r.Stderr, "line 4") {
				t.Errorf("%s of invalid YAML: kubectl does not show the file (broken.yaml) and line (line 4) at fault:\n%s", verb, r)
			}
		}
		if after := k.OK(t, "", "get", "prr", name, "-o", "jsonpath={.spec.resources}"); after != before {
			t.Fatalf("the files changed after refused writes:\n%s\nwant\n%s", after, before)
		}
	})
}

// testKubectlDistribution runs a short lifecycle on a repository stored in a
// CNCF distribution registry.
func testKubectlDistribution(t *testing.T, e *env, k *harness.CLI) {
	repoFile := filepath.Join(k.Dir, "repo.yaml")
	writeYAML(t, repoFile, repositoryManifest("edge", "", &configapi.OCIRepository{Registry: e.registryPrefix("edge"), PlainHTTP: true}))
	expectOutput(t, k.OK(t, "", "apply", "-f", repoFile), repoPrefix+"edge created\n")
	repos := parseTable(t, k.OK(t, "", "get", "repo"))
	repos.expectRow(t, "edge", map[string]string{"ADDRESS": e.registryPrefix("edge"), "READY": "True"})

	watch := k.Start(t, "get", "pr", "--watch", "--output-watch-events")
	name := "catalog.edge.apps.web.w1"
	k.OK(t, string(toYAML(t, revisionManifest(catalogID("edge", "apps", "web", "w1"), initTask("web"), nil))), "apply", "-f", "-")
	watchEvent(t, watch, "ADDED", name, "draft")
	k.OK(t, "", "patch", "pr", name, "--type", "merge", "-p", `{"spec":{"lifecycle":"proposed"}}`)
	watchEvent(t, watch, "MODIFIED", name, "proposed")
	body := `{"apiVersion":"pkg.pkgserver.dev/v1alpha1","kind":"PackageRevision","metadata":{"name":"` + name + `"},"spec":{"lifecycle":"published"}}`
	k.OK(t, body, "replace", "--raw", approvalPath+name+"/approval", "-f", "-")
	watchEvent(t, watch, "MODIFIED", name, "published", "v1")
	wide := parseTable(t, k.OK(t, "", "get", "pr", name, "-o", "wide"))
	wide.expectRow(t, name, map[string]string{"REVISION": "v1", "LIFECYCLE": "published", "LATEST": "true"})
}

// watchEvent waits for the watch to print an event of type typ for name
// whose cells include every one of cells.
func watchEvent(t *testing.T, w *harness.Stream, typ, name string, cells ...string) {
	t.Helper()
	w.WaitFor(t, watchTimeout, typ+" "+name+" "+strings.Join(cells, " "), func(line string) bool {
		f := strings.Fields(line)
		if len(f) < 2 || f[0] != typ || f[1] != name {
			return false
		}
		for _, c := range cells {
			if c != "" && !slices.Contains(f, c) {
				return false
			}
		}
		return true
	})
}

func repositoryManifest(name, description string, oci *configapi.OCIRepository) *configapi.Repository {
	r := &configapi.Repository{}
	r.APIVersion, r.Kind = configapi.SchemeGroupVersion.String(), configapi.RepositoryKind
	r.Name, r.Namespace = name, namespace
	r.Spec = configapi.RepositorySpec{Type: configapi.RepositoryTypeOCI, Description: description, OCI: oci}
	return r
}

// revisionManifest is a PackageRevision as a user writes it: no lifecycle
// (the server starts it as a draft), no status.
func revisionManifest(id pkgapi.PackageRevID, task pkgapi.Task, labels map[string]string) *pkgapi.PackageRevision {
	pr := newRevision(id, task, labels)
	pr.Spec.Lifecycle = ""
	return pr
}

// toYAML writes an object as a manifest, without the empty fields Go's zero
// values would add (creationTimestamp: null, status: {}).
func toYAML(t *testing.T, obj any) []byte {
	t.Helper()
	var m map[string]any
	if err := json.Unmarshal([]byte(mustJSON(t, obj)), &m); err != nil {
		t.Fatal(err)
	}
	delete(m, "status")
	if md, ok := m["metadata"].(map[string]any); ok {
		delete(md, "creationTimestamp")
	}
	data, err := yaml.Marshal(m)
	if err != nil {
		t.Fatal(err)
	}
	return data
}

func writeYAML(t *testing.T, path string, obj any) {
	t.Helper()
	if err := os.WriteFile(path, toYAML(t, obj), 0o644); err != nil {
		t.Fatal(err)
	}
}
