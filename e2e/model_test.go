package e2e

import (
	"fmt"
	"io/fs"
	"math/rand/v2"
	"net/http"
	"os"
	"path/filepath"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	configapi "pkgserver.dev/pkgserver/api/config/v1alpha1"
	pkgapi "pkgserver.dev/pkgserver/api/pkg/v1alpha1"
	"pkgserver.dev/pkgserver/e2e/internal/harness"
	"pkgserver.dev/pkgserver/internal/model"
	"pkgserver.dev/pkgserver/internal/testregistry"
)

// TestModel runs the model-based test (internal/model) against the
// pkgserver binary, on the embedded store and on a CNCF distribution
// registry: the API and /v2/ over HTTP, kill -9 at a random moment of a
// write, clean restarts, garbage collection through /admin/gc, and at the
// end a fresh server reading the same registry. -model.steps and
// -model.seed run it longer or again.
func TestModel(t *testing.T) {
	seed := model.Seed()
	for _, b := range backends {
		t.Run(b.name, func(t *testing.T) {
			t.Parallel()
			model.New(t, newBinaryHost(t, b), model.Config{Steps: 60, CrashWeight: 8}, seed).Run()
		})
	}
}

// binaryHost is a pkgserver process.
type binaryHost struct {
	b        backend
	registry string
	srv      *harness.Server
}

func newBinaryHost(t *testing.T, b backend) *binaryHost {
	h := &binaryHost{b: b}
	if b.remote {
		h.registry = testregistry.Start(t)
	}
	h.srv = harness.Start(t, harness.Options{Bin: serverBin, DataDir: t.TempDir(),
		Args: []string{"--gc-interval", "0", "--gc-grace-period", "1ns"}})
	return h
}

func (h *binaryHost) API() string { return h.srv.URL }

func (h *binaryHost) Registry() string {
	if h.registry != "" {
		return "http://" + h.registry
	}
	return h.srv.URL
}

func (h *binaryHost) RemoteRegistry() string { return h.registry }

func (h *binaryHost) Restart(t testing.TB) {
	h.srv.Stop(t)
	h.srv = harness.Start(t, h.srv.Opts)
}

// Crash sends SIGKILL up to 15ms after the write started.
func (h *binaryHost) Crash(t testing.TB, rnd *rand.Rand, write func()) {
	done := make(chan struct{})
	go func() {
		defer close(done)
		write()
	}()
	time.Sleep(time.Duration(rnd.IntN(15000)) * time.Microsecond)
	h.srv.Kill(t)
	<-done
	// A request the killed server had sent may still be at the registry;
	// a restart takes longer than that in life (see docs/operations.md,
	// "Interrupted writes").
	time.Sleep(300 * time.Millisecond)
	h.srv = harness.Start(t, h.srv.Opts)
}

func (h *binaryHost) GC(t testing.TB) bool {
	if h.b.remote {
		return false
	}
	resp, err := http.Post(h.srv.URL+"/admin/gc", "", nil)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("POST /admin/gc: %s", resp.Status)
	}
	return true
}

// Fresh starts a second pkgserver that reads the same packages from
// scratch: on a copy of the data directory without its state (embedded),
// or with the same Repository objects over the same registry (remote).
func (h *binaryHost) Fresh(t testing.TB) map[string]string {
	dir := t.TempDir()
	if !h.b.remote {
		src := h.srv.Opts.DataDir
		err := filepath.WalkDir(src, func(p string, d fs.DirEntry, err error) error {
			if err != nil {
				return err
			}
			rel, _ := filepath.Rel(src, p)
			switch {
			case rel == "state" || rel == "uploads":
				return filepath.SkipDir
			case rel == ".lock":
				return nil
			case d.IsDir():
				return os.MkdirAll(filepath.Join(dir, rel), 0o755)
			}
			data, err := os.ReadFile(p)
			if err != nil {
				return err
			}
			return os.WriteFile(filepath.Join(dir, rel), data, 0o644)
		})
		if err != nil {
			t.Fatalf("copy the data directory: %v", err)
		}
	}
	fresh := harness.Start(t, harness.Options{Bin: serverBin, DataDir: dir})
	defer fresh.Stop(t)
	c := harness.NewClient(fresh.URL, model.Namespace)
	if h.b.remote {
		old := harness.NewClient(h.srv.URL, model.Namespace)
		for _, r := range old.ListRepositories(t).Items {
			c.CreateRepository(t, &configapi.Repository{TypeMeta: r.TypeMeta,
				ObjectMeta: metav1.ObjectMeta{Name: r.Name, Namespace: model.Namespace}, Spec: r.Spec})
		}
	}
	out := map[string]string{}
	for _, pr := range c.ListRevisions(t, nil).Items {
		out[pr.Name] = showRevision(&pr)
	}
	return out
}

func showRevision(pr *pkgapi.PackageRevision) string {
	d := ""
	if pr.Status.OCI != nil {
		d = pr.Status.OCI.Digest
	}
	return fmt.Sprintf("%s %s %s latest=%s", pr.Spec.Lifecycle, pr.Spec.PackageRevID.Revision, d, pr.Labels[pkgapi.LatestRevisionLabel])
}
