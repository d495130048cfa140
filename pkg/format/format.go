// Package format is pkgserver's OCI mapping: how a package revision becomes one
// OCI image manifest (metadata in annotations) and one reproducible tar+gzip layer
// (the files), and how artifacts pushed by other tools are read back leniently.
// docs/format.md is the human description of the same rules; keep both in step.
package format

import (
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
)

// Version is the format version written into every manifest.
const Version = "1"

// Media and artifact types.
const (
	// ArtifactType marks a pkgserver package revision manifest.
	ArtifactType = "application/vnd.pkgserver.package.v1"
	// DeletionMarkerType marks the small manifest that says a published revision
	// is proposed for deletion (its subject is the revision's manifest).
	DeletionMarkerType = "application/vnd.pkgserver.deletion-proposed.v1"
	// TombstoneType marks the manifest left in place of a deleted published
	// revision: its number stays taken.
	TombstoneType = "application/vnd.pkgserver.revision-deleted.v1"
	// RepositoryType marks a stored Repository object (its config blob is the JSON).
	RepositoryType = "application/vnd.pkgserver.repository.v1"
	// RepositoryConfigType is the media type of a stored Repository object's JSON.
	RepositoryConfigType = "application/vnd.pkgserver.repository.v1+json"
	// IndexType marks the package index pkgserver keeps in registries that
	// have no _catalog API; IndexConfigType is its JSON.
	IndexType       = "application/vnd.pkgserver.package-index.v1"
	IndexConfigType = "application/vnd.pkgserver.package-index.v1+json"
	// LeaseType marks the writer lease a replica without a coordinator keeps
	// under a repository's prefix; LeaseConfigType is its JSON.
	LeaseType       = "application/vnd.pkgserver.writer-lease.v1"
	LeaseConfigType = "application/vnd.pkgserver.writer-lease.v1+json"
	// IndexRepository is the OCI repository of the package index under a
	// repository's prefix; package names have no dots, so it is never a package.
	IndexRepository = "pkgserver.index"
	// LayerType is the media type of the content layer.
	LayerType = ocispec.MediaTypeImageLayerGzip
)

// Annotation keys. Standard ones where they fit, dev.pkgserver.* for the rest.
const (
	AnnotationCreated     = ocispec.AnnotationCreated     // creation time, RFC 3339
	AnnotationVersion     = ocispec.AnnotationVersion     // "vN" once published
	AnnotationTitle       = ocispec.AnnotationTitle       // package name; on layers, the file or directory name
	AnnotationDescription = ocispec.AnnotationDescription // from the init task
	AnnotationSource      = ocispec.AnnotationSource      // upstream reference of a clone

	prefix                  = "dev.pkgserver."
	AnnotationFormat        = prefix + "format"
	AnnotationLifecycle     = prefix + "lifecycle"
	AnnotationTarget        = prefix + "target"
	AnnotationRealm         = prefix + "realm"
	AnnotationPackage       = prefix + "package"
	AnnotationWorkspace     = prefix + "workspace"
	AnnotationUID           = prefix + "uid"
	AnnotationTasks         = prefix + "tasks"           // JSON list of tasks
	AnnotationUpstream      = prefix + "upstream"        // JSON upstream
	AnnotationUpstreamLock  = prefix + "upstream-lock"   // JSON upstream lock
	AnnotationGates         = prefix + "readiness-gates" // JSON list
	AnnotationConditions    = prefix + "conditions"      // JSON list of metav1.Condition
	AnnotationPublishedBy   = prefix + "published-by"
	AnnotationPublishedAt   = prefix + "publish-timestamp" // RFC 3339
	AnnotationLabels        = prefix + "labels"            // JSON map of user labels
	AnnotationAnnotations   = prefix + "annotations"       // JSON map of user annotations
	AnnotationManagedFields = prefix + "managed-fields"    // JSON list of metav1.ManagedFieldsEntry
	AnnotationDeletionOf    = prefix + "deletion-proposed-of"

	// oras-go's file store unpacks a layer carrying these into a directory.
	AnnotationUnpack       = "io.deis.oras.content.unpack"
	AnnotationUnpackDigest = "io.deis.oras.content.digest"
)
