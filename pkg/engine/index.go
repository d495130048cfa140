package engine

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"sort"
	"strings"
	"sync"
	"sync/atomic"

	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
	"golang.org/x/sync/errgroup"
	"oras.land/oras-go/v2/content"

	configapi "pkgserver.dev/pkgserver/api/config/v1alpha1"
	pkgapi "pkgserver.dev/pkgserver/api/pkg/v1alpha1"
	"pkgserver.dev/pkgserver/pkg/errdef"
	"pkgserver.dev/pkgserver/pkg/format"
	"pkgserver.dev/pkgserver/pkg/names"
	"pkgserver.dev/pkgserver/pkg/store"
)

// discoveryParallelism bounds concurrent package loads against one registry.
const discoveryParallelism = 8

// repoState is a registered repository and the index of its packages.
type repoState struct {
	obj        configapi.Repository
	desc       ocispec.Descriptor // manifest of the stored object: its resourceVersion
	store      store.Store
	embedded   bool
	host       string // registry host in references
	prefix     string
	deployment bool

	mu        sync.Mutex
	listed    bool                 // packages holds every package under prefix
	known     bool                 // listed once: later loads send watch events
	packages  map[string]*pkgState // by OCI path
	stale     map[string]bool      // paths to load again before use
	lastErr   error                // last discovery failure, for status
	checked   bool                 // a listing of the registry succeeded once
	catalogOK *bool                // whether _catalog works; nil until known
}

func (rs *repoState) setCatalog(ok bool) {
	rs.mu.Lock()
	rs.catalogOK = &ok
	rs.mu.Unlock()
}

// needsIndex reports whether new packages must be recorded in the package
// index: only where _catalog cannot find them. One probe per repository.
func (e *Engine) needsIndex(ctx context.Context, rs *repoState) bool {
	if rs.embedded {
		return false
	}
	rs.mu.Lock()
	known := rs.catalogOK
	rs.mu.Unlock()
	if known == nil {
		l, ok := rs.store.(store.Lister)
		works := ok
		if ok {
			stop := errors.New("one page is enough")
			err := l.Repositories(ctx, "", func([]string) error { return stop })
			works = err == nil || errors.Is(err, stop)
		}
		rs.setCatalog(works)
		known = &works
	}
	return !*known
}

// pkgState is one package: its OCI repository and its revisions.
type pkgState struct {
	deletedMax          int  // highest N of a tombstone: numbers never come back
	exists              bool // the OCI repository answered its tags list
	path                string
	target, realm, name string
	revs                []*rev
}

// rev is one revision as found in the registry.
type rev struct {
	tag       string
	desc      ocispec.Descriptor
	meta      format.Meta
	n         int // N of a vN tag, else 0
	marker    *ocispec.Descriptor
	lifecycle pkgapi.Lifecycle
	// view caches the API object and its JSON; a rev never changes, but
	// what it shows depends on its package's latest revision and upgrades.
	view atomic.Pointer[revView]
}

// sameLocation reports whether two states of a repository hold the same packages.
func (rs *repoState) sameLocation(o *repoState) bool {
	return rs.embedded == o.embedded && rs.host == o.host && rs.prefix == o.prefix && rs.deployment == o.deployment && rs.store == o.store
}

// adoptIndex takes over the package index of an older state of the same repository.
func (rs *repoState) adoptIndex(old *repoState) {
	old.mu.Lock()
	defer old.mu.Unlock()
	rs.mu.Lock()
	defer rs.mu.Unlock()
	// Listed again on next use (the spec may name other packages), but
	// against the old index, so only differences become events.
	rs.listed, rs.known, rs.checked, rs.lastErr = false, old.known, old.checked, old.lastErr
	rs.packages, rs.stale, rs.catalogOK = old.packages, old.stale, old.catalogOK
}

// with returns a copy of r with another deletion marker and lifecycle.
func (r *rev) with(marker *ocispec.Descriptor, l pkgapi.Lifecycle) *rev {
	return &rev{tag: r.tag, desc: r.desc, meta: r.meta, n: r.n, marker: marker, lifecycle: l}
}

func (rs *repoState) reset() {
	rs.mu.Lock()
	defer rs.mu.Unlock()
	rs.listed = false
	rs.packages = map[string]*pkgState{}
	rs.stale = map[string]bool{}
}

func (rs *repoState) invalidateAll() {
	rs.mu.Lock()
	defer rs.mu.Unlock()
	rs.listed = false
	// A Get finds a known package without listing: mark each one stale too,
	// or it would keep serving what the index knew before the rescan.
	for p := range rs.packages {
		rs.stale[p] = true
	}
}

func (rs *repoState) invalidate(path string) {
	rs.mu.Lock()
	defer rs.mu.Unlock()
	rs.stale[path] = true
}

func (rs *repoState) object() configapi.Repository {
	r := *rs.obj.DeepCopy()
	r.TypeMeta.APIVersion = configapi.SchemeGroupVersion.String()
	r.TypeMeta.Kind = configapi.RepositoryKind
	r.ResourceVersion = rvOf(rs.desc)
	r.Status.Address = rs.host + "/" + rs.prefix
	rs.mu.Lock()
	err := rs.lastErr
	rs.mu.Unlock()
	rs.mu.Lock()
	checked := rs.checked
	rs.mu.Unlock()
	cond := metaCondition("Ready", "Unknown", "Pending", "the registry has not been listed yet")
	switch {
	case err != nil:
		cond = metaCondition("Ready", "False", "RegistryError", err.Error())
	case checked:
		cond = metaCondition("Ready", "True", "Ready", "registry reachable")
	}
	cond.LastTransitionTime = r.CreationTimestamp
	r.Status.Conditions = append(r.Status.Conditions, cond)
	return r
}

// id returns the identity of a package path of this repository.
func (rs *repoState) pkgFromPath(path string) (*pkgState, error) {
	target, realm, name, err := names.FromOCIPath(rs.prefix, path, rs.deployment)
	if err != nil {
		return nil, err
	}
	return &pkgState{path: path, target: target, realm: realm, name: name}, nil
}

// allPackages returns every package of the repository, loading what is stale.
func (e *Engine) allPackages(ctx context.Context, rs *repoState) ([]*pkgState, error) {
	rs.mu.Lock()
	listed := rs.listed
	before := make(map[string]*pkgState, len(rs.packages))
	for path, p := range rs.packages {
		before[path] = p
	}
	rs.mu.Unlock()
	var paths []string
	if !listed {
		var err error
		paths, err = e.discover(ctx, rs)
		rs.mu.Lock()
		rs.lastErr = err
		rs.checked = rs.checked || err == nil
		rs.mu.Unlock()
		if err != nil {
			return nil, err
		}
	} else {
		rs.mu.Lock()
		for p := range rs.stale {
			paths = append(paths, p)
		}
		rs.mu.Unlock()
	}
	if err := e.loadPackages(ctx, rs, paths); err != nil {
		return nil, err
	}
	rs.mu.Lock()
	var gone []*pkgState
	if !listed {
		// Drop packages that are gone from the registry, but not one that a
		// write added or changed while we were listing.
		keep := map[string]bool{}
		for _, p := range paths {
			keep[p] = true
		}
		for path, p := range rs.packages {
			if !keep[path] && before[path] == p {
				delete(rs.packages, path)
				gone = append(gone, p)
			}
		}
		rs.listed = true
		rs.known = true
	}
	out := make([]*pkgState, 0, len(rs.packages))
	for _, p := range rs.packages {
		out = append(out, p)
	}
	rs.mu.Unlock()
	for _, p := range gone {
		e.emitPackageChanges(rs, p, &pkgState{path: p.path})
	}
	sort.Slice(out, func(i, j int) bool { return out[i].path < out[j].path })
	return out, nil
}

// discover lists the OCI repositories under the repository's prefix.
// Registries without the _catalog API (or that refuse it) fall back to the
// package index pkgserver keeps there and to spec.oci.packages.
func (e *Engine) discover(ctx context.Context, rs *repoState) ([]string, error) {
	paths, err := e.catalog(ctx, rs)
	rs.setCatalog(err == nil)
	if err == nil {
		return paths, nil
	}
	fallback, ferr := e.indexedPackages(ctx, rs)
	if ferr != nil {
		return nil, errors.Join(err, ferr)
	}
	e.log.Debug("registry cannot list repositories; using the package index and spec.oci.packages", "registry", rs.host, "err", err)
	return fallback, nil
}

// indexedPackages reads the package index and spec.oci.packages.
func (e *Engine) indexedPackages(ctx context.Context, rs *repoState) ([]string, error) {
	seen := map[string]bool{}
	if rs.obj.Spec.OCI != nil {
		for _, p := range rs.obj.Spec.OCI.Packages {
			seen[joinPath(rs.prefix, p)] = true
		}
	}
	idx, err := e.readIndex(ctx, rs)
	if err != nil {
		return nil, err
	}
	for _, p := range idx {
		seen[joinPath(rs.prefix, p)] = true
	}
	var out []string
	for p := range seen {
		if _, err := rs.pkgFromPath(p); err == nil {
			out = append(out, p)
		}
	}
	sort.Strings(out)
	return out, nil
}

func joinPath(prefix, p string) string {
	if prefix == "" {
		return p
	}
	return prefix + "/" + p
}

// packageIndex is the JSON of the package index artifact.
type packageIndex struct {
	// Packages are paths relative to the repository prefix.
	Packages []string `json:"packages"`
}

func (rs *repoState) indexStore() *objectStore {
	return &objectStore{store: rs.store, repo: joinPath(rs.prefix, format.IndexRepository)}
}

// readIndex returns the package paths (relative to the prefix) of the index.
func (e *Engine) readIndex(ctx context.Context, rs *repoState) ([]string, error) {
	o := rs.indexStore()
	repo, err := o.repository(ctx)
	if err != nil {
		return nil, err
	}
	obj, err := o.get(ctx, e.cache, repo, names.LatestTag)
	if errors.Is(err, errdef.ErrNotFound) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	var idx packageIndex
	if err := json.Unmarshal(obj.data, &idx); err != nil {
		return nil, fmt.Errorf("package index of %s: %w: %v", rs.prefix, errdef.ErrInvalid, err)
	}
	return idx.Packages, nil
}

// recordPackage adds a new package to the index of a remote repository, so
// it is found again on registries without _catalog. Replicas adding at the
// same instant may lose one entry; spec.oci.packages is the sure way.
func (e *Engine) recordPackage(ctx context.Context, rs *repoState, path string) error {
	defer e.lockPackage(rs.lockKey(format.IndexRepository))()
	idx, err := e.readIndex(ctx, rs)
	if err != nil {
		return err
	}
	rel := strings.TrimPrefix(path, rs.prefix+"/")
	if slices.Contains(idx, rel) {
		return nil
	}
	idx = append(idx, rel)
	sort.Strings(idx)
	data, err := json.Marshal(packageIndex{Packages: idx})
	if err != nil {
		return err
	}
	_, err = rs.indexStore().put(ctx, e.cache, names.LatestTag, format.IndexType, format.IndexConfigType, data)
	return err
}

// catalog lists the OCI repositories under the prefix with _catalog.
func (e *Engine) catalog(ctx context.Context, rs *repoState) ([]string, error) {
	l, ok := rs.store.(store.Lister)
	if !ok {
		return nil, fmt.Errorf("%w: the registry cannot list repositories", errdef.ErrUnavailable)
	}
	start := ""
	pfx := ""
	if rs.prefix != "" {
		pfx = rs.prefix + "/"
		start = rs.prefix // everything under prefix/ sorts after it
	}
	var out []string
	errDone := errors.New("done")
	err := l.Repositories(ctx, start, func(repos []string) error {
		for _, r := range repos {
			if !strings.HasPrefix(r, pfx) {
				if r > pfx {
					return errDone
				}
				continue
			}
			if _, err := rs.pkgFromPath(r); err == nil {
				out = append(out, r)
			}
		}
		return nil
	})
	if err != nil && !errors.Is(err, errDone) {
		return nil, fmt.Errorf("list registry %s: %w", rs.host, err)
	}
	return out, nil
}

// loadPackages loads the given package paths with bounded parallelism.
func (e *Engine) loadPackages(ctx context.Context, rs *repoState, paths []string) error {
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(discoveryParallelism)
	for _, p := range paths {
		g.Go(func() error {
			_, err := e.loadPackage(gctx, rs, p)
			return err
		})
	}
	return g.Wait()
}

// lockKey names the lock that serialises writes and loads of one package.
func (rs *repoState) lockKey(path string) string { return rs.host + "/" + path }

// loadPackage reads one package from the registry into the index. It waits
// for a write in progress, so it never sees (or reports) a half-done change.
func (e *Engine) loadPackage(ctx context.Context, rs *repoState, path string) (*pkgState, error) {
	defer e.lockPackage(rs.lockKey(path))()
	return e.loadPackageLocked(ctx, rs, path)
}

// loadPackageLocked is loadPackage for callers that hold the package lock.
// It also repairs what an interrupted write leaves: a draft tag next to the
// revision it was published as, and a `latest` tag that is not on the newest vN.
func (e *Engine) loadPackageLocked(ctx context.Context, rs *repoState, path string) (*pkgState, error) {
	p, err := e.readPackage(ctx, rs, path, true)
	if err != nil {
		return nil, err
	}
	rs.mu.Lock()
	old := rs.packages[path]
	emit := rs.known || old != nil
	delete(rs.stale, path)
	if len(p.revs) == 0 {
		delete(rs.packages, path)
	} else {
		rs.packages[path] = p
	}
	rs.mu.Unlock()
	if emit {
		e.emitPackageChanges(rs, old, p)
	}
	return p, nil
}

// peekPackage reads a package for a caller that holds another package's
// lock: it takes no lock (waiting could deadlock), repairs nothing and does
// not store what it read.
func (e *Engine) peekPackage(ctx context.Context, rs *repoState, path string) (*pkgState, error) {
	rs.mu.Lock()
	p, ok := rs.packages[path]
	stale := rs.stale[path]
	rs.mu.Unlock()
	if ok && !stale {
		return p, nil
	}
	return e.readPackage(ctx, rs, path, false)
}

// readPackage reads one package from the registry; with repair it also
// finishes interrupted writes (the caller must hold the package lock).
func (e *Engine) readPackage(ctx context.Context, rs *repoState, path string, repair bool) (*pkgState, error) {
	p, err := rs.pkgFromPath(path)
	if err != nil {
		return nil, err
	}
	repo, err := rs.store.Repository(ctx, path)
	if err != nil {
		return nil, err
	}
	var tags []string
	err = repo.Tags(ctx, "", func(t []string) error { tags = append(tags, t...); return nil })
	if err != nil && !errors.Is(err, errdef.ErrNotFound) {
		return nil, fmt.Errorf("list tags of %s: %w", path, err)
	}
	p.exists = err == nil
	markers := map[string]ocispec.Descriptor{} // by the tag they mark
	// The first load of a package fetches manifests by tag in one GET each;
	// later loads ask only where tags point (HEAD) and use the cache.
	rs.mu.Lock()
	_, known := rs.packages[path]
	rs.mu.Unlock()
	first := !known
	var latest *ocispec.Descriptor
	for _, tag := range tags {
		if tag == names.LatestTag {
			if d, err := repo.Resolve(ctx, tag); err == nil {
				latest = &d
			}
			continue
		}
		if n, ok := names.ParseDeletedTag(tag); ok {
			p.deletedMax = max(p.deletedMax, n)
			continue
		}
		desc, err := e.resolve(ctx, repo, tag, first)
		if errors.Is(err, errdef.ErrNotFound) {
			continue // removed meanwhile
		}
		if err != nil {
			return nil, fmt.Errorf("resolve %s:%s: %w", path, tag, err)
		}
		if marked, ok := strings.CutSuffix(tag, names.DeletionTagSuffix); ok {
			markers[marked] = desc
			continue
		}
		m, err := e.cache.manifest(ctx, repo, desc)
		if err != nil {
			e.log.Debug("skipping unreadable artifact", "repository", path, "tag", tag, "err", err)
			continue
		}
		if m.ArtifactType == format.DeletionMarkerType || m.ArtifactType == format.RepositoryType || m.ArtifactType == format.TombstoneType {
			continue
		}
		p.revs = append(p.revs, newRev(tag, desc, m))
	}
	for _, r := range p.revs {
		if d, ok := markers[r.tag]; ok && r.lifecycle == pkgapi.LifecyclePublished {
			d := d
			r.marker = &d
			r.lifecycle = pkgapi.LifecycleDeletionProposed
		}
	}
	if repair {
		p.revs = e.repair(ctx, repo, path, p.revs, latest)
	}
	sort.Slice(p.revs, func(i, j int) bool { return p.revs[i].tag < p.revs[j].tag })
	return p, nil
}

// emitPackageChanges sends watch events for what differs between two loads of
// a package (old may be nil): new, changed and vanished revisions, and the
// revision that lost the latest-revision label.
func (e *Engine) emitPackageChanges(rs *repoState, old, cur *pkgState) {
	before := map[string]pkgapi.PackageRevision{}
	if old != nil {
		latest := old.latest()
		for _, r := range old.revs {
			pr := toPackageRevision(rs, old, r, latest)
			before[pr.Name] = pr
		}
	}
	latest := cur.latest()
	// Events carry what a get shows, upgradeAvailable included; the writer
	// may hold a package lock, so other packages are read without locking.
	u := e.upgrades(context.Background())
	u.peek = true
	for _, r := range cur.revs {
		pr := toPackageRevision(rs, cur, r, latest)
		pr.Status.UpgradeAvailable = u.of(rs.obj.Namespace, pr.Spec.Upstream)
		prev, ok := before[pr.Name]
		delete(before, pr.Name)
		switch {
		case !ok:
			e.hub.emit("ADDED", pkgapi.PackageRevisionKind, &pr)
		case prev.ResourceVersion != pr.ResourceVersion || prev.Labels[pkgapi.LatestRevisionLabel] != pr.Labels[pkgapi.LatestRevisionLabel]:
			e.hub.emit("MODIFIED", pkgapi.PackageRevisionKind, &pr)
		}
	}
	names := make([]string, 0, len(before))
	for n := range before {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		pr := before[n]
		e.hub.emit("DELETED", pkgapi.PackageRevisionKind, &pr)
	}
	// A known package's newest revision changed: its downstreams may upgrade.
	// (Not on first loads: discovery would scan the namespace per package.)
	if old != nil && cur.latest() != old.latest() {
		e.emitDownstreams(rs, cur)
	}
}

// emitDownstreams sends MODIFIED for the revisions, known to the index, whose
// upstream is a revision of p: a new published revision of p changes their
// status.upgradeAvailable. It reads the index only (the caller may hold a lock).
func (e *Engine) emitDownstreams(rs *repoState, p *pkgState) {
	e.mu.RLock()
	var states []*repoState
	for k, other := range e.repos {
		if k.namespace == rs.obj.Namespace {
			states = append(states, other)
		}
	}
	e.mu.RUnlock()
	prefix := p.target + "." + rs.obj.Name + "." + strings.ReplaceAll(p.realm, "/", ":") + "." + p.name + "."
	u := e.upgrades(context.Background())
	u.peek = true
	for _, ds := range states {
		ds.mu.Lock()
		pkgs := make([]*pkgState, 0, len(ds.packages))
		for _, dp := range ds.packages {
			pkgs = append(pkgs, dp)
		}
		ds.mu.Unlock()
		for _, dp := range pkgs {
			latest := dp.latest()
			for _, r := range dp.revs {
				if up := r.meta.Upstream; up == nil || !strings.HasPrefix(up.Name, prefix) {
					continue
				}
				pr := toPackageRevision(ds, dp, r, latest)
				pr.Status.UpgradeAvailable = u.of(ds.obj.Namespace, pr.Spec.Upstream)
				e.hub.emit("MODIFIED", pkgapi.PackageRevisionKind, &pr)
			}
		}
	}
}

// resolve returns where tag points. With fetch, and a store that can, it
// gets the manifest in the same request and caches it.
func (e *Engine) resolve(ctx context.Context, repo store.Repository, tag string, fetch bool) (ocispec.Descriptor, error) {
	rf, ok := repo.(store.ReferenceFetcher)
	if !fetch || !ok {
		return repo.Resolve(ctx, tag)
	}
	desc, rc, err := rf.FetchReference(ctx, tag)
	if err != nil {
		return desc, err
	}
	defer rc.Close()
	data, err := content.ReadAll(rc, desc)
	if err != nil {
		return desc, fmt.Errorf("fetch %s: %w", tag, err)
	}
	e.cache.putManifest(desc.Digest, data)
	return desc, nil
}

// repair finishes writes that were interrupted (a kill between the steps of a
// publication or deletion): it drops and removes a draft or proposed manifest
// whose workspace was already published, and points `latest` at the newest vN.
// Both steps are idempotent, so replicas repairing at once agree.
func (e *Engine) repair(ctx context.Context, repo store.Repository, path string, revs []*rev, latest *ocispec.Descriptor) []*rev {
	published := map[string]bool{}
	var newest *rev
	for _, r := range revs {
		if r.n > 0 {
			published[r.meta.Workspace] = true
			if newest == nil || r.n > newest.n {
				newest = r
			}
		}
	}
	kept := revs[:0]
	for _, r := range revs {
		if _, isDraft := names.ParseWorkspaceTag(r.tag); isDraft && published[r.meta.Workspace] {
			e.log.Info("removing the draft of an already published revision", "repository", path, "tag", r.tag)
			if err := repo.Delete(ctx, r.desc); err != nil && !errors.Is(err, errdef.ErrNotFound) {
				e.log.Warn("repair failed", "repository", path, "tag", r.tag, "err", err)
			}
			continue
		}
		kept = append(kept, r)
	}
	if newest != nil && (latest == nil || latest.Digest != newest.desc.Digest) {
		e.log.Info("moving latest to the newest revision", "repository", path, "tag", newest.tag)
		if err := repo.Tag(ctx, newest.desc, names.LatestTag); err != nil {
			e.log.Warn("repair failed", "repository", path, "tag", names.LatestTag, "err", err)
		}
	}
	return kept
}

// newRev reads a revision from its tag and manifest, applying the documented
// defaults to what an artifact pushed by another tool leaves out.
func newRev(tag string, desc ocispec.Descriptor, m ocispec.Manifest) *rev {
	r := &rev{tag: tag, desc: desc, meta: format.Decode(m.Annotations)}
	if ws, ok := names.ParseWorkspaceTag(tag); ok {
		r.meta.Workspace = ws
		r.meta.Revision = ""
		r.lifecycle = pkgapi.LifecycleDraft
		if r.meta.Lifecycle == pkgapi.LifecycleProposed {
			r.lifecycle = pkgapi.LifecycleProposed
		}
		return r
	}
	r.lifecycle = pkgapi.LifecyclePublished
	r.meta.Revision = tag
	if n, ok := names.ParseRevision(tag); ok {
		r.n = n
	}
	if r.meta.Workspace == "" || names.ValidateWorkspace(r.meta.Workspace) != nil {
		r.meta.Workspace = sanitizeWorkspace(tag)
	}
	return r
}

// sanitizeWorkspace turns a tag into a workspace name: lowercase, [a-z0-9-].
func sanitizeWorkspace(tag string) string {
	b := []byte(strings.ToLower(tag))
	for i, c := range b {
		if !(c >= 'a' && c <= 'z' || c >= '0' && c <= '9') {
			b[i] = '-'
		}
	}
	s := strings.Trim(string(b), "-")
	if len(s) > 63 {
		s = strings.Trim(s[:63], "-")
	}
	if s == "" {
		s = "rev"
	}
	return s
}

// next returns the number the next published revision gets.
func (p *pkgState) next() int { return max(p.latest(), p.deletedMax) + 1 }

// latest returns the highest N among published revisions, 0 if none.
func (p *pkgState) latest() int {
	n := 0
	for _, r := range p.revs {
		if r.n > n {
			n = r.n
		}
	}
	return n
}

// byWorkspace finds a revision of the package.
func (p *pkgState) byWorkspace(ws string) *rev {
	for _, r := range p.revs {
		if r.meta.Workspace == ws {
			return r
		}
	}
	return nil
}
