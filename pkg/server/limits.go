package server

import (
	"time"

	"pkgserver.dev/pkgserver/pkg/apiserver"
	"pkgserver.dev/pkgserver/pkg/krm"
	"pkgserver.dev/pkgserver/pkg/registry"
	"pkgserver.dev/pkgserver/pkg/yamlbound"
)

// Limits bound every input of the server (docs/operations.md, "Limits").
// Each field is set by the pkgserver flag of the same name; a zero field
// takes the default of the package that enforces it.
type Limits struct {
	// API: JSON patches (--max-patch-operations, --max-patch-copy-bytes).
	MaxPatchOperations int
	MaxPatchCopyBytes  int64
	// Packages (--max-package-files, --max-package-bytes).
	MaxPackageFiles int
	MaxPackageBytes int64
	// YAML of package files and request bodies (--max-yaml-documents,
	// --max-yaml-document-bytes, --max-yaml-depth, --max-yaml-nodes).
	MaxYAMLDocuments     int
	MaxYAMLDocumentBytes int
	MaxYAMLDepth         int
	MaxYAMLNodes         int
	// /v2/ (--max-blob-bytes, --max-manifest-bytes, --max-upload-sessions,
	// --max-upload-sessions-per-client, --upload-session-ttl, --max-tags-per-push).
	MaxBlobBytes               int64
	MaxManifestBytes           int64
	MaxUploadSessions          int
	MaxUploadSessionsPerClient int
	UploadSessionTTL           time.Duration
	MaxTagsPerPush             int
}

// DefaultLimits are the limits of a server started without limit flags.
func DefaultLimits() Limits {
	return Limits{
		MaxPatchOperations:         apiserver.DefaultMaxPatchOperations,
		MaxPatchCopyBytes:          apiserver.DefaultMaxBodyBytes,
		MaxPackageFiles:            krm.DefaultMaxFiles,
		MaxPackageBytes:            krm.DefaultMaxBytes,
		MaxYAMLDocuments:           yamlbound.DefaultMaxDocuments,
		MaxYAMLDocumentBytes:       yamlbound.DefaultMaxDocumentBytes,
		MaxYAMLDepth:               yamlbound.DefaultMaxDepth,
		MaxYAMLNodes:               yamlbound.DefaultMaxNodes,
		MaxBlobBytes:               registry.DefaultMaxBlobBytes,
		MaxManifestBytes:           registry.DefaultMaxManifestBytes,
		MaxUploadSessions:          registry.DefaultMaxUploadSessions,
		MaxUploadSessionsPerClient: registry.DefaultMaxUploadSessionsPerClient,
		UploadSessionTTL:           registry.DefaultUploadTTL,
		MaxTagsPerPush:             registry.DefaultMaxTagsPerPush,
	}
}

// Package returns the package limits, YAML included.
func (l Limits) Package() krm.Limits {
	return krm.Limits{
		MaxFiles: l.MaxPackageFiles,
		MaxBytes: l.MaxPackageBytes,
		YAML: yamlbound.Limits{
			MaxDocuments:     l.MaxYAMLDocuments,
			MaxDocumentBytes: l.MaxYAMLDocumentBytes,
			MaxDepth:         l.MaxYAMLDepth,
			MaxNodes:         l.MaxYAMLNodes,
		},
	}
}
