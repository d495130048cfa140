package engine

import (
	"context"
	"strconv"

	"github.com/google/btree"
	"k8s.io/apimachinery/pkg/fields"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/selection"

	pkgapi "pkgserver.dev/pkgserver/api/pkg/v1alpha1"
)

// Position is where a page of a list ended: lists are sorted by namespace,
// then name.
type Position struct{ Namespace, Name string }

// ListOptions select a page of PackageRevisions.
type ListOptions struct {
	Namespace string // "" for all
	After     Position
	Limit     int // 0 for everything
	Labels    labels.Selector
	Fields    fields.Selector
}

// RevisionPage is one page of a list, consistent with ResourceVersion.
type RevisionPage struct {
	ResourceVersion string
	Items           []Revision
	// More says a next page exists: it starts after the last item.
	More bool
}

// Revision is a PackageRevision of a page; it encodes itself on demand.
type Revision struct{ s snap }

func (r Revision) Namespace() string { return r.s.repo.key.namespace }
func (r Revision) Name() string      { return r.s.name() }

// Object builds the API object; the caller owns it.
func (r Revision) Object() *pkgapi.PackageRevision { return render(r.s) }

// AppendJSON appends the object's JSON, as encoding/json writes Object().
func (r Revision) AppendJSON(b []byte) []byte { return appendJSON(b, r.s) }

// RevisionPager lists package revisions page by page from the index, with
// selectors answered from secondary indexes where they can be.
type RevisionPager interface {
	ListRevisionPage(ctx context.Context, opts ListOptions) (*RevisionPage, error)
}

var _ RevisionPager = (*Engine)(nil)

// ListRevisionPage implements RevisionPager.
func (e *Engine) ListRevisionPage(ctx context.Context, opts ListOptions) (*RevisionPage, error) {
	if err := e.wait(ctx); err != nil {
		return nil, err
	}
	x := e.idx
	x.mu.RLock()
	defer x.mu.RUnlock()
	page := &RevisionPage{ResourceVersion: formatRV(x.listRV())}
	tree := x.narrowest(opts)
	if opts.Namespace == "" && opts.After == (Position{}) && (opts.Labels == nil || opts.Labels.Empty()) && (opts.Fields == nil || opts.Fields.Empty()) {
		// Every object is in: sized once (a list of a million grew its
		// slice through 250 MB of copies). Not a page that continues: how
		// many follow its start is not known, and near the end of a large
		// list tree.Len() would be far too many.
		n := tree.Len()
		if opts.Limit > 0 {
			n = min(n, opts.Limit)
		}
		page.Items = make([]Revision, 0, n)
	}
	pivot := &object{ns: opts.Namespace}
	if opts.After != (Position{}) {
		pivot = &object{ns: opts.After.Namespace, name: opts.After.Name + "\x00"}
	}
	tree.AscendGreaterOrEqual(pivot, func(o *object) bool {
		if opts.Namespace != "" && o.ns != opts.Namespace {
			return o.ns < opts.Namespace
		}
		if !o.matches(opts) {
			return true
		}
		if opts.Limit > 0 && len(page.Items) == opts.Limit {
			page.More = true
			return false
		}
		page.Items = append(page.Items, Revision{o.snap()})
		return true
	})
	return page, nil
}

// matches applies the selectors to an object, without building it.
func (o *object) matches(opts ListOptions) bool {
	if opts.Labels != nil && !opts.Labels.Empty() && !opts.Labels.Matches(objLabels{o}) {
		return false
	}
	return opts.Fields == nil || opts.Fields.Empty() || opts.Fields.Matches(snapFields(o.snap()))
}

// objLabels are an object's labels (labels.Labels) without a map.
type objLabels struct{ o *object }

func (l objLabels) Get(key string) string {
	v, _ := l.Lookup(key)
	return v
}

func (l objLabels) Has(key string) bool {
	_, ok := l.Lookup(key)
	return ok
}

func (l objLabels) Lookup(key string) (string, bool) {
	s := l.o.snap()
	if key == pkgapi.LatestRevisionLabel && s.latest() {
		return "true", true
	}
	u := s.rev.m.x().userLabels
	for i := 0; i+1 < len(u); i += 2 {
		if u[i] == key {
			return u[i+1], true
		}
	}
	return "", false
}

// Secondary indexes: the fields that select few objects out of many.
const (
	idxLifecycle = "spec.lifecycle"
	idxPackage   = "spec.packageRevID.package"
	idxUpstream  = "spec.upstream.name"
	idxLatest    = "label:" + pkgapi.LatestRevisionLabel
)

// indexKeys are the secondary index entries of an object.
func indexKeys(o *object) [4][2]string {
	latest := ""
	if o.snap().latest() {
		latest = "true"
	}
	return [4][2]string{
		{idxLifecycle, string(o.rev.lifecycle)},
		{idxPackage, revID(o.repo, o.pkg, o.rev).Package},
		{idxUpstream, o.rev.m.x().upstreamName},
		{idxLatest, latest},
	}
}

// indexObject adds o to the secondary indexes.
func (x *index) indexObject(o *object) {
	for _, k := range indexKeys(o) {
		if k[1] == "" {
			continue
		}
		byValue := x.secondary[k[0]]
		if byValue == nil {
			byValue = map[string]*btree.BTreeG[*object]{}
			x.secondary[k[0]] = byValue
		}
		t := byValue[k[1]]
		if t == nil {
			t = btree.NewG(32, objLess)
			byValue[k[1]] = t
		}
		t.ReplaceOrInsert(o)
	}
}

// unindexObject removes o from the secondary indexes; o must not have
// changed since it was indexed (its keys are computed again).
func (x *index) unindexObject(o *object) {
	for _, k := range indexKeys(o) {
		if t := x.secondary[k[0]][k[1]]; t != nil {
			t.Delete(o)
			if t.Len() == 0 {
				delete(x.secondary[k[0]], k[1])
			}
		}
	}
}

// narrowest returns the smallest ordered set the selectors allow: a
// secondary index when one of them asks an indexed field for one value.
func (x *index) narrowest(opts ListOptions) *btree.BTreeG[*object] {
	best := x.objs
	try := func(field, value string) {
		t := x.secondary[field][value]
		if t == nil {
			t = btree.NewG(2, objLess) // nothing has that value
		}
		if t.Len() < best.Len() {
			best = t
		}
	}
	if opts.Fields != nil {
		for _, r := range opts.Fields.Requirements() {
			if r.Operator != selection.Equals && r.Operator != selection.DoubleEquals {
				continue
			}
			switch r.Field {
			case idxLifecycle, idxPackage, idxUpstream:
				if r.Value != "" {
					try(r.Field, r.Value)
				}
			}
		}
	}
	if opts.Labels != nil {
		if reqs, ok := opts.Labels.Requirements(); ok {
			for _, r := range reqs {
				if r.Key() == pkgapi.LatestRevisionLabel && (r.Operator() == selection.Equals || r.Operator() == selection.DoubleEquals) &&
					r.Values().Len() == 1 && r.Values().Has("true") {
					try(idxLatest, "true")
				}
			}
		}
	}
	return best
}

// The fields a PackageRevision can be selected by, in one table for the
// API objects and the index's own.
var revisionFields = []struct {
	name string
	get  func(v *revisionValues) string
}{
	{"metadata.name", func(v *revisionValues) string { return v.name }},
	{"metadata.namespace", func(v *revisionValues) string { return v.namespace }},
	{"spec.packageRevID.target", func(v *revisionValues) string { return v.id.Target }},
	{"spec.packageRevID.repository", func(v *revisionValues) string { return v.id.Repository }},
	{"spec.packageRevID.realm", func(v *revisionValues) string { return v.id.Realm }},
	{"spec.packageRevID.package", func(v *revisionValues) string { return v.id.Package }},
	{"spec.packageRevID.workspace", func(v *revisionValues) string { return v.id.Workspace }},
	{"spec.packageRevID.revision", func(v *revisionValues) string { return v.id.Revision }},
	{"spec.lifecycle", func(v *revisionValues) string { return string(v.lifecycle) }},
	{"spec.upstream.name", func(v *revisionValues) string { return v.upstream }},
	{"status.upgradeAvailable", func(v *revisionValues) string { return strconv.FormatBool(v.upgrade) }},
}

type revisionValues struct {
	name, namespace string
	id              pkgapi.PackageRevID
	lifecycle       pkgapi.Lifecycle
	upstream        string
	upgrade         bool
}

// RevisionFields are the field selector values of a PackageRevision.
func RevisionFields(pr *pkgapi.PackageRevision) fields.Set {
	v := &revisionValues{name: pr.Name, namespace: pr.Namespace, id: pr.Spec.PackageRevID, lifecycle: pr.Spec.Lifecycle,
		upgrade: pr.Status.UpgradeAvailable != nil}
	if pr.Spec.Upstream != nil {
		v.upstream = pr.Spec.Upstream.Name
	}
	out := make(fields.Set, len(revisionFields))
	for _, f := range revisionFields {
		out[f.name] = f.get(v)
	}
	return out
}

// snapFields are a snap's field selector values (fields.Fields).
type snapFields snap

func (f snapFields) values() *revisionValues {
	s := snap(f)
	id := revID(s.repo, s.pkg, s.rev)
	return &revisionValues{name: id.Name(), namespace: s.repo.key.namespace,
		id:        pkgapi.PackageRevID{Target: id.Target, Repository: id.Repository, Realm: id.Realm, Package: id.Package, Workspace: id.Workspace, Revision: s.rev.revision},
		lifecycle: s.rev.lifecycle, upstream: s.rev.m.x().upstreamName, upgrade: s.upgrade != nil}
}

func (f snapFields) Has(field string) bool {
	for _, x := range revisionFields {
		if x.name == field {
			return true
		}
	}
	return false
}

func (f snapFields) Get(field string) string {
	for _, x := range revisionFields {
		if x.name == field {
			return x.get(f.values())
		}
	}
	return ""
}

// snaps returns the objects of a namespace ("" = all) in name order.
func (x *index) snaps(namespace string) []snap {
	x.mu.RLock()
	defer x.mu.RUnlock()
	var out []snap
	visit := func(o *object) bool {
		if namespace != "" && o.ns != namespace {
			return false
		}
		out = append(out, o.snap())
		return true
	}
	if namespace == "" {
		x.objs.Ascend(visit)
	} else {
		x.objs.AscendGreaterOrEqual(&object{ns: namespace}, visit)
	}
	return out
}

// ListPackageRevisions implements Service.
func (e *Engine) ListPackageRevisions(ctx context.Context, namespace string) ([]pkgapi.PackageRevision, error) {
	if err := e.wait(ctx); err != nil {
		return nil, err
	}
	snaps := e.idx.snaps(namespace)
	out := make([]pkgapi.PackageRevision, len(snaps))
	for i, s := range snaps {
		out[i] = *render(s)
	}
	return out, nil
}
