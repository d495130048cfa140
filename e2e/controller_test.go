package e2e

import (
	"os"
	"path/filepath"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	pkgapi "pkgserver.dev/pkgserver/api/pkg/v1alpha1"
	"pkgserver.dev/pkgserver/e2e/internal/harness"
)

// approvalTimeout bounds how long the example controller may take to publish
// a revision once its gate is True (its cache syncs first).
const approvalTimeout = 60 * time.Second

// TestApprovalBot runs the controller-runtime example of examples/approval-bot,
// unmodified, against pkgserver with no cluster: it must publish a proposed
// revision once its readiness gate is set True through /status, and leave
// alone one whose gate is not.
func TestApprovalBot(t *testing.T) {
	root, err := harness.ModuleRoot()
	if err != nil {
		t.Fatal(err)
	}
	bin, err := harness.BuildExample(root, t.TempDir(), "approval-bot")
	if err != nil {
		t.Fatal(err)
	}
	e := newEnv(t, backends[0])
	e.createRepo(t, "blueprints", false)
	gated := proposedWithGate(t, e, "gated")
	waiting := proposedWithGate(t, e, "waiting")

	kubeconfig := filepath.Join(t.TempDir(), "kubeconfig")
	if err := os.WriteFile(kubeconfig, []byte(`apiVersion: v1
kind: Config
clusters:
- name: pkgserver
  cluster: {server: "`+e.srv.URL+`"}
contexts:
- name: pkgserver
  context: {cluster: pkgserver}
current-context: pkgserver
`), 0o600); err != nil {
		t.Fatal(err)
	}
	bot := harness.NewCLI(t, bin).Start(t, "--kubeconfig", kubeconfig, "--namespace", namespace)

	// A checker reports the gate True through the status subresource.
	gated.Status.Conditions = []metav1.Condition{{Type: "Tested", Status: metav1.ConditionTrue, Reason: "Passed",
		Message: "tests passed", LastTransitionTime: metav1.Now()}}
	gated.ResourceVersion = ""
	e.c.Expect(t, "PUT", e.c.RevisionsPath(gated.Name)+"/status", gated, 200, nil)

	deadline := time.Now().Add(approvalTimeout)
	for {
		pr := e.c.GetRevision(t, gated.Name)
		if pr.Spec.Lifecycle == pkgapi.LifecyclePublished {
			if pr.Spec.PackageRevID.Revision != "v1" {
				t.Fatalf("published as %q, want v1", pr.Spec.PackageRevID.Revision)
			}
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s is still %s %s after its gate was set True; approval-bot log:\n%s",
				gated.Name, pr.Spec.Lifecycle, approvalTimeout, bot.Stderr())
		}
		time.Sleep(200 * time.Millisecond)
	}
	if pr := e.c.GetRevision(t, waiting.Name); pr.Spec.Lifecycle != pkgapi.LifecycleProposed {
		t.Fatalf("%s, whose gate is not True, is %s; approval-bot log:\n%s", waiting.Name, pr.Spec.Lifecycle, bot.Stderr())
	}
}

// proposedWithGate creates a proposed revision of package pkg gated on "Tested".
func proposedWithGate(t *testing.T, e *env, pkg string) *pkgapi.PackageRevision {
	t.Helper()
	pr := newRevision(catalogID("blueprints", "apps", pkg, "main"), initTask(pkg), nil)
	pr.Spec.ReadinessGates = []pkgapi.ReadinessGate{{ConditionType: "Tested"}}
	pr = e.c.CreateRevision(t, pr)
	pr.Spec.Lifecycle = pkgapi.LifecycleProposed
	return e.c.UpdateRevision(t, pr)
}
