package model_test

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"sync/atomic"
	"testing"
	"time"

	"github.com/labstack/echo/v4"

	pkgapi "pkgserver.dev/pkgserver/api/pkg/v1alpha1"
	"pkgserver.dev/pkgserver/internal/faultstore"
	"pkgserver.dev/pkgserver/internal/model"
	"pkgserver.dev/pkgserver/internal/testregistry"
	"pkgserver.dev/pkgserver/pkg/apiserver"
	"pkgserver.dev/pkgserver/pkg/coord/local"
	"pkgserver.dev/pkgserver/pkg/engine"
	"pkgserver.dev/pkgserver/pkg/registry"
	"pkgserver.dev/pkgserver/pkg/store"
	"pkgserver.dev/pkgserver/pkg/store/layout"
	"pkgserver.dev/pkgserver/pkg/store/remote"
)

// TestModel runs the model in process, on the embedded store and on a CNCF
// distribution registry: the engine, the API and /v2/ wired as pkgserver
// wires them, its registry writes going through a fault plan, so that a
// crash stops a write after any of its steps exactly where the seed says.
// After every step it also compares with a fresh engine's read of the
// registries. -model.steps and -model.seed run it longer or again.
func TestModel(t *testing.T) {
	seed := model.Seed()
	for _, remoteBackend := range []bool{false, true} {
		name := map[bool]string{false: "embedded", true: "distribution"}[remoteBackend]
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			h := newHost(t, remoteBackend)
			model.New(t, h, model.Config{Steps: 150, FreshEvery: 1, CrashWeight: 8}, seed).Run()
		})
	}
}

// host is pkgserver in this process.
type host struct {
	t        testing.TB
	dir      string
	registry string // host:port of the distribution registry, or ""
	plan     *faultstore.Plan
	srv      *httptest.Server
	handler  atomic.Pointer[http.Handler]

	layout *layout.Store
	coord  *local.Coordinator
	eng    *engine.Engine
	reg    *registry.Registry
}

var quiet = slog.New(slog.NewTextHandler(io.Discard, nil))

func newHost(t *testing.T, remoteBackend bool) *host {
	h := &host{t: t, dir: t.TempDir(), plan: faultstore.New()}
	if remoteBackend {
		h.registry = testregistry.Start(t)
	}
	h.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		(*h.handler.Load()).ServeHTTP(w, r)
	}))
	t.Cleanup(func() {
		h.srv.Close()
		h.close()
	})
	h.open()
	return h
}

func (h *host) remoteStore(host string, plain bool, _, _ string) (store.Store, error) {
	s, err := remote.New(host, remote.WithPlainHTTP(plain))
	if err != nil {
		return nil, err
	}
	return h.plan.Wrap(s), nil
}

// open starts pkgserver as pkg/server wires it.
func (h *host) open() {
	h.t.Helper()
	st, err := layout.Open(h.dir)
	if err != nil {
		h.t.Fatal(err)
	}
	state := filepath.Join(h.dir, "state")
	c, err := local.Open(state)
	if err != nil {
		h.t.Fatal(err)
	}
	eng, err := engine.New(engine.Options{
		Embedded: h.plan.Wrap(st), EmbeddedAddress: h.srv.Listener.Addr().String(), Remote: h.remoteStore,
		Coordinator: c, StateDir: state, Logger: quiet, ReplicaID: "model", // kept in the data directory by pkgserver
	})
	if err != nil {
		h.t.Fatal(err)
	}
	if err := eng.Start(context.Background()); err != nil {
		h.t.Fatalf("start: %v", err)
	}
	uploads := filepath.Join(h.dir, layout.UploadsDir)
	if err := os.MkdirAll(uploads, 0o755); err != nil {
		h.t.Fatal(err)
	}
	ops := map[registry.Op]engine.RegistryOp{
		registry.OpPutTag: engine.PutTag, registry.OpDeleteTag: engine.DeleteTag,
		registry.OpDeleteManifest: engine.DeleteManifest, registry.OpDeleteBlob: engine.DeleteBlob,
	}
	reg := registry.New(st, registry.Options{
		TempDir: uploads, Logger: quiet, Lock: eng.LockEmbedded,
		Guard: func(ctx context.Context, req registry.Request) error {
			return eng.CheckRegistryWrite(ctx, engine.RegistryWrite{Path: req.Repo, Op: ops[req.Op], Tag: req.Tag, Tags: req.Tags, Digest: req.Digest, Manifest: req.Manifest})
		},
	})
	var api http.Handler = apiserver.New(eng, apiserver.Options{Logger: quiet, Mount: func(e *echo.Echo) { registry.Mount(e, reg) }})
	h.layout, h.coord, h.eng, h.reg = st, c, eng, reg
	h.handler.Store(&api)
}

func (h *host) close() {
	if h.eng == nil {
		return
	}
	h.reg.Close()
	h.eng.Close()
	h.coord.Close()
	h.layout.Close()
	h.eng = nil
}

func (h *host) API() string { return h.srv.URL }

func (h *host) Registry() string {
	if h.registry != "" {
		return "http://" + h.registry
	}
	return h.srv.URL
}

func (h *host) RemoteRegistry() string { return h.registry }

func (h *host) Restart(t testing.TB) {
	h.close()
	h.open()
}

// Crash fails the k-th registry write of the engine from now (before or
// after it lands; k and the mode from rnd) and every write after it, runs
// write, and reopens the data directory as kill -9 leaves it.
func (h *host) Crash(t testing.TB, rnd *rand.Rand, write func()) {
	h.plan.Arm(1+rnd.IntN(4), faultstore.Mode(rnd.IntN(2)))
	write()
	state := filepath.Join(h.dir, "state")
	saved := t.TempDir()
	if err := os.CopyFS(saved, os.DirFS(state)); err != nil {
		t.Fatal(err)
	}
	h.close()
	if err := os.RemoveAll(state); err != nil {
		t.Fatal(err)
	}
	if err := os.CopyFS(state, os.DirFS(saved)); err != nil {
		t.Fatal(err)
	}
	h.plan.Arm(0, faultstore.Before)
	h.open()
}

func (h *host) GC(t testing.TB) bool {
	if h.registry != "" {
		return false
	}
	if _, err := h.layout.GC(context.Background(), layout.GCOptions{Grace: time.Nanosecond}); err != nil {
		t.Fatalf("garbage collection: %v", err)
	}
	return true
}

// Fresh starts a second engine over the same registries, with nothing of
// the first one's state, and lists what it serves: it only reads.
func (h *host) Fresh(t testing.TB) map[string]string {
	eng, err := engine.New(engine.Options{Embedded: h.layout, EmbeddedAddress: "fresh", Logger: quiet,
		Remote: func(host string, plain bool, _, _ string) (store.Store, error) {
			return remote.New(host, remote.WithPlainHTTP(plain))
		}})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	if err := eng.Start(ctx); err != nil {
		t.Fatalf("fresh engine: %v", err)
	}
	defer eng.Close()
	prs, err := eng.ListPackageRevisions(ctx, model.Namespace)
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]string{}
	for _, pr := range prs {
		d := ""
		if pr.Status.OCI != nil {
			d = pr.Status.OCI.Digest
		}
		out[pr.Name] = fmt.Sprintf("%s %s %s latest=%s", pr.Spec.Lifecycle, pr.Spec.PackageRevID.Revision, d, pr.Labels[pkgapi.LatestRevisionLabel])
	}
	return out
}
