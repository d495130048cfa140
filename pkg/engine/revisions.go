package engine

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"slices"
	"sort"
	"strings"

	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/uuid"

	pkgapi "pkgserver.dev/pkgserver/api/pkg/v1alpha1"
	"pkgserver.dev/pkgserver/pkg/errdef"
	"pkgserver.dev/pkgserver/pkg/format"
	"pkgserver.dev/pkgserver/pkg/krm"
	"pkgserver.dev/pkgserver/pkg/lifecycle"
	"pkgserver.dev/pkgserver/pkg/names"
	"pkgserver.dev/pkgserver/pkg/store"
)

// found is a revision located in the index.
type found struct {
	rs  *repoState
	p   *pkgState
	r   *rev
	key string // lock key of the package
}

func (f found) pr() pkgapi.PackageRevision { return toPackageRevision(f.rs, f.p, f.r, f.p.latest()) }

func (f found) repo(ctx context.Context) (store.Repository, error) {
	return f.rs.store.Repository(ctx, f.p.path)
}

// locate maps an identity to its repository and OCI path.
func (e *Engine) locate(ctx context.Context, namespace string, id names.ID) (*repoState, string, error) {
	rs, err := e.repository(ctx, namespace, id.Repository)
	if err != nil {
		return nil, "", err
	}
	if rs.deployment == (id.Target == pkgapi.CatalogTarget) {
		if rs.deployment {
			return nil, "", fmt.Errorf("%w: spec.packageRevID.target: %q is reserved for catalog repositories; %q is a deployment repository", errdef.ErrInvalid, id.Target, id.Repository)
		}
		return nil, "", fmt.Errorf("%w: spec.packageRevID.target: packages of catalog repository %q have target %q, not %q", errdef.ErrInvalid, id.Repository, pkgapi.CatalogTarget, id.Target)
	}
	return rs, names.OCIPath(rs.prefix, id, rs.deployment), nil
}

// pkg returns a package from the index, loading it when fresh is asked,
// when it is stale or when the index does not have it.
func (e *Engine) pkg(ctx context.Context, rs *repoState, path string, fresh bool) (*pkgState, error) {
	rs.mu.Lock()
	p, ok := rs.packages[path]
	stale := rs.stale[path]
	rs.mu.Unlock()
	if ok && !stale {
		return p, nil // writers (fresh) check the one tag they change themselves
	}
	if fresh { // only writers ask for fresh, and they hold the lock
		return e.loadPackageLocked(ctx, rs, path)
	}
	return e.loadPackage(ctx, rs, path)
}

// find locates a revision by object name. held is the package lock the
// caller holds ("" for none): that package is read fresh, without locking again.
func (e *Engine) find(ctx context.Context, namespace, name, held string) (found, error) {
	id, err := names.Parse(name)
	if err != nil {
		return found{}, fmt.Errorf("%w: package revision %q: %v", errdef.ErrNotFound, name, err)
	}
	rs, path, err := e.locate(ctx, namespace, id)
	if errors.Is(err, errdef.ErrInvalid) {
		return found{}, fmt.Errorf("%w: package revision %q", errdef.ErrNotFound, name)
	}
	if err != nil {
		return found{}, err
	}
	var p *pkgState
	switch {
	case held == "":
		p, err = e.pkg(ctx, rs, path, false)
	case rs.lockKey(path) == held:
		p, err = e.pkg(ctx, rs, path, true)
	default: // holding another package's lock: never wait for this one
		p, err = e.peekPackage(ctx, rs, path)
	}
	if err != nil {
		return found{}, err
	}
	r := p.byWorkspace(id.Workspace)
	if r == nil || revID(rs, p, r).Name() != name {
		return found{}, fmt.Errorf("%w: package revision %q in namespace %q", errdef.ErrNotFound, name, namespace)
	}
	return found{rs: rs, p: p, r: r, key: rs.lockKey(path)}, nil
}

// findForWrite locks the package and reads it fresh from the registry.
func (e *Engine) findForWrite(ctx context.Context, namespace, name, resourceVersion string) (found, func(), error) {
	id, err := names.Parse(name)
	if err != nil {
		return found{}, nil, fmt.Errorf("%w: package revision %q: %v", errdef.ErrNotFound, name, err)
	}
	rs, path, err := e.locate(ctx, namespace, id)
	if err != nil {
		return found{}, nil, fmt.Errorf("%w: package revision %q", errdef.ErrNotFound, name)
	}
	key := rs.lockKey(path)
	unlock := e.lockPackage(key)
	f, err := e.find(ctx, namespace, name, key)
	if err == nil && !e.current(ctx, f) {
		// Changed behind the index (another replica): read it all again.
		if _, err = e.loadPackageLocked(ctx, rs, path); err == nil {
			f, err = e.find(ctx, namespace, name, key)
		}
	}
	if err == nil {
		err = checkResourceVersion(resourceVersion, f.r.resourceVersion())
	}
	if err != nil {
		unlock()
		return found{}, nil, err
	}
	return f, unlock, nil
}

// current checks with one registry round trip that the tag of a revision
// still points where the index says.
func (e *Engine) current(ctx context.Context, f found) bool {
	repo, err := f.repo(ctx)
	if err != nil {
		return false
	}
	d, err := repo.Resolve(ctx, f.r.tag)
	return err == nil && d.Digest == f.r.desc.Digest
}

// GetPackageRevision implements Service.
func (e *Engine) GetPackageRevision(ctx context.Context, namespace, name string) (*pkgapi.PackageRevision, error) {
	f, err := e.find(ctx, namespace, name, "")
	if err != nil {
		return nil, err
	}
	prs := []pkgapi.PackageRevision{f.pr()}
	e.decorate(ctx, prs)
	return &prs[0], nil
}

// CreatePackageRevision implements Service.
func (e *Engine) CreatePackageRevision(ctx context.Context, in *pkgapi.PackageRevision) (*pkgapi.PackageRevision, error) {
	id, err := createID(in)
	if err != nil {
		return nil, err
	}
	if err := lifecycle.CheckCreate(in.Spec.Lifecycle); err != nil {
		return nil, err
	}
	rs, path, err := e.locate(ctx, in.Namespace, id)
	if errors.Is(err, errdef.ErrNotFound) {
		return nil, fmt.Errorf("%w: spec.packageRevID.repository: %v", errdef.ErrInvalid, err)
	}
	if err != nil {
		return nil, err
	}
	if t := in.Spec.Tasks; len(t) > 0 && (t[0].Type == pkgapi.TaskTypeClone || t[0].Type == pkgapi.TaskTypeUpgrade) {
		// The upstream must not be deleted while its new downstream is made.
		l := e.lineage(in.Namespace)
		l.RLock()
		defer l.RUnlock()
	}
	held := rs.lockKey(path)
	defer e.lockPackage(held)()
	p, err := e.pkg(ctx, rs, path, true)
	if err != nil {
		return nil, err
	}
	repo, err := rs.store.Repository(ctx, path)
	if err != nil {
		return nil, err
	}
	if p.byWorkspace(id.Workspace) == nil && len(p.revs) > 0 {
		// The index may be behind another replica: the tag must be free.
		if _, err := repo.Resolve(ctx, names.WorkspaceTag(id.Workspace)); !errors.Is(err, errdef.ErrNotFound) {
			if p, err = e.loadPackageLocked(ctx, rs, path); err != nil {
				return nil, err
			}
		}
	}
	if p.byWorkspace(id.Workspace) != nil {
		return nil, fmt.Errorf("%w: package %q already has a revision with workspace %q", errdef.ErrAlreadyExists, id.Package, id.Workspace)
	}
	tasks := in.Spec.Tasks
	if len(tasks) == 0 {
		tasks = []pkgapi.Task{{Type: pkgapi.TaskTypeInit, Init: &pkgapi.InitTask{}}}
	}
	meta := format.Meta{
		Lifecycle:      pkgapi.LifecycleDraft,
		Target:         id.Target,
		Realm:          id.Realm,
		Package:        id.Package,
		Workspace:      id.Workspace,
		UID:            string(uuid.NewUUID()),
		Created:        e.opts.Now().UTC().Truncate(1e9),
		Tasks:          tasks,
		ReadinessGates: in.Spec.ReadinessGates,
		Labels:         userLabels(in.Labels),
		Annotations:    in.Annotations,
		ManagedFields:  in.ManagedFields,
	}
	files, err := e.taskFiles(ctx, in.Namespace, id, p, held, tasks[0], &meta)
	if err != nil {
		return nil, err
	}
	tag := names.WorkspaceTag(id.Workspace)
	if len(p.revs) == 0 && p.deletedMax == 0 && !p.exists {
		e.newPackages.Store(held, struct{}{})
		defer e.newPackages.Delete(held)
	}
	desc, err := e.writeRevision(ctx, rs, repo, path, tag, meta, files, nil)
	if err != nil {
		return nil, err
	}
	if len(p.revs) == 0 && e.needsIndex(ctx, rs) {
		if err := e.recordPackage(ctx, rs, path); err != nil {
			e.log.Warn("recording the package in the registry's package index", "package", path, "err", err)
		}
	}
	r, err := e.revFor(ctx, repo, tag, desc)
	if err != nil {
		return nil, err
	}
	return e.commit(rs, p, r, func(p *pkgState) { p.revs = append(p.revs, r) }), nil
}

// createID takes the identity from spec.packageRevID, or from metadata.name
// when the spec leaves it out, and checks both agree.
func createID(in *pkgapi.PackageRevision) (names.ID, error) {
	s := in.Spec.PackageRevID
	id := names.ID{Target: s.Target, Repository: s.Repository, Realm: s.Realm, Package: s.Package, Workspace: s.Workspace}
	if id == (names.ID{}) && in.Name != "" {
		var err error
		if id, err = names.Parse(in.Name); err != nil {
			return id, fmt.Errorf("%w: metadata.name: %v", errdef.ErrInvalid, err)
		}
	}
	if err := names.ValidateNamespace(in.Namespace); err != nil {
		return id, fmt.Errorf("metadata.namespace: %w", err)
	}
	if err := id.Validate(); err != nil {
		return id, err
	}
	if in.Name != "" && in.Name != id.Name() {
		return id, fmt.Errorf("%w: metadata.name %q does not match spec.packageRevID (which names %q)", errdef.ErrInvalid, in.Name, id.Name())
	}
	if s.Revision != "" {
		return id, fmt.Errorf("%w: spec.packageRevID.revision is assigned when the revision is published; leave it empty", errdef.ErrInvalid)
	}
	return id, nil
}

// taskFiles runs the creation task and returns the new revision's files.
func (e *Engine) taskFiles(ctx context.Context, namespace string, id names.ID, p *pkgState, held string, t pkgapi.Task, meta *format.Meta) (map[string]string, error) {
	switch t.Type {
	case pkgapi.TaskTypeInit:
		desc := ""
		if t.Init != nil {
			desc = t.Init.Description
		}
		meta.Description = desc
		return map[string]string{krm.KptfileName: krm.NewKptfile(id.Package, desc)}, nil
	case pkgapi.TaskTypeClone:
		if t.Clone == nil || t.Clone.Upstream.Name == "" {
			return nil, fmt.Errorf("%w: spec.tasks[0].clone.upstream.name is required", errdef.ErrInvalid)
		}
		src, files, err := e.publishedSource(ctx, namespace, t.Clone.Upstream.Name, "spec.tasks[0].clone.upstream.name", held)
		if err != nil {
			return nil, err
		}
		pr := src.pr()
		meta.Upstream = &pkgapi.Upstream{Name: pr.Name, PackageRevID: pr.Spec.PackageRevID}
		meta.UpstreamLock = &pkgapi.UpstreamLock{Reference: pr.Status.OCI.Reference, Digest: pr.Status.OCI.Digest}
		meta.Source = pr.Status.OCI.Reference
		meta.Description = src.r.meta.Description
		return files, nil
	case pkgapi.TaskTypeEdit:
		if t.Edit == nil || t.Edit.Source.Name == "" {
			return nil, fmt.Errorf("%w: spec.tasks[0].edit.source.name is required", errdef.ErrInvalid)
		}
		src, files, err := e.publishedSource(ctx, namespace, t.Edit.Source.Name, "spec.tasks[0].edit.source.name", held)
		if err != nil {
			return nil, err
		}
		if src.p.path != p.path || src.rs.obj.Name != id.Repository {
			return nil, fmt.Errorf("%w: spec.tasks[0].edit.source.name: %q is not a revision of package %q in repository %q", errdef.ErrInvalid, t.Edit.Source.Name, id.Package, id.Repository)
		}
		meta.Upstream = src.r.meta.Upstream
		meta.UpstreamLock = src.r.meta.UpstreamLock
		meta.Description = src.r.meta.Description
		return files, nil
	case pkgapi.TaskTypeUpgrade:
		return e.upgradeFiles(ctx, namespace, id, p, held, t.Upgrade, meta)
	}
	return nil, fmt.Errorf("%w: spec.tasks[0].type: %q is not one of init, clone, edit, upgrade", errdef.ErrInvalid, t.Type)
}

// publishedSource finds a published revision and copies its files.
func (e *Engine) publishedSource(ctx context.Context, namespace, name, field, held string) (found, map[string]string, error) {
	src, err := e.find(ctx, namespace, name, held)
	if errors.Is(err, errdef.ErrNotFound) {
		return found{}, nil, fmt.Errorf("%w: %s: %v", errdef.ErrInvalid, field, err)
	}
	if err != nil {
		return found{}, nil, err
	}
	if src.r.lifecycle != pkgapi.LifecyclePublished {
		return found{}, nil, fmt.Errorf("%w: %s: %q is %s; only published revisions can be used", errdef.ErrInvalid, field, name, src.r.lifecycle)
	}
	repo, err := src.repo(ctx)
	if err != nil {
		return found{}, nil, err
	}
	files, err := e.cache.filesOf(ctx, repo, src.r.desc)
	if err != nil {
		return found{}, nil, err
	}
	return src, maps.Clone(files), nil
}

// UpdatePackageRevision implements Service.
func (e *Engine) UpdatePackageRevision(ctx context.Context, in *pkgapi.PackageRevision) (*pkgapi.PackageRevision, error) {
	f, unlock, err := e.findForWrite(ctx, in.Namespace, in.Name, in.ResourceVersion)
	if err != nil {
		return nil, err
	}
	defer unlock()
	cur := f.pr()
	to := in.Spec.Lifecycle
	if to == "" {
		to = cur.Spec.Lifecycle
	}
	meta := f.r.meta
	meta.Labels = userLabels(in.Labels)
	meta.Annotations = in.Annotations
	if in.ManagedFields != nil {
		meta.ManagedFields = in.ManagedFields
	}
	// Gates guard publication: an update that leaves the field out (a PUT of
	// just the lifecycle) keeps them; removing them takes an explicit [].
	if in.Spec.ReadinessGates != nil {
		meta.ReadinessGates = in.Spec.ReadinessGates
	}
	meta.Lifecycle = to
	changed := to != cur.Spec.Lifecycle || !equalJSON(meta.Labels, f.r.meta.Labels) ||
		!equalJSON(meta.Annotations, f.r.meta.Annotations) || !equalJSON(meta.ReadinessGates, f.r.meta.ReadinessGates) ||
		!equalJSON(meta.ManagedFields, f.r.meta.ManagedFields)
	if !changed {
		return &cur, nil
	}
	if err := lifecycle.CheckUpdate(cur.Spec.Lifecycle, to); err != nil {
		return nil, err
	}
	if !lifecycle.Mutable(cur.Spec.Lifecycle) {
		return nil, fmt.Errorf("%w: revision %q is %s and immutable", errdef.ErrForbidden, in.Name, cur.Spec.Lifecycle)
	}
	if err := checkImmutable(cur, in); err != nil {
		return nil, err
	}
	return e.rewrite(ctx, f, meta, nil)
}

// checkImmutable refuses changes to fields fixed at creation.
func checkImmutable(cur pkgapi.PackageRevision, in *pkgapi.PackageRevision) error {
	id := in.Spec.PackageRevID
	id.Revision = cur.Spec.PackageRevID.Revision
	if id != (pkgapi.PackageRevID{}) && id != cur.Spec.PackageRevID {
		return fmt.Errorf("%w: spec.packageRevID is immutable", errdef.ErrInvalid)
	}
	if in.Spec.Tasks != nil && !equalJSON(in.Spec.Tasks, cur.Spec.Tasks) {
		return fmt.Errorf("%w: spec.tasks is immutable", errdef.ErrInvalid)
	}
	if in.Spec.Upstream != nil && !equalJSON(in.Spec.Upstream, cur.Spec.Upstream) {
		return fmt.Errorf("%w: spec.upstream is immutable", errdef.ErrInvalid)
	}
	return nil
}

// ApprovePackageRevision implements Service.
func (e *Engine) ApprovePackageRevision(ctx context.Context, in *pkgapi.PackageRevision, user string) (*pkgapi.PackageRevision, error) {
	f, unlock, err := e.findForWrite(ctx, in.Namespace, in.Name, in.ResourceVersion)
	if err != nil {
		return nil, err
	}
	defer unlock()
	from, to := f.r.lifecycle, in.Spec.Lifecycle
	if err := lifecycle.CheckApproval(from, to); err != nil {
		return nil, err
	}
	repo, err := f.repo(ctx)
	if err != nil {
		return nil, err
	}
	now := e.opts.Now().UTC().Truncate(1e9)
	switch {
	case from == to:
		cur := f.pr()
		return &cur, nil
	case to == pkgapi.LifecycleDraft: // reject
		meta := f.r.meta
		meta.Lifecycle = pkgapi.LifecycleDraft
		return e.rewrite(ctx, f, meta, nil)
	case from == pkgapi.LifecycleProposed:
		return e.publish(ctx, f, repo, user)
	case to == pkgapi.LifecycleDeletionProposed:
		marker := format.DeletionMarker(f.r.desc, f.r.tag, now)
		if err := e.pushBlob(ctx, f.rs, repo, f.p.path, format.Empty); err != nil {
			return nil, err
		}
		if err := pushManifest(ctx, repo, marker, f.r.tag+names.DeletionTagSuffix); err != nil {
			return nil, err
		}
		r := f.r.with(&marker.Descriptor, pkgapi.LifecycleDeletionProposed)
		return e.commit(f.rs, f.p, r, replaceRev(f.r, r)), nil
	default: // deletionProposed -> published
		if err := repo.Delete(ctx, *f.r.marker); err != nil && !errors.Is(err, errdef.ErrNotFound) {
			return nil, fmt.Errorf("remove deletion proposal of %s: %w", f.r.tag, err)
		}
		r := f.r.with(nil, pkgapi.LifecyclePublished)
		return e.commit(f.rs, f.p, r, replaceRev(f.r, r)), nil
	}
}

// publish turns a proposed revision into the next vN of its package.
func (e *Engine) publish(ctx context.Context, f found, repo store.Repository, user string) (*pkgapi.PackageRevision, error) {
	if missing := unmetGates(f.r.meta); len(missing) > 0 {
		return nil, fmt.Errorf("%w: readiness gates not met: %s; set these conditions to True through the status subresource first", errdef.ErrInvalid, strings.Join(missing, ", "))
	}
	n := f.p.next()
	for ; ; n++ { // never overwrite a vN someone else published meanwhile
		_, err := repo.Resolve(ctx, names.RevisionTag(n))
		if errors.Is(err, errdef.ErrNotFound) {
			break
		}
		if err != nil {
			return nil, fmt.Errorf("check tag %s: %w", names.RevisionTag(n), err)
		}
	}
	meta := f.r.meta
	meta.Lifecycle = pkgapi.LifecyclePublished
	meta.Revision = names.RevisionTag(n)
	meta.PublishedBy = user
	meta.PublishedAt = e.opts.Now().UTC().Truncate(1e9)
	m, err := e.cache.manifest(ctx, repo, f.r.desc)
	if err != nil {
		return nil, err
	}
	manifest := format.Manifest(meta, m.Layers...)
	if err := pushManifest(ctx, repo, manifest, meta.Revision); err != nil {
		return nil, err
	}
	e.cache.putManifest(manifest.Descriptor.Digest, manifest.Data)
	if err := pushManifest(ctx, repo, manifest, names.LatestTag); err != nil {
		return nil, fmt.Errorf("tag latest: %w", err)
	}
	if err := deleteRevision(ctx, repo, f.r.desc); err != nil && !errors.Is(err, errdef.ErrNotFound) {
		return nil, fmt.Errorf("remove proposed revision after publishing %s: %w", meta.Revision, err)
	}
	r, err := e.revFor(ctx, repo, meta.Revision, manifest.Descriptor)
	if err != nil {
		return nil, err
	}
	return e.commit(f.rs, f.p, r, replaceRev(f.r, r)), nil
}

// unmetGates lists readiness gates whose condition is not True.
func unmetGates(m format.Meta) []string {
	var missing []string
	for _, g := range m.ReadinessGates {
		ok := false
		for _, c := range m.Conditions {
			if c.Type == g.ConditionType && c.Status == "True" {
				ok = true
			}
		}
		if !ok {
			missing = append(missing, g.ConditionType)
		}
	}
	return missing
}

// DeletePackageRevision implements Service. A published revision that is
// the upstream of another revision cannot be deleted: its lineage would break.
func (e *Engine) DeletePackageRevision(ctx context.Context, namespace, name string) error {
	// No clone or upgrade of this namespace runs while we check and delete;
	// read before the package lock: listing may load this package.
	l := e.lineage(namespace)
	l.Lock()
	defer l.Unlock()
	downstream, err := e.downstreamsOf(ctx, namespace, name)
	if err != nil {
		return err
	}
	f, unlock, err := e.findForWrite(ctx, namespace, name, "")
	if err != nil {
		return err
	}
	defer unlock()
	if err := lifecycle.CheckDelete(f.r.lifecycle); err != nil {
		return fmt.Errorf("package revision %q: %w", name, err)
	}
	if f.r.n > 0 && len(downstream) > 0 {
		return fmt.Errorf("%w: package revision %q is the upstream of %s; delete or upgrade those first", errdef.ErrForbidden, name, strings.Join(downstream, ", "))
	}
	repo, err := f.repo(ctx)
	if err != nil {
		return err
	}
	if f.r.marker != nil {
		if err := repo.Delete(ctx, *f.r.marker); err != nil && !errors.Is(err, errdef.ErrNotFound) {
			return err
		}
	}
	if f.r.n > 0 {
		// The tombstone goes first: if we stop half way, N is still taken.
		if err := e.pushBlob(ctx, f.rs, repo, f.p.path, format.Empty); err != nil {
			return err
		}
		if err := pushManifest(ctx, repo, format.Tombstone(f.r.tag, e.opts.Now()), names.DeletedTag(f.r.n)); err != nil {
			return err
		}
	}
	if err := deleteRevision(ctx, repo, f.r.desc); err != nil && !errors.Is(err, errdef.ErrNotFound) {
		return fmt.Errorf("delete %s: %w", f.r.tag, err)
	}
	if f.r.n > 0 && f.r.n == f.p.latest() {
		// Deleting the manifest took `latest` with it; point it at the next newest.
		var next *rev
		for _, r := range f.p.revs {
			if r != f.r && r.n > 0 && (next == nil || r.n > next.n) {
				next = r
			}
		}
		if next != nil {
			if err := repo.Tag(ctx, next.desc, names.LatestTag); err != nil {
				return fmt.Errorf("move latest to %s: %w", next.tag, err)
			}
		}
	}
	e.commit(f.rs, f.p, nil, func(p *pkgState) {
		p.revs = slices.DeleteFunc(p.revs, func(r *rev) bool { return r == f.r })
		p.deletedMax = max(p.deletedMax, f.r.n)
	})
	return nil
}

// rewrite stores a draft or proposed revision again with new metadata and,
// when files is not nil, new contents; the old manifest is removed.
func (e *Engine) rewrite(ctx context.Context, f found, meta format.Meta, files map[string]string) (*pkgapi.PackageRevision, error) {
	repo, err := f.repo(ctx)
	if err != nil {
		return nil, err
	}
	var layers []ocispec.Descriptor
	if files == nil {
		m, err := e.cache.manifest(ctx, repo, f.r.desc)
		if err != nil {
			return nil, err
		}
		layers = m.Layers
	}
	desc, err := e.writeRevision(ctx, f.rs, repo, f.p.path, f.r.tag, meta, files, layers)
	if err != nil {
		return nil, err
	}
	if desc.Digest != f.r.desc.Digest {
		if err := deleteRevision(ctx, repo, f.r.desc); err != nil && !errors.Is(err, errdef.ErrNotFound) {
			return nil, fmt.Errorf("remove previous manifest of %s: %w", f.r.tag, err)
		}
	}
	r, err := e.revFor(ctx, repo, f.r.tag, desc)
	if err != nil {
		return nil, err
	}
	return e.commit(f.rs, f.p, r, replaceRev(f.r, r)), nil
}

// writeRevision pushes a revision's blobs and manifest and tags it. With files
// it packs a new layer; otherwise it reuses layers.
func (e *Engine) writeRevision(ctx context.Context, rs *repoState, repo store.Repository, path, tag string, meta format.Meta, files map[string]string, layers []ocispec.Descriptor) (ocispec.Descriptor, error) {
	if files != nil {
		layer, err := format.PackLayer(meta.Package, files)
		if err != nil {
			return ocispec.Descriptor{}, err
		}
		if err := e.pushBlob(ctx, rs, repo, path, format.Blob(layer)); err != nil {
			return ocispec.Descriptor{}, err
		}
		layers = []ocispec.Descriptor{layer.Descriptor}
	}
	if err := e.pushBlob(ctx, rs, repo, path, format.Empty); err != nil {
		return ocispec.Descriptor{}, err
	}
	manifest := format.Manifest(meta, layers...)
	if err := pushManifest(ctx, repo, manifest, tag); err != nil {
		// A blob remembered as stored may be gone (registry garbage
		// collection): check them again and retry once.
		if !e.forgetBlobs(ctx, rs, repo, path, layers) {
			return ocispec.Descriptor{}, err
		}
		if err := pushManifest(ctx, repo, manifest, tag); err != nil {
			return ocispec.Descriptor{}, err
		}
	}
	e.cache.putManifest(manifest.Descriptor.Digest, manifest.Data)
	if files != nil {
		e.cache.putFiles(manifest.Descriptor.Digest, maps.Clone(files))
	}
	return manifest.Descriptor, nil
}

// revFor reads back a revision just written, from the manifest cache.
func (e *Engine) revFor(ctx context.Context, repo store.Repository, tag string, desc ocispec.Descriptor) (*rev, error) {
	m, err := e.cache.manifest(ctx, repo, desc)
	if err != nil {
		return nil, err
	}
	return newRev(tag, desc, m), nil
}

// replaceRev returns a change that puts next where old was.
func replaceRev(old, next *rev) func(p *pkgState) {
	return func(p *pkgState) {
		p.revs = slices.DeleteFunc(p.revs, func(r *rev) bool { return r == old })
		p.revs = append(p.revs, next)
	}
}

// commit puts the outcome of a write into the index without reading the
// registry again (the writer holds the package lock and knows what it wrote),
// sends the watch events, and returns the API object of r (nil: none).
func (e *Engine) commit(rs *repoState, old *pkgState, r *rev, change func(p *pkgState)) *pkgapi.PackageRevision {
	p := &pkgState{path: old.path, target: old.target, realm: old.realm, name: old.name,
		deletedMax: old.deletedMax, exists: true, revs: slices.Clone(old.revs)}
	change(p)
	sort.Slice(p.revs, func(i, j int) bool { return p.revs[i].tag < p.revs[j].tag })
	rs.mu.Lock()
	if len(p.revs) == 0 {
		delete(rs.packages, p.path)
	} else {
		rs.packages[p.path] = p
	}
	rs.mu.Unlock()
	e.emitPackageChanges(rs, old, p)
	if r == nil {
		return nil
	}
	pr := toPackageRevision(rs, p, r, p.latest())
	return &pr
}

// userLabels drops labels the server computes.
func userLabels(l map[string]string) map[string]string {
	if _, ok := l[pkgapi.LatestRevisionLabel]; !ok {
		return l
	}
	l = maps.Clone(l)
	delete(l, pkgapi.LatestRevisionLabel)
	return l
}

// UpdatePackageRevisionStatus implements StatusUpdater: it sets the
// conditions of a draft or proposed revision (readiness gates are checked
// against them at approval). Published revisions never change.
func (e *Engine) UpdatePackageRevisionStatus(ctx context.Context, in *pkgapi.PackageRevision) (*pkgapi.PackageRevision, error) {
	f, unlock, err := e.findForWrite(ctx, in.Namespace, in.Name, in.ResourceVersion)
	if err != nil {
		return nil, err
	}
	defer unlock()
	conds := slices.Clone(in.Status.Conditions)
	now := metav1.NewTime(e.opts.Now().UTC().Truncate(1e9))
	for i, c := range conds {
		if c.Type == "" {
			return nil, fmt.Errorf("%w: status.conditions[%d].type is required", errdef.ErrInvalid, i)
		}
		switch c.Status {
		case metav1.ConditionTrue, metav1.ConditionFalse, metav1.ConditionUnknown:
		default:
			return nil, fmt.Errorf("%w: status.conditions[%d].status: %q is not True, False or Unknown", errdef.ErrInvalid, i, c.Status)
		}
		if c.LastTransitionTime.IsZero() {
			conds[i].LastTransitionTime = now
		}
		if c.Reason == "" {
			conds[i].Reason = "Set"
		}
	}
	if equalJSON(conds, f.r.meta.Conditions) || len(conds) == 0 && len(f.r.meta.Conditions) == 0 {
		pr := f.pr()
		return &pr, nil
	}
	if !lifecycle.Mutable(f.r.lifecycle) {
		return nil, fmt.Errorf("%w: revision %q is %s and immutable; its status cannot change", errdef.ErrForbidden, in.Name, f.r.lifecycle)
	}
	meta := f.r.meta
	meta.Conditions = conds
	return e.rewrite(ctx, f, meta, nil)
}
