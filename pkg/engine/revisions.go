package engine

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"slices"
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

func (s snap) store(ctx context.Context) (store.Repository, error) {
	return s.repo.store.Repository(ctx, s.pkg.key.path)
}

// get returns the object of a name.
func (x *index) get(ns, name string) (snap, bool) {
	x.mu.RLock()
	defer x.mu.RUnlock()
	o, ok := x.objs.Get(&object{ns: ns, name: name})
	if !ok {
		return snap{}, false
	}
	return o.snap(), true
}

// locate maps an identity to its repository and package.
func (e *Engine) locate(namespace string, id names.ID) (*repoState, pkgKey, error) {
	rs, err := e.repoState(namespace, id.Repository)
	if err != nil {
		return nil, pkgKey{}, err
	}
	if rs.deployment == (id.Target == pkgapi.CatalogTarget) {
		if rs.deployment {
			return nil, pkgKey{}, fmt.Errorf("%w: spec.packageRevID.target: %q is reserved for catalog repositories; %q is a deployment repository", errdef.ErrInvalid, id.Target, id.Repository)
		}
		return nil, pkgKey{}, fmt.Errorf("%w: spec.packageRevID.target: packages of catalog repository %q have target %q, not %q", errdef.ErrInvalid, id.Repository, pkgapi.CatalogTarget, id.Target)
	}
	return rs, rs.pkgKey(names.OCIPath(rs.prefix, id, rs.deployment)), nil
}

// lockKeyOf returns the lock key of the package of a revision name.
func (e *Engine) lockKeyOf(namespace, name string) (string, bool) {
	id, err := names.Parse(name)
	if err != nil {
		return "", false
	}
	_, k, err := e.locate(namespace, id)
	if err != nil {
		return "", false
	}
	return k.String(), true
}

// find returns a revision by name from the index.
func (e *Engine) find(ctx context.Context, namespace, name string) (snap, error) {
	if err := e.wait(ctx); err != nil {
		return snap{}, err
	}
	s, ok := e.idx.get(namespace, name)
	if !ok {
		return snap{}, fmt.Errorf("%w: package revision %q in namespace %q", errdef.ErrNotFound, name, namespace)
	}
	return s, nil
}

// findForWrite locks the package of a revision (and the packages of
// others, for tasks that read them) and returns the revision as it is now.
func (e *Engine) findForWrite(ctx context.Context, namespace, name, resourceVersion string, others ...string) (snap, *txn, error) {
	if err := e.wait(ctx); err != nil {
		return snap{}, nil, err
	}
	id, err := names.Parse(name)
	if err != nil {
		return snap{}, nil, fmt.Errorf("%w: package revision %q in namespace %q", errdef.ErrNotFound, name, namespace)
	}
	rs, k, err := e.locate(namespace, id)
	if err != nil {
		return snap{}, nil, fmt.Errorf("%w: package revision %q in namespace %q", errdef.ErrNotFound, name, namespace)
	}
	if err := e.claimWriter(ctx, rs); err != nil {
		return snap{}, nil, err
	}
	t, err := e.lock(ctx, k.String(), others...)
	if err != nil {
		return snap{}, nil, err
	}
	s, err := e.current(ctx, t, namespace, name)
	if err == nil {
		err = checkResourceVersion(resourceVersion, formatRV(s.rv))
	}
	if err != nil {
		t.unlock()
		return snap{}, nil, err
	}
	return s, t, nil
}

// current reads a revision under its package's lock. A remote registry may
// have been changed by others behind pkgserver: one request checks that the
// revision's tag still points where the index says, else the package is read
// again first.
func (e *Engine) current(ctx context.Context, t *txn, namespace, name string) (snap, error) {
	s, ok := e.idx.get(namespace, name)
	if ok && !s.repo.embedded {
		repo, err := s.store(ctx)
		if err != nil {
			return snap{}, err
		}
		if d, err := repo.Resolve(ctx, s.rev.tag); err != nil || d.Digest != s.rev.digest {
			if err := e.syncLocked(ctx, t.main, s.repo.store, s.pkg.key); err != nil {
				return snap{}, err
			}
			s, ok = e.idx.get(namespace, name)
		}
	}
	if !ok {
		return snap{}, fmt.Errorf("%w: package revision %q in namespace %q", errdef.ErrNotFound, name, namespace)
	}
	return s, nil
}

// GetPackageRevision implements Service.
func (e *Engine) GetPackageRevision(ctx context.Context, namespace, name string) (*pkgapi.PackageRevision, error) {
	s, err := e.find(ctx, namespace, name)
	if err != nil {
		return nil, err
	}
	pr := s.pr()
	return &pr, nil
}

// object returns the API object of a name after a write.
func (e *Engine) object(namespace, name string) (*pkgapi.PackageRevision, error) {
	s, ok := e.idx.get(namespace, name)
	if !ok {
		return nil, fmt.Errorf("%w: package revision %q in namespace %q was changed meanwhile", errdef.ErrConflict, name, namespace)
	}
	pr := s.pr()
	return &pr, nil
}

// CreatePackageRevision implements Service.
func (e *Engine) CreatePackageRevision(ctx context.Context, in *pkgapi.PackageRevision) (*pkgapi.PackageRevision, error) {
	if err := e.wait(ctx); err != nil {
		return nil, err
	}
	id, err := createID(in)
	if err != nil {
		return nil, err
	}
	if err := lifecycle.CheckCreate(in.Spec.Lifecycle); err != nil {
		return nil, err
	}
	rs, k, err := e.locate(in.Namespace, id)
	if errors.Is(err, errdef.ErrNotFound) {
		return nil, fmt.Errorf("%w: spec.packageRevID.repository: %v", errdef.ErrInvalid, err)
	}
	if err != nil {
		return nil, err
	}
	tasks := in.Spec.Tasks
	if len(tasks) == 0 {
		tasks = []pkgapi.Task{{Type: pkgapi.TaskTypeInit, Init: &pkgapi.InitTask{}}}
	}
	if err := e.claimWriter(ctx, rs); err != nil {
		return nil, err
	}
	// A clone or upgrade reads other packages: lock them too, so their
	// revisions cannot be deleted while the new downstream is made.
	t, err := e.lock(ctx, k.String(), e.taskLockKeys(in.Namespace, tasks[0])...)
	if err != nil {
		return nil, err
	}
	defer t.unlock()
	repo, err := rs.store.Repository(ctx, k.path)
	if err != nil {
		return nil, err
	}
	tag := names.WorkspaceTag(id.Workspace)
	if _, ok := e.idx.get(in.Namespace, id.Name()); !ok && !rs.embedded {
		// Others may have pushed to a remote registry behind pkgserver,
		// a revision that claims this name among them.
		if err := e.seeBehind(ctx, t, rs.store, repo, k); err != nil {
			return nil, err
		}
	}
	if _, ok := e.idx.get(in.Namespace, id.Name()); ok {
		return nil, fmt.Errorf("%w: package %q already has a revision with workspace %q", errdef.ErrAlreadyExists, id.Package, id.Workspace)
	}
	p := e.idx.pkgOrEmpty(k)
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
	files, err := e.taskFiles(ctx, in.Namespace, id, p, tasks[0], &meta)
	if err != nil {
		return nil, err
	}
	if WriteOptionsFrom(ctx).DryRun {
		return e.dryRun(rs, p, tag, meta, files, nil)
	}
	m, err := e.writeRevision(ctx, rs, repo, k, tag, meta, files, nil)
	if err != nil {
		return nil, err
	}
	if len(p.revs) == 0 && e.needsIndex(ctx, rs) {
		if err := e.recordPackage(ctx, rs, k.path); err != nil {
			e.log.Warn("recording the package in the registry's package index", "package", k.path, "err", err)
		}
	}
	edit := newTagEdit(p.tagMap())
	edit.tag(tag, m)
	if err := t.publish(ctx, edit.records(k)); err != nil {
		return nil, err
	}
	return e.object(in.Namespace, id.Name())
}

// pkgOrEmpty returns the index's state of a package, or an empty one.
func (x *index) pkgOrEmpty(k pkgKey) *pkgState {
	x.mu.RLock()
	defer x.mu.RUnlock()
	if p, ok := x.pkgs[k]; ok {
		return p
	}
	return &pkgState{key: k}
}

// taskLockKeys returns the packages a creation task reads.
func (e *Engine) taskLockKeys(namespace string, t pkgapi.Task) []string {
	var refs []string
	switch {
	case t.Type == pkgapi.TaskTypeClone && t.Clone != nil:
		refs = append(refs, t.Clone.Upstream.Name)
	case t.Type == pkgapi.TaskTypeUpgrade && t.Upgrade != nil:
		refs = append(refs, t.Upgrade.NewUpstream.Name, t.Upgrade.OldUpstream.Name)
		if s, ok := e.idx.get(namespace, t.Upgrade.LocalPackageRevisionRef.Name); ok && s.rev.m.x().upstreamName != "" {
			refs = append(refs, s.rev.m.x().upstreamName)
		}
	}
	var keys []string
	for _, r := range refs {
		if k, ok := e.lockKeyOf(namespace, r); ok {
			keys = append(keys, k)
		}
	}
	return keys
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
func (e *Engine) taskFiles(ctx context.Context, namespace string, id names.ID, p *pkgState, t pkgapi.Task, meta *format.Meta) (map[string]string, error) {
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
		src, files, err := e.publishedSource(ctx, namespace, t.Clone.Upstream.Name, "spec.tasks[0].clone.upstream.name")
		if err != nil {
			return nil, err
		}
		pr := src.pr()
		meta.Upstream = &pkgapi.Upstream{Name: pr.Name, PackageRevID: pr.Spec.PackageRevID}
		meta.UpstreamLock = &pkgapi.UpstreamLock{Reference: pr.Status.OCI.Reference, Digest: pr.Status.OCI.Digest}
		meta.Source = pr.Status.OCI.Reference
		meta.Description = src.rev.m.description
		return files, nil
	case pkgapi.TaskTypeEdit:
		if t.Edit == nil || t.Edit.Source.Name == "" {
			return nil, fmt.Errorf("%w: spec.tasks[0].edit.source.name is required", errdef.ErrInvalid)
		}
		src, files, err := e.publishedSource(ctx, namespace, t.Edit.Source.Name, "spec.tasks[0].edit.source.name")
		if err != nil {
			return nil, err
		}
		if src.pkg.key != p.key || src.repo.key.name != id.Repository {
			return nil, fmt.Errorf("%w: spec.tasks[0].edit.source.name: %q is not a revision of package %q in repository %q", errdef.ErrInvalid, t.Edit.Source.Name, id.Package, id.Repository)
		}
		sm := src.rev.m.meta()
		meta.Upstream = sm.Upstream
		meta.UpstreamLock = sm.UpstreamLock
		meta.Description = sm.Description
		return files, nil
	case pkgapi.TaskTypeUpgrade:
		return e.upgradeFiles(ctx, namespace, id, p, t.Upgrade, meta)
	}
	return nil, fmt.Errorf("%w: spec.tasks[0].type: %q is not one of init, clone, edit, upgrade", errdef.ErrInvalid, t.Type)
}

// publishedSource finds a published revision and copies its files.
func (e *Engine) publishedSource(ctx context.Context, namespace, name, field string) (snap, map[string]string, error) {
	src, err := e.find(ctx, namespace, name)
	if errors.Is(err, errdef.ErrNotFound) {
		return snap{}, nil, fmt.Errorf("%w: %s: %v", errdef.ErrInvalid, field, err)
	}
	if err != nil {
		return snap{}, nil, err
	}
	if src.rev.lifecycle != pkgapi.LifecyclePublished {
		return snap{}, nil, fmt.Errorf("%w: %s: %q is %s; only published revisions can be used", errdef.ErrInvalid, field, name, src.rev.lifecycle)
	}
	files, err := e.files(ctx, src)
	if err != nil {
		return snap{}, nil, err
	}
	return src, maps.Clone(files), nil
}

// UpdatePackageRevision implements Service.
func (e *Engine) UpdatePackageRevision(ctx context.Context, in *pkgapi.PackageRevision) (*pkgapi.PackageRevision, error) {
	s, t, err := e.findForWrite(ctx, in.Namespace, in.Name, in.ResourceVersion)
	if err != nil {
		return nil, err
	}
	defer t.unlock()
	cur := s.pr()
	to := in.Spec.Lifecycle
	if to == "" {
		to = cur.Spec.Lifecycle
	}
	meta := s.rev.fullMeta()
	old := s.rev.fullMeta()
	meta.Labels = userLabels(in.Labels)
	meta.Annotations = in.Annotations
	// Gates guard publication: an update that leaves the field out (a PUT of
	// just the lifecycle) keeps them; removing them takes an explicit [].
	if in.Spec.ReadinessGates != nil {
		meta.ReadinessGates = in.Spec.ReadinessGates
	}
	if in.ManagedFields != nil {
		meta.ManagedFields = in.ManagedFields
	}
	meta.Lifecycle = to
	changed := to != cur.Spec.Lifecycle || !equalJSON(meta.Labels, old.Labels) ||
		!equalJSON(meta.Annotations, old.Annotations) || !equalJSON(meta.ReadinessGates, old.ReadinessGates) ||
		!equalJSON(meta.ManagedFields, old.ManagedFields)
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
	return e.rewrite(ctx, t, s, meta, nil)
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
	s, t, err := e.findForWrite(ctx, in.Namespace, in.Name, in.ResourceVersion)
	if err != nil {
		return nil, err
	}
	defer t.unlock()
	from, to := s.rev.lifecycle, in.Spec.Lifecycle
	if err := lifecycle.CheckApproval(from, to); err != nil {
		return nil, err
	}
	repo, err := s.store(ctx)
	if err != nil {
		return nil, err
	}
	dry := WriteOptionsFrom(ctx).DryRun
	now := e.opts.Now().UTC().Truncate(1e9)
	edit := newTagEdit(s.pkg.tagMap())
	switch {
	case from == to:
		cur := s.pr()
		return &cur, nil
	case to == pkgapi.LifecycleDraft: // reject
		meta := s.rev.fullMeta()
		meta.Lifecycle = pkgapi.LifecycleDraft
		return e.rewrite(ctx, t, s, meta, nil)
	case from == pkgapi.LifecycleProposed:
		return e.publishRevision(ctx, t, s, repo, user)
	case to == pkgapi.LifecycleDeletionProposed:
		if s.rev.n == 0 {
			return nil, fmt.Errorf("%w: revision %q has no number (tag %q was pushed by another tool); delete its tag in the registry instead", errdef.ErrForbidden, in.Name, s.rev.tag)
		}
		marker := format.DeletionMarker(s.rev.descriptor(), s.rev.tag, now)
		if dry {
			return e.dryRunLifecycle(s, pkgapi.LifecycleDeletionProposed)
		}
		if err := e.pushBlob(ctx, s.repo, repo, s.pkg.key, format.Empty); err != nil {
			return nil, err
		}
		if err := pushManifest(ctx, repo, marker, names.DeletionTag(s.rev.n)); err != nil {
			return nil, err
		}
		edit.tag(names.DeletionTag(s.rev.n), marker)
	default: // deletionProposed -> published
		if dry {
			return e.dryRunLifecycle(s, pkgapi.LifecyclePublished)
		}
		if err := repo.Delete(ctx, *s.rev.marker); err != nil && !errors.Is(err, errdef.ErrNotFound) {
			return nil, fmt.Errorf("remove deletion proposal of %s: %w", s.rev.tag, err)
		}
		edit.deleteManifest(*s.rev.marker)
	}
	if err := t.publish(ctx, edit.records(s.pkg.key)); err != nil {
		return nil, err
	}
	return e.object(in.Namespace, in.Name)
}

// publishRevision turns a proposed revision into the next vN of its package.
func (e *Engine) publishRevision(ctx context.Context, t *txn, s snap, repo store.Repository, user string) (*pkgapi.PackageRevision, error) {
	if missing := unmetGates(s.rev.fullMeta()); len(missing) > 0 {
		return nil, fmt.Errorf("%w: readiness gates not met: %s; set these conditions to True through the status subresource first", errdef.ErrInvalid, strings.Join(missing, ", "))
	}
	n := s.pkg.next()
	if !s.repo.embedded {
		for ; ; n++ { // never overwrite a vN someone pushed behind pkgserver
			_, err := repo.Resolve(ctx, names.RevisionTag(n))
			if errors.Is(err, errdef.ErrNotFound) {
				break
			}
			if err != nil {
				return nil, fmt.Errorf("check tag %s: %w", names.RevisionTag(n), err)
			}
		}
	}
	meta := s.rev.fullMeta()
	meta.Lifecycle = pkgapi.LifecyclePublished
	meta.Revision = names.RevisionTag(n)
	meta.PublishedBy = user
	meta.PublishedAt = e.opts.Now().UTC().Truncate(1e9)
	layers, err := e.layersOf(ctx, repo, s.rev)
	if err != nil {
		return nil, err
	}
	manifest := format.Manifest(meta, layers...)
	if WriteOptionsFrom(ctx).DryRun {
		r := newRev(meta.Revision, manifest.Descriptor, metaFrom(format.ArtifactType, meta))
		return e.dryRunRev(s.repo, s.pkg, r, max(n, s.pkg.latest()))
	}
	if err := t.setIntent(ctx, intent{Op: "publish", Store: s.pkg.key.store, Path: s.pkg.key.path, Tag: s.rev.tag,
		Revision: meta.Revision, From: s.rev.digest, To: manifest.Descriptor}); err != nil {
		return nil, err
	}
	if err := pushManifest(ctx, repo, manifest, meta.Revision); err != nil {
		return nil, err
	}
	e.cache.putManifest(manifest.Descriptor.Digest, manifest.Data)
	if err := pushManifest(ctx, repo, manifest, names.LatestTag); err != nil {
		return nil, fmt.Errorf("tag latest: %w", err)
	}
	edit := newTagEdit(s.pkg.tagMap())
	edit.tag(meta.Revision, manifest)
	if err := e.dropTag(ctx, repo, s.pkg, s.rev.tag, s.rev.descriptor(), edit); err != nil {
		return nil, fmt.Errorf("remove proposed revision after publishing %s: %w", meta.Revision, err)
	}
	if err := t.publish(ctx, edit.records(s.pkg.key)); err != nil {
		return nil, err
	}
	return e.object(s.repo.key.namespace, s.name())
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
	s, t, err := e.findForWrite(ctx, namespace, name, "")
	if err != nil {
		return err
	}
	defer t.unlock()
	if err := checkPreconditions(ctx, s.uid(), formatRV(s.rv)); err != nil {
		return err
	}
	if err := lifecycle.CheckDelete(s.rev.lifecycle); err != nil {
		return fmt.Errorf("package revision %q: %w", name, err)
	}
	if s.rev.lifecycle == pkgapi.LifecycleDeletionProposed {
		// Clones lock their upstream's package, which we hold: none is under way.
		if ds := e.idx.downstreamsOf(namespace, name); len(ds) > 0 {
			return fmt.Errorf("%w: package revision %q is the upstream of %s; delete or upgrade those first", errdef.ErrForbidden, name, strings.Join(ds, ", "))
		}
	}
	if WriteOptionsFrom(ctx).DryRun {
		return nil
	}
	repo, err := s.store(ctx)
	if err != nil {
		return err
	}
	edit := newTagEdit(s.pkg.tagMap())
	if s.rev.n > 0 {
		// The tombstone goes first: if we stop half way, N is still taken,
		// and the intent tells the next holder of the lock to finish.
		tomb := format.Tombstone(s.rev.tag, e.opts.Now())
		if err := t.setIntent(ctx, intent{Op: "delete", Store: s.pkg.key.store, Path: s.pkg.key.path, Tag: s.rev.tag, From: s.rev.digest, To: tomb.Descriptor}); err != nil {
			return err
		}
		if err := e.pushBlob(ctx, s.repo, repo, s.pkg.key, format.Empty); err != nil {
			return err
		}
		if err := pushManifest(ctx, repo, tomb, names.DeletedTag(s.rev.n)); err != nil {
			return err
		}
		edit.tag(names.DeletedTag(s.rev.n), tomb)
	}
	if s.rev.marker != nil {
		if err := repo.Delete(ctx, *s.rev.marker); err != nil && !errors.Is(err, errdef.ErrNotFound) {
			return err
		}
		edit.deleteManifest(*s.rev.marker)
	}
	if err := e.dropTag(ctx, repo, s.pkg, s.rev.tag, s.rev.descriptor(), edit); err != nil {
		return fmt.Errorf("delete %s: %w", s.rev.tag, err)
	}
	if s.rev.n > 0 {
		// `latest` names the newest revision left, or goes with the last.
		if err := e.settleLatest(ctx, repo, s.pkg.key, newestRevision(s.pkg.revs, s.rev)); err != nil {
			return fmt.Errorf("move latest: %w", err)
		}
	}
	return t.publish(ctx, edit.records(s.pkg.key))
}

// downstreamsOf names the objects of namespace whose upstream is name.
func (x *index) downstreamsOf(namespace, name string) []string {
	x.mu.RLock()
	defer x.mu.RUnlock()
	var out []string
	for o := range x.downstream[namespace+"/"+nameWithoutWorkspace(name)] {
		if o.rev.m.x().upstreamName == name {
			out = append(out, o.name)
		}
	}
	slices.Sort(out)
	return out
}

// dropTag removes tag (pointing at d) from a package: the tag alone when
// other tags name the same manifest, else the manifest. edit follows.
func (e *Engine) dropTag(ctx context.Context, repo store.Repository, p *pkgState, tag string, d ocispec.Descriptor, edit *tagEdit) error {
	shared := false
	for _, o := range p.entries {
		if o.tag != tag && o.digest == d.Digest {
			shared = true
		}
	}
	if !shared {
		if err := deleteManifest(ctx, repo, d); err != nil && !errors.Is(err, errdef.ErrNotFound) {
			return err
		}
		edit.deleteManifest(d)
		return nil
	}
	u, ok := repo.(store.Untagger)
	if !ok {
		return fmt.Errorf("%w: other tags name the manifest of %s and this registry cannot delete a tag alone", errdef.ErrForbidden, tag)
	}
	if err := u.Untag(ctx, tag); err != nil && !errors.Is(err, errdef.ErrNotFound) {
		return err
	}
	edit.untag(tag)
	return nil
}

// rewrite stores a draft or proposed revision again with new metadata and,
// when files is not nil, new contents; the old manifest is removed.
func (e *Engine) rewrite(ctx context.Context, t *txn, s snap, meta format.Meta, files map[string]string) (*pkgapi.PackageRevision, error) {
	repo, err := s.store(ctx)
	if err != nil {
		return nil, err
	}
	var layers []ocispec.Descriptor
	if files == nil {
		if layers, err = e.layersOf(ctx, repo, s.rev); err != nil {
			return nil, err
		}
	}
	// A draft pushed by another tool may lack the identity annotations:
	// write what it is shown with, so its package and UID stay.
	if id := revID(s.repo, s.pkg, s.rev); meta.Package == "" {
		meta.Target, meta.Realm, meta.Package = id.Target, id.Realm, id.Package
	}
	if meta.UID == "" {
		meta.UID = s.uid()
	}
	if WriteOptionsFrom(ctx).DryRun {
		return e.dryRun(s.repo, s.pkg, s.rev.tag, meta, files, layers)
	}
	m, err := e.writeRevision(ctx, s.repo, repo, s.pkg.key, s.rev.tag, meta, files, layers)
	if err != nil {
		return nil, err
	}
	edit := newTagEdit(s.pkg.tagMap())
	edit.tag(s.rev.tag, m)
	if m.Descriptor.Digest != s.rev.digest {
		shared := false
		for _, o := range s.pkg.entries {
			shared = shared || o.tag != s.rev.tag && o.digest == s.rev.digest
		}
		// The old manifest is garbage now: removing it is cleanup, and a
		// crash before it leaves only an untagged manifest.
		if !shared {
			if err := deleteManifest(ctx, repo, s.rev.descriptor()); err != nil && !errors.Is(err, errdef.ErrNotFound) {
				e.log.Warn("removing the previous manifest of a draft", "package", s.pkg.key.String(), "digest", s.rev.digest, "err", err)
			}
		}
	}
	if err := t.publish(ctx, edit.records(s.pkg.key)); err != nil {
		return nil, err
	}
	return e.object(s.repo.key.namespace, s.name())
}

// layersOf returns the layers of a revision, from its manifest.
func (e *Engine) layersOf(ctx context.Context, repo store.Repository, r *rev) ([]ocispec.Descriptor, error) {
	m, err := e.cache.manifest(ctx, repo, r.descriptor())
	if err != nil {
		return nil, err
	}
	return m.Layers, nil
}

// writeRevision pushes a revision's blobs and manifest and tags it. With files
// it packs a new layer; otherwise it reuses layers.
func (e *Engine) writeRevision(ctx context.Context, rs *repoState, repo store.Repository, k pkgKey, tag string, meta format.Meta, files map[string]string, layers []ocispec.Descriptor) (format.Blob, error) {
	blobs := []format.Blob{format.Empty}
	if files != nil {
		layer, err := format.PackLayer(meta.Package, files)
		if err != nil {
			return format.Blob{}, err
		}
		blobs = append(blobs, format.Blob(layer))
		layers = []ocispec.Descriptor{layer.Descriptor}
	}
	for _, b := range blobs {
		if err := e.pushBlob(ctx, rs, repo, k, b); err != nil {
			return format.Blob{}, err
		}
	}
	manifest := format.Manifest(meta, layers...)
	if err := pushManifest(ctx, repo, manifest, tag); err != nil {
		// A blob remembered as stored may be gone (garbage collection):
		// push what we have again, check the rest, and retry once.
		if !e.forgetBlobs(ctx, rs, repo, k, blobs, layers) {
			return format.Blob{}, err
		}
		if err := pushManifest(ctx, repo, manifest, tag); err != nil {
			return format.Blob{}, err
		}
	}
	e.cache.putManifest(manifest.Descriptor.Digest, manifest.Data)
	if files != nil {
		e.cache.putFiles(manifest.Descriptor.Digest, maps.Clone(files))
	}
	return manifest, nil
}

// dryRun returns the object a write of meta and files would make, writing nothing.
func (e *Engine) dryRun(rs *repoState, p *pkgState, tag string, meta format.Meta, files map[string]string, layers []ocispec.Descriptor) (*pkgapi.PackageRevision, error) {
	if files != nil {
		layer, err := format.PackLayer(meta.Package, files)
		if err != nil {
			return nil, err
		}
		layers = []ocispec.Descriptor{layer.Descriptor}
	}
	manifest := format.Manifest(meta, layers...)
	r := newRev(tag, manifest.Descriptor, metaFrom(format.ArtifactType, meta))
	return e.dryRunRev(rs, p, r, p.latest())
}

func (e *Engine) dryRunRev(rs *repoState, p *pkgState, r *rev, latest int) (*pkgapi.PackageRevision, error) {
	pr := toPackageRevision(rs, p, r, latest)
	return &pr, nil
}

// dryRunLifecycle shows a revision with another lifecycle, writing nothing.
func (e *Engine) dryRunLifecycle(s snap, l pkgapi.Lifecycle) (*pkgapi.PackageRevision, error) {
	pr := s.pr()
	pr.Spec.Lifecycle = l
	return &pr, nil
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
	s, t, err := e.findForWrite(ctx, in.Namespace, in.Name, in.ResourceVersion)
	if err != nil {
		return nil, err
	}
	defer t.unlock()
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
	cur := s.rev.fullMeta()
	managed := cur.ManagedFields
	if in.ManagedFields != nil {
		managed = in.ManagedFields
	}
	same := equalJSON(conds, cur.Conditions) || len(conds) == 0 && len(cur.Conditions) == 0
	if same && equalJSON(managed, cur.ManagedFields) {
		pr := s.pr()
		return &pr, nil
	}
	if !lifecycle.Mutable(s.rev.lifecycle) {
		return nil, fmt.Errorf("%w: revision %q is %s and immutable; its status cannot change", errdef.ErrForbidden, in.Name, s.rev.lifecycle)
	}
	meta := cur
	meta.Conditions = conds
	meta.ManagedFields = managed
	return e.rewrite(ctx, t, s, meta, nil)
}
