package engine

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"slices"
	"sort"
	"strings"

	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
	"golang.org/x/sync/errgroup"
	"oras.land/oras-go/v2/content"

	configapi "pkgserver.dev/pkgserver/api/config/v1alpha1"
	"pkgserver.dev/pkgserver/pkg/coord"
	"pkgserver.dev/pkgserver/pkg/errdef"
	"pkgserver.dev/pkgserver/pkg/format"
	"pkgserver.dev/pkgserver/pkg/names"
	"pkgserver.dev/pkgserver/pkg/store"
)

// discoveryParallelism bounds concurrent package reads against one registry.
const discoveryParallelism = 8

// A scan reads registries and publishes what differs from the index; it
// never writes to a registry. Packages pushed by other tools enter the feed
// this way, like every other change.

// load brings the index up to the registries at start.
func (e *Engine) load(ctx context.Context) error {
	if err := e.syncRepositories(ctx); err != nil {
		return fmt.Errorf("read Repository objects: %w", err)
	}
	if err := e.recoverAll(ctx); err != nil {
		return err
	}
	e.scanAll(ctx)
	return nil
}

// Rescan lists every registry again, so that packages pushed or changed by
// others appear (with watch events).
func (e *Engine) Rescan(ctx context.Context) error {
	if err := e.wait(ctx); err != nil {
		return err
	}
	if err := e.syncRepositories(ctx); err != nil {
		return err
	}
	e.scanAll(ctx)
	return nil
}

func (e *Engine) scanAll(ctx context.Context) {
	for _, rs := range e.repoStates("") {
		if err := e.scanRepository(ctx, rs); err != nil {
			e.log.Warn("scanning repository failed", "namespace", rs.key.namespace, "repository", rs.key.name, "err", err)
		}
	}
}

// RefreshRepository lists one repository's registry again, on demand.
func (e *Engine) RefreshRepository(ctx context.Context, namespace, name string) (*configapi.Repository, error) {
	if err := e.wait(ctx); err != nil {
		return nil, err
	}
	rs, err := e.repoState(namespace, name)
	if err != nil {
		return nil, err
	}
	err = e.scanRepository(ctx, rs)
	r, gerr := e.GetRepository(ctx, namespace, name)
	if gerr != nil {
		return nil, gerr
	}
	if err != nil {
		return r, fmt.Errorf("refresh repository %q: %w", name, err)
	}
	return r, nil
}

// syncRepositories publishes the Repository objects of the config store
// that differ from the index.
func (e *Engine) syncRepositories(ctx context.Context) error {
	objs, err := e.config.list(ctx, e.cache)
	if err != nil {
		return err
	}
	found := map[repoKey]ocispec.Descriptor{}
	for _, o := range objs {
		ns, name, ok := strings.Cut(o.tag, ".")
		if !ok {
			continue
		}
		found[repoKey{ns, name}] = o.desc
	}
	known := map[repoKey]ocispec.Descriptor{}
	for _, rs := range e.repoStates("") {
		known[rs.key] = rs.desc
	}
	keys := slices.Collect(maps.Keys(found))
	for k := range known {
		if _, ok := found[k]; !ok {
			keys = append(keys, k)
		}
	}
	slices.SortFunc(keys, compareRepoKeys)
	for _, k := range keys {
		d, ok := found[k]
		if kd, known := known[k]; ok && known && kd.Digest == d.Digest {
			continue
		}
		t, err := e.lock(ctx, k.lockKey())
		if err != nil {
			return err
		}
		// Read again under the lock: a writer may have been faster.
		cur, err := e.config.lookup(ctx, e.cache, k.tag())
		if err == nil || errors.Is(err, errdef.ErrNotFound) {
			err = t.publish(ctx, e.repoRecords(k, cur))
		}
		t.unlock()
		if err != nil {
			return err
		}
	}
	return nil
}

// repoRecords returns the record that makes the index hold d as Repository
// k (a zero d: none), or nothing when it already does.
func (e *Engine) repoRecords(k repoKey, d ocispec.Descriptor) []coord.Record {
	rs, err := e.repoState(k.namespace, k.name)
	switch {
	case err != nil && d.Digest == "":
		return nil
	case err == nil && rs.desc.Digest == d.Digest:
		return nil
	case d.Digest == "":
		return []coord.Record{{Key: repoRecordKey(k)}}
	}
	b, _ := json.Marshal(ocispec.Descriptor{MediaType: d.MediaType, Digest: d.Digest, Size: d.Size})
	return []coord.Record{{Key: repoRecordKey(k), Value: b}}
}

// scanRepository lists a repository's packages and publishes what changed.
func (e *Engine) scanRepository(ctx context.Context, rs *repoState) error {
	paths, err := e.discover(ctx, rs)
	if err != nil {
		rs.status.set(err, e.opts.Now())
		return err
	}
	seen := map[string]bool{}
	for _, p := range paths {
		seen[p] = true
	}
	for _, k := range e.idx.packagesOf(rs) {
		if !seen[k.path] {
			paths = append(paths, k.path) // gone, or not listed: read it to know
		}
	}
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(discoveryParallelism)
	for _, p := range paths {
		g.Go(func() error { return e.syncPackage(gctx, rs.store, rs.pkgKey(p)) })
	}
	err = g.Wait()
	rs.status.set(err, e.opts.Now())
	return err
}

// syncPackage reads a package and, if it differs from the index, publishes
// the difference under the package's lock.
func (e *Engine) syncPackage(ctx context.Context, s store.Store, k pkgKey) error {
	if known := e.idx.tagsOf(k); len(known) > 0 {
		tags, err := e.readTags(ctx, s, k)
		if err != nil {
			return err
		}
		if len(diffRecords(k, known, tags)) == 0 && !e.idx.incomplete(k) {
			return nil
		}
	} else {
		// A package the index has no tags of is read once, under its lock,
		// if it has a tag to read: reading it to compare first would read
		// its manifests twice at a start.
		tags, err := e.listTags(ctx, s, k)
		if err != nil || len(tags) == 0 {
			return err
		}
	}
	t, err := e.lock(ctx, k.String())
	if err != nil {
		return err
	}
	defer t.unlock()
	return e.syncLocked(ctx, t.main, s, k)
}

// syncLocked publishes package k as its registry has it now; the caller
// holds its lock as h. It also clears h's intent.
func (e *Engine) syncLocked(ctx context.Context, h coord.Held, s store.Store, k pkgKey) error {
	tags, err := e.readTags(ctx, s, k)
	if err != nil {
		return err
	}
	recs := diffRecords(k, e.idx.tagsOf(k), tags)
	if len(recs) == 0 && e.idx.incomplete(k) {
		// Same tags, but manifests the index could not read: say them again.
		for _, tag := range slices.Sorted(maps.Keys(tags)) {
			if isRevisionTag(tag) {
				recs = append(recs, coord.Record{Key: tagKey(k, tag), Value: encodeDesc(tag, tags[tag])})
			}
		}
	}
	return e.publish(ctx, h, recs)
}

// readTags reads where every tracked tag of an OCI repository points. A
// repository that does not exist has no tags.
func (e *Engine) readTags(ctx context.Context, s store.Store, k pkgKey) (tagMap, error) {
	path := k.path
	repo, err := s.Repository(ctx, path)
	if err != nil {
		return nil, err
	}
	all, err := listTracked(ctx, repo, path)
	if err != nil {
		return nil, err
	}
	out := tagMap{}
	for _, tag := range all {
		switch {
		case isTombstone(tag):
			out[tag] = ocispec.Descriptor{}
			continue
		}
		var d ocispec.Descriptor
		if k.store == embeddedStore && isRevisionTag(tag) {
			// Resolving a local tag costs nothing; its manifest is read
			// only when the index does not know it already.
			if d, err = repo.Resolve(ctx, tag); err == nil && !e.idx.knows(k, d.Digest) && e.seeded(d.Digest) == nil {
				d, err = e.resolve(ctx, repo, tag)
			}
		} else {
			d, err = e.resolve(ctx, repo, tag)
		}
		if errors.Is(err, errdef.ErrNotFound) {
			continue // removed meanwhile
		}
		if err != nil {
			return nil, fmt.Errorf("resolve %s:%s: %w", path, tag, err)
		}
		data := d.Data
		d = normalize(tag, d)
		d.Data = data
		out[tag] = d
	}
	return out, nil
}

// listTags returns the tags of package k that pkgserver tracks.
func (e *Engine) listTags(ctx context.Context, s store.Store, k pkgKey) ([]string, error) {
	repo, err := s.Repository(ctx, k.path)
	if err != nil {
		return nil, err
	}
	return listTracked(ctx, repo, k.path)
}

// listTracked lists the tags of repo at path that pkgserver tracks; none
// when the repository does not exist.
func listTracked(ctx context.Context, repo store.Repository, path string) ([]string, error) {
	var out []string
	err := repo.Tags(ctx, "", func(t []string) error {
		for _, tag := range t {
			if tracked(tag) {
				out = append(out, tag)
			}
		}
		return nil
	})
	if errors.Is(err, errdef.ErrNotFound) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("list tags of %s: %w", path, err)
	}
	return out, nil
}

// resolve returns where tag points; with a store that can, it gets the
// manifest in the same request and caches it for the index.
func (e *Engine) resolve(ctx context.Context, repo store.Repository, tag string) (ocispec.Descriptor, error) {
	rf, ok := repo.(store.ReferenceFetcher)
	if !ok || !isRevisionTag(tag) {
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
	desc.Data = data // the record carries it to every replica
	return desc, nil
}

// discover lists the OCI repositories under the repository's prefix.
// Registries without the _catalog API (or that refuse it) fall back to the
// package index pkgserver keeps there and to spec.oci.packages.
func (e *Engine) discover(ctx context.Context, rs *repoState) ([]string, error) {
	paths, err := e.catalog(ctx, rs)
	ok := err == nil
	rs.status.mu.Lock()
	rs.status.catalogOK = &ok
	rs.status.mu.Unlock()
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

// catalog lists the OCI repositories under the prefix with _catalog.
func (e *Engine) catalog(ctx context.Context, rs *repoState) ([]string, error) {
	l, ok := rs.store.(store.Lister)
	if !ok {
		return nil, fmt.Errorf("%w: the registry cannot list repositories", errdef.ErrUnavailable)
	}
	start, pfx := "", ""
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
			if _, _, _, err := names.FromOCIPath(rs.prefix, r, rs.deployment); err == nil {
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
		if _, _, _, err := names.FromOCIPath(rs.prefix, p, rs.deployment); err == nil {
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

// needsIndex reports whether new packages must be recorded in the package
// index: only where _catalog cannot find them. One probe per repository.
func (e *Engine) needsIndex(ctx context.Context, rs *repoState) bool {
	if rs.embedded {
		return false
	}
	rs.status.mu.Lock()
	known := rs.status.catalogOK
	rs.status.mu.Unlock()
	if known == nil {
		l, ok := rs.store.(store.Lister)
		works := ok
		if ok {
			stop := errors.New("one page is enough")
			err := l.Repositories(ctx, "", func([]string) error { return stop })
			works = err == nil || errors.Is(err, stop)
		}
		rs.status.mu.Lock()
		rs.status.catalogOK = &works
		rs.status.mu.Unlock()
		known = &works
	}
	return !*known
}

// recordPackage adds a new package to the index of a remote repository, so
// it is found again on registries without _catalog. Replicas adding at the
// same instant hold the index's lock.
func (e *Engine) recordPackage(ctx context.Context, rs *repoState, path string) error {
	t, err := e.lock(ctx, rs.pkgKey(joinPath(rs.prefix, format.IndexRepository)).String())
	if err != nil {
		return err
	}
	defer t.unlock()
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
