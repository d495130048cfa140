package engine_test

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"net/http/httptest"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/opencontainers/go-digest"

	configapi "pkgserver.dev/pkgserver/api/config/v1alpha1"
	pkgapi "pkgserver.dev/pkgserver/api/pkg/v1alpha1"
	"pkgserver.dev/pkgserver/internal/testregistry"
	"pkgserver.dev/pkgserver/pkg/coord/local"
	"pkgserver.dev/pkgserver/pkg/engine"
	"pkgserver.dev/pkgserver/pkg/registry"
	"pkgserver.dev/pkgserver/pkg/store"
	"pkgserver.dev/pkgserver/pkg/store/layout"
	"pkgserver.dev/pkgserver/pkg/store/remote"
)

const (
	testNS       = "team-a"
	embeddedAddr = "pkgserver.test:8080"
)

// backend is where the packages of the test repositories live.
type backend struct {
	name string
	// spec returns the spec of a repository.
	spec func(name string, deployment bool) configapi.RepositorySpec
	// packages is the store that holds the packages, to look behind the engine.
	packages func(h *harness) store.Store
	// prefix is the OCI path prefix of a repository.
	prefix func(name string) string
}

func embeddedBackend() backend {
	return backend{
		name:     "embedded",
		spec:     func(_ string, d bool) configapi.RepositorySpec { return configapi.RepositorySpec{Deployment: d} },
		packages: func(h *harness) store.Store { return h.layout },
		prefix:   func(name string) string { return testNS + "/" + name },
	}
}

// remoteBackend starts a CNCF distribution registry (make tools installs it).
func remoteBackend(t *testing.T) backend {
	t.Helper()
	addr := testregistry.Start(t)
	rs, err := remote.New(addr, remote.WithPlainHTTP(true))
	if err != nil {
		t.Fatal(err)
	}
	return backend{
		name: "remote",
		spec: func(name string, d bool) configapi.RepositorySpec {
			return configapi.RepositorySpec{Deployment: d, OCI: &configapi.OCIRepository{Registry: addr + "/pkgs/" + name, PlainHTTP: true}}
		},
		packages: func(*harness) store.Store { return rs },
		prefix:   func(name string) string { return "pkgs/" + name },
	}
}

// harness is an engine over a layout store in a temporary directory.
type harness struct {
	t       *testing.T
	ctx     context.Context
	dir     string
	layout  *layout.Store
	eng     *engine.Engine
	backend backend
	mu      sync.Mutex
	now     time.Time
	v2addr  string // the /v2/ API over the embedded store, once started
	window  int    // Options.WatchWindow of the next open (0: the default)
}

func newHarness(t *testing.T, b backend) *harness {
	t.Helper()
	h := &harness{t: t, ctx: context.Background(), dir: t.TempDir(), backend: b, now: time.Date(2025, 6, 1, 12, 0, 0, 0, time.UTC)}
	h.open(nil)
	t.Cleanup(func() { h.layout.Close() })
	return h
}

// open opens the layout directory and a new engine over it. wrap, if set,
// changes the store the engine sees.
func (h *harness) open(wrap func(*layout.Store) store.Store) {
	h.t.Helper()
	st, err := layout.Open(h.dir)
	if err != nil {
		h.t.Fatal(err)
	}
	h.layout = st
	var embedded store.Store = st
	if wrap != nil {
		embedded = wrap(st)
	}
	coordinator, err := local.Open(filepath.Join(h.dir, "state"))
	if err != nil {
		h.t.Fatal(err)
	}
	eng, err := engine.New(engine.Options{
		Coordinator:     coordinator,
		StateDir:        filepath.Join(h.dir, "state"),
		Embedded:        embedded,
		EmbeddedAddress: embeddedAddr,
		Remote: func(host string, plain bool, _, _ string) (store.Store, error) {
			return remote.New(host, remote.WithPlainHTTP(plain))
		},
		Now:         h.clock,
		Logger:      slog.New(slog.NewTextHandler(io.Discard, nil)),
		WatchWindow: h.window,
	})
	if err != nil {
		h.t.Fatal(err)
	}
	if err := eng.Start(h.ctx); err != nil {
		h.t.Fatal(err)
	}
	h.t.Cleanup(func() { eng.Close() })
	h.eng = eng
}

// watch follows the events of kind after rv ("": from now) until ctx ends.
func watch(ctx context.Context, eng *engine.Engine, kind, rv string) (<-chan engine.Event, error) {
	cur, err := eng.Watch(ctx, kind, rv)
	if err != nil {
		return nil, err
	}
	ch := make(chan engine.Event, 1024)
	go func() {
		defer close(ch)
		for {
			select {
			case <-ctx.Done():
				return
			case <-cur.Ready():
				evs, err := cur.Take()
				if err != nil {
					return
				}
				for _, ev := range evs {
					select {
					case ch <- ev:
					case <-ctx.Done():
						return
					}
				}
			}
		}
	}()
	return ch, nil
}

// clock is the engine's clock: one second later at every call.
func (h *harness) clock() time.Time {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.now = h.now.Add(time.Second)
	return h.now
}

// restart stops the engine and the store and opens new ones over the same
// directory.
func (h *harness) restart() {
	h.t.Helper()
	if err := h.eng.Close(); err != nil {
		h.t.Fatal(err)
	}
	if err := h.layout.Close(); err != nil {
		h.t.Fatal(err)
	}
	h.open(nil)
}

func (h *harness) createRepo(name string, deployment bool) *configapi.Repository {
	h.t.Helper()
	r, err := h.eng.CreateRepository(h.ctx, &configapi.Repository{
		ObjectMeta: metaNS(name),
		Spec:       h.backend.spec(name, deployment),
	})
	if err != nil {
		h.t.Fatalf("CreateRepository(%s): %v", name, err)
	}
	return r
}

func (h *harness) create(id pkgapi.PackageRevID, tasks ...pkgapi.Task) (*pkgapi.PackageRevision, error) {
	return h.eng.CreatePackageRevision(h.ctx, &pkgapi.PackageRevision{
		ObjectMeta: metaNS(""),
		Spec:       pkgapi.PackageRevisionSpec{PackageRevID: id, Tasks: tasks},
	})
}

func (h *harness) mustCreate(id pkgapi.PackageRevID, tasks ...pkgapi.Task) *pkgapi.PackageRevision {
	h.t.Helper()
	pr, err := h.create(id, tasks...)
	if err != nil {
		h.t.Fatalf("CreatePackageRevision(%+v): %v", id, err)
	}
	return pr
}

func (h *harness) get(name string) *pkgapi.PackageRevision {
	h.t.Helper()
	pr, err := h.eng.GetPackageRevision(h.ctx, testNS, name)
	if err != nil {
		h.t.Fatalf("GetPackageRevision(%s): %v", name, err)
	}
	return pr
}

func (h *harness) resources(name string) *pkgapi.PackageRevisionResources {
	h.t.Helper()
	prr, err := h.eng.GetPackageRevisionResources(h.ctx, testNS, name)
	if err != nil {
		h.t.Fatalf("GetPackageRevisionResources(%s): %v", name, err)
	}
	return prr
}

// setResources replaces the files of a revision, with its current resourceVersion.
func (h *harness) setResources(name string, files map[string]string) (*pkgapi.PackageRevisionResources, error) {
	prr := h.resources(name)
	prr.Spec.Resources = files
	return h.eng.UpdatePackageRevisionResources(h.ctx, prr)
}

func (h *harness) setLifecycle(name string, l pkgapi.Lifecycle) (*pkgapi.PackageRevision, error) {
	pr := h.get(name)
	pr.Spec.Lifecycle = l
	return h.eng.UpdatePackageRevision(h.ctx, pr)
}

func (h *harness) approve(name string, l pkgapi.Lifecycle) (*pkgapi.PackageRevision, error) {
	pr := h.get(name)
	pr.Spec.Lifecycle = l
	return h.eng.ApprovePackageRevision(h.ctx, pr, "alice")
}

// publish moves a draft through proposed to published.
func (h *harness) publish(name string) *pkgapi.PackageRevision {
	h.t.Helper()
	if _, err := h.setLifecycle(name, pkgapi.LifecycleProposed); err != nil {
		h.t.Fatalf("propose %s: %v", name, err)
	}
	pr, err := h.approve(name, pkgapi.LifecyclePublished)
	if err != nil {
		h.t.Fatalf("publish %s: %v", name, err)
	}
	return pr
}

// tags returns tag -> manifest digest of an OCI repository, read behind the engine.
func (h *harness) tags(path string) map[string]digest.Digest {
	h.t.Helper()
	repo, err := h.backend.packages(h).Repository(h.ctx, path)
	if err != nil {
		h.t.Fatal(err)
	}
	out := map[string]digest.Digest{}
	var all []string
	err = repo.Tags(h.ctx, "", func(t []string) error { all = append(all, t...); return nil })
	if err != nil && !isNotFound(err) {
		h.t.Fatalf("tags of %s: %v", path, err)
	}
	for _, tag := range all {
		d, err := repo.Resolve(h.ctx, tag)
		if err != nil {
			h.t.Fatalf("resolve %s:%s: %v", path, tag, err)
		}
		out[tag] = d.Digest
	}
	return out
}

func (h *harness) names() []string {
	h.t.Helper()
	prs, err := h.eng.ListPackageRevisions(h.ctx, testNS)
	if err != nil {
		h.t.Fatal(err)
	}
	var out []string
	for _, pr := range prs {
		out = append(out, pr.Name)
	}
	sort.Strings(out)
	return out
}

func isNotFound(err error) bool { return errors.Is(err, errNotFound) }

// wantErr fails unless err wraps want and mentions every word of words.
func wantErr(t *testing.T, err, want error, words ...string) {
	t.Helper()
	if !errors.Is(err, want) {
		t.Fatalf("error = %v, want %v", err, want)
	}
	for _, w := range words {
		if !strings.Contains(err.Error(), w) {
			t.Errorf("error %q does not mention %q", err, w)
		}
	}
}

// dirFiles lists the files of a directory tree (to compare before and after).
func dirFiles(t *testing.T, root string) map[string]int64 {
	t.Helper()
	out := map[string]int64{}
	err := filepath.Walk(root, func(p string, fi os.FileInfo, err error) error {
		if err != nil {
			return err
		}
		if !fi.IsDir() {
			out[p] = fi.Size()
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// v2 returns an OCI repository of the embedded store reached through the
// /v2/ API, with the engine's rules and change hook, as clients reach it.
func (h *harness) v2(path string) store.Repository {
	h.t.Helper()
	if h.v2addr == "" {
		ops := map[registry.Op]engine.RegistryOp{
			registry.OpPutTag: engine.PutTag, registry.OpDeleteTag: engine.DeleteTag,
			registry.OpDeleteManifest: engine.DeleteManifest, registry.OpDeleteBlob: engine.DeleteBlob,
		}
		eng := func() *engine.Engine { return h.eng }
		reg := registry.New(h.layout, registry.Options{
			TempDir: h.t.TempDir(),
			Guard: func(ctx context.Context, req registry.Request) error {
				return eng().CheckRegistryWrite(ctx, engine.RegistryWrite{Path: req.Repo, Op: ops[req.Op], Tag: req.Tag, Tags: req.Tags, Digest: req.Digest, Manifest: req.Manifest})
			},
			Lock: func(ctx context.Context, repo string) (func(bool), error) { return eng().LockEmbedded(ctx, repo) },
		})
		srv := httptest.NewServer(reg)
		h.t.Cleanup(srv.Close)
		h.v2addr = strings.TrimPrefix(srv.URL, "http://")
	}
	rs, err := remote.New(h.v2addr, remote.WithPlainHTTP(true))
	if err != nil {
		h.t.Fatal(err)
	}
	repo, err := rs.Repository(h.ctx, path)
	if err != nil {
		h.t.Fatal(err)
	}
	return repo
}
