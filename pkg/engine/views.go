package engine

import (
	"context"

	pkgapi "pkgserver.dev/pkgserver/api/pkg/v1alpha1"
)

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

// snaps returns the objects of a namespace ("" = all) in name order.
func (x *index) snaps(namespace string) []snap {
	x.mu.RLock()
	defer x.mu.RUnlock()
	var out []snap
	visit := func(o *object) bool {
		if namespace != "" && o.ns != namespace {
			return false
		}
		out = append(out, snap{repo: o.repo, pkg: o.pkg, rev: o.rev, rv: o.rv, view: o.view})
		return true
	}
	if namespace == "" {
		x.objs.Ascend(visit)
	} else {
		x.objs.AscendGreaterOrEqual(&object{ns: namespace}, visit)
	}
	return out
}

// ListPackageRevisionsRaw implements RawLister.
func (e *Engine) ListPackageRevisionsRaw(ctx context.Context, namespace string) ([]RawObject, error) {
	if err := e.wait(ctx); err != nil {
		return nil, err
	}
	snaps := e.idx.snaps(namespace)
	out := make([]RawObject, len(snaps))
	for i, s := range snaps {
		out[i] = RawObject{Object: &s.view.pr, JSON: s.view.json}
	}
	return out, nil
}

// ListPackageRevisions implements Service.
func (e *Engine) ListPackageRevisions(ctx context.Context, namespace string) ([]pkgapi.PackageRevision, error) {
	if err := e.wait(ctx); err != nil {
		return nil, err
	}
	snaps := e.idx.snaps(namespace)
	out := make([]pkgapi.PackageRevision, len(snaps))
	for i, s := range snaps {
		s.view.pr.DeepCopyInto(&out[i]) // callers own what they get
	}
	return out, nil
}
