package engine

import (
	"context"
	"fmt"
	"maps"

	pkgapi "pkgserver.dev/pkgserver/api/pkg/v1alpha1"
	"pkgserver.dev/pkgserver/pkg/krm"
	"pkgserver.dev/pkgserver/pkg/lifecycle"
)

// files returns the files of a revision (shared map: do not change it).
func (e *Engine) files(ctx context.Context, s snap) (map[string]string, error) {
	repo, err := s.store(ctx)
	if err != nil {
		return nil, err
	}
	return e.cache.filesOf(ctx, repo, s.rev.descriptor())
}

// ListPackageRevisionResources implements Service.
func (e *Engine) ListPackageRevisionResources(ctx context.Context, namespace string) ([]pkgapi.PackageRevisionResources, error) {
	if err := e.wait(ctx); err != nil {
		return nil, err
	}
	snaps := e.idx.snaps(namespace)
	out := make([]pkgapi.PackageRevisionResources, 0, len(snaps))
	for _, s := range snaps {
		files, err := e.files(ctx, s)
		if err != nil {
			e.log.Warn("reading resources failed", "namespace", s.repo.key.namespace, "name", s.name(), "err", err)
			continue
		}
		out = append(out, toResources(s.pr(), files))
	}
	return out, nil
}

// GetPackageRevisionResources implements Service.
func (e *Engine) GetPackageRevisionResources(ctx context.Context, namespace, name string) (*pkgapi.PackageRevisionResources, error) {
	s, err := e.find(ctx, namespace, name)
	if err != nil {
		return nil, err
	}
	files, err := e.files(ctx, s)
	if err != nil {
		return nil, err
	}
	prr := toResources(s.pr(), files)
	return &prr, nil
}

// UpdatePackageRevisionResources implements Service. Nothing is written unless
// every file passes validation.
func (e *Engine) UpdatePackageRevisionResources(ctx context.Context, in *pkgapi.PackageRevisionResources) (*pkgapi.PackageRevisionResources, error) {
	s, t, err := e.findForWrite(ctx, in.Namespace, in.Name, in.ResourceVersion)
	if err != nil {
		return nil, err
	}
	defer t.unlock()
	if err := lifecycle.CheckContents(s.rev.lifecycle); err != nil {
		return nil, fmt.Errorf("package revision %q: %w", in.Name, err)
	}
	if err := krm.Validate(in.Spec.Resources, krm.WithLimits(e.opts.Package)); err != nil {
		return nil, err
	}
	files := in.Spec.Resources
	if files == nil {
		files = map[string]string{}
	}
	cur, err := e.files(ctx, s)
	if err != nil {
		return nil, err
	}
	pr := s.pr()
	if !maps.Equal(cur, files) {
		out, err := e.rewrite(ctx, t, s, s.rev.fullMeta(), maps.Clone(files))
		if err != nil {
			return nil, err
		}
		pr = *out
	}
	prr := toResources(pr, files)
	return &prr, nil
}
