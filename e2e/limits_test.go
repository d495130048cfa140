package e2e

import (
	"bytes"
	"encoding/json"
	"maps"
	"net/http"
	"strings"
	"testing"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"pkgserver.dev/pkgserver/e2e/internal/harness"
)

// testBodyLimit sends bodies over --max-body-bytes, with and without a
// Content-Length, and one just under it.
func testBodyLimit(t *testing.T, e *env) {
	c := e.c
	e.createRepo(t, "blueprints", false)
	id := catalogID("blueprints", "", "big", "ws1")
	name := harness.RevisionName(id)
	createDraft(t, c, id, initTask("big"), nil)
	before := c.GetRevision(t, name)
	files := c.GetResources(t, name).Spec.Resources

	body := func(valueLen int) []byte {
		prr := c.GetResources(t, name)
		prr.Spec.Resources["big.yaml"] = configMapYAML("big", strings.Repeat("x", valueLen))
		data, err := json.Marshal(prr)
		if err != nil {
			t.Fatal(err)
		}
		return data
	}

	over := body(maxBody + 1024)
	if len(over) <= maxBody {
		t.Fatalf("test body of %d bytes is not over the limit", len(over))
	}
	expectReason(t, c.ExpectStatus(t, http.MethodPut, c.ResourcesPath(name), over, http.StatusRequestEntityTooLarge), metav1.StatusReasonRequestEntityTooLarge)
	// Without Content-Length the server must stop reading at the limit too.
	c.ExpectStatus(t, http.MethodPut, c.ResourcesPath(name), bytes.NewReader(over), http.StatusRequestEntityTooLarge)
	// Creation is limited the same way.
	big := newRevision(catalogID("blueprints", "", "big2", "ws1"), initTask(strings.Repeat("d", maxBody)), nil)
	c.ExpectStatus(t, http.MethodPost, c.RevisionsPath(""), big, http.StatusRequestEntityTooLarge)
	c.ExpectStatus(t, http.MethodGet, c.RevisionsPath(harness.RevisionName(big.Spec.PackageRevID)), nil, http.StatusNotFound)

	if got := c.GetRevision(t, name); got.ResourceVersion != before.ResourceVersion {
		t.Fatalf("refused bodies changed the revision: rv %q→%q", before.ResourceVersion, got.ResourceVersion)
	}
	assertFiles(t, "after refused bodies", c.GetResources(t, name).Spec.Resources, files)

	// A body just under the limit is taken.
	under := body(maxBody - 4096)
	if len(under) > maxBody {
		t.Fatalf("test body of %d bytes is over the limit", len(under))
	}
	var out struct {
		Spec struct {
			Resources map[string]string `json:"resources"`
		} `json:"spec"`
	}
	c.Expect(t, http.MethodPut, c.ResourcesPath(name), under, http.StatusOK, &out)
	want := maps.Clone(files)
	want["big.yaml"] = configMapYAML("big", strings.Repeat("x", maxBody-4096))
	assertFiles(t, "after a body under the limit", c.GetResources(t, name).Spec.Resources, want)
}
