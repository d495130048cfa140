package engine

import (
	"encoding/json"
	"maps"

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
	target, realm, pkg, _ := names.FromOCIPath(rs.prefix, p.key.path, rs.deployment)
	return names.ID{Target: target, Repository: rs.key.name, Realm: realm, Package: pkg, Workspace: r.meta.Workspace}
}

// reference is the full OCI reference of a revision, as `oras pull` takes it.
func reference(rs *repoState, p *pkgState, r *rev) string {
	return rs.host + "/" + p.key.path + ":" + r.tag
}

// toPackageRevision builds the API object of a revision.
func toPackageRevision(rs *repoState, p *pkgState, r *rev, latest int) pkgapi.PackageRevision {
	id := revID(rs, p, r)
	labels := maps.Clone(r.meta.Labels)
	if r.n > 0 && r.n == latest {
		if labels == nil {
			labels = map[string]string{}
		}
		labels[pkgapi.LatestRevisionLabel] = "true"
	}
	uid := r.meta.UID
	if uid == "" {
		// Artifacts pushed by other tools: a stable UID from where they are.
		uid = uuid.NewSHA1(uuid.NameSpaceURL, []byte(reference(rs, p, r)+"@"+r.desc.Digest.String())).String()
	}
	pr := pkgapi.PackageRevision{
		TypeMeta: metav1.TypeMeta{APIVersion: pkgapi.SchemeGroupVersion.String(), Kind: pkgapi.PackageRevisionKind},
		ObjectMeta: metav1.ObjectMeta{
			Name:              id.Name(),
			Namespace:         rs.key.namespace,
			UID:               types.UID(uid),
			Generation:        1,
			CreationTimestamp: metav1.NewTime(r.meta.Created),
			Labels:            labels,
			Annotations:       maps.Clone(r.meta.Annotations),
			ManagedFields:     r.meta.ManagedFields,
		},
		Spec: pkgapi.PackageRevisionSpec{
			PackageRevID: pkgapi.PackageRevID{
				Target: id.Target, Repository: id.Repository, Realm: id.Realm,
				Package: id.Package, Workspace: id.Workspace, Revision: r.meta.Revision,
			},
			Lifecycle:      r.lifecycle,
			Tasks:          r.meta.Tasks,
			Upstream:       r.meta.Upstream,
			ReadinessGates: r.meta.ReadinessGates,
		},
		Status: pkgapi.PackageRevisionStatus{
			PublishedBy:  r.meta.PublishedBy,
			UpstreamLock: r.meta.UpstreamLock,
			Conditions:   r.meta.Conditions,
			OCI:          &pkgapi.OCIStatus{Reference: reference(rs, p, r), Digest: r.desc.Digest.String()},
		},
	}
	if !r.meta.PublishedAt.IsZero() {
		t := metav1.NewTime(r.meta.PublishedAt)
		pr.Status.PublishTimestamp = &t
	}
	// Tasks, upstream, gates and conditions point into the index's cached
	// metadata; the caller owns what it gets and may change it.
	return *pr.DeepCopy()
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
