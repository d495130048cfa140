package engine

import (
	"encoding/json"
	"maps"
	"slices"

	"github.com/google/uuid"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"

	pkgapi "pkgserver.dev/pkgserver/api/pkg/v1alpha1"
	"pkgserver.dev/pkgserver/pkg/names"
)

func metaCondition(typ, status, reason, msg string) metav1.Condition {
	return metav1.Condition{Type: typ, Status: metav1.ConditionStatus(status), Reason: reason, Message: msg}
}

// revID returns the identity of a revision.
func revID(rs *repoState, p *pkgState, r *rev) names.ID {
	v := p.view.Load()
	if v == nil || v.repo != rs {
		// Parsed once per package and repository, not per object rendered.
		target, realm, pkg, _ := names.FromOCIPath(rs.prefix, p.key.path, rs.deployment)
		v = &pkgView{repo: rs, target: target, realm: realm, pkg: pkg}
		p.view.Store(v)
	}
	return names.ID{Target: v.target, Repository: rs.key.name, Realm: v.realm, Package: v.pkg, Workspace: r.workspace}
}

// pkgView is what a package's path means in one repository.
type pkgView struct {
	repo               *repoState
	target, realm, pkg string
}

// reference is the full OCI reference of a revision, as `oras pull` takes it.
func reference(rs *repoState, p *pkgState, r *rev) string {
	return rs.host + "/" + p.key.path + ":" + r.tag
}

// snap is an object as the index had it when read. Its parts never change
// (the index replaces them), so it can be used after the lock is released.
type snap struct {
	repo    *repoState
	pkg     *pkgState
	rev     *rev
	rv      uint64
	upgrade *pkgapi.UpstreamRevision
}

// shown is what a snap shows; when it changes, the object changed.
type shown struct {
	tag, workspace, host, path string
	digest, marker             string
	lifecycle                  pkgapi.Lifecycle
	latest                     bool
	upgrade                    *pkgapi.UpstreamRevision
}

func (s snap) shows() shown {
	v := shown{tag: s.rev.tag, workspace: s.rev.workspace, host: s.repo.host, path: s.pkg.key.path,
		digest: string(s.rev.digest), lifecycle: s.rev.lifecycle, latest: s.latest(), upgrade: s.upgrade}
	if s.rev.marker != nil {
		v.marker = string(s.rev.marker.Digest)
	}
	return v
}

// latest reports whether the revision is its package's newest published one.
func (s snap) latest() bool { return s.rev.n > 0 && s.rev.n == s.pkg.latest() }

// name is the object name.
func (s snap) name() string { return revID(s.repo, s.pkg, s.rev).Name() }

// uid is metadata.uid: the manifest's, or for artifacts pushed by other
// tools a stable one from where they are.
func (s snap) uid() string {
	if s.rev.m.uid != "" {
		return s.rev.m.uid
	}
	return uuid.NewSHA1(uuid.NameSpaceURL, []byte(reference(s.repo, s.pkg, s.rev)+"@"+s.rev.digest.String())).String()
}

// labels are the user's labels and latest-revision on the newest.
func (s snap) labels() map[string]string {
	l := map[string]string{}
	for i := 0; i+1 < len(s.rev.m.x().userLabels); i += 2 {
		l[s.rev.m.x().userLabels[i]] = s.rev.m.x().userLabels[i+1]
	}
	if s.latest() {
		l[pkgapi.LatestRevisionLabel] = "true"
	}
	if len(l) == 0 {
		return nil
	}
	return l
}

func (s snap) pr() pkgapi.PackageRevision { return *render(s) }

// render builds the API object of a snap; the caller owns it.
func render(s snap) *pkgapi.PackageRevision {
	pr := toPackageRevision(s.repo, s.pkg, s.rev, s.pkg.latest())
	pr.ResourceVersion = formatRV(s.rv)
	if s.upgrade != nil {
		u := *s.upgrade
		pr.Status.UpgradeAvailable = &u
	}
	return &pr
}

// deleted is the last state of a deleted object, at the deletion's rv.
func deleted(s snap, rv uint64) *pkgapi.PackageRevision {
	s.rv = rv
	return render(s)
}

// toPackageRevision builds the API object of a revision.
func toPackageRevision(rs *repoState, p *pkgState, r *rev, latest int) pkgapi.PackageRevision {
	id := revID(rs, p, r)
	s := snap{repo: rs, pkg: p, rev: r}
	d := r.fullMeta()
	labels := maps.Clone(d.Labels)
	if r.n > 0 && r.n == latest {
		if labels == nil {
			labels = map[string]string{}
		}
		labels[pkgapi.LatestRevisionLabel] = "true"
	}
	pr := pkgapi.PackageRevision{
		TypeMeta: metav1.TypeMeta{APIVersion: pkgapi.SchemeGroupVersion.String(), Kind: pkgapi.PackageRevisionKind},
		ObjectMeta: metav1.ObjectMeta{
			Name:              id.Name(),
			Namespace:         rs.key.namespace,
			UID:               types.UID(s.uid()),
			Generation:        1,
			CreationTimestamp: metav1.NewTime(d.Created),
			Labels:            labels,
			Annotations:       d.Annotations,
			ManagedFields:     d.ManagedFields,
		},
		Spec: pkgapi.PackageRevisionSpec{
			PackageRevID: pkgapi.PackageRevID{
				Target: id.Target, Repository: id.Repository, Realm: id.Realm,
				Package: id.Package, Workspace: id.Workspace, Revision: r.revision,
			},
			Lifecycle:      r.lifecycle,
			Tasks:          d.Tasks,
			Upstream:       d.Upstream,
			ReadinessGates: d.ReadinessGates,
		},
		Status: pkgapi.PackageRevisionStatus{
			PublishedBy:  d.PublishedBy,
			UpstreamLock: d.UpstreamLock,
			Conditions:   d.Conditions,
			OCI:          &pkgapi.OCIStatus{Reference: reference(rs, p, r), Digest: r.digest.String()},
		},
	}
	if !d.PublishedAt.IsZero() {
		t := metav1.NewTime(d.PublishedAt)
		pr.Status.PublishTimestamp = &t
	}
	return pr
}

func toResources(pr pkgapi.PackageRevision, files map[string]string) pkgapi.PackageRevisionResources {
	// The field owners are the revision's, not of its contents.
	pr.ManagedFields = nil
	return pkgapi.PackageRevisionResources{
		TypeMeta:   metav1.TypeMeta{APIVersion: pkgapi.SchemeGroupVersion.String(), Kind: pkgapi.PackageRevisionResourcesKind},
		ObjectMeta: pr.ObjectMeta,
		Spec:       pkgapi.PackageRevisionResourcesSpec{PackageRevID: pr.Spec.PackageRevID, Resources: maps.Clone(files)},
	}
}

func mustJSON(v any) []byte {
	b, err := json.Marshal(v)
	if err != nil {
		panic(err) // API types always marshal
	}
	return b
}

func sortStrings(s []string) { slices.Sort(s) }
