package engine

import (
	"context"
	"log/slog"
	"maps"
	"slices"
	"strings"
	"sync"

	"github.com/google/btree"
	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"

	configapi "pkgserver.dev/pkgserver/api/config/v1alpha1"
	pkgapi "pkgserver.dev/pkgserver/api/pkg/v1alpha1"
	"pkgserver.dev/pkgserver/pkg/coord"
	"pkgserver.dev/pkgserver/pkg/names"
)

// index is the engine's view of the shared state: what the feed has said so
// far and the API objects that makes. Only apply changes it, one batch at a
// time in feed order, so every replica that applies the same batches holds
// the same objects with the same resourceVersions; everything else reads.
type index struct {
	log *slog.Logger

	mu    sync.RWMutex
	seq   uint64 // last batch applied
	repos map[repoKey]*repoState
	pkgs  map[pkgKey]*pkgState
	objs  *btree.BTreeG[*object] // every PackageRevision, by namespace and name
	// byRepoPkg holds the objects one repository makes of one package.
	byRepoPkg map[repoKey]map[pkgKey][]*object
	// secondary indexes: field -> value -> the objects with it (views.go).
	secondary map[string]map[string]*btree.BTreeG[*object]
	// upgrades shares the status.upgradeAvailable values.
	upgrades map[pkgapi.UpstreamRevision]*pkgapi.UpstreamRevision
	// packages maps a package name key (see packageName) to where it is, for
	// upstream lookups.
	packages map[string]repoPkg
	// downstream maps a package name key to the objects whose upstream is a
	// revision of that package.
	downstream map[string]map[*object]struct{}
	hub        *hub

	appliedMu sync.Mutex
	applied   chan struct{} // closed and replaced after every batch
}

type repoPkg struct {
	repo *repoState
	pkg  *pkgState
}

// object is one PackageRevision: a revision of a package seen through one
// Repository. Its fields change only under index.mu held for writing; its
// API form is rendered when asked for (render.go), not kept.
type object struct {
	ns, name string
	repo     *repoState
	pkg      *pkgState
	rev      *rev
	rv       uint64                   // of its last change
	created  uint64                   // rv of its ADDED event
	upgrade  *pkgapi.UpstreamRevision // status.upgradeAvailable, shared
}

// snap returns what o shows now, for use after the lock is released.
func (o *object) snap() snap {
	return snap{repo: o.repo, pkg: o.pkg, rev: o.rev, rv: o.rv, upgrade: o.upgrade}
}

func objLess(a, b *object) bool {
	if a.ns != b.ns {
		return a.ns < b.ns
	}
	return a.name < b.name
}

func newIndex(window int, seq uint64, log *slog.Logger) *index {
	return &index{
		log: log, seq: seq, repos: map[repoKey]*repoState{}, pkgs: map[pkgKey]*pkgState{},
		objs:      btree.NewG(32, objLess),
		byRepoPkg: map[repoKey]map[pkgKey][]*object{}, packages: map[string]repoPkg{},
		upgrades:   map[pkgapi.UpstreamRevision]*pkgapi.UpstreamRevision{},
		secondary:  map[string]map[string]*btree.BTreeG[*object]{},
		downstream: map[string]map[*object]struct{}{},
		hub:        newHub(window, endOf(seq)), applied: make(chan struct{}),
	}
}

// listRV is the resourceVersion of the whole index: the end of the last batch.
func (x *index) listRV() uint64 { return endOf(x.seq) }

func (x *index) current() uint64 {
	x.mu.RLock()
	defer x.mu.RUnlock()
	return x.seq
}

// waitApplied blocks until batch seq is applied or ctx ends.
func (x *index) waitApplied(ctx context.Context, seq uint64) error {
	for {
		x.appliedMu.Lock()
		ch := x.applied
		x.appliedMu.Unlock()
		if x.current() >= seq {
			return nil
		}
		select {
		case <-ch:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
}

// tagsOf returns the tags the index knows of a package (nil if none). The map
// is shared: do not change it.
func (x *index) tagsOf(k pkgKey) tagMap {
	x.mu.RLock()
	defer x.mu.RUnlock()
	if p, ok := x.pkgs[k]; ok {
		return p.tagMap()
	}
	return nil
}

// batchInput is what applying a batch needs from outside the index, read
// before the index is locked: the manifests and Repository objects it names.
type batchInput struct {
	manifests map[digest.Digest]*revMeta
	repoObjs  map[digest.Digest]*configapi.Repository
	newRepo   func(configapi.Repository, ocispec.Descriptor) (*repoState, error)
}

// emitter collects and numbers the events of one batch. A quiet one only
// numbers them: nobody watches an index being restored.
type emitter struct {
	seq   uint64
	n     uint64
	quiet bool
	evs   []Event
}

func (em *emitter) next() uint64 {
	em.n++
	return em.seq<<rvShift | min(em.n, rvMask-1)
}

func (em *emitter) emit(typ, kind string, obj any, rv uint64) {
	if !em.quiet {
		em.evs = append(em.evs, Event{Type: typ, Kind: kind, Object: obj, ResourceVersion: rv})
	}
}

// modified sends MODIFIED with the object's previous state.
func (em *emitter) modified(kind string, obj, old any, rv uint64) {
	if !em.quiet {
		em.evs = append(em.evs, Event{Type: "MODIFIED", Kind: kind, Object: obj, Old: old, ResourceVersion: rv})
	}
}

// revision sends the event of a PackageRevision: ADDED when before is
// empty, DELETED when now is, else MODIFIED. Objects are rendered only for
// a batch that is sent.
func (em *emitter) revision(now, before snap, rv uint64) {
	switch {
	case em.quiet:
	case before.rev == nil:
		em.emit("ADDED", pkgapi.PackageRevisionKind, render(now), rv)
	case now.rev == nil:
		em.emit("DELETED", pkgapi.PackageRevisionKind, deleted(before, rv), rv)
	default:
		em.modified(pkgapi.PackageRevisionKind, render(now), render(before), rv)
	}
}

// apply applies one batch and sends its events.
func (x *index) apply(b coord.Batch, in batchInput) {
	x.mu.Lock()
	em := &emitter{seq: b.Seq}
	byPkg := map[pkgKey]tagMap{}
	var order []pkgKey
	for _, r := range b.Records {
		if k, ok := parseRepoKey(r.Key); ok {
			x.applyRepo(em, k, r.Value, in)
			continue
		}
		k, tag, ok := parseTagKey(r.Key)
		if !ok {
			continue
		}
		tags, seen := byPkg[k]
		if !seen {
			tags = tagMap{}
			if p, ok := x.pkgs[k]; ok {
				tags = p.tagMap()
			}
			byPkg[k] = tags
			order = append(order, k)
		}
		if r.Value == nil {
			delete(tags, tag)
		} else if d, ok := decodeDesc(r.Value); ok {
			tags[tag] = normalize(tag, d)
		}
	}
	for _, k := range order {
		x.setPackage(em, k, byPkg[k], in.manifests)
	}
	x.seq = b.Seq
	// The hub moves with the index: a watch that starts at the index's
	// resourceVersion finds exactly the events after it.
	x.hub.append(em.evs, endOf(b.Seq))
	x.mu.Unlock()
	x.appliedMu.Lock()
	close(x.applied)
	x.applied = make(chan struct{})
	x.appliedMu.Unlock()
}

// setPackage replaces the tags of a package and updates its objects.
func (x *index) setPackage(em *emitter, k pkgKey, tags tagMap, manifests map[digest.Digest]*revMeta) {
	old := x.pkgs[k]
	known := map[digest.Digest]*revMeta{}
	if old != nil {
		for _, r := range old.manifestRevs() {
			known[r.digest] = r.m
		}
	}
	p := derive(k, tags, func(d ocispec.Descriptor) (*revMeta, bool) {
		if m, ok := known[d.Digest]; ok {
			return m, true
		}
		m, ok := manifests[d.Digest]
		return m, ok
	})
	x.putPackage(em, p, x.sortedRepos())
}

// putPackage makes p the state of its package and updates the objects of
// repos (all of them, sorted) to agree.
func (x *index) putPackage(em *emitter, p *pkgState, repos []*repoState) {
	k := p.key
	if len(p.missing) > 0 {
		x.log.Warn("revisions left out: their manifests cannot be read", "package", k.String(), "tags", p.missing)
	}
	if len(p.shadowed) > 0 {
		var tags []string
		for _, r := range p.shadowed {
			tags = append(tags, r.tag)
		}
		x.log.Warn("drafts left out: a published revision has their workspace (pushed behind pkgserver?)", "package", k.String(), "tags", tags)
	}
	if len(p.entries) == 0 {
		delete(x.pkgs, k)
		p = nil
	} else {
		x.pkgs[k] = p
	}
	for _, rs := range repos {
		x.setObjects(em, rs, k, p)
	}
}

func (x *index) sortedRepos() []*repoState {
	out := slices.Collect(maps.Values(x.repos))
	slices.SortFunc(out, func(a, b *repoState) int { return compareRepoKeys(a.key, b.key) })
	return out
}

func compareRepoKeys(a, b repoKey) int {
	if c := strings.Compare(a.namespace, b.namespace); c != 0 {
		return c
	}
	return strings.Compare(a.name, b.name)
}

// setObjects makes the objects repository rs shows of package k agree with
// p (nil: none), sending an event for each that changed.
func (x *index) setObjects(em *emitter, rs *repoState, k pkgKey, p *pkgState) {
	old := x.byRepoPkg[rs.key][k]
	byName := make(map[string]*object, len(old))
	oldNewest := 0
	for _, o := range old {
		byName[o.name] = o
		oldNewest = max(oldNewest, newestPublished(o))
	}
	var cur []*object
	if p != nil && rs.covers(k) {
		if target, realm, pkg, err := names.FromOCIPath(rs.prefix, k.path, rs.deployment); err == nil {
			for _, r := range p.revs {
				id := names.ID{Target: target, Repository: rs.key.name, Realm: realm, Package: pkg, Workspace: r.workspace}
				o := byName[id.Name()]
				delete(byName, id.Name())
				var before snap
				if o == nil {
					o = &object{ns: rs.key.namespace, name: id.Name()}
				} else {
					before = o.snap()
					x.unlinkUpstream(o)
					x.unindexObject(o)
				}
				o.repo, o.pkg, o.rev = rs, p, r
				o.upgrade = x.upgradeOf(o)
				if before.rev == nil || before.shows() != o.snap().shows() {
					o.rv = em.next()
					if before.rev == nil {
						o.created = o.rv
						em.revision(o.snap(), snap{}, o.rv)
					} else {
						em.revision(o.snap(), before, o.rv)
					}
				}
				x.objs.ReplaceOrInsert(o)
				x.linkUpstream(o)
				x.indexObject(o)
				cur = append(cur, o)
			}
		}
	}
	for _, o := range old {
		if byName[o.name] == o {
			x.objs.Delete(o)
			x.unlinkUpstream(o)
			x.unindexObject(o)
			rv := em.next()
			em.revision(snap{}, o.snap(), rv)
		}
	}
	key := ""
	if len(old) > 0 {
		key = packageName(old[0])
		delete(x.packages, key)
	}
	newNewest := 0
	if len(cur) > 0 {
		if x.byRepoPkg[rs.key] == nil {
			x.byRepoPkg[rs.key] = map[pkgKey][]*object{}
		}
		x.byRepoPkg[rs.key][k] = cur
		key = packageName(cur[0])
		x.packages[key] = repoPkg{rs, p}
		newNewest = newestPublished(cur[0])
	} else if m := x.byRepoPkg[rs.key]; m != nil {
		delete(m, k)
	}
	// A new newest published revision changes what its downstreams may upgrade to.
	if oldNewest != newNewest {
		x.refreshDownstream(em, key)
	}
}

// newestPublished is the highest N of a published revision of o's package.
func newestPublished(o *object) int {
	n := 0
	for _, r := range o.pkg.revs {
		if r.lifecycle == pkgapi.LifecyclePublished {
			n = max(n, r.n)
		}
	}
	return n
}

// packageName keys a package by namespace and the object name of its
// revisions without the workspace: <namespace>/<target>.<repository>.<realm>.<package>.
func packageName(o *object) string { return o.ns + "/" + nameWithoutWorkspace(o.name) }

func nameWithoutWorkspace(name string) string {
	if i := strings.LastIndexByte(name, '.'); i >= 0 {
		return name[:i]
	}
	return name
}

// upstreamKey is the package name key of an object's upstream, "" if none.
func upstreamKey(o *object) string {
	if up := o.rev.m.x().upstreamName; up != "" {
		return o.ns + "/" + nameWithoutWorkspace(up)
	}
	return ""
}

func (x *index) linkUpstream(o *object) {
	if k := upstreamKey(o); k != "" {
		if x.downstream[k] == nil {
			x.downstream[k] = map[*object]struct{}{}
		}
		x.downstream[k][o] = struct{}{}
	}
}

func (x *index) unlinkUpstream(o *object) {
	if k := upstreamKey(o); k != "" {
		delete(x.downstream[k], o)
		if len(x.downstream[k]) == 0 {
			delete(x.downstream, k)
		}
	}
}

// refreshDownstream sends MODIFIED for the downstreams of a package whose
// status.upgradeAvailable changed.
func (x *index) refreshDownstream(em *emitter, key string) {
	ds := slices.Collect(maps.Keys(x.downstream[key]))
	slices.SortFunc(ds, func(a, b *object) int {
		if objLess(a, b) {
			return -1
		}
		return 1
	})
	for _, o := range ds {
		before := o.snap()
		if o.upgrade = x.upgradeOf(o); o.upgrade != before.upgrade {
			o.rv = em.next()
			em.revision(o.snap(), before, o.rv)
		}
	}
}

// upgradeOf returns the newer published revision of o's upstream package,
// if any: one shared value per upstream revision.
func (x *index) upgradeOf(o *object) *pkgapi.UpstreamRevision {
	up := o.rev.m.upstreamRef()
	if up == nil || up.Name == "" {
		return nil
	}
	cur, ok := names.ParseRevision(up.PackageRevID.Revision)
	if !ok {
		return nil
	}
	rp, ok := x.packages[upstreamKey(o)]
	if !ok {
		return nil
	}
	var newest *rev
	for _, r := range rp.pkg.revs {
		if r.n > cur && r.lifecycle == pkgapi.LifecyclePublished && (newest == nil || r.n > newest.n) {
			newest = r
		}
	}
	if newest == nil {
		return nil
	}
	u := pkgapi.UpstreamRevision{Name: nameWithoutWorkspace(up.Name) + "." + newest.workspace, Revision: newest.tag}
	if shared, ok := x.upgrades[u]; ok {
		return shared
	}
	x.upgrades[u] = &u
	return &u
}

// applyRepo applies the record of one Repository object.
func (x *index) applyRepo(em *emitter, k repoKey, value []byte, in batchInput) {
	old := x.repos[k]
	if value == nil {
		if old == nil {
			return
		}
		x.dropRepoObjects(em, old)
		delete(x.repos, k)
		rv := em.next()
		r := x.repoObject(old, rv)
		em.emit("DELETED", configapi.RepositoryKind, &r, rv)
		return
	}
	d, ok := decodeDesc(value)
	if !ok {
		return
	}
	obj := in.repoObjs[d.Digest]
	if obj == nil {
		x.log.Warn("Repository object cannot be read; left out", "namespace", k.namespace, "name", k.name, "digest", d.Digest)
		return
	}
	if old != nil && old.desc.Digest == d.Digest {
		return
	}
	rs, err := in.newRepo(*obj, d)
	if err != nil {
		x.log.Warn("Repository object left out", "namespace", k.namespace, "name", k.name, "err", err)
		return
	}
	rv := em.next()
	rs.rv, rs.created = rv, rv
	typ := "ADDED"
	if old != nil {
		typ = "MODIFIED"
		rs.created = old.created
		if old.sameLocation(rs) {
			rs.status = old.status
			x.repos[k] = rs
			for _, objs := range x.byRepoPkg[k] {
				for _, o := range objs {
					o.repo = rs
				}
			}
			r, prev := x.repoObject(rs, rv), x.repoObject(old, old.rv)
			em.modified(configapi.RepositoryKind, &r, &prev, rv)
			return
		}
		x.dropRepoObjects(em, old)
	}
	x.repos[k] = rs
	r := x.repoObject(rs, rv)
	em.emit(typ, configapi.RepositoryKind, &r, rv)
	for _, pk := range slices.SortedFunc(maps.Keys(x.pkgs), func(a, b pkgKey) int { return strings.Compare(a.String(), b.String()) }) {
		if rs.covers(pk) {
			x.setObjects(em, rs, pk, x.pkgs[pk])
		}
	}
}

// dropRepoObjects removes every object a repository shows.
func (x *index) dropRepoObjects(em *emitter, rs *repoState) {
	keys := slices.SortedFunc(maps.Keys(x.byRepoPkg[rs.key]), func(a, b pkgKey) int { return strings.Compare(a.String(), b.String()) })
	for _, pk := range keys {
		x.setObjects(em, rs, pk, nil)
	}
	delete(x.byRepoPkg, rs.key)
}

// lookup returns the object of a name.
func (x *index) lookup(ns, name string) (*object, bool) {
	x.mu.RLock()
	defer x.mu.RUnlock()
	return x.objs.Get(&object{ns: ns, name: name})
}

// knows reports whether the index has read the manifest d of package k.
func (x *index) knows(k pkgKey, d digest.Digest) bool {
	x.mu.RLock()
	defer x.mu.RUnlock()
	if p, ok := x.pkgs[k]; ok {
		for _, r := range p.manifestRevs() {
			if r.digest == d {
				return true
			}
		}
	}
	return false
}

// packagesOf lists the packages the index knows under a repository.
func (x *index) packagesOf(rs *repoState) []pkgKey {
	x.mu.RLock()
	defer x.mu.RUnlock()
	var out []pkgKey
	for k := range x.pkgs {
		if rs.covers(k) {
			out = append(out, k)
		}
	}
	slices.SortFunc(out, func(a, b pkgKey) int { return strings.Compare(a.String(), b.String()) })
	return out
}

// incomplete reports whether some revision manifests of a package could not be read.
func (x *index) incomplete(k pkgKey) bool {
	x.mu.RLock()
	defer x.mu.RUnlock()
	p, ok := x.pkgs[k]
	return ok && len(p.missing) > 0
}

// repoStates returns the registered repositories of a namespace ("" = all), sorted.
func (x *index) repoStates(namespace string) []*repoState {
	x.mu.RLock()
	defer x.mu.RUnlock()
	var out []*repoState
	for _, rs := range x.sortedRepos() {
		if namespace == "" || rs.key.namespace == namespace {
			out = append(out, rs)
		}
	}
	return out
}

// replay returns, for a watch resuming from before the event ring, the
// current state of every object of kind changed in (from, to] and the kept
// deletions, in resourceVersion order. The caller holds x.mu and the hub's lock.
func (x *index) replay(kind string) func(from, to uint64) []Event {
	return func(from, to uint64) []Event {
		var out []Event
		add := func(obj any, rv, created uint64) {
			typ := "MODIFIED"
			if created > from {
				typ = "ADDED"
			}
			out = append(out, Event{Type: typ, Kind: kind, Object: obj, ResourceVersion: rv})
		}
		switch kind {
		case pkgapi.PackageRevisionKind:
			x.objs.Ascend(func(o *object) bool {
				if o.rv > from && o.rv <= to {
					add(render(o.snap()), o.rv, o.created)
				}
				return true
			})
		case configapi.RepositoryKind:
			for _, rs := range x.sortedRepos() {
				if rs.rv > from && rs.rv <= to {
					r := x.repoObject(rs, rs.rv)
					add(&r, rs.rv, rs.created)
				}
			}
		}
		out = append(out, x.hub.deletedSince(kind, from, to)...)
		slices.SortStableFunc(out, func(a, b Event) int {
			switch {
			case a.ResourceVersion < b.ResourceVersion:
				return -1
			case a.ResourceVersion > b.ResourceVersion:
				return 1
			}
			return 0
		})
		return out
	}
}

func sortedPkgKeys(m map[pkgKey]*pkgState) []pkgKey {
	return slices.SortedFunc(maps.Keys(m), comparePkgKeys)
}

func comparePkgKeys(a, b pkgKey) int {
	if c := strings.Compare(a.store, b.store); c != 0 {
		return c
	}
	return strings.Compare(a.path, b.path)
}

// diffState returns the records that turn the index into the state recs
// (every record of the coordinator).
func (x *index) diffState(recs []coord.Record) []coord.Record {
	x.mu.RLock()
	defer x.mu.RUnlock()
	have := map[string][]byte{}
	for k, rs := range x.repos {
		have[repoRecordKey(k)] = encodeDesc("", rs.desc)
	}
	for k, p := range x.pkgs {
		for tag, d := range p.tagMap() {
			have[tagKey(k, tag)] = encodeDesc(tag, d)
		}
	}
	var out []coord.Record
	for _, r := range recs {
		if cur, ok := have[r.Key]; !ok || string(cur) != string(r.Value) {
			out = append(out, r)
		}
		delete(have, r.Key)
	}
	for _, k := range slices.Sorted(maps.Keys(have)) {
		out = append(out, coord.Record{Key: k})
	}
	return out
}
