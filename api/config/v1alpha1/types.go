// Package v1alpha1 holds the config.pkg.pkgserver.dev/v1alpha1 API: the Repository kind.
package v1alpha1

import (
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// Group, Version and Kinds of this API.
const (
	Group          = "config.pkg.pkgserver.dev"
	Version        = "v1alpha1"
	RepositoryKind = "Repository"
	// RepositoryResource is the plural resource name used in paths.
	RepositoryResource = "repositories"
	// RepositoryTypeOCI is the only repository type: packages in an OCI registry.
	RepositoryTypeOCI = "oci"
)

// Repository is a namespace of an OCI registry that holds packages.
// +genclient
// +genclient:noStatus
// +genclient:skipVerbs=deleteCollection
// +genclient:method=Refresh,verb=create,subresource=refresh,input=Repository,result=Repository
// +k8s:deepcopy-gen:interfaces=k8s.io/apimachinery/pkg/runtime.Object
type Repository struct {
	metav1.TypeMeta `json:",inline"`
	// Standard object metadata.
	metav1.ObjectMeta `json:"metadata,omitempty"`

	// Spec says where the packages are.
	Spec RepositorySpec `json:"spec,omitempty"`
	// Status reports the address in use and whether the registry answers.
	Status RepositoryStatus `json:"status,omitempty"`
}

// RepositorySpec says where the packages are.
type RepositorySpec struct {
	// Type is always "oci".
	Type string `json:"type,omitempty"`
	// Deployment is true for a deployment repository, false for a catalog (blueprint) one.
	Deployment bool `json:"deployment,omitempty"`
	// Description is free text for people.
	Description string `json:"description,omitempty"`
	// OCI locates the registry namespace.
	OCI *OCIRepository `json:"oci,omitempty"`
}

// OCIRepository is a registry namespace.
type OCIRepository struct {
	// Registry is `host[:port]/path prefix`. Empty means the embedded store with
	// prefix `<namespace>/<repository name>`.
	Registry string `json:"registry,omitempty"`
	// PlainHTTP talks HTTP instead of HTTPS to the registry.
	PlainHTTP bool `json:"plainHTTP,omitempty"`
	// Packages lists package paths under the prefix (`realm/package`, or
	// `target/realm/package` for deployment repositories) to read even when
	// the registry cannot list its repositories (no _catalog API).
	Packages []string `json:"packages,omitempty"`
	// SecretRef names the entry of the server's registry credentials file
	// (--registry-credentials-file) used with this registry. Without it the
	// registry is used without credentials (or with the server's Docker
	// config, when the server runs with --registry-docker-credentials).
	SecretRef *SecretRef `json:"secretRef,omitempty"`
}

// SecretRef names an entry of the server's registry credentials file.
type SecretRef struct {
	// Name of the entry.
	Name string `json:"name"`
}

// RepositoryStatus reports whether the registry is reachable and what the
// server found in it. It is what the server observed when it was read: the
// counts and the scan time change without a change of resourceVersion.
type RepositoryStatus struct {
	// Address is the registry namespace in use, `host[:port]/prefix`.
	Address string `json:"address,omitempty"`
	// Conditions: Ready is False with the error when listing the registry failed.
	// +listType=map
	// +listMapKey=type
	Conditions []metav1.Condition `json:"conditions,omitempty"`
	// PackageCount is how many packages of the repository the server knows.
	PackageCount int `json:"packageCount,omitempty"`
	// RevisionCount is how many package revisions of the repository the server knows.
	RevisionCount int `json:"revisionCount,omitempty"`
	// LastScanTime is when the server last listed the repository's registry
	// completely; absent until it has.
	LastScanTime *metav1.Time `json:"lastScanTime,omitempty"`
}

// RepositoryList is a list of repositories.
// +k8s:deepcopy-gen:interfaces=k8s.io/apimachinery/pkg/runtime.Object
type RepositoryList struct {
	metav1.TypeMeta `json:",inline"`
	metav1.ListMeta `json:"metadata,omitempty"`
	Items           []Repository `json:"items"`
}
