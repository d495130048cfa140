package e2e

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	pkgapi "pkgserver.dev/pkgserver/api/pkg/v1alpha1"
	"pkgserver.dev/pkgserver/e2e/internal/harness"
	"pkgserver.dev/pkgserver/internal/testregistry"
)

// killProxy sits between pkgserver and a registry and kills pkgserver
// (SIGKILL) at a chosen write request: before passing it on, or after the
// registry answered and before pkgserver sees the answer. So the real
// binary dies after exactly the registry steps chosen, with no hook in it.
type killProxy struct {
	proxy *httputil.ReverseProxy

	mu     sync.Mutex
	kill   func()
	armAt  int // 1-based write to die at; 0: never
	after  bool
	writes []string
}

func newKillProxy(t *testing.T, registry string) (*killProxy, string) {
	p := &killProxy{proxy: httputil.NewSingleHostReverseProxy(&url.URL{Scheme: "http", Host: registry})}
	srv := httptest.NewServer(p)
	t.Cleanup(srv.Close)
	return p, strings.TrimPrefix(srv.URL, "http://")
}

// arm makes the k-th write from now kill the server; 0 only counts.
func (p *killProxy) arm(k int, after bool, kill func()) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.armAt, p.after, p.kill, p.writes = k, after, kill, nil
}

func (p *killProxy) written() []string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return slices.Clone(p.writes)
}

func (p *killProxy) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	fire, after, kill := false, false, func() {}
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		p.mu.Lock()
		p.writes = append(p.writes, r.Method+" "+r.URL.Path)
		fire, after, kill = p.armAt == len(p.writes), p.after, p.kill
		if fire {
			p.armAt = 0
		}
		p.mu.Unlock()
	}
	if !fire {
		p.proxy.ServeHTTP(w, r)
		return
	}
	if after {
		p.proxy.ServeHTTP(httptest.NewRecorder(), r)
	}
	kill()
	panic(http.ErrAbortHandler) // the dead server gets no answer
}

// killCase is a write of the server made of several registry steps.
type killCase struct {
	name string
	// setup makes package pkg of repository repo ready; op runs the write.
	setup func(t *testing.T, c *harness.Client, repo, pkg string)
	op    func(c *harness.Client, repo, pkg string) error
	// decisive is the request whose landing decides the write.
	decisive func(repo, pkg string) string
	// check verifies the package after the restart: done or not.
	check func(t *testing.T, e *killEnv, repo, pkg string, done bool)
}

type killEnv struct {
	*env
	reg *registryAPI
}

// TestKillAtEveryStep kills the pkgserver binary after each registry step
// of a publication and of the deletion of a published revision (the
// writes that record an intent), on a distribution registry behind a
// proxy that decides the moment; after the restart the write is complete
// if its decisive step landed and rolled back if not, and the package next
// to it is unchanged.
func TestKillAtEveryStep(t *testing.T) {
	registry := testregistry.Start(t)
	proxy, addr := newKillProxy(t, registry)
	e := &killEnv{env: newEnv(t, backends[0])}
	e.registry = addr
	e.b.remote = true
	e.reg = &registryAPI{t: t, base: "http://" + registry, http: http.DefaultClient}
	e.createRepo(t, "kp", false)
	const repo = "kp"
	top := t // servers live as long as the whole test
	for ci, kc := range killCases() {
		t.Run(kc.name, func(t *testing.T) {
			e.reg.t = t
			ref := "ref-" + strings.ReplaceAll(kc.name, " ", "-")
			kc.setup(t, e.c, repo, ref)
			proxy.arm(0, false, nil)
			if err := kc.op(e.c, repo, ref); err != nil {
				t.Fatalf("uninterrupted: %v", err)
			}
			writes := proxy.written()
			decisive := slices.Index(writes, kc.decisive(repo, ref)) + 1
			if decisive == 0 {
				t.Fatalf("no %s among %q", kc.decisive(repo, ref), writes)
			}
			for k := 1; k <= len(writes); k++ {
				for _, after := range []bool{false, true} {
					pkg := fmt.Sprintf("c%dk%d%c", ci, k, "ba"[map[bool]int{false: 0, true: 1}[after]])
					kc.setup(t, e.c, repo, pkg)
					other := e.reg.tags(e.pathOf(repo, ref))
					srv := e.srv
					proxy.arm(k, after, func() { srv.Kill(t) })
					err := kc.op(e.c, repo, pkg)
					if code, _ := srv.Wait(5 * time.Second); err == nil || code != -1 {
						t.Fatalf("write %d (%s) was to kill the server: the write answered %v", k, writes[k-1], err)
					}
					e.srv = harness.Start(top, e.srv.Opts)
					done := k > decisive || k == decisive && after
					method, path, _ := strings.Cut(writes[k-1], " ")
					last := path[strings.LastIndex(path, "/")+1:]
					what := fmt.Sprintf("killed at write %d of %d (%s %.19s) %s it landed", k, len(writes), method, last, map[bool]string{false: "before", true: "after"}[after])
					t.Run(what, func(t *testing.T) {
						e.reg.t = t
						kc.check(t, e, repo, pkg, done)
						if got := e.reg.tags(e.pathOf(repo, ref)); !slices.Equal(got, other) {
							t.Errorf("the package beside it changed: %v, was %v", got, other)
						}
					})
				}
			}
		})
	}
}

func (e *killEnv) pathOf(repo, pkg string) string { return "e2e/" + repo + "/" + pkg }

func (e *killEnv) digest(t *testing.T, repo, pkg, tag string) string {
	e.reg.t = t
	return e.reg.resolve(e.pathOf(repo, pkg), tag)
}

func approveTo(c *harness.Client, name string, l pkgapi.Lifecycle) error {
	ctx := context.Background()
	resp, err := c.Do(ctx, http.MethodGet, c.RevisionsPath(name), nil)
	if err != nil {
		return err
	}
	var pr pkgapi.PackageRevision
	if err := json.Unmarshal(resp.Body, &pr); err != nil {
		return err
	}
	pr.Spec.Lifecycle = l
	resp, err = c.Do(ctx, http.MethodPut, c.ApprovalPath(name), &pr)
	if err == nil && resp.Code != http.StatusOK {
		err = fmt.Errorf("%d %s", resp.Code, resp.Body)
	}
	return err
}

func killCases() []killCase {
	name := func(repo, pkg, ws string) string { return harness.RevisionName(catalogID(repo, "", pkg, ws)) }
	published := func(t *testing.T, c *harness.Client, repo, pkg string) {
		createDraft(t, c, catalogID(repo, "", pkg, "one"), initTask(pkg), nil)
		publish(t, c, name(repo, pkg, "one"))
		createDraft(t, c, catalogID(repo, "", pkg, "two"), editTask(name(repo, pkg, "one")), nil)
	}
	return []killCase{
		{
			name: "publish",
			setup: func(t *testing.T, c *harness.Client, repo, pkg string) {
				published(t, c, repo, pkg)
				pr := c.GetRevision(t, name(repo, pkg, "two"))
				pr.Spec.Lifecycle = pkgapi.LifecycleProposed
				c.UpdateRevision(t, pr)
			},
			op: func(c *harness.Client, repo, pkg string) error {
				return approveTo(c, name(repo, pkg, "two"), pkgapi.LifecyclePublished)
			},
			decisive: func(repo, pkg string) string { return "PUT /v2/e2e/" + repo + "/" + pkg + "/manifests/v2" },
			check: func(t *testing.T, e *killEnv, repo, pkg string, done bool) {
				two := e.c.GetRevision(t, name(repo, pkg, "two"))
				v1 := e.c.GetRevision(t, name(repo, pkg, "one")).Status.OCI.Digest
				switch {
				case done && (two.Spec.Lifecycle != pkgapi.LifecyclePublished || two.Spec.PackageRevID.Revision != "v2"):
					t.Fatalf("the publication must be complete: two is %s %s", two.Spec.Lifecycle, two.Spec.PackageRevID.Revision)
				case done && (e.digest(t, repo, pkg, "v2") != two.Status.OCI.Digest || e.digest(t, repo, pkg, "latest") != two.Status.OCI.Digest || e.digest(t, repo, pkg, "ws.two") != ""):
					t.Fatalf("after the publication: tags %v", e.reg.tags(e.pathOf(repo, pkg)))
				case !done && (two.Spec.Lifecycle != pkgapi.LifecycleProposed || e.digest(t, repo, pkg, "v2") != "" || e.digest(t, repo, pkg, "latest") != v1 || e.digest(t, repo, pkg, "ws.two") != two.Status.OCI.Digest):
					t.Fatalf("nothing may have happened: two is %s, tags %v", two.Spec.Lifecycle, e.reg.tags(e.pathOf(repo, pkg)))
				}
				if !done { // and it can be published now
					if err := approveTo(e.c, name(repo, pkg, "two"), pkgapi.LifecyclePublished); err != nil {
						t.Fatalf("publishing after the restart: %v", err)
					}
				}
			},
		},
		{
			name: "delete the newest published revision",
			setup: func(t *testing.T, c *harness.Client, repo, pkg string) {
				published(t, c, repo, pkg)
				publish(t, c, name(repo, pkg, "two"))
				c.Approve(t, c.GetRevision(t, name(repo, pkg, "two")), pkgapi.LifecycleDeletionProposed)
			},
			op: func(c *harness.Client, repo, pkg string) error {
				resp, err := c.Do(context.Background(), http.MethodDelete, c.RevisionsPath(name(repo, pkg, "two")), nil)
				if err == nil && resp.Code != http.StatusOK {
					err = fmt.Errorf("%d %s", resp.Code, resp.Body)
				}
				return err
			},
			decisive: func(repo, pkg string) string {
				return "PUT /v2/e2e/" + repo + "/" + pkg + "/manifests/v2.deleted"
			},
			check: func(t *testing.T, e *killEnv, repo, pkg string, done bool) {
				v1 := e.c.GetRevision(t, name(repo, pkg, "one"))
				resp, err := e.c.Do(t.Context(), http.MethodGet, e.c.RevisionsPath(name(repo, pkg, "two")), nil)
				if err != nil {
					t.Fatal(err)
				}
				tags := e.reg.tags(e.pathOf(repo, pkg))
				switch {
				case done && (resp.Code != http.StatusNotFound || slices.Contains(tags, "v2") || slices.Contains(tags, "v2.deletion-proposed") || !slices.Contains(tags, "v2.deleted")):
					t.Fatalf("the deletion must be complete: GET two %d, tags %v", resp.Code, tags)
				case done && (e.digest(t, repo, pkg, "latest") != v1.Status.OCI.Digest || v1.Labels[pkgapi.LatestRevisionLabel] != "true"):
					t.Fatalf("latest must be v1 again: tags %v, labels %v", tags, v1.Labels)
				case !done && (resp.Code != http.StatusOK || !slices.Contains(tags, "v2") || !slices.Contains(tags, "v2.deletion-proposed") || slices.Contains(tags, "v2.deleted")):
					t.Fatalf("nothing may have happened: GET two %d, tags %v", resp.Code, tags)
				}
				if !done {
					e.c.DeleteRevision(t, name(repo, pkg, "two"))
				}
			},
		},
	}
}
