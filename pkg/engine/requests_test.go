package engine_test

import (
	"fmt"
	"net/http"
	"strings"
	"sync"
	"testing"

	pkgapi "pkgserver.dev/pkgserver/api/pkg/v1alpha1"
)

// requestCounter counts the requests a client sends.
type requestCounter struct {
	mu   sync.Mutex
	reqs []string
}

func (c *requestCounter) RoundTrip(r *http.Request) (*http.Response, error) {
	if !strings.Contains(r.URL.Path, "/pkgserver.lease/") { // renewed in the background
		c.mu.Lock()
		c.reqs = append(c.reqs, r.Method+" "+r.URL.Path)
		c.mu.Unlock()
	}
	return http.DefaultTransport.RoundTrip(r)
}

func (c *requestCounter) take() []string {
	c.mu.Lock()
	defer c.mu.Unlock()
	out := c.reqs
	c.reqs = nil
	return out
}

// TestWriteRequests: the registry requests of each lifecycle step on a
// remote registry, once the repository has been written to (a push of the
// same package is 7: two blobs of three requests and the manifest). Each
// step checks what others may have changed behind pkgserver with one HEAD;
// the empty config every revision shares is mounted, not uploaded.
func TestWriteRequests(t *testing.T) {
	h := newHarness(t, remoteBackend(t))
	counter := &requestCounter{}
	h.transport = counter
	h.restart()
	h.createRepo("bp", false)
	want := []struct {
		step string
		max  int
	}{{"create", 5}, {"put resources", 5}, {"propose", 3}, {"approve", 5}}
	for i := range 3 {
		counter.take()
		id := pkgapi.PackageRevID{Target: pkgapi.CatalogTarget, Repository: "bp", Package: fmt.Sprintf("p%d", i), Workspace: "w"}
		steps := []func(){
			func() {
				h.mustCreate(id, pkgapi.Task{Type: pkgapi.TaskTypeInit, Init: &pkgapi.InitTask{Description: "d"}})
			},
			func() {
				files := h.resources(nameOf(id)).Spec.Resources
				files["cm.yaml"] = "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: cm\n"
				counter.take()
				if _, err := h.setResources(nameOf(id), files); err != nil {
					t.Fatal(err)
				}
			},
			func() {
				pr := h.get(nameOf(id))
				pr.Spec.Lifecycle = pkgapi.LifecycleProposed
				counter.take()
				if _, err := h.eng.UpdatePackageRevision(h.ctx, pr); err != nil {
					t.Fatal(err)
				}
			},
			func() {
				pr := h.get(nameOf(id))
				pr.Spec.Lifecycle = pkgapi.LifecyclePublished
				counter.take()
				if _, err := h.eng.ApprovePackageRevision(h.ctx, pr, "alice"); err != nil {
					t.Fatal(err)
				}
			},
		}
		for j, step := range steps {
			step()
			reqs := counter.take()
			if i > 0 && len(reqs) > want[j].max {
				t.Errorf("package %d, %s: %d requests, want at most %d: %q", i, want[j].step, len(reqs), want[j].max, reqs)
			}
		}
	}
}
