package engine

import (
	"context"
	"sync"

	configapi "pkgserver.dev/pkgserver/api/config/v1alpha1"
	pkgapi "pkgserver.dev/pkgserver/api/pkg/v1alpha1"
)

// Service is what the HTTP API needs from the engine. Errors wrap the sentinels
// of pkg/errdef; messages name the field or file at fault. A namespace of "" in
// a List means all namespaces. Lists are returned sorted by namespace, then name;
// filtering by selectors and paging are the caller's job.
type Service interface {
	ListRepositories(ctx context.Context, namespace string) ([]configapi.Repository, error)
	GetRepository(ctx context.Context, namespace, name string) (*configapi.Repository, error)
	CreateRepository(ctx context.Context, repo *configapi.Repository) (*configapi.Repository, error)
	UpdateRepository(ctx context.Context, repo *configapi.Repository) (*configapi.Repository, error)
	DeleteRepository(ctx context.Context, namespace, name string) error

	ListPackageRevisions(ctx context.Context, namespace string) ([]pkgapi.PackageRevision, error)
	GetPackageRevision(ctx context.Context, namespace, name string) (*pkgapi.PackageRevision, error)
	CreatePackageRevision(ctx context.Context, pr *pkgapi.PackageRevision) (*pkgapi.PackageRevision, error)
	// UpdatePackageRevision applies a PUT: draft <-> proposed, labels, annotations, readiness gates.
	UpdatePackageRevision(ctx context.Context, pr *pkgapi.PackageRevision) (*pkgapi.PackageRevision, error)
	// ApprovePackageRevision applies a PUT on /approval: publish, propose deletion,
	// undo a deletion proposal, or reject (proposed -> draft). user is who asked.
	ApprovePackageRevision(ctx context.Context, pr *pkgapi.PackageRevision, user string) (*pkgapi.PackageRevision, error)
	DeletePackageRevision(ctx context.Context, namespace, name string) error

	// ListPackageRevisionResources returns the files of every revision; costly.
	ListPackageRevisionResources(ctx context.Context, namespace string) ([]pkgapi.PackageRevisionResources, error)
	GetPackageRevisionResources(ctx context.Context, namespace, name string) (*pkgapi.PackageRevisionResources, error)
	UpdatePackageRevisionResources(ctx context.Context, prr *pkgapi.PackageRevisionResources) (*pkgapi.PackageRevisionResources, error)
}

// Event is one change of a Repository or PackageRevision.
type Event struct {
	// Type is ADDED, MODIFIED or DELETED.
	Type string
	// Kind is configapi.RepositoryKind or pkgapi.PackageRevisionKind.
	Kind string
	// Object is a *configapi.Repository or a *pkgapi.PackageRevision, shared:
	// do not change it.
	Object any
	// Old is the object before a MODIFIED event (for selectors: an object
	// that leaves a selection is sent as DELETED), shared too.
	Old any
	// ResourceVersion is the event's position in the server's sequence.
	ResourceVersion uint64

	// shared holds the object's JSON, encoded once for every watcher of a
	// live event (nil for replayed ones).
	shared *eventJSON
}

type eventJSON struct {
	once sync.Once
	b    []byte
}

// ObjectJSON is the event's object as the API writes it (apiVersion and
// kind set): encoded once, however many watchers send it. Do not change it.
func (ev Event) ObjectJSON() []byte {
	if ev.shared == nil {
		return encodeObject(ev.Object)
	}
	ev.shared.once.Do(func() { ev.shared.b = encodeObject(ev.Object) })
	return ev.shared.b
}

// encodeObject encodes an event's object with its kind, on a copy (the
// object is shared).
func encodeObject(obj any) []byte {
	switch o := obj.(type) {
	case *pkgapi.PackageRevision:
		cp := *o
		cp.APIVersion, cp.Kind = pkgapi.SchemeGroupVersion.String(), pkgapi.PackageRevisionKind
		return mustJSON(&cp)
	case *configapi.Repository:
		cp := *o
		cp.APIVersion, cp.Kind = configapi.SchemeGroupVersion.String(), configapi.RepositoryKind
		return mustJSON(&cp)
	}
	return mustJSON(obj)
}

// Watcher streams changes, whoever made them (the API, /v2/, a rescan,
// another replica).
type Watcher interface {
	// Watch returns a cursor over the events of kind after resourceVersion
	// rv ("" or "0" means from now on). rv older than the kept window fails
	// with errdef.ErrGone; rv this replica has not reached within a few
	// seconds fails with ErrTooLargeResourceVersion.
	Watch(ctx context.Context, kind, rv string) (Cursor, error)
	// Snapshot returns every object of kind in namespace ("" = all), sorted
	// by namespace and name, the resourceVersion they are current at, and a
	// cursor over the events after it (WatchList, sendInitialEvents).
	Snapshot(ctx context.Context, kind, namespace string) (objects []any, rv string, cur Cursor, err error)
	// ResourceVersion is the resourceVersion of a list made now.
	ResourceVersion() string
}

// Cursor is one watcher's position in the event window.
type Cursor interface {
	// Ready is closed when Take has events (or an error) to return.
	Ready() <-chan struct{}
	// Take returns the events since the last call, whole batches at a time;
	// errdef.ErrGone when the watcher fell behind the window.
	Take() ([]Event, error)
	// Head is the resourceVersion a bookmark sent now may carry.
	Head() string
	// Lost reports that the window has moved past the cursor: Take will
	// fail. Safe to call from another goroutine than the reader's.
	Lost() bool
}

// StatusUpdater sets the status of a revision (its conditions), for external
// checks that mark readiness gates.
type StatusUpdater interface {
	UpdatePackageRevisionStatus(ctx context.Context, pr *pkgapi.PackageRevision) (*pkgapi.PackageRevision, error)
}

// Refresher lists one repository's registry again on demand, so packages
// pushed there by other tools appear without waiting for the next rescan.
type Refresher interface {
	RefreshRepository(ctx context.Context, namespace, name string) (*configapi.Repository, error)
}

// Historian lists every revision of a package.
type Historian interface {
	History(ctx context.Context, namespace, name string) (*pkgapi.PackageRevisionHistory, error)
}

// Differ compares two revisions.
type Differ interface {
	Diff(ctx context.Context, namespace, name, against string) (*pkgapi.PackageRevisionDiff, error)
}
