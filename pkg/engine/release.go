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
func (e *Engine) upgradeFiles(ctx context.Context, namespace string, id names.ID, p *pkgState, held string, t *pkgapi.UpgradeTask, meta *format.Meta) (map[string]string, error) {
	const field = "spec.tasks[0].upgrade"
	if t == nil || t.NewUpstream.Name == "" || t.LocalPackageRevisionRef.Name == "" {
		return nil, fmt.Errorf("%w: %s.newUpstream.name and %s.localPackageRevisionRef.name are required", errdef.ErrInvalid, field, field)
	}
	local, localFiles, err := e.publishedSource(ctx, namespace, t.LocalPackageRevisionRef.Name, field+".localPackageRevisionRef.name", held)
	if err != nil {
		return nil, err
	}
	if local.p.path != p.path || local.rs.obj.Name != id.Repository {
		return nil, fmt.Errorf("%w: %s.localPackageRevisionRef.name: %q is not a revision of package %q in repository %q", errdef.ErrInvalid, field, t.LocalPackageRevisionRef.Name, id.Package, id.Repository)
	}
	oldName := t.OldUpstream.Name
	if oldName == "" {
		if local.r.meta.Upstream == nil || local.r.meta.Upstream.Name == "" {
			return nil, fmt.Errorf("%w: %s.oldUpstream.name: %q records no upstream; name the revision it was made from", errdef.ErrInvalid, field, t.LocalPackageRevisionRef.Name)
		}
		oldName = local.r.meta.Upstream.Name
	}
	_, oldFiles, err := e.publishedSource(ctx, namespace, oldName, field+".oldUpstream.name", held)
	if err != nil {
		return nil, err
	}
	newUp, newFiles, err := e.publishedSource(ctx, namespace, t.NewUpstream.Name, field+".newUpstream.name", held)
	if err != nil {
		return nil, err
	}
	res, err := upgrade.Upgrade(oldFiles, newFiles, localFiles, upgrade.Strategy(t.Strategy))
	if err != nil {
		return nil, fmt.Errorf("%s: %w", field, err)
	}
	pr := newUp.pr()
	meta.Upstream = &pkgapi.Upstream{Name: pr.Name, PackageRevID: pr.Spec.PackageRevID}
	meta.UpstreamLock = &pkgapi.UpstreamLock{Reference: pr.Status.OCI.Reference, Digest: pr.Status.OCI.Digest}
	meta.Source = pr.Status.OCI.Reference
	meta.Description = local.r.meta.Description
	meta.Labels = mergeLabels(local.r.meta.Labels, meta.Labels)
	meta.ReadinessGates = append(meta.ReadinessGates, local.r.meta.ReadinessGates...)
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

// downstreamsOf names the revisions of namespace whose upstream is name.
func (e *Engine) downstreamsOf(ctx context.Context, namespace, name string) ([]string, error) {
	prs, err := e.ListPackageRevisions(ctx, namespace)
	if err != nil {
		return nil, err
	}
	var out []string
	for _, pr := range prs {
		if pr.Spec.Upstream != nil && pr.Spec.Upstream.Name == name {
			out = append(out, pr.Name)
		}
	}
	return out, nil
}

// upgrades finds, from the index only, the newest published revision of the
// upstream package of revisions; one lookup per upstream package.
type upgrades struct {
	e    *Engine
	ctx  context.Context
	peek bool                                // the caller holds a package lock: read others without locking
	memo map[string]*pkgapi.UpstreamRevision // namespace/package path -> newest (nil: none)
	nums map[string]int
}

func (e *Engine) upgrades(ctx context.Context) *upgrades {
	return &upgrades{e: e, ctx: ctx, memo: map[string]*pkgapi.UpstreamRevision{}, nums: map[string]int{}}
}

// of returns the upgrade available to a revision of namespace with upstream up, or nil.
func (u *upgrades) of(namespace string, up *pkgapi.Upstream) *pkgapi.UpstreamRevision {
	if up == nil || up.Name == "" {
		return nil
	}
	cur, ok := names.ParseRevision(up.PackageRevID.Revision)
	if !ok {
		return nil
	}
	id, err := names.Parse(up.Name)
	if err != nil {
		return nil
	}
	rs, path, err := u.e.locate(u.ctx, namespace, id)
	if err != nil {
		return nil
	}
	key := namespace + "/" + rs.lockKey(path)
	if _, ok := u.memo[key]; !ok {
		var newest *pkgapi.UpstreamRevision
		n := 0
		read := func() (*pkgState, error) { return u.e.pkg(u.ctx, rs, path, false) }
		if u.peek {
			read = func() (*pkgState, error) { return u.e.peekPackage(u.ctx, rs, path) }
		}
		if p, err := read(); err == nil {
			for _, r := range p.revs {
				if r.n > n && r.lifecycle == pkgapi.LifecyclePublished {
					n, newest = r.n, &pkgapi.UpstreamRevision{Name: revID(rs, p, r).Name(), Revision: r.tag}
				}
			}
		}
		u.memo[key], u.nums[key] = newest, n
	}
	if u.nums[key] > cur {
		return u.memo[key]
	}
	return nil
}

// decorate fills status.upgradeAvailable of revisions that have an upstream
// whose package has a newer published revision. It reads the index only.
func (e *Engine) decorate(ctx context.Context, prs []pkgapi.PackageRevision) {
	u := e.upgrades(ctx)
	for i := range prs {
		prs[i].Status.UpgradeAvailable = u.of(prs[i].Namespace, prs[i].Spec.Upstream)
	}
}

// History implements Historian: every revision of the package of name, from
// the manifests in the index (no layer is read).
func (e *Engine) History(ctx context.Context, namespace, name string) (*pkgapi.PackageRevisionHistory, error) {
	f, err := e.find(ctx, namespace, name, "")
	if err != nil {
		return nil, err
	}
	id := revID(f.rs, f.p, f.r)
	out := &pkgapi.PackageRevisionHistory{
		TypeMeta: metav1.TypeMeta{APIVersion: pkgapi.SchemeGroupVersion.String(), Kind: "PackageRevisionHistory"},
		Package:  pkgapi.PackageRevID{Target: id.Target, Repository: id.Repository, Realm: id.Realm, Package: id.Package},
	}
	latest := f.p.latest()
	for _, r := range f.p.revs {
		pr := toPackageRevision(f.rs, f.p, r, latest)
		out.Revisions = append(out.Revisions, pkgapi.HistoryEntry{
			Name: pr.Name, Workspace: pr.Spec.PackageRevID.Workspace, Revision: pr.Spec.PackageRevID.Revision,
			Lifecycle: pr.Spec.Lifecycle, Digest: pr.Status.OCI.Digest, Created: pr.CreationTimestamp,
			PublishedBy: pr.Status.PublishedBy, PublishTimestamp: pr.Status.PublishTimestamp,
			Upstream: pr.Spec.Upstream, UpstreamLock: pr.Status.UpstreamLock,
		})
	}
	revN := map[string]int{}
	for _, r := range f.p.revs {
		revN[r.meta.Workspace] = r.n
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
	f, err := e.find(ctx, namespace, name, "")
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
		o, err := e.find(ctx, namespace, against, "")
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
	res, err := diff.Resources(from, to)
	if err != nil {
		return nil, fmt.Errorf("comparing resources: %w", err)
	}
	for _, d := range res {
		out.Resources = append(out.Resources, pkgapi.ResourceDiff{Group: d.Group, Kind: d.Kind, Namespace: d.Namespace, Name: d.Name, Path: d.Path, Change: d.Change})
	}
	return out, nil
}

// defaultBase is what a revision is compared with when nothing is named.
func (e *Engine) defaultBase(f found) string {
	if u := f.r.meta.Upstream; u != nil && u.Name != "" {
		return u.Name
	}
	var base *rev
	for _, r := range f.p.revs {
		if r.n == 0 || r == f.r || (f.r.n > 0 && r.n >= f.r.n) {
			continue
		}
		if base == nil || r.n > base.n {
			base = r
		}
	}
	if base == nil {
		return ""
	}
	return revID(f.rs, f.p, base).Name()
}
