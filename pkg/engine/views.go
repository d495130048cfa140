package engine

import (
	"context"
	"encoding/json"
	"sort"

	pkgapi "pkgserver.dev/pkgserver/api/pkg/v1alpha1"
)

// revView is a revision as the API shows it, built once and shared read-only.
type revView struct {
	latest  int    // the package's latest N it was built with
	upgrade string // status.upgradeAvailable.name it was built with
	pr      pkgapi.PackageRevision
	json    []byte
}

// RawObject is an API object already encoded, with what lists filter on.
// Object and JSON are shared: callers must not change them.
type RawObject struct {
	Object *pkgapi.PackageRevision
	JSON   []byte
}

// RawLister lists package revisions as pre-encoded JSON, so a large list
// costs copying bytes rather than building and encoding every object.
type RawLister interface {
	ListPackageRevisionsRaw(ctx context.Context, namespace string) ([]RawObject, error)
}

// viewOf returns the cached view of r, building it when its inputs changed.
func (e *Engine) viewOf(rs *repoState, p *pkgState, r *rev, latest int, u *upgrades) *revView {
	up := u.of(rs.obj.Namespace, r.meta.Upstream)
	upName := ""
	if up != nil {
		upName = up.Name
	}
	if v := r.view.Load(); v != nil && v.latest == latest && v.upgrade == upName {
		return v
	}
	v := &revView{latest: latest, upgrade: upName, pr: toPackageRevision(rs, p, r, latest)}
	v.pr.Status.UpgradeAvailable = up
	b, err := json.Marshal(&v.pr)
	if err != nil {
		panic(err) // API types always marshal
	}
	v.json = b
	r.view.Store(v)
	return v
}

// views returns the views of every revision of namespace ("" = all), sorted
// by namespace and name.
func (e *Engine) views(ctx context.Context, namespace string) ([]*revView, error) {
	states, err := e.repositories(ctx, namespace)
	if err != nil {
		return nil, err
	}
	u := e.upgrades(ctx)
	var out []*revView
	for _, rs := range states {
		pkgs, err := e.allPackages(ctx, rs)
		if err != nil {
			e.log.Warn("listing repository failed", "namespace", rs.obj.Namespace, "repository", rs.obj.Name, "err", err)
			continue
		}
		for _, p := range pkgs {
			latest := p.latest()
			for _, r := range p.revs {
				out = append(out, e.viewOf(rs, p, r, latest, u))
			}
		}
	}
	sort.Slice(out, func(i, j int) bool {
		a, b := &out[i].pr, &out[j].pr
		if a.Namespace != b.Namespace {
			return a.Namespace < b.Namespace
		}
		return a.Name < b.Name
	})
	return out, nil
}

// ListPackageRevisionsRaw implements RawLister.
func (e *Engine) ListPackageRevisionsRaw(ctx context.Context, namespace string) ([]RawObject, error) {
	vs, err := e.views(ctx, namespace)
	if err != nil {
		return nil, err
	}
	out := make([]RawObject, len(vs))
	for i, v := range vs {
		out[i] = RawObject{Object: &v.pr, JSON: v.json}
	}
	return out, nil
}

// ListPackageRevisions implements Service. A repository whose registry fails
// is left out (its status says why) rather than failing the whole list.
func (e *Engine) ListPackageRevisions(ctx context.Context, namespace string) ([]pkgapi.PackageRevision, error) {
	vs, err := e.views(ctx, namespace)
	if err != nil {
		return nil, err
	}
	out := make([]pkgapi.PackageRevision, len(vs))
	for i, v := range vs {
		v.pr.DeepCopyInto(&out[i]) // callers own what they get
	}
	return out, nil
}
