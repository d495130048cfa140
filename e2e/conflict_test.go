package e2e

import (
	"maps"
	"net/http"
	"strconv"
	"sync"
	"testing"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	pkgapi "pkgserver.dev/pkgserver/api/pkg/v1alpha1"
	"pkgserver.dev/pkgserver/e2e/internal/harness"
)

// testStaleResourceVersion checks that a write carrying an old
// resourceVersion is refused with 409 and loses nothing.
func testStaleResourceVersion(t *testing.T, e *env) {
	c := e.c
	e.createRepo(t, "blueprints", false)
	id := catalogID("blueprints", "", "app", "ws1")
	name := harness.RevisionName(id)
	createDraft(t, c, id, initTask("app"), nil)

	// PackageRevision
	pr0 := c.GetRevision(t, name)
	upd := pr0.DeepCopy()
	upd.Labels = map[string]string{"owner": "first"}
	pr1 := c.UpdateRevision(t, upd)
	if pr1.ResourceVersion == pr0.ResourceVersion || pr1.Labels["owner"] != "first" {
		t.Fatalf("label update: rv %q→%q labels %v", pr0.ResourceVersion, pr1.ResourceVersion, pr1.Labels)
	}
	stale := pr0.DeepCopy()
	stale.Labels = map[string]string{"owner": "second"}
	expectReason(t, c.ExpectStatus(t, http.MethodPut, c.RevisionsPath(name), stale, http.StatusConflict), metav1.StatusReasonConflict)
	stale.Spec.Lifecycle = pkgapi.LifecycleProposed
	c.ExpectStatus(t, http.MethodPut, c.RevisionsPath(name), stale, http.StatusConflict)
	if got := c.GetRevision(t, name); got.ResourceVersion != pr1.ResourceVersion || got.Labels["owner"] != "first" || got.Spec.Lifecycle != pkgapi.LifecycleDraft {
		t.Fatalf("after refused stale update: rv %q labels %v lifecycle %q; want %q, owner=first, draft", got.ResourceVersion, got.Labels, got.Spec.Lifecycle, pr1.ResourceVersion)
	}

	// PackageRevisionResources
	prr0 := c.GetResources(t, name)
	files1 := maps.Clone(prr0.Spec.Resources)
	files1["cm.yaml"] = configMapYAML("cm", "first")
	in := prr0.DeepCopy()
	in.Spec.Resources = files1
	c.UpdateResources(t, in)
	staleRes := prr0.DeepCopy()
	staleRes.Spec.Resources["cm.yaml"] = configMapYAML("cm", "second")
	expectReason(t, c.ExpectStatus(t, http.MethodPut, c.ResourcesPath(name), staleRes, http.StatusConflict), metav1.StatusReasonConflict)
	assertFiles(t, "after refused stale PRR update", c.GetResources(t, name).Spec.Resources, files1)

	// Approval with a stale resourceVersion
	cur := c.GetRevision(t, name)
	cur.Spec.Lifecycle = pkgapi.LifecycleProposed
	proposed := c.UpdateRevision(t, cur)
	staleApproval := cur.DeepCopy() // carries the rv from before the proposal
	staleApproval.Spec.Lifecycle = pkgapi.LifecyclePublished
	c.ExpectStatus(t, http.MethodPut, c.ApprovalPath(name), staleApproval, http.StatusConflict)
	if got := c.GetRevision(t, name); got.Spec.Lifecycle != pkgapi.LifecycleProposed || got.ResourceVersion != proposed.ResourceVersion {
		t.Fatalf("after refused stale approval: lifecycle %q rv %q", got.Spec.Lifecycle, got.ResourceVersion)
	}
	reject := c.Approve(t, proposed, pkgapi.LifecycleDraft)
	if reject.Spec.Lifecycle != pkgapi.LifecycleDraft {
		t.Fatalf("reject through approval: lifecycle %q", reject.Spec.Lifecycle)
	}

	// Racing writers with the same resourceVersion: exactly one wins, the
	// others get 409, and the stored files are the winner's.
	base := c.GetResources(t, name)
	const writers = 8
	codes := make([]int, writers)
	var wg sync.WaitGroup
	for i := range writers {
		wg.Go(func() {
			in := base.DeepCopy()
			in.Spec.Resources["race.yaml"] = configMapYAML("race", strconv.Itoa(i))
			resp, err := c.Do(t.Context(), http.MethodPut, c.ResourcesPath(name), in)
			if err != nil {
				t.Error(err)
				return
			}
			codes[i] = resp.Code
		})
	}
	wg.Wait()
	winner := -1
	for i, code := range codes {
		switch code {
		case http.StatusOK:
			if winner >= 0 {
				t.Fatalf("writers %d and %d both succeeded with resourceVersion %q: a lost update (codes %v)", winner, i, base.ResourceVersion, codes)
			}
			winner = i
		case http.StatusConflict:
		default:
			t.Fatalf("racing writer %d got %d (codes %v)", i, code, codes)
		}
	}
	if winner < 0 {
		t.Fatalf("no racing writer succeeded (codes %v)", codes)
	}
	if got := c.GetResources(t, name).Spec.Resources["race.yaml"]; got != configMapYAML("race", strconv.Itoa(winner)) {
		t.Fatalf("stored race.yaml %q is not the winner's (writer %d)", got, winner)
	}
}
