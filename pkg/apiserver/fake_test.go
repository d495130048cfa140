package apiserver

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	configapi "pkgserver.dev/pkgserver/api/config/v1alpha1"
	pkgapi "pkgserver.dev/pkgserver/api/pkg/v1alpha1"
	"pkgserver.dev/pkgserver/pkg/engine"
	"pkgserver.dev/pkgserver/pkg/errdef"
)

// fakeEngine is an in-memory engine.Service with just enough rules to give
// every errdef error a way to happen.
type fakeEngine struct {
	mu    sync.Mutex
	repos map[string]*configapi.Repository
	prs   map[string]*pkgapi.PackageRevision
	prrs  map[string]*pkgapi.PackageRevisionResources
	// err, when set, is returned by every call; panicWith makes every call panic.
	err       error
	panicWith any
	// events feeds watches, by kind.
	events map[string]chan engine.Event
	// refreshes counts RefreshRepository calls.
	refreshes int
}

var _ engine.Service = (*fakeEngine)(nil)

// watchOf waits until a watch of PackageRevisions has started and returns
// the channel that feeds it; t fails after 5 s.
func (f *fakeEngine) watchOf(t *testing.T) chan engine.Event {
	t.Helper()
	for deadline := time.Now().Add(5 * time.Second); time.Now().Before(deadline); time.Sleep(10 * time.Millisecond) {
		f.mu.Lock()
		ch := f.events[pkgapi.PackageRevisionKind]
		f.mu.Unlock()
		if ch != nil {
			return ch
		}
	}
	t.Fatal("no watch started")
	return nil
}

func key(ns, name string) string { return ns + "/" + name }

// newFake returns a fake holding two namespaces of fixtures.
func newFake() *fakeEngine {
	f := &fakeEngine{
		repos: map[string]*configapi.Repository{},
		prs:   map[string]*pkgapi.PackageRevision{},
		prrs:  map[string]*pkgapi.PackageRevisionResources{},
	}
	repo := func(ns, name string, deployment bool) {
		f.repos[key(ns, name)] = &configapi.Repository{
			ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name, ResourceVersion: "1"},
			Spec:       configapi.RepositorySpec{Type: "oci", Deployment: deployment},
		}
	}
	repo("default", "blueprints", false)
	repo("default", "deploy", true)
	repo("team-b", "edge", true)

	pr := func(ns string, id pkgapi.PackageRevID, lc pkgapi.Lifecycle, lbls map[string]string) {
		name := strings.Join([]string{id.Target, id.Repository, strings.ReplaceAll(id.Realm, "/", ":"), id.Package, id.Workspace}, ".")
		meta := metav1.ObjectMeta{Namespace: ns, Name: name, ResourceVersion: "1", Labels: lbls}
		f.prs[key(ns, name)] = &pkgapi.PackageRevision{
			ObjectMeta: meta,
			Spec:       pkgapi.PackageRevisionSpec{PackageRevID: id, Lifecycle: lc},
		}
		f.prrs[key(ns, name)] = &pkgapi.PackageRevisionResources{
			ObjectMeta: meta,
			Spec: pkgapi.PackageRevisionResourcesSpec{
				PackageRevID: id,
				Resources:    map[string]string{"Kptfile": "kind: Kptfile\n"},
			},
		}
	}
	latest := map[string]string{pkgapi.LatestRevisionLabel: "true"}
	pr("default", pkgapi.PackageRevID{Target: "catalog", Repository: "blueprints", Realm: "base", Package: "nginx", Workspace: "main", Revision: "v1"}, pkgapi.LifecyclePublished, latest)
	pr("default", pkgapi.PackageRevID{Target: "catalog", Repository: "blueprints", Realm: "base", Package: "redis", Workspace: "main"}, pkgapi.LifecycleDraft, nil)
	pr("default", pkgapi.PackageRevID{Target: "site1", Repository: "deploy", Realm: "apps", Package: "nginx", Workspace: "ws1"}, pkgapi.LifecycleProposed, nil)
	pr("team-b", pkgapi.PackageRevID{Target: "site2", Repository: "edge", Realm: "apps/web", Package: "nginx", Workspace: "ws"}, pkgapi.LifecycleDraft, nil)
	return f
}

// clone copies v so callers never share the stored object.
func clone[T any](v *T) *T {
	b, err := json.Marshal(v)
	if err != nil {
		panic(err)
	}
	out := new(T)
	if err := json.Unmarshal(b, out); err != nil {
		panic(err)
	}
	return out
}

// enter reports the injected failure, if any; with none it returns holding
// the lock.
func (f *fakeEngine) enter() error {
	f.mu.Lock()
	if f.panicWith != nil || f.err != nil {
		p, err := f.panicWith, f.err
		f.mu.Unlock()
		if p != nil {
			panic(p)
		}
		return err
	}
	return nil
}

func listOf[T any](m map[string]*T, namespace string) []T {
	keys := make([]string, 0, len(m))
	for k := range m {
		if namespace == "" || strings.HasPrefix(k, namespace+"/") {
			keys = append(keys, k)
		}
	}
	slices.Sort(keys)
	out := make([]T, 0, len(keys))
	for _, k := range keys {
		out = append(out, *clone(m[k]))
	}
	return out
}

func getOf[T any](m map[string]*T, what, namespace, name string) (*T, error) {
	v, ok := m[key(namespace, name)]
	if !ok {
		return nil, fmt.Errorf("%s %s/%s: %w", what, namespace, name, errdef.ErrNotFound)
	}
	return clone(v), nil
}

// dryRun reports whether the request asks for a write that stores nothing
// (dryRun=All), which the fake honours as the engine must.
func dryRun(ctx context.Context) bool { return engine.WriteOptionsFrom(ctx).DryRun }

// checkPreconditions checks the DeleteOptions preconditions ctx carries.
func checkPreconditions(ctx context.Context, stored *metav1.ObjectMeta) error {
	o := engine.WriteOptionsFrom(ctx)
	if o.UID != "" && o.UID != string(stored.UID) {
		return fmt.Errorf("%s: precondition failed: uid %s, the object has %s: %w", stored.Name, o.UID, stored.UID, errdef.ErrConflict)
	}
	if o.ResourceVersion != "" && o.ResourceVersion != stored.ResourceVersion {
		return fmt.Errorf("%s: precondition failed: resourceVersion %s, the object has %s: %w", stored.Name, o.ResourceVersion, stored.ResourceVersion, errdef.ErrConflict)
	}
	return nil
}

// checkVersion enforces optimistic concurrency and bumps the version.
func checkVersion(stored, sent *metav1.ObjectMeta) error {
	if sent.ResourceVersion != "" && sent.ResourceVersion != stored.ResourceVersion {
		return fmt.Errorf("%s: resourceVersion %s is stale: %w", sent.Name, sent.ResourceVersion, errdef.ErrConflict)
	}
	n, _ := strconv.Atoi(stored.ResourceVersion)
	sent.ResourceVersion = strconv.Itoa(n + 1)
	return nil
}

func (f *fakeEngine) ListRepositories(_ context.Context, ns string) ([]configapi.Repository, error) {
	if err := f.enter(); err != nil {
		return nil, err
	}
	defer f.mu.Unlock()
	return listOf(f.repos, ns), nil
}

func (f *fakeEngine) GetRepository(_ context.Context, ns, name string) (*configapi.Repository, error) {
	if err := f.enter(); err != nil {
		return nil, err
	}
	defer f.mu.Unlock()
	return getOf(f.repos, "repository", ns, name)
}

func (f *fakeEngine) CreateRepository(ctx context.Context, r *configapi.Repository) (*configapi.Repository, error) {
	if err := f.enter(); err != nil {
		return nil, err
	}
	defer f.mu.Unlock()
	if r.Name == "" {
		return nil, fmt.Errorf("metadata.name: required: %w", errdef.ErrInvalid)
	}
	if _, ok := f.repos[key(r.Namespace, r.Name)]; ok {
		return nil, fmt.Errorf("repository %s/%s: %w", r.Namespace, r.Name, errdef.ErrAlreadyExists)
	}
	r = clone(r)
	r.ResourceVersion = "1"
	if !dryRun(ctx) {
		f.repos[key(r.Namespace, r.Name)] = r
	}
	return clone(r), nil
}

func (f *fakeEngine) UpdateRepository(ctx context.Context, r *configapi.Repository) (*configapi.Repository, error) {
	if err := f.enter(); err != nil {
		return nil, err
	}
	defer f.mu.Unlock()
	stored, err := getOf(f.repos, "repository", r.Namespace, r.Name)
	if err != nil {
		return nil, err
	}
	r = clone(r)
	if err := checkVersion(&stored.ObjectMeta, &r.ObjectMeta); err != nil {
		return nil, err
	}
	if !dryRun(ctx) {
		f.repos[key(r.Namespace, r.Name)] = r
	}
	return clone(r), nil
}

func (f *fakeEngine) DeleteRepository(ctx context.Context, ns, name string) error {
	if err := f.enter(); err != nil {
		return err
	}
	defer f.mu.Unlock()
	stored, err := getOf(f.repos, "repository", ns, name)
	if err != nil {
		return err
	}
	if err := checkPreconditions(ctx, &stored.ObjectMeta); err != nil || dryRun(ctx) {
		return err
	}
	delete(f.repos, key(ns, name))
	return nil
}

func (f *fakeEngine) ListPackageRevisions(_ context.Context, ns string) ([]pkgapi.PackageRevision, error) {
	if err := f.enter(); err != nil {
		return nil, err
	}
	defer f.mu.Unlock()
	return listOf(f.prs, ns), nil
}

func (f *fakeEngine) GetPackageRevision(_ context.Context, ns, name string) (*pkgapi.PackageRevision, error) {
	if err := f.enter(); err != nil {
		return nil, err
	}
	defer f.mu.Unlock()
	return getOf(f.prs, "packagerevision", ns, name)
}

func (f *fakeEngine) CreatePackageRevision(ctx context.Context, pr *pkgapi.PackageRevision) (*pkgapi.PackageRevision, error) {
	if err := f.enter(); err != nil {
		return nil, err
	}
	defer f.mu.Unlock()
	if pr.Name == "" {
		return nil, fmt.Errorf("metadata.name: required: %w", errdef.ErrInvalid)
	}
	if pr.Spec.Lifecycle != "" && pr.Spec.Lifecycle != pkgapi.LifecycleDraft {
		return nil, fmt.Errorf("spec.lifecycle: revisions are created as draft: %w", errdef.ErrInvalid)
	}
	if _, ok := f.prs[key(pr.Namespace, pr.Name)]; ok {
		return nil, fmt.Errorf("packagerevision %s/%s: %w", pr.Namespace, pr.Name, errdef.ErrAlreadyExists)
	}
	pr = clone(pr)
	pr.ResourceVersion = "1"
	pr.Spec.Lifecycle = pkgapi.LifecycleDraft
	if dryRun(ctx) {
		return clone(pr), nil
	}
	f.prs[key(pr.Namespace, pr.Name)] = pr
	f.prrs[key(pr.Namespace, pr.Name)] = &pkgapi.PackageRevisionResources{
		ObjectMeta: pr.ObjectMeta,
		Spec:       pkgapi.PackageRevisionResourcesSpec{PackageRevID: pr.Spec.PackageRevID},
	}
	return clone(pr), nil
}

func (f *fakeEngine) UpdatePackageRevision(ctx context.Context, pr *pkgapi.PackageRevision) (*pkgapi.PackageRevision, error) {
	if err := f.enter(); err != nil {
		return nil, err
	}
	defer f.mu.Unlock()
	stored, err := getOf(f.prs, "packagerevision", pr.Namespace, pr.Name)
	if err != nil {
		return nil, err
	}
	if stored.Spec.Lifecycle == pkgapi.LifecyclePublished {
		return nil, fmt.Errorf("packagerevision %s is published: %w", pr.Name, errdef.ErrForbidden)
	}
	switch pr.Spec.Lifecycle {
	case pkgapi.LifecycleDraft, pkgapi.LifecycleProposed:
	default:
		return nil, fmt.Errorf("spec.lifecycle: %q needs the approval subresource: %w", pr.Spec.Lifecycle, errdef.ErrInvalid)
	}
	pr = clone(pr)
	if err := checkVersion(&stored.ObjectMeta, &pr.ObjectMeta); err != nil {
		return nil, err
	}
	if !dryRun(ctx) {
		f.prs[key(pr.Namespace, pr.Name)] = pr
	}
	return clone(pr), nil
}

func (f *fakeEngine) ApprovePackageRevision(ctx context.Context, pr *pkgapi.PackageRevision, user string) (*pkgapi.PackageRevision, error) {
	if err := f.enter(); err != nil {
		return nil, err
	}
	defer f.mu.Unlock()
	stored, err := getOf(f.prs, "packagerevision", pr.Namespace, pr.Name)
	if err != nil {
		return nil, err
	}
	if stored.Spec.Lifecycle != pkgapi.LifecycleProposed || pr.Spec.Lifecycle != pkgapi.LifecyclePublished {
		return nil, fmt.Errorf("spec.lifecycle: cannot go from %s to %s: %w", stored.Spec.Lifecycle, pr.Spec.Lifecycle, errdef.ErrInvalid)
	}
	if err := checkVersion(&stored.ObjectMeta, &pr.ObjectMeta); err != nil {
		return nil, err
	}
	stored.ResourceVersion = pr.ResourceVersion
	stored.Spec.Lifecycle = pkgapi.LifecyclePublished
	stored.Spec.PackageRevID.Revision = "v1"
	stored.Status.PublishedBy = user
	if dryRun(ctx) {
		return clone(stored), nil
	}
	f.prs[key(pr.Namespace, pr.Name)] = stored
	return clone(stored), nil
}

func (f *fakeEngine) DeletePackageRevision(ctx context.Context, ns, name string) error {
	if err := f.enter(); err != nil {
		return err
	}
	defer f.mu.Unlock()
	stored, err := getOf(f.prs, "packagerevision", ns, name)
	if err != nil {
		return err
	}
	if stored.Spec.Lifecycle == pkgapi.LifecyclePublished {
		return fmt.Errorf("packagerevision %s is published; propose its deletion first: %w", name, errdef.ErrForbidden)
	}
	if err := checkPreconditions(ctx, &stored.ObjectMeta); err != nil || dryRun(ctx) {
		return err
	}
	delete(f.prs, key(ns, name))
	delete(f.prrs, key(ns, name))
	return nil
}

func (f *fakeEngine) ListPackageRevisionResources(_ context.Context, ns string) ([]pkgapi.PackageRevisionResources, error) {
	if err := f.enter(); err != nil {
		return nil, err
	}
	defer f.mu.Unlock()
	return listOf(f.prrs, ns), nil
}

func (f *fakeEngine) GetPackageRevisionResources(_ context.Context, ns, name string) (*pkgapi.PackageRevisionResources, error) {
	if err := f.enter(); err != nil {
		return nil, err
	}
	defer f.mu.Unlock()
	return getOf(f.prrs, "packagerevisionresources", ns, name)
}

func (f *fakeEngine) UpdatePackageRevisionResources(ctx context.Context, prr *pkgapi.PackageRevisionResources) (*pkgapi.PackageRevisionResources, error) {
	if err := f.enter(); err != nil {
		return nil, err
	}
	defer f.mu.Unlock()
	stored, err := getOf(f.prrs, "packagerevisionresources", prr.Namespace, prr.Name)
	if err != nil {
		return nil, err
	}
	if pr := f.prs[key(prr.Namespace, prr.Name)]; pr.Spec.Lifecycle != pkgapi.LifecycleDraft {
		return nil, fmt.Errorf("packagerevision %s is %s; contents change only in draft: %w", prr.Name, pr.Spec.Lifecycle, errdef.ErrForbidden)
	}
	for p := range prr.Spec.Resources {
		if strings.HasPrefix(p, "/") || strings.Contains(p, "..") {
			return nil, fmt.Errorf("spec.resources[%q]: path escapes the package: %w", p, errdef.ErrInvalid)
		}
	}
	prr = clone(prr)
	if err := checkVersion(&stored.ObjectMeta, &prr.ObjectMeta); err != nil {
		return nil, err
	}
	if dryRun(ctx) {
		return clone(prr), nil
	}
	f.prrs[key(prr.Namespace, prr.Name)] = prr
	return clone(prr), nil
}
