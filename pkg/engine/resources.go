package engine

import (
	"context"
	"fmt"
	"maps"

	pkgapi "pkgserver.dev/pkgserver/api/pkg/v1alpha1"
	"pkgserver.dev/pkgserver/pkg/errdef"
	"pkgserver.dev/pkgserver/pkg/krm"
	"pkgserver.dev/pkgserver/pkg/lifecycle"
)

// files returns the files of a found revision (shared map: do not change it).
func (e *Engine) files(ctx context.Context, f found) (map[string]string, error) {
	repo, err := f.repo(ctx)
	if err != nil {
		return nil, err
	}
	return e.cache.filesOf(ctx, repo, f.r.desc)
}

// ListPackageRevisionResources implements Service.
func (e *Engine) ListPackageRevisionResources(ctx context.Context, namespace string) ([]pkgapi.PackageRevisionResources, error) {
	prs, err := e.ListPackageRevisions(ctx, namespace)
	if err != nil {
		return nil, err
	}
	out := make([]pkgapi.PackageRevisionResources, 0, len(prs))
	for _, pr := range prs {
		prr, err := e.GetPackageRevisionResources(ctx, pr.Namespace, pr.Name)
		if err != nil {
			e.log.Warn("reading resources failed", "namespace", pr.Namespace, "name", pr.Name, "err", err)
			continue
		}
		out = append(out, *prr)
	}
	return out, nil
}

// GetPackageRevisionResources implements Service.
func (e *Engine) GetPackageRevisionResources(ctx context.Context, namespace, name string) (*pkgapi.PackageRevisionResources, error) {
	return e.resourcesOf(ctx, namespace, name, "")
}

// resourcesOf reads a revision's contents; held as for find.
func (e *Engine) resourcesOf(ctx context.Context, namespace, name, held string) (*pkgapi.PackageRevisionResources, error) {
	f, err := e.find(ctx, namespace, name, held)
	if err != nil {
		return nil, err
	}
	files, err := e.files(ctx, f)
	if err != nil {
		return nil, err
	}
	prr := toResources(f.pr(), files)
	return &prr, nil
}

// UpdatePackageRevisionResources implements Service. Nothing is written unless
// every file passes validation.
func (e *Engine) UpdatePackageRevisionResources(ctx context.Context, in *pkgapi.PackageRevisionResources) (*pkgapi.PackageRevisionResources, error) {
	f, unlock, err := e.findForWrite(ctx, in.Namespace, in.Name, in.ResourceVersion)
	if err != nil {
		return nil, err
	}
	defer unlock()
	if err := lifecycle.CheckContents(f.r.lifecycle); err != nil {
		return nil, fmt.Errorf("package revision %q: %w", in.Name, err)
	}
	if err := krm.Validate(in.Spec.Resources); err != nil {
		return nil, err
	}
	files := in.Spec.Resources
	if files == nil {
		files = map[string]string{}
	}
	cur, err := e.files(ctx, f)
	if err != nil {
		return nil, err
	}
	if !maps.Equal(cur, files) {
		if _, err := e.rewrite(ctx, f, f.r.meta, maps.Clone(files)); err != nil {
			return nil, err
		}
	}
	out, err := e.resourcesOf(ctx, in.Namespace, in.Name, f.key)
	if err != nil {
		return nil, fmt.Errorf("%w: reading back %q: %v", errdef.ErrConflict, in.Name, err)
	}
	return out, nil
}
