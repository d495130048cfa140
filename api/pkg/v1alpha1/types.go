// Package v1alpha1 holds the pkg.pkgserver.dev/v1alpha1 API: PackageRevision (the
// metadata and lifecycle of one revision of a package) and PackageRevisionResources
// (its files).
package v1alpha1

import (
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// Group, Version, kinds and resources of this API.
const (
	Group                            = "pkg.pkgserver.dev"
	Version                          = "v1alpha1"
	PackageRevisionKind              = "PackageRevision"
	PackageRevisionResourcesKind     = "PackageRevisionResources"
	PackageRevisionResource          = "packagerevisions"
	PackageRevisionResourcesResource = "packagerevisionresources"

	// LatestRevisionLabel is "true" on the newest published revision of a package.
	LatestRevisionLabel = "pkg.pkgserver.dev/latest-revision"
	// CatalogTarget is the target of every package of a catalog repository.
	CatalogTarget = "catalog"
)

// Lifecycle is the state of a package revision.
type Lifecycle string

// Lifecycle values. See docs/format.md for the transitions.
const (
	LifecycleDraft            Lifecycle = "draft"
	LifecycleProposed         Lifecycle = "proposed"
	LifecyclePublished        Lifecycle = "published"
	LifecycleDeletionProposed Lifecycle = "deletionProposed"
)

// TaskType names how a revision was made.
type TaskType string

// Task types accepted at creation.
const (
	TaskTypeInit  TaskType = "init"
	TaskTypeClone TaskType = "clone"
	TaskTypeEdit  TaskType = "edit"
	// TaskTypeUpgrade rebases a downstream package onto a newer upstream revision.
	TaskTypeUpgrade TaskType = "upgrade"

	// ConditionUpgradeConflict is True on an upgraded draft when both the local
	// package and the new upstream changed the same fields; its message lists them.
	ConditionUpgradeConflict = "UpgradeConflict"
)

// PackageRevision is the metadata view of one revision of one package.
// +genclient
// +genclient:skipVerbs=deleteCollection
// +genclient:method=UpdateApproval,verb=update,subresource=approval,input=PackageRevision,result=PackageRevision
// +k8s:deepcopy-gen:interfaces=k8s.io/apimachinery/pkg/runtime.Object
type PackageRevision struct {
	metav1.TypeMeta `json:",inline"`
	// Standard object metadata; the name is derived from spec.packageRevID.
	metav1.ObjectMeta `json:"metadata,omitempty"`

	// Spec is the identity, lifecycle and origin of the revision.
	Spec PackageRevisionSpec `json:"spec,omitempty"`
	// Status is what the server observed: publication, upstream lock, conditions, OCI location.
	Status PackageRevisionStatus `json:"status,omitempty"`
}

// PackageRevID identifies a revision: the object name is
// `<target>.<repository>.<realm with "/" as ":">.<package>.<workspace>`.
type PackageRevID struct {
	// Target is the deployment target; "catalog" for catalog packages.
	Target string `json:"target,omitempty"`
	// Repository is the name of the Repository object.
	Repository string `json:"repository,omitempty"`
	// Realm is a grouping path; it may contain "/".
	Realm string `json:"realm,omitempty"`
	// Package is the package name.
	Package string `json:"package,omitempty"`
	// Workspace names this line of work; unique per package.
	Workspace string `json:"workspace,omitempty"`
	// Revision is "vN" once published, empty before.
	Revision string `json:"revision,omitempty"`
}

// PackageRevisionSpec is the desired state of a revision.
type PackageRevisionSpec struct {
	// PackageRevID identifies the revision; fixed at creation.
	PackageRevID PackageRevID `json:"packageRevID"`
	// Lifecycle is draft, proposed, published or deletionProposed. Updates move
	// between draft and proposed; the approval subresource does the rest.
	Lifecycle Lifecycle `json:"lifecycle,omitempty"`
	// Tasks says how the revision was made; only tasks[0] is read, at creation.
	Tasks []Task `json:"tasks,omitempty"`
	// Upstream is the revision this one was cloned from, if any.
	Upstream *Upstream `json:"upstream,omitempty"`
	// ReadinessGates name conditions that must be True before approval.
	// +listType=map
	// +listMapKey=conditionType
	ReadinessGates []ReadinessGate `json:"readinessGates,omitempty"`
}

// Task is one step that produced the revision.
type Task struct {
	// Type is init, clone, edit or upgrade; the field of the same name holds its parameters.
	Type TaskType `json:"type"`
	// Init creates an empty package with a Kptfile.
	Init *InitTask `json:"init,omitempty"`
	// Clone copies a published revision of any repository.
	Clone *CloneTask `json:"clone,omitempty"`
	// Edit starts a new draft from a published revision of the same package.
	Edit *EditTask `json:"edit,omitempty"`
	// Upgrade rebases a downstream package onto a newer upstream revision.
	Upgrade *UpgradeTask `json:"upgrade,omitempty"`
}

// InitTask creates an empty package with its Kptfile.
type InitTask struct {
	// Description goes into the Kptfile and the manifest's description annotation.
	Description string `json:"description,omitempty"`
	// Keywords describe the package.
	Keywords []string `json:"keywords,omitempty"`
	// Site is a URL about the package.
	Site string `json:"site,omitempty"`
}

// CloneTask copies a published revision of any repository.
type CloneTask struct {
	// Upstream is the object name of the published PackageRevision to clone
	// (in the same namespace).
	Upstream UpstreamRef `json:"upstream"`
}

// EditTask starts a new draft from a published revision of the same package.
type EditTask struct {
	// Source is the object name of the published PackageRevision to start from.
	Source UpstreamRef `json:"source"`
}

// UpgradeTask makes a new draft of a downstream package from its published
// revision LocalPackageRevisionRef, rebased from OldUpstream onto NewUpstream.
type UpgradeTask struct {
	// OldUpstream is the upstream revision the local one was made from; empty
	// means the one recorded in the local revision's spec.upstream.
	OldUpstream UpstreamRef `json:"oldUpstream,omitempty"`
	// NewUpstream is the published upstream revision to move to.
	NewUpstream UpstreamRef `json:"newUpstream"`
	// LocalPackageRevisionRef is the published downstream revision to upgrade.
	LocalPackageRevisionRef UpstreamRef `json:"localPackageRevisionRef"`
	// Strategy is resource-merge (default), fast-forward, force-delete-replace or copy-merge.
	Strategy string `json:"strategy,omitempty"`
}

// UpstreamRef names a PackageRevision.
type UpstreamRef struct {
	// Name is the PackageRevision object name, in the same namespace.
	Name string `json:"name"`
}

// Upstream records where a cloned revision came from.
type Upstream struct {
	// Name is the upstream PackageRevision object name.
	Name string `json:"name,omitempty"`
	// PackageRevID is the upstream revision's identity.
	PackageRevID PackageRevID `json:"packageRevID,omitempty"`
}

// ReadinessGate names a condition type.
type ReadinessGate struct {
	// ConditionType is a status condition that must be True before approval.
	ConditionType string `json:"conditionType"`
}

// PackageRevisionStatus is the observed state of a revision.
type PackageRevisionStatus struct {
	// PublishedBy is who approved the publication.
	PublishedBy      string       `json:"publishedBy,omitempty"`
	PublishTimestamp *metav1.Time `json:"publishTimestamp,omitempty"`
	// UpstreamLock pins the exact upstream artifact a clone came from.
	UpstreamLock *UpstreamLock `json:"upstreamLock,omitempty"`
	// Conditions are set through the status subresource (readiness gates, external checks).
	// +listType=map
	// +listMapKey=type
	Conditions []metav1.Condition `json:"conditions,omitempty"`
	// OCI locates the artifact that holds this revision.
	OCI *OCIStatus `json:"oci,omitempty"`
	// UpgradeAvailable names the newest published revision of the upstream
	// package when it is newer than spec.upstream; absent otherwise.
	UpgradeAvailable *UpstreamRevision `json:"upgradeAvailable,omitempty"`
}

// UpstreamRevision names a published upstream revision.
type UpstreamRevision struct {
	// Name is the PackageRevision object name.
	Name string `json:"name"`
	// Revision is its vN.
	Revision string `json:"revision"`
}

// UpstreamLock is the resolved upstream.
type UpstreamLock struct {
	// Reference is the upstream artifact, `host[:port]/repo:tag`.
	Reference string `json:"reference,omitempty"`
	// Digest is the upstream manifest digest.
	Digest string `json:"digest,omitempty"`
}

// OCIStatus locates a revision's artifact.
type OCIStatus struct {
	// Reference is the full reference with its tag, as `oras pull` takes it.
	Reference string `json:"reference,omitempty"`
	// Digest is the manifest digest.
	Digest string `json:"digest,omitempty"`
}

// PackageRevisionList is a list of package revisions.
// +k8s:deepcopy-gen:interfaces=k8s.io/apimachinery/pkg/runtime.Object
type PackageRevisionList struct {
	metav1.TypeMeta `json:",inline"`
	metav1.ListMeta `json:"metadata,omitempty"`
	Items           []PackageRevision `json:"items"`
}

// PackageRevisionResources is the content view of a revision.
// +genclient
// +genclient:noStatus
// +genclient:skipVerbs=create,delete,deleteCollection
// +k8s:deepcopy-gen:interfaces=k8s.io/apimachinery/pkg/runtime.Object
type PackageRevisionResources struct {
	metav1.TypeMeta `json:",inline"`
	// Standard object metadata; the same name and resourceVersion as the PackageRevision.
	metav1.ObjectMeta `json:"metadata,omitempty"`

	// Spec holds the files.
	Spec PackageRevisionResourcesSpec `json:"spec,omitempty"`
	// Status is empty.
	Status PackageRevisionResourcesStatus `json:"status,omitempty"`
}

// PackageRevisionResourcesSpec holds the files.
type PackageRevisionResourcesSpec struct {
	// PackageRevID is the identity of the revision (read only).
	PackageRevID PackageRevID `json:"packageRevID,omitempty"`
	// Resources maps a relative, clean, forward-slash path to the file's text.
	// Server-side apply replaces the whole map: the applied files are the package.
	// +mapType=atomic
	Resources map[string]string `json:"resources,omitempty"`
}

// PackageRevisionResourcesStatus is empty for now; kept for the Kubernetes shape.
type PackageRevisionResourcesStatus struct{}

// PackageRevisionResourcesList is a list of PackageRevisionResources.
// +k8s:deepcopy-gen:interfaces=k8s.io/apimachinery/pkg/runtime.Object
type PackageRevisionResourcesList struct {
	metav1.TypeMeta `json:",inline"`
	metav1.ListMeta `json:"metadata,omitempty"`
	Items           []PackageRevisionResources `json:"items"`
}

// PackageRevisionHistory lists every revision of one package, read from the
// manifests only (GET .../packagerevisions/{name}/history).
type PackageRevisionHistory struct {
	metav1.TypeMeta `json:",inline"`
	// Package is the identity of the package (workspace and revision empty).
	Package PackageRevID `json:"package"`
	// Revisions are sorted published first by revision number, then the rest by workspace.
	Revisions []HistoryEntry `json:"revisions"`
}

// HistoryEntry is one revision in a package's history.
type HistoryEntry struct {
	Name             string        `json:"name"`
	Workspace        string        `json:"workspace"`
	Revision         string        `json:"revision,omitempty"`
	Lifecycle        Lifecycle     `json:"lifecycle"`
	Digest           string        `json:"digest"`
	Created          metav1.Time   `json:"created,omitempty"`
	PublishedBy      string        `json:"publishedBy,omitempty"`
	PublishTimestamp *metav1.Time  `json:"publishTimestamp,omitempty"`
	Upstream         *Upstream     `json:"upstream,omitempty"`
	UpstreamLock     *UpstreamLock `json:"upstreamLock,omitempty"`
}

// PackageRevisionDiff is the difference between two revisions
// (GET .../packagerevisions/{name}/diff?against=OTHER).
type PackageRevisionDiff struct {
	metav1.TypeMeta `json:",inline"`
	// From is the revision compared against (the old side), To this revision.
	From string `json:"from"`
	To   string `json:"to"`
	// Files are the changed files with a unified diff each.
	Files []FileDiff `json:"files"`
	// Resources are the added, removed and changed KRM resources.
	Resources []ResourceDiff `json:"resources"`
}

// FileDiff is one changed file.
type FileDiff struct {
	Path string `json:"path"`
	// Status is added, removed or modified.
	Status string `json:"status"`
	// Unified is the unified diff of the file.
	Unified string `json:"unified"`
}

// ResourceDiff is one changed KRM resource.
type ResourceDiff struct {
	Group     string `json:"group,omitempty"`
	Kind      string `json:"kind"`
	Namespace string `json:"namespace,omitempty"`
	Name      string `json:"name"`
	Path      string `json:"path"`
	// Change is added, removed or changed.
	Change string `json:"change"`
}
