package e2e

import (
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/rest"

	pkgapi "pkgserver.dev/pkgserver/api/pkg/v1alpha1"
	"pkgserver.dev/pkgserver/e2e/internal/harness"
	"pkgserver.dev/pkgserver/pkg/generated/clientset/versioned"
)

// TestKubectlFidelity drives the Kubernetes API semantics that kubectl
// relies on beyond plain reads and writes: server-side apply with field
// managers and conflicts, the managers every write records, diff, server dry
// runs, delete preconditions, and the answer to a Repository written for
// git.
//
// Diff, DryRunCreate, DryRunDelete and DeletePreconditions need the engine
// to honour engine.WriteOptions (dryRun=All, DeleteOptions.preconditions).
func TestKubectlFidelity(t *testing.T) {
	kubectl, err := harness.KubectlBinary()
	if err != nil {
		t.Fatal(err)
	}
	e := newEnv(t, backends[0])
	k := e.kubectl(t, kubectl)
	writeYAML(t, filepath.Join(k.Dir, "blueprints.yaml"), repositoryManifest("blueprints", "", nil))
	k.OK(t, "", "apply", "--server-side", "-f", filepath.Join(k.Dir, "blueprints.yaml"))

	for _, sc := range []struct {
		name string
		run  func(t *testing.T, e *env, k *harness.CLI)
	}{
		{"ServerSideApply", testServerSideApply},
		{"ServerSideApplyRevision", testServerSideApplyRevision},
		{"FieldManagers", testFieldManagers},
		{"GitRepository", testGitRepository},
		{"Diff", testDiff},
		{"DryRunCreate", testDryRunCreate},
		{"DryRunDelete", testDryRunDelete},
		{"DeletePreconditions", testDeletePreconditions},
	} {
		t.Run(sc.name, func(t *testing.T) { sc.run(t, e, k) })
	}
}

// managers lists who owns fields of an object, as "manager:Operation".
func managers(t *testing.T, k *harness.CLI, kind, name string) []string {
	t.Helper()
	out := k.OK(t, "", "get", kind, name, "-o", `jsonpath={range .metadata.managedFields[*]}{.manager}:{.operation}{"\n"}{end}`)
	got := strings.Fields(out)
	slices.Sort(got)
	return got
}

func expectManagers(t *testing.T, k *harness.CLI, kind, name string, want ...string) {
	t.Helper()
	slices.Sort(want)
	if got := managers(t, k, kind, name); !slices.Equal(got, want) {
		t.Fatalf("%s %s: managedFields managers %q, want %q", kind, name, got, want)
	}
}

func testServerSideApply(t *testing.T, e *env, k *harness.CLI) {
	file := filepath.Join(k.Dir, "ssa.yaml")
	description := func() string {
		return k.OK(t, "", "get", "repo", "ssa", "-o", "jsonpath={.spec.description}")
	}
	writeYAML(t, file, repositoryManifest("ssa", "first", nil))
	expectOutput(t, k.OK(t, "", "apply", "--server-side", "-f", file), repoPrefix+"ssa serverside-applied\n")
	expectOutput(t, k.OK(t, "", "apply", "--server-side", "-f", file), repoPrefix+"ssa serverside-applied\n")
	expectManagers(t, k, "repo", "ssa", "kubectl:Apply")

	// Another manager setting the same field differently is a conflict that
	// names the field and its manager, and changes nothing.
	writeYAML(t, file, repositoryManifest("ssa", "second", nil))
	r := k.Fail(t, 1, "", "apply", "--server-side", "--field-manager", "ci", "-f", file)
	for _, want := range []string{`Apply failed with 1 conflict: conflict with "kubectl": .spec.description`, "--force-conflicts"} {
		if !strings.Contains(r.Stderr, want) {
			t.Fatalf("conflicting apply: no %q in\n%s", want, r)
		}
	}
	expectOutput(t, description(), "first")

	// Forced, the other manager takes the field over.
	expectOutput(t, k.OK(t, "", "apply", "--server-side", "--field-manager", "ci", "--force-conflicts", "-f", file), repoPrefix+"ssa serverside-applied\n")
	expectOutput(t, description(), "second")
	expectManagers(t, k, "repo", "ssa", "ci:Apply", "kubectl:Apply")

	// The first manager leaving the field out does not remove it: ci owns it now.
	writeYAML(t, file, repositoryManifest("ssa", "", nil))
	k.OK(t, "", "apply", "--server-side", "-f", file)
	expectOutput(t, description(), "second")
}

func testServerSideApplyRevision(t *testing.T, e *env, k *harness.CLI) {
	name := "catalog.blueprints.apps.applied.main"
	file := filepath.Join(k.Dir, "applied.yaml")
	pr := revisionManifest(catalogID("blueprints", "apps", "applied", "main"), initTask("applied"), map[string]string{"team": "web", "tier": "frontend"})
	pr.Spec.ReadinessGates = []pkgapi.ReadinessGate{{ConditionType: "Tested"}}
	writeYAML(t, file, pr)
	// Created by the apply, then applied again unchanged.
	expectOutput(t, k.OK(t, "", "apply", "--server-side", "-f", file), prPrefix+name+" serverside-applied\n")
	expectOutput(t, k.OK(t, "", "apply", "--server-side", "-f", file), prPrefix+name+" serverside-applied\n")
	expectOutput(t, k.OK(t, "", "get", "pr", name, "-o", "jsonpath={.spec.lifecycle} {.metadata.labels.team} {.spec.readinessGates[0].conditionType}"), "draft web Tested")
	expectManagers(t, k, "pr", name, "kubectl:Apply")

	// A label the manager stops applying is removed; a new value is set.
	delete(pr.Labels, "tier")
	pr.Spec.Lifecycle = pkgapi.LifecycleProposed
	writeYAML(t, file, pr)
	k.OK(t, "", "apply", "--server-side", "-f", file)
	expectOutput(t, k.OK(t, "", "get", "pr", name, "-o", "jsonpath={.spec.lifecycle} {.metadata.labels}"), `proposed {"team":"web"}`)

	// Another manager's label value conflicts.
	other := filepath.Join(k.Dir, "other.yaml")
	writeYAML(t, other, map[string]any{
		"apiVersion": pkgapi.SchemeGroupVersion.String(), "kind": pkgapi.PackageRevisionKind,
		"metadata": map[string]any{"name": name, "labels": map[string]string{"team": "db"}},
	})
	r := k.Fail(t, 1, "", "apply", "--server-side", "--field-manager", "bot", "-f", other)
	if !strings.Contains(r.Stderr, `conflict with "kubectl": .metadata.labels.team`) {
		t.Fatalf("conflicting apply: want the label and its manager named:\n%s", r)
	}
}

func testFieldManagers(t *testing.T, e *env, k *harness.CLI) {
	name := "catalog.blueprints.apps.managed.main"
	pr := revisionManifest(catalogID("blueprints", "apps", "managed", "main"), initTask("managed"), map[string]string{"team": "web"})
	expectOutput(t, k.OK(t, string(toYAML(t, pr)), "create", "-f", "-"), prPrefix+name+" created\n")
	k.OK(t, "", "label", "pr", name, "labeled=yes")
	k.OK(t, "", "annotate", "pr", name, "annotated=yes")
	k.OK(t, "", "patch", "pr", name, "--type", "merge", "-p", `{"metadata":{"labels":{"patched":"yes"}}}`)
	live := k.OK(t, "", "get", "pr", name, "-o", "yaml")
	k.OK(t, strings.Replace(live, "    team: web\n", "    team: web\n    replaced: \"yes\"\n", 1), "replace", "-f", "-")
	editor := filepath.Join(k.Dir, "edit-label.sh")
	writeScript(t, editor, "#!/bin/sh\nsed -i 's/^    team: web$/    team: web\\n    edited: \"yes\"/' \"$1\"\n")
	edit := *k
	edit.Env = append(slices.Clone(k.Env), "KUBE_EDITOR="+editor)
	k.OK(t, "", "get", "pr", name) // the object is there before the edit
	edit.OK(t, "", "edit", "pr", name)
	expectOutput(t, k.OK(t, "", "get", "pr", name, "-o", "jsonpath={.metadata.labels.edited} {.metadata.labels.replaced}"), "yes yes")
	expectManagers(t, k, "pr", name,
		"kubectl-create:Update", "kubectl-label:Update", "kubectl-annotate:Update",
		"kubectl-patch:Update", "kubectl-replace:Update", "kubectl-edit:Update")

	// Client-side apply has a manager of its own.
	file := filepath.Join(k.Dir, "client-side.yaml")
	writeYAML(t, file, repositoryManifest("client-side", "by kubectl apply", nil))
	k.OK(t, "", "apply", "-f", file)
	expectManagers(t, k, "repo", "client-side", "kubectl-client-side-apply:Update")
}

// testGitRepository applies a Repository written for the original pkgserver.
func testGitRepository(t *testing.T, e *env, k *harness.CLI) {
	file := filepath.Join(k.Dir, "git.yaml")
	writeYAML(t, file, map[string]any{
		"apiVersion": "config.pkg.pkgserver.dev/v1alpha1", "kind": "Repository",
		"metadata": map[string]any{"name": "blueprints-git"},
		"spec": map[string]any{"type": "git", "deployment": false,
			"git": map[string]any{"repo": "https://example.invalid/blueprints.git", "branch": "main", "directory": "/"}},
	})
	for _, args := range [][]string{
		{"apply", "-f", file},
		{"apply", "--server-side", "-f", file},
		{"create", "-f", file},
		{"create", "--validate=false", "-f", file},
	} {
		r := k.Fail(t, 1, "", args...)
		for _, want := range []string{`The repositories "blueprints-git" is invalid`, "git repositories are not served", "spec.type: oci", "spec.oci.registry"} {
			if !strings.Contains(r.Stderr, want) {
				t.Errorf("%s: no %q in\n%s", strings.Join(args, " "), want, r)
			}
		}
	}
	if r := k.Fail(t, 1, "", "get", "repo", "blueprints-git"); !strings.Contains(r.Stderr, "NotFound") {
		t.Fatalf("the git repository was stored:\n%s", r)
	}
}

// testDiff: kubectl diff sends the change as a dry run; nothing is written.
func testDiff(t *testing.T, e *env, k *harness.CLI) {
	file := filepath.Join(k.Dir, "diffed.yaml")
	writeYAML(t, file, repositoryManifest("diffed", "before", nil))
	k.OK(t, "", "apply", "--server-side", "-f", file)
	for _, args := range [][]string{{"diff", "-f", file}, {"diff", "--server-side", "-f", file}} {
		if r := k.Run(t, "", args...); r.Code != 0 || r.Stdout != "" {
			t.Fatalf("%s of the live state: want no difference:\n%s", strings.Join(args, " "), r)
		}
	}
	writeYAML(t, file, repositoryManifest("diffed", "after", nil))
	for _, args := range [][]string{{"diff", "-f", file}, {"diff", "--server-side", "-f", file}} {
		r := k.Run(t, "", args...)
		if r.Code != 1 || !strings.Contains(r.Stdout, "-  description: before") || !strings.Contains(r.Stdout, "+  description: after") {
			t.Fatalf("%s: want exit code 1 and the description changed:\n%s", strings.Join(args, " "), r)
		}
		expectOutput(t, k.OK(t, "", "get", "repo", "diffed", "-o", "jsonpath={.spec.description}"), "before")
	}
}

func testDryRunCreate(t *testing.T, e *env, k *harness.CLI) {
	repo := repositoryManifest("dry", "", nil)
	expectOutput(t, k.OK(t, string(toYAML(t, repo)), "create", "--dry-run=server", "-f", "-"), repoPrefix+"dry created (server dry run)\n")
	name := "catalog.blueprints.apps.dry.main"
	pr := revisionManifest(catalogID("blueprints", "apps", "dry", "main"), initTask("dry"), nil)
	expectOutput(t, k.OK(t, string(toYAML(t, pr)), "create", "--dry-run=server", "-f", "-"), prPrefix+name+" created (server dry run)\n")
	expectOutput(t, k.OK(t, string(toYAML(t, pr)), "apply", "--server-side", "--dry-run=server", "-f", "-"), prPrefix+name+" serverside-applied (server dry run)\n")
	for _, obj := range [][]string{{"repo", "dry"}, {"pr", name}} {
		if r := k.Fail(t, 1, "", "get", obj[0], obj[1]); !strings.Contains(r.Stderr, "NotFound") {
			t.Errorf("a server dry run created %s %s:\n%s", obj[0], obj[1], r)
		}
	}
}

func testDryRunDelete(t *testing.T, e *env, k *harness.CLI) {
	// A repository of its own, so a failure here leaves the others alone.
	k.OK(t, string(toYAML(t, repositoryManifest("kept", "", nil))), "create", "-f", "-")
	name := "catalog.kept.apps.kept.main"
	k.OK(t, string(toYAML(t, revisionManifest(catalogID("kept", "apps", "kept", "main"), initTask("kept"), nil))), "create", "-f", "-")
	expectOutput(t, k.OK(t, "", "delete", "pr", name, "--dry-run=server"), `packagerevision.pkg.pkgserver.dev "`+name+`" deleted (server dry run)`+"\n")
	expectOutput(t, k.OK(t, "", "delete", "repo", "kept", "--dry-run=server"), `repository.config.pkg.pkgserver.dev "kept" deleted (server dry run)`+"\n")
	k.OK(t, "", "get", "repo", "kept")
	k.OK(t, "", "get", "pr", name)
}

// testDeletePreconditions deletes through the generated clientset, which
// sends DeleteOptions as kubectl and controllers do.
func testDeletePreconditions(t *testing.T, e *env, k *harness.CLI) {
	cs, err := versioned.NewForConfig(&rest.Config{Host: e.srv.URL})
	if err != nil {
		t.Fatal(err)
	}
	ctx := t.Context()
	if _, err := cs.ConfigV1alpha1().Repositories(namespace).Create(ctx, repositoryManifest("guarded", "", nil), metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	prs := cs.PkgV1alpha1().PackageRevisions(namespace)
	name := "catalog.guarded.apps.guarded.main"
	created, err := prs.Create(ctx, revisionManifest(catalogID("guarded", "apps", "guarded", "main"), initTask("guarded"), nil), metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	stale := created.ResourceVersion
	created.Labels = map[string]string{"changed": "yes"}
	if _, err := prs.Update(ctx, created, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
	otherUID := types.UID("00000000-0000-0000-0000-000000000000")
	for _, pre := range []metav1.Preconditions{{ResourceVersion: &stale}, {UID: &otherUID}} {
		err := prs.Delete(ctx, name, metav1.DeleteOptions{Preconditions: &pre})
		if !apierrors.IsConflict(err) {
			t.Fatalf("delete with a stale precondition %+v: got %v, want 409 Conflict", pre, err)
		}
	}
	cur, err := prs.Get(ctx, name, metav1.GetOptions{})
	if err != nil {
		t.Fatalf("the revision is gone after refused deletes: %v", err)
	}
	if err := prs.Delete(ctx, name, metav1.DeleteOptions{Preconditions: &metav1.Preconditions{UID: &cur.UID, ResourceVersion: &cur.ResourceVersion}}); err != nil {
		t.Fatalf("delete with current preconditions: %v", err)
	}
	if _, err := prs.Get(ctx, name, metav1.GetOptions{}); !apierrors.IsNotFound(err) {
		t.Fatalf("after delete: got %v, want NotFound", err)
	}
}

func writeScript(t *testing.T, path, text string) {
	t.Helper()
	if err := os.WriteFile(path, []byte(text), 0o755); err != nil {
		t.Fatal(err)
	}
}
