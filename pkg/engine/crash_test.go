package engine_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"maps"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"oras.land/oras-go/v2/content"
	"oras.land/oras-go/v2/registry/remote/retry"

	configapi "pkgserver.dev/pkgserver/api/config/v1alpha1"
	pkgapi "pkgserver.dev/pkgserver/api/pkg/v1alpha1"
	"pkgserver.dev/pkgserver/internal/faultstore"
	"pkgserver.dev/pkgserver/internal/testregistry"
	"pkgserver.dev/pkgserver/pkg/coord/local"
	"pkgserver.dev/pkgserver/pkg/engine"
	"pkgserver.dev/pkgserver/pkg/format"
	"pkgserver.dev/pkgserver/pkg/store"
	"pkgserver.dev/pkgserver/pkg/store/layout"
	"pkgserver.dev/pkgserver/pkg/store/remote"
)

// crashRig is an engine whose registry writes go through a fault plan, over
// a data directory it can crash and reopen as kill -9 leaves it.
type crashRig struct {
	t        testing.TB
	ctx      context.Context
	dir      string
	plan     *faultstore.Plan
	layout   *layout.Store
	coord    *local.Coordinator
	eng      *engine.Engine
	registry string // host:port of the remote registry; "" for the embedded store
	prefix   string // OCI path prefix under which this rig's packages live
	repo     string // name of the rig's Repository

	mu  sync.Mutex
	now time.Time
	log logBuffer // warnings and errors the engine logged
	// requests counts the engine's requests to the remote registry.
	requests requestLog
}

// requestLog counts HTTP requests by method and kind of /v2/ endpoint.
type requestLog struct {
	mu     sync.Mutex
	counts map[string]int
}

func (l *requestLog) RoundTrip(req *http.Request) (*http.Response, error) {
	kind := "other"
	switch p := req.URL.Path; {
	case strings.HasSuffix(p, "/tags/list"):
		kind = "tags/list"
	case strings.Contains(p, "/blobs/uploads/"):
		kind = "blobs/uploads"
	case strings.Contains(p, "/manifests/"):
		kind = "manifests"
	case strings.Contains(p, "/blobs/"):
		kind = "blobs"
	}
	l.mu.Lock()
	if l.counts == nil {
		l.counts = map[string]int{}
	}
	l.counts[req.Method+" "+kind]++
	l.mu.Unlock()
	return http.DefaultTransport.RoundTrip(req)
}

// take returns the counts since the last take, and their total.
func (l *requestLog) take() (map[string]int, int) {
	l.mu.Lock()
	defer l.mu.Unlock()
	out, total := l.counts, 0
	for _, n := range out {
		total += n
	}
	l.counts = nil
	return out, total
}

// logBuffer keeps what an engine logs, for tests that look for a warning.
type logBuffer struct {
	mu  sync.Mutex
	buf strings.Builder
}

func (b *logBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *logBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

func newCrashRig(t testing.TB, registry, repo string) *crashRig {
	t.Helper()
	return openRig(t, t.TempDir(), registry, repo)
}

// openRig opens a rig over dir (a new one, or one a rig closed).
func openRig(t testing.TB, dir, registry, repo string) *crashRig {
	t.Helper()
	r := &crashRig{t: t, ctx: context.Background(), dir: dir, plan: faultstore.New(), registry: registry, repo: repo,
		now: time.Date(2025, 6, 1, 12, 0, 0, 0, time.UTC)}
	r.prefix = testNS + "/" + repo
	if registry != "" {
		r.prefix = "crash/" + repo
	}
	r.open()
	t.Cleanup(func() { r.close() })
	return r
}

func (r *crashRig) clock() time.Time {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.now = r.now.Add(time.Second)
	return r.now
}

func (r *crashRig) open() {
	r.t.Helper()
	st, err := layout.Open(r.dir)
	if err != nil {
		r.t.Fatal(err)
	}
	state := filepath.Join(r.dir, "state")
	c, err := local.Open(state)
	if err != nil {
		r.t.Fatal(err)
	}
	eng, err := engine.New(engine.Options{
		Embedded: r.plan.Wrap(st), EmbeddedAddress: embeddedAddr, Coordinator: c, StateDir: state,
		Remote: func(host string, plain bool, _, _ string) (store.Store, error) {
			s, err := remote.New(host, remote.WithPlainHTTP(plain), remote.WithHTTPClient(&http.Client{Transport: retry.NewTransport(&r.requests)}))
			if err != nil {
				return nil, err
			}
			return r.plan.Wrap(s), nil
		},
		Now: r.clock, Logger: slog.New(slog.NewTextHandler(&r.log, &slog.HandlerOptions{Level: slog.LevelWarn})), ReplicaID: "crash-rig", // kept across restarts, as in the data directory
	})
	if err != nil {
		r.t.Fatal(err)
	}
	if err := eng.Start(r.ctx); err != nil {
		r.t.Fatalf("start: %v", err)
	}
	r.layout, r.coord, r.eng = st, c, eng
}

func (r *crashRig) close() {
	if r.eng == nil {
		return
	}
	r.eng.Close()
	r.coord.Close()
	r.layout.Close()
	r.eng = nil
}

func quietLog() *slog.Logger { return slog.New(slog.NewTextHandler(io.Discard, nil)) }

// crash stops the rig as kill -9 would and opens it again: the state
// directory is put back as it was at the crash, before Close wrote its
// clean checkpoint. The store stays armed as it was until reopened, then
// writes pass again.
func (r *crashRig) crash() {
	r.t.Helper()
	state := filepath.Join(r.dir, "state")
	saved := r.t.TempDir()
	if err := os.CopyFS(saved, os.DirFS(state)); err != nil {
		r.t.Fatal(err)
	}
	r.close()
	if err := os.Remove(filepath.Join(r.dir, ".clean")); err != nil { // kill -9 leaves no clean-stop marker
		r.t.Fatal(err)
	}
	if err := os.RemoveAll(state); err != nil {
		r.t.Fatal(err)
	}
	if err := os.CopyFS(state, os.DirFS(saved)); err != nil {
		r.t.Fatal(err)
	}
	r.plan.Arm(0, faultstore.Before)
	r.open()
}

func (r *crashRig) id(pkg, ws string) pkgapi.PackageRevID {
	return pkgapi.PackageRevID{Target: pkgapi.CatalogTarget, Repository: r.repo, Package: pkg, Workspace: ws}
}

func (r *crashRig) must(what string, err error) {
	r.t.Helper()
	if err != nil {
		r.t.Fatalf("%s: %v", what, err)
	}
}

func (r *crashRig) createRepo(name string) error {
	spec := configapi.RepositorySpec{}
	if r.registry != "" {
		spec.OCI = &configapi.OCIRepository{Registry: r.registry + "/crash/" + name, PlainHTTP: true}
	}
	_, err := r.eng.CreateRepository(r.ctx, &configapi.Repository{ObjectMeta: metaNS(name), Spec: spec})
	return err
}

func (r *crashRig) create(id pkgapi.PackageRevID, tasks ...pkgapi.Task) error {
	_, err := r.eng.CreatePackageRevision(r.ctx, &pkgapi.PackageRevision{ObjectMeta: metaNS(""), Spec: pkgapi.PackageRevisionSpec{PackageRevID: id, Tasks: tasks}})
	return err
}

func (r *crashRig) get(name string) *pkgapi.PackageRevision {
	r.t.Helper()
	pr, err := r.eng.GetPackageRevision(r.ctx, testNS, name)
	r.must("get "+name, err)
	return pr
}

func (r *crashRig) update(name string, change func(pr *pkgapi.PackageRevision)) error {
	pr := r.get(name)
	change(pr)
	_, err := r.eng.UpdatePackageRevision(r.ctx, pr)
	return err
}

func (r *crashRig) approve(name string, l pkgapi.Lifecycle) error {
	pr := r.get(name)
	pr.Spec.Lifecycle = l
	_, err := r.eng.ApprovePackageRevision(r.ctx, pr, "alice")
	return err
}

func (r *crashRig) setFiles(name string, files map[string]string) error {
	prr, err := r.eng.GetPackageRevisionResources(r.ctx, testNS, name)
	if err != nil {
		return err
	}
	prr.Spec.Resources = files
	_, err = r.eng.UpdatePackageRevisionResources(r.ctx, prr)
	return err
}

func (r *crashRig) publish(name string) {
	r.t.Helper()
	r.must("propose "+name, r.update(name, func(pr *pkgapi.PackageRevision) { pr.Spec.Lifecycle = pkgapi.LifecycleProposed }))
	r.must("publish "+name, r.approve(name, pkgapi.LifecyclePublished))
}

// behind returns package pkg of the rig as another tool sees it: the store
// itself, past the fault plan and the /v2/ lifecycle guard.
func (r *crashRig) behind(pkg string) store.Repository {
	r.t.Helper()
	var st store.Store = r.layout
	if r.registry != "" {
		rs, err := remote.New(r.registry, remote.WithPlainHTTP(true))
		r.must("remote", err)
		st = rs
	}
	repo, err := st.Repository(r.ctx, r.prefix+"/"+pkg)
	r.must("repository", err)
	return repo
}

// pushBehind pushes the manifest m (whose only blob is format.Empty) as tag
// of package pkg behind pkgserver's back, and lets the engine read it.
func (r *crashRig) pushBehind(pkg, tag string, m format.Blob) {
	r.t.Helper()
	repo := r.behind(pkg)
	if ok, err := repo.Exists(r.ctx, format.Empty.Descriptor); err != nil || !ok {
		r.must("push blob", repo.Push(r.ctx, format.Empty.Descriptor, bytes.NewReader(format.Empty.Data)))
	}
	r.must("push "+tag, repo.(store.ReferencePusher).PushReference(r.ctx, m.Descriptor, bytes.NewReader(m.Data), tag))
	r.must("rescan", r.eng.Rescan(r.ctx))
}

// layerOf returns the first layer of the manifest tag of package app.
func (r *crashRig) layerOf(tag string) ocispec.Descriptor {
	r.t.Helper()
	repo := r.behind("app")
	d, err := repo.Resolve(r.ctx, tag)
	r.must("resolve "+tag, err)
	data, err := content.FetchAll(r.ctx, repo, d)
	r.must("fetch "+tag, err)
	var m ocispec.Manifest
	r.must("parse "+tag, json.Unmarshal(data, &m))
	return m.Layers[0]
}

// tagBehind points tag of package pkg where from points, behind pkgserver's back.
func (r *crashRig) tagBehind(pkg, tag, from string) {
	r.t.Helper()
	repo := r.behind(pkg)
	d, err := repo.Resolve(r.ctx, from)
	r.must("resolve "+from, err)
	r.must("tag "+tag, repo.Tag(r.ctx, d, tag))
	r.must("rescan", r.eng.Rescan(r.ctx))
}

// snapshot is what the rig holds, with digests replaced by where they were
// first seen, so that states of two rigs (whose UIDs and times differ) compare.
type snapshot struct {
	tags    map[string]string // "path:tag" -> digest label
	objects map[string]string // name -> lifecycle, revision, digest label
	repos   map[string]string // Repository name -> spec
}

// state reads everything the rig holds: every tag of every OCI repository
// of the rig (its packages and the Repository objects), and the API view.
func (r *crashRig) state(labels map[string]string) snapshot {
	r.t.Helper()
	s := snapshot{tags: map[string]string{}, objects: map[string]string{}, repos: map[string]string{}}
	label := func(d string) string {
		if l, ok := labels[d]; ok {
			return l
		}
		l := fmt.Sprintf("new%d", len(labels))
		labels[d] = l
		return l
	}
	var stores []store.Store
	stores = append(stores, r.layout)
	if r.registry != "" {
		rs, err := remote.New(r.registry, remote.WithPlainHTTP(true))
		r.must("remote", err)
		stores = append(stores, rs)
	}
	for _, st := range stores {
		var paths []string
		r.must("list", st.(store.Lister).Repositories(r.ctx, "", func(p []string) error { paths = append(paths, p...); return nil }))
		for _, p := range paths {
			key := ""
			switch {
			case strings.HasSuffix(p, "/pkgserver.lease"):
				continue // the writer lease moves on its own
			case strings.HasPrefix(p, r.prefix+"/"):
				key = strings.TrimPrefix(p, r.prefix+"/")
			case strings.HasPrefix(p, "pkgserver-system/"):
				key = "config"
			default:
				continue
			}
			repo, err := st.Repository(r.ctx, p)
			r.must("repository", err)
			var tags []string
			if err := repo.Tags(r.ctx, "", func(t []string) error { tags = append(tags, t...); return nil }); err != nil && !isNotFound(err) {
				r.t.Fatal(err)
			}
			slices.Sort(tags)
			for _, tag := range tags {
				d, err := repo.Resolve(r.ctx, tag)
				r.must("resolve", err)
				if hex, ok := strings.CutPrefix(tag, "sha256-"); ok && len(hex) == 64 {
					// oras-go's referrers tag names its subject.
					tag = "referrers of " + label("sha256:"+hex)
				}
				s.tags[key+":"+r.generic(tag)] = label(d.Digest.String())
			}
		}
	}
	prs, err := r.eng.ListPackageRevisions(r.ctx, testNS)
	r.must("list", err)
	for _, pr := range prs {
		d := ""
		if pr.Status.OCI != nil {
			d = label(pr.Status.OCI.Digest)
		}
		s.objects[r.generic(pr.Name)] = fmt.Sprintf("%s %s %s latest=%s", pr.Spec.Lifecycle, pr.Spec.PackageRevID.Revision, d, pr.Labels[pkgapi.LatestRevisionLabel])
		if _, err := r.eng.GetPackageRevisionResources(r.ctx, testNS, pr.Name); err != nil {
			r.t.Errorf("files of %s cannot be read: %v", pr.Name, err)
		}
	}
	repos, err := r.eng.ListRepositories(r.ctx, testNS)
	r.must("list repositories", err)
	for _, rp := range repos {
		s.repos[r.generic(rp.Name)] = fmt.Sprintf("deployment=%v description=%q", rp.Spec.Deployment, rp.Spec.Description)
	}
	return s
}

// generic replaces the rig's repository name in a name or tag, so that
// states of rigs with different repositories compare.
func (r *crashRig) generic(s string) string {
	re := regexp.MustCompile(`(^|[./])` + regexp.QuoteMeta(r.repo) + `(x?)($|[./])`)
	return re.ReplaceAllString(s, "${1}R${2}${3}")
}

// labelsOf names every digest the rig holds by the first tag that has it.
func (r *crashRig) labelsOf() map[string]string {
	labels := map[string]string{}
	st := r.state(labels)
	byLabel := map[string]string{}
	for d, l := range labels {
		byLabel[l] = d
	}
	out := map[string]string{}
	for _, k := range slices.Sorted(maps.Keys(st.tags)) {
		if d := byLabel[st.tags[k]]; out[d] == "" {
			out[d] = "=" + k
		}
	}
	return out
}

func diffSnapshots(a, b snapshot) string {
	var out []string
	cmp := func(what string, x, y map[string]string) {
		for _, k := range slices.Sorted(maps.Keys(x)) {
			if y[k] != x[k] {
				out = append(out, fmt.Sprintf("%s %s: %q vs %q", what, k, x[k], y[k]))
			}
		}
		for _, k := range slices.Sorted(maps.Keys(y)) {
			if _, ok := x[k]; !ok {
				out = append(out, fmt.Sprintf("%s %s: missing vs %q", what, k, y[k]))
			}
		}
	}
	cmp("tag", a.tags, b.tags)
	cmp("object", a.objects, b.objects)
	cmp("repository", a.repos, b.repos)
	return strings.Join(out, "\n")
}

// crashCase is one write of the engine to crash at each of its registry steps.
type crashCase struct {
	name  string
	setup func(r *crashRig)
	write func(r *crashRig) error
	// decisive picks, from the writes the uninterrupted write makes, the
	// one that decides it: once it landed the write must be completed, if
	// it did not it must be rolled back.
	decisive func(r *crashRig, writes []string) int
	// intent: the write records an intent (several registry steps).
	intent bool
	// check, if set, says what is wrong with the state the uninterrupted
	// write leaves ("" if nothing); every interrupted write whose decisive
	// step landed must leave that same state.
	check func(s snapshot) string
}

// latestAt checks that `latest` of package pkg names the manifest of tag,
// or, with tag "", that there is no `latest`.
func latestAt(pkg, tag string) func(s snapshot) string {
	return func(s snapshot) string {
		got, ok := s.tags[pkg+":latest"]
		switch {
		case tag == "" && ok:
			return fmt.Sprintf("%s:latest is %s; with no published revision left there must be no latest", pkg, got)
		case tag != "" && (!ok || got != s.tags[pkg+":"+tag]):
			return fmt.Sprintf("%s:latest is %q, want the manifest of %s (%s)", pkg, got, tag, s.tags[pkg+":"+tag])
		}
		return ""
	}
}

// writeNamed returns a decisive that picks the write op of ref (a tag, or
// "sha256:" for any digest) to the package pkg of the rig.
func writeNamed(op, pkg, ref string) func(r *crashRig, writes []string) int {
	return func(r *crashRig, writes []string) int { return r.find(writes, op, r.prefix+"/"+pkg, ref) }
}

// configWrite picks the write op of ref to the store of Repository objects;
// ref is a Repository name suffix ("" for the rig's), or "sha256:".
func configWrite(op, ref string) func(r *crashRig, writes []string) int {
	return func(r *crashRig, writes []string) int {
		if ref != "sha256:" {
			ref = testNS + "." + r.repo + ref
		}
		return r.find(writes, op, "pkgserver-system/repositories", ref)
	}
}

// find returns the 1-based index of the first write "op repo ref..."
// (faultstore's description); ref ends with ":" to match a prefix.
func (r *crashRig) find(writes []string, op, repo, ref string) int {
	for i, w := range writes {
		f := strings.Fields(w)
		if f[0] == op && f[1] == repo && (f[2] == ref || strings.HasSuffix(ref, ":") && strings.HasPrefix(f[2], ref)) {
			return i + 1
		}
	}
	r.t.Fatalf("no write %q %q %q among %q", op, repo, ref, writes)
	return 0
}

var crashFiles = map[string]string{"Kptfile": "apiVersion: kpt.dev/v1\nkind: Kptfile\nmetadata:\n  name: app\n", "cm.yaml": "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: cm\ndata:\n  a: \"1\"\n"}

func crashCases() []crashCase {
	name := func(r *crashRig, pkg, ws string) string { return nameOf(r.id(pkg, ws)) }
	// published: app v1 (ws one), v2 (ws two) with latest on v2, a draft
	// "three" of app, and a published v1 of lib (another package).
	published := func(r *crashRig) {
		r.must("repo", r.createRepo(r.repo))
		r.must("create", r.create(r.id("app", "one")))
		r.must("files", r.setFiles(name(r, "app", "one"), crashFiles))
		r.publish(name(r, "app", "one"))
		r.must("edit", r.create(r.id("app", "two"), pkgapi.Task{Type: pkgapi.TaskTypeEdit, Edit: &pkgapi.EditTask{Source: pkgapi.UpstreamRef{Name: name(r, "app", "one")}}}))
		r.publish(name(r, "app", "two"))
		r.must("create", r.create(r.id("app", "three")))
		r.must("create", r.create(r.id("lib", "one")))
		r.publish(name(r, "lib", "one"))
	}
	proposedThree := func(r *crashRig) {
		published(r)
		r.must("propose", r.update(name(r, "app", "three"), func(pr *pkgapi.PackageRevision) { pr.Spec.Lifecycle = pkgapi.LifecycleProposed }))
	}
	return []crashCase{
		{
			name:   "publish",
			intent: true,
			setup:  proposedThree,
			write: func(r *crashRig) error {
				return r.approve(name(r, "app", "three"), pkgapi.LifecyclePublished)
			},
			decisive: writeNamed("push", "app", "v3"),
		},
		{
			name:   "publish the first revision",
			intent: true,
			setup: func(r *crashRig) {
				r.must("repo", r.createRepo(r.repo))
				r.must("create", r.create(r.id("app", "one")))
				r.must("propose", r.update(name(r, "app", "one"), func(pr *pkgapi.PackageRevision) { pr.Spec.Lifecycle = pkgapi.LifecycleProposed }))
			},
			write:    func(r *crashRig) error { return r.approve(name(r, "app", "one"), pkgapi.LifecyclePublished) },
			decisive: writeNamed("push", "app", "v1"),
		},
		{
			name:   "delete the newest published revision",
			intent: true,
			setup: func(r *crashRig) {
				published(r)
				r.must("propose deletion", r.approve(name(r, "app", "two"), pkgapi.LifecycleDeletionProposed))
			},
			write:    func(r *crashRig) error { return r.eng.DeletePackageRevision(r.ctx, testNS, name(r, "app", "two")) },
			decisive: writeNamed("push", "app", "v2.deleted"),
		},
		{
			name:   "delete an older published revision",
			intent: true,
			setup: func(r *crashRig) {
				published(r)
				r.must("propose deletion", r.approve(name(r, "app", "one"), pkgapi.LifecycleDeletionProposed))
			},
			write:    func(r *crashRig) error { return r.eng.DeletePackageRevision(r.ctx, testNS, name(r, "app", "one")) },
			decisive: writeNamed("push", "app", "v1.deleted"),
		},
		{
			// A vN others pushed that is no revision (here a tombstone's
			// type) is never `latest`, on the normal path or after a crash.
			name:   "publish past a vN that is not a revision",
			intent: true,
			setup: func(r *crashRig) {
				proposedThree(r)
				r.pushBehind("app", "v9", format.Tombstone("v9", r.clock()))
			},
			write:    func(r *crashRig) error { return r.approve(name(r, "app", "three"), pkgapi.LifecyclePublished) },
			decisive: writeNamed("push", "app", "v3"),
			check:    latestAt("app", "v3"),
		},
		{
			name:   "delete the newest revision below a vN that is not a revision",
			intent: true,
			setup: func(r *crashRig) {
				published(r)
				r.pushBehind("app", "v9", format.Tombstone("v9", r.clock()))
				r.must("propose deletion", r.approve(name(r, "app", "two"), pkgapi.LifecycleDeletionProposed))
			},
			write:    func(r *crashRig) error { return r.eng.DeletePackageRevision(r.ctx, testNS, name(r, "app", "two")) },
			decisive: writeNamed("push", "app", "v2.deleted"),
			check:    latestAt("app", "v1"),
		},
		{
			// Others moved latest (to a draft's manifest); deleting the last
			// published revision leaves no latest at all.
			name:   "delete the last published revision after latest was moved",
			intent: true,
			setup: func(r *crashRig) {
				r.must("repo", r.createRepo(r.repo))
				r.must("create", r.create(r.id("app", "one")))
				r.publish(name(r, "app", "one"))
				r.must("create", r.create(r.id("app", "three")))
				r.tagBehind("app", "latest", "ws.three")
				r.must("propose deletion", r.approve(name(r, "app", "one"), pkgapi.LifecycleDeletionProposed))
			},
			write:    func(r *crashRig) error { return r.eng.DeletePackageRevision(r.ctx, testNS, name(r, "app", "one")) },
			decisive: writeNamed("push", "app", "v1.deleted"),
			check:    latestAt("app", ""),
		},
		{
			// Others moved latest to an older revision, which is then
			// deleted: latest names the newest revision left.
			name:   "delete an older revision latest was moved to",
			intent: true,
			setup: func(r *crashRig) {
				published(r)
				r.tagBehind("app", "latest", "v1")
				r.must("propose deletion", r.approve(name(r, "app", "one"), pkgapi.LifecycleDeletionProposed))
			},
			write:    func(r *crashRig) error { return r.eng.DeletePackageRevision(r.ctx, testNS, name(r, "app", "one")) },
			decisive: writeNamed("push", "app", "v1.deleted"),
			check:    latestAt("app", "v2"),
		},
		{
			name:     "propose deletion",
			setup:    published,
			write:    func(r *crashRig) error { return r.approve(name(r, "app", "two"), pkgapi.LifecycleDeletionProposed) },
			decisive: writeNamed("push", "app", "v2.deletion-proposed"),
		},
		{
			name: "withdraw a deletion proposal",
			setup: func(r *crashRig) {
				published(r)
				r.must("propose deletion", r.approve(name(r, "app", "two"), pkgapi.LifecycleDeletionProposed))
			},
			write:    func(r *crashRig) error { return r.approve(name(r, "app", "two"), pkgapi.LifecyclePublished) },
			decisive: writeNamed("delete", "app", "sha256:"),
		},
		{
			name:     "create a draft",
			setup:    published,
			write:    func(r *crashRig) error { return r.create(r.id("app", "four")) },
			decisive: writeNamed("push", "app", "ws.four"),
		},
		{
			name:  "clone into a new package",
			setup: published,
			write: func(r *crashRig) error {
				return r.create(r.id("copy", "one"), pkgapi.Task{Type: pkgapi.TaskTypeClone, Clone: &pkgapi.CloneTask{Upstream: pkgapi.UpstreamRef{Name: name(r, "app", "two")}}})
			},
			decisive: writeNamed("push", "copy", "ws.one"),
		},
		{
			name:  "new contents of a draft",
			setup: published,
			write: func(r *crashRig) error {
				files := maps.Clone(crashFiles)
				files["more.yaml"] = "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: more\n"
				return r.setFiles(name(r, "app", "three"), files)
			},
			decisive: writeNamed("push", "app", "ws.three"),
		},
		{
			name:  "propose",
			setup: published,
			write: func(r *crashRig) error {
				return r.update(name(r, "app", "three"), func(pr *pkgapi.PackageRevision) { pr.Spec.Lifecycle = pkgapi.LifecycleProposed })
			},
			decisive: writeNamed("push", "app", "ws.three"),
		},
		{
			name:     "reject",
			setup:    proposedThree,
			write:    func(r *crashRig) error { return r.approve(name(r, "app", "three"), pkgapi.LifecycleDraft) },
			decisive: writeNamed("push", "app", "ws.three"),
		},
		{
			name:  "set conditions",
			setup: published,
			write: func(r *crashRig) error {
				pr := r.get(name(r, "app", "three"))
				pr.Status.Conditions = []metav1.Condition{{Type: "ready", Status: metav1.ConditionTrue}}
				_, err := r.eng.UpdatePackageRevisionStatus(r.ctx, pr)
				return err
			},
			decisive: writeNamed("push", "app", "ws.three"),
		},
		{
			name:     "delete a draft",
			setup:    published,
			write:    func(r *crashRig) error { return r.eng.DeletePackageRevision(r.ctx, testNS, name(r, "app", "three")) },
			decisive: writeNamed("delete", "app", "sha256:"),
		},
		{
			name:     "register a repository",
			setup:    published,
			write:    func(r *crashRig) error { return r.createRepo(r.repo + "x") },
			decisive: configWrite("push", "x"),
		},
		{
			name:  "change a repository",
			setup: published,
			write: func(r *crashRig) error {
				rp, err := r.eng.GetRepository(r.ctx, testNS, r.repo)
				if err != nil {
					return err
				}
				rp.Spec.Description = "changed"
				_, err = r.eng.UpdateRepository(r.ctx, rp)
				return err
			},
			decisive: configWrite("push", ""),
		},
		{
			name:     "unregister a repository",
			setup:    published,
			write:    func(r *crashRig) error { return r.eng.DeleteRepository(r.ctx, testNS, r.repo) },
			decisive: configWrite("delete", "sha256:"),
		},
	}
}

// TestCrashAtEveryStep interrupts every write of the engine after each of
// its registry steps (the step failing before it reaches the registry, or
// after, its answer lost): the writes that record an intent on both
// backends, every other write on the embedded store. Then the engine is
// crashed and reopened (as after kill -9), or, for intents, kept running
// and the package read again; either way the write must be completed if its
// decisive step landed and rolled back otherwise, never guessed, with
// nothing else changed, no intent left behind and every revision readable.
func TestCrashAtEveryStep(t *testing.T) {
	backends := []struct {
		name   string
		remote bool
	}{{"embedded", false}, {"remote", true}}
	for _, b := range backends {
		t.Run(b.name, func(t *testing.T) {
			t.Parallel()
			reg := ""
			if b.remote {
				reg = testregistry.Start(t)
			}
			n := 0
			for _, c := range crashCases() {
				if b.remote && !c.intent {
					continue // one registry step: the same engine code on both backends
				}
				t.Run(c.name, func(t *testing.T) {
					n++
					// The write as it runs uninterrupted, on a rig of its own.
					ref := newCrashRig(t, reg, fmt.Sprintf("r%d", n))
					c.setup(ref)
					refLabels := ref.labelsOf()
					ref.plan.Arm(0, faultstore.Before)
					if err := c.write(ref); err != nil {
						t.Fatalf("uninterrupted: %v", err)
					}
					writes := ref.plan.Writes()
					decisive := c.decisive(ref, writes)
					want := ref.state(refLabels)
					if c.check != nil {
						if msg := c.check(want); msg != "" {
							t.Errorf("uninterrupted: %s", msg)
						}
					}
					for k := 1; k <= len(writes); k++ {
						for _, mode := range []faultstore.Mode{faultstore.Before, faultstore.After} {
							for _, restart := range []bool{true, false} {
								if !restart && (b.remote || !c.intent) {
									continue // only intents wait for the next writer; the remote registry is slow
								}
								n++
								what := fmt.Sprintf("write %d of %d (%s) fails %s it lands, restart=%v", k, len(writes), writes[k-1], mode, restart)
								crashOnce(t, c, reg, fmt.Sprintf("r%d", n), k, mode, restart, decisive, want, what)
							}
						}
					}
				})
			}
		})
	}
}

func crashOnce(t *testing.T, c crashCase, reg, repo string, k int, mode faultstore.Mode, restart bool, decisive int, want snapshot, what string) {
	t.Helper()
	r := newCrashRig(t, reg, repo)
	c.setup(r)
	labels := r.labelsOf()
	before := r.state(labels)
	r.plan.Arm(k, mode)
	err := c.write(r)
	landed := k > decisive || k == decisive && mode == faultstore.After
	if err == nil && !landed {
		t.Errorf("%s: the write reported success though its decisive step did not land", what)
	}
	if restart {
		r.crash()
	} else {
		r.plan.Arm(0, faultstore.Before)
		if err := r.eng.Rescan(r.ctx); err != nil {
			t.Fatalf("%s: rescan: %v", what, err)
		}
	}
	got := r.state(labels)
	if landed {
		if d := diffSnapshots(want, got); d != "" {
			t.Errorf("%s: the decisive step landed, so the write must be completed; differences from the uninterrupted write:\n%s", what, d)
		}
	} else if d := diffSnapshots(before, got); d != "" {
		t.Errorf("%s: the decisive step did not land, so nothing may change; differences:\n%s", what, d)
	}
	if restart {
		if in, err := r.coord.Intents(r.ctx); err != nil || len(in) > 0 {
			t.Errorf("%s: intents left after the restart: %v %v", what, in, err)
		}
	}
	r.close()
}

// TestCrashKeepsResourceVersionsGrowing: a draft proposed and rejected is
// the same manifest again; a crash after that must not serve it with the
// older resourceVersion a checkpoint written before holds (model seed
// 1796000873407158838 found it).
func TestCrashKeepsResourceVersionsGrowing(t *testing.T) {
	r := newCrashRig(t, "", "rv")
	r.must("repo", r.createRepo(r.repo))
	name := nameOf(r.id("app", "one"))
	r.must("create", r.create(r.id("app", "one")))
	r.close() // a clean stop writes the checkpoint
	r.open()
	first := r.get(name)
	r.must("propose", r.update(name, func(pr *pkgapi.PackageRevision) { pr.Spec.Lifecycle = pkgapi.LifecycleProposed }))
	r.must("reject", r.approve(name, pkgapi.LifecycleDraft))
	seen := r.get(name)
	if seen.Status.OCI.Digest != first.Status.OCI.Digest {
		t.Fatalf("rejected draft %s, first %s: the test needs the same manifest", seen.Status.OCI.Digest, first.Status.OCI.Digest)
	}
	r.crash()
	after := r.get(name)
	if parseRV(t, after.ResourceVersion) < parseRV(t, seen.ResourceVersion) {
		t.Fatalf("after the crash %s has resourceVersion %s; it was %s before", name, after.ResourceVersion, seen.ResourceVersion)
	}
}

func parseRV(t *testing.T, s string) uint64 {
	t.Helper()
	var n uint64
	if _, err := fmt.Sscan(s, &n); err != nil {
		t.Fatalf("resourceVersion %q: %v", s, err)
	}
	return n
}
