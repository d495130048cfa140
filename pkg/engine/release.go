package engine

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"strings"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	pkgapi "pkgserver.dev/pkgserver/api/pkg/v1alpha1"
	"pkgserver.dev/pkgserver/pkg/diff"
	"pkgserver.dev/pkgserver/pkg/errdef"
	"pkgserver.dev/pkgserver/pkg/format"
	"pkgserver.dev/pkgserver/pkg/names"
	"pkgserver.dev/pkgserver/pkg/upgrade"
)

// upgradeFiles runs the upgrade task: the new draft's files are the local
// published revision rebased from its old upstream onto the new one.
func (e *Engine) upgradeFiles(ctx context.Context, namespace string, id names.ID, p *pkgState, t *pkgapi.UpgradeTask, meta *format.Meta) (map[string]string, error) {
	const field = "spec.tasks[0].upgrade"
	if t == nil || t.NewUpstream.Name == "" || t.LocalPackageRevisionRef.Name == "" {
		return nil, fmt.Errorf("%w: %s.newUpstream.name and %s.localPackageRevisionRef.name are required", errdef.ErrInvalid, field, field)
	}
	local, localFiles, err := e.publishedSource(ctx, namespace, t.LocalPackageRevisionRef.Name, field+".localPackageRevisionRef.name")
	var localMeta format.Meta
	if err == nil {
		localMeta = local.rev.fullMeta()
	}
	if err != nil {
		return nil, err
	}
	if local.pkg.key != p.key || local.repo.key.name != id.Repository {
		return nil, fmt.Errorf("%w: %s.localPackageRevisionRef.name: %q is not a revision of package %q in repository %q", errdef.ErrInvalid, field, t.LocalPackageRevisionRef.Name, id.Package, id.Repository)
	}
	oldName := t.OldUpstream.Name
	if oldName == "" {
		if localMeta.Upstream == nil || localMeta.Upstream.Name == "" {
			return nil, fmt.Errorf("%w: %s.oldUpstream.name: %q records no upstream; name the revision it was made from", errdef.ErrInvalid, field, t.LocalPackageRevisionRef.Name)
		}
		oldName = localMeta.Upstream.Name
	}
	_, oldFiles, err := e.publishedSource(ctx, namespace, oldName, field+".oldUpstream.name")
	if err != nil {
		return nil, err
	}
	newUp, newFiles, err := e.publishedSource(ctx, namespace, t.NewUpstream.Name, field+".newUpstream.name")
	if err != nil {
		return nil, err
	}
	res, err := upgrade.Upgrade(oldFiles, newFiles, localFiles, upgrade.Strategy(t.Strategy), upgrade.WithLimits(e.opts.Package.YAML))
	if err != nil {
		return nil, fmt.Errorf("%s: %w", field, err)
	}
	pr := newUp.pr()
	meta.Upstream = &pkgapi.Upstream{Name: pr.Name, PackageRevID: pr.Spec.PackageRevID}
	meta.UpstreamLock = &pkgapi.UpstreamLock{Reference: pr.Status.OCI.Reference, Digest: pr.Status.OCI.Digest}
	meta.Source = pr.Status.OCI.Reference
	meta.Description = localMeta.Description
	meta.Labels = mergeLabels(localMeta.Labels, meta.Labels)
	meta.ReadinessGates = append(meta.ReadinessGates, localMeta.ReadinessGates...)
	cond := metav1.Condition{Type: pkgapi.ConditionUpgradeConflict, Status: metav1.ConditionFalse, Reason: "Merged",
		Message:            fmt.Sprintf("upgraded from %s to %s with %s: no conflicts", oldName, pr.Name, strategyName(t.Strategy)),
		LastTransitionTime: metav1.NewTime(meta.Created)}
	if len(res.Conflicts) > 0 {
		lines := make([]string, len(res.Conflicts))
		for i, c := range res.Conflicts {
			lines[i] = c.String()
		}
		cond.Status, cond.Reason = metav1.ConditionTrue, "BothChanged"
		cond.Message = fmt.Sprintf("%d field(s) changed both locally and upstream; the local values were kept: %s", len(lines), strings.Join(lines, "; "))
	}
	meta.Conditions = []metav1.Condition{cond}
	return res.Files, nil
}

func strategyName(s string) string {
	if s == "" {
		return string(upgrade.ResourceMerge)
	}
	return s
}

func mergeLabels(a, b map[string]string) map[string]string {
	if len(a) == 0 {
		return b
	}
	out := map[string]string{}
	for k, v := range a {
		out[k] = v
	}
	for k, v := range b {
		out[k] = v
	}
	delete(out, pkgapi.LatestRevisionLabel)
	return out
}

// History implements Historian: every revision of the package of name, from
// the manifests in the index (no layer is read).
func (e *Engine) History(ctx context.Context, namespace, name string) (*pkgapi.PackageRevisionHistory, error) {
	f, err := e.find(ctx, namespace, name)
	if err != nil {
		return nil, err
	}
	id := revID(f.repo, f.pkg, f.rev)
	out := &pkgapi.PackageRevisionHistory{
		TypeMeta: metav1.TypeMeta{APIVersion: pkgapi.SchemeGroupVersion.String(), Kind: "PackageRevisionHistory"},
		Package:  pkgapi.PackageRevID{Target: id.Target, Repository: id.Repository, Realm: id.Realm, Package: id.Package},
	}
	latest := f.pkg.latest()
	for _, r := range f.pkg.revs {
		pr := toPackageRevision(f.repo, f.pkg, r, latest)
		out.Revisions = append(out.Revisions, pkgapi.HistoryEntry{
			Name: pr.Name, Workspace: pr.Spec.PackageRevID.Workspace, Revision: pr.Spec.PackageRevID.Revision,
			Lifecycle: pr.Spec.Lifecycle, Digest: pr.Status.OCI.Digest, Created: pr.CreationTimestamp,
			PublishedBy: pr.Status.PublishedBy, PublishTimestamp: pr.Status.PublishTimestamp,
			Upstream: pr.Spec.Upstream, UpstreamLock: pr.Status.UpstreamLock,
		})
	}
	revN := map[string]int{}
	for _, r := range f.pkg.revs {
		revN[r.workspace] = r.n
	}
	sort.SliceStable(out.Revisions, func(i, j int) bool {
		a, b := revN[out.Revisions[i].Workspace], revN[out.Revisions[j].Workspace]
		switch {
		case a > 0 && b > 0:
			return a < b
		case a > 0 || b > 0:
			return a > 0 // published first
		}
		return out.Revisions[i].Workspace < out.Revisions[j].Workspace
	})
	return out, nil
}

// Diff implements Differ: the changes from against to name. An empty against
// means the upstream of name if it has one, else the published revision before
// it (for a draft, the newest published one).
func (e *Engine) Diff(ctx context.Context, namespace, name, against string) (*pkgapi.PackageRevisionDiff, error) {
	f, err := e.find(ctx, namespace, name)
	if err != nil {
		return nil, err
	}
	if against == "" {
		against = e.defaultBase(f)
	}
	to, err := e.files(ctx, f)
	if err != nil {
		return nil, err
	}
	from := map[string]string{}
	if against != "" {
		o, err := e.find(ctx, namespace, against)
		if errors.Is(err, errdef.ErrNotFound) {
			return nil, fmt.Errorf("%w: against: %v", errdef.ErrInvalid, err)
		}
		if err != nil {
			return nil, err
		}
		if from, err = e.files(ctx, o); err != nil {
			return nil, err
		}
	}
	out := &pkgapi.PackageRevisionDiff{
		TypeMeta: metav1.TypeMeta{APIVersion: pkgapi.SchemeGroupVersion.String(), Kind: "PackageRevisionDiff"},
		From:     against, To: name,
		Files: []pkgapi.FileDiff{}, Resources: []pkgapi.ResourceDiff{},
	}
	for _, d := range diff.Files(from, to) {
		out.Files = append(out.Files, pkgapi.FileDiff{Path: d.Path, Status: d.Status, Unified: d.Unified})
	}
	res, err := diff.Resources(from, to, diff.WithLimits(e.opts.Package.YAML))
	if err != nil {
		return nil, fmt.Errorf("comparing resources: %w", err)
	}
	for _, d := range res {
		out.Resources = append(out.Resources, pkgapi.ResourceDiff{Group: d.Group, Kind: d.Kind, Namespace: d.Namespace, Name: d.Name, Path: d.Path, Change: d.Change})
	}
	return out, nil
}

// defaultBase is what a revision is compared with when nothing is named.
func (e *Engine) defaultBase(f snap) string {
	if u := f.rev.m.x().upstreamName; u != "" {
		return u
	}
	var base *rev
	for _, r := range f.pkg.revs {
		if r.n == 0 || r == f.rev || (f.rev.n > 0 && r.n >= f.rev.n) {
			continue
		}
		if base == nil || r.n > base.n {
			base = r
		}
	}
	if base == nil {
		return ""
	}
	return revID(f.repo, f.pkg, base).Name()
}
