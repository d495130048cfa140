// Package store defines the small interfaces pkgserver needs from an OCI registry.
// Backends live in subpackages (layout: the embedded OCI image layout; remote: any
// registry through oras-go) and all pass the conformance suite in storetest.
package store

import (
	"context"
	"io"
	"time"

	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
	"oras.land/oras-go/v2/content"
)

// Repository is one OCI repository. Blobs and manifests are addressed by descriptor
// (content.Storage); tags by name. Errors wrap the sentinels of pkg/errdef
// (errdef.ErrNotFound for a missing tag, manifest or blob).
type Repository interface {
	content.Storage
	content.TagResolver
	// Delete removes a manifest (with every tag that points at it) or a blob.
	Delete(ctx context.Context, target ocispec.Descriptor) error
	// Tags lists tags in lexical order after last, page by page.
	Tags(ctx context.Context, last string, fn func(tags []string) error) error
}

// Store is a set of OCI repositories addressed by name (path in the registry).
type Store interface {
	Repository(ctx context.Context, name string) (Repository, error)
}

// Lister is implemented by stores that can enumerate their repositories
// (the registry `_catalog` API, a directory walk for the embedded layout).
type Lister interface {
	// Repositories lists repository names in lexical order after last, page by page.
	Repositories(ctx context.Context, last string, fn func(repos []string) error) error
}

// Optional abilities, found by type assertion. Callers fall back when a backend lacks one.

// ReferencePusher pushes a manifest and tags it in one step (one PUT on a registry).
type ReferencePusher interface {
	PushReference(ctx context.Context, expected ocispec.Descriptor, content io.Reader, reference string) error
}

// Untagger removes one tag and leaves the manifest (distribution spec v1.1 tag delete).
type Untagger interface {
	Untag(ctx context.Context, tag string) error
}

// ReferrerLister lists the manifests whose subject is the given manifest,
// filtered by artifactType when it is not empty.
type ReferrerLister interface {
	Referrers(ctx context.Context, subject ocispec.Descriptor, artifactType string, fn func(referrers []ocispec.Descriptor) error) error
}

// Mounter makes a blob of another repository of the same store available
// without copying it through the caller.
type Mounter interface {
	Mount(ctx context.Context, desc ocispec.Descriptor, fromRepo string, getContent func() (io.ReadCloser, error)) error
}

// Notifier is implemented by stores that can tell when a repository's tags or
// manifests changed, whoever changed them (the embedded /v2/ API, for one).
type Notifier interface {
	// Notify registers fn; it is called after every change with the repository name.
	Notify(fn func(repo string))
}

// ReferenceFetcher fetches a manifest by tag in one request (GET), where
// Resolve then Fetch would take two.
type ReferenceFetcher interface {
	FetchReference(ctx context.Context, reference string) (ocispec.Descriptor, io.ReadCloser, error)
}

// SubjectlessDeleter deletes a manifest known to have no subject in one
// request, without the client-side referrers bookkeeping a registry lacking
// the referrers API would otherwise need (a GET of the manifest first).
type SubjectlessDeleter interface {
	DeleteSubjectless(ctx context.Context, target ocispec.Descriptor) error
}

// Pinger checks that the registry answers (GET /v2/), cheaply.
type Pinger interface {
	Ping(ctx context.Context) error
}

// ChangeDetector is implemented by stores that can tell cheaply whether
// anything changed after a moment (the embedded store: nobody else writes it
// while pkgserver runs, but anyone may while it is stopped).
type ChangeDetector interface {
	ChangedSince(ctx context.Context, t time.Time) (bool, error)
}
