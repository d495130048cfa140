package apiserver

import (
	"context"
	"fmt"
	"strconv"
	"sync"

	configapi "pkgserver.dev/pkgserver/api/config/v1alpha1"

	pkgapi "pkgserver.dev/pkgserver/api/pkg/v1alpha1"
	"pkgserver.dev/pkgserver/pkg/engine"
	"pkgserver.dev/pkgserver/pkg/errdef"
)

var (
	_ engine.Watcher       = (*fakeEngine)(nil)
	_ engine.StatusUpdater = (*fakeEngine)(nil)
)

// UpdatePackageRevisionStatus sets the conditions of a stored revision.
func (f *fakeEngine) UpdatePackageRevisionStatus(ctx context.Context, pr *pkgapi.PackageRevision) (*pkgapi.PackageRevision, error) {
	if err := f.enter(); err != nil {
		return nil, err
	}
	defer f.mu.Unlock()
	cur, err := getOf(f.prs, "package revision", pr.Namespace, pr.Name)
	if err != nil {
		return nil, err
	}
	if err := checkVersion(&cur.ObjectMeta, &pr.ObjectMeta); err != nil {
		return nil, err
	}
	cur.Status.Conditions = pr.Status.Conditions
	if pr.ManagedFields != nil {
		cur.ManagedFields = pr.ManagedFields // as Create and Update keep them
	}
	if dryRun(ctx) {
		return clone(cur), nil
	}
	f.prs[key(pr.Namespace, pr.Name)] = cur
	return clone(cur), nil
}

// Watch hands out a cursor tests feed through f.events.
func (f *fakeEngine) Watch(_ context.Context, kind, rv string) (engine.Cursor, error) {
	if rv == "1" {
		return nil, errdef.ErrGone
	}
	return f.cursor(kind), nil
}

// Snapshot returns the stored objects of kind and a cursor tests feed.
func (f *fakeEngine) Snapshot(ctx context.Context, kind, namespace string) ([]any, string, engine.Cursor, error) {
	var out []any
	switch kind {
	case pkgapi.PackageRevisionKind:
		prs, err := f.ListPackageRevisions(ctx, namespace)
		if err != nil {
			return nil, "", nil, err
		}
		for i := range prs {
			out = append(out, &prs[i])
		}
	case configapi.RepositoryKind:
		rs, err := f.ListRepositories(ctx, namespace)
		if err != nil {
			return nil, "", nil, err
		}
		for i := range rs {
			out = append(out, &rs[i])
		}
	}
	return out, f.ResourceVersion(), f.cursor(kind), nil
}

func (f *fakeEngine) cursor(kind string) *chanCursor {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.events == nil {
		f.events = map[string]chan engine.Event{}
	}
	ch := make(chan engine.Event, 16)
	f.events[kind] = ch
	return &chanCursor{ch: ch}
}

// chanCursor is an engine.Cursor fed through a channel. It reads one event
// at a time, when asked for, so a feeder blocks while the watch does; a
// Ready called again while one is awaited returns the same channel (the
// watch loop asks again after each bookmark or idle timer).
type chanCursor struct {
	ch      chan engine.Event
	mu      sync.Mutex
	pending []engine.Event
	wait    chan struct{} // an event is being read; closed when it is pending
}

func (c *chanCursor) Ready() <-chan struct{} {
	c.mu.Lock()
	defer c.mu.Unlock()
	if len(c.pending) > 0 {
		ready := make(chan struct{})
		close(ready)
		return ready
	}
	if c.wait == nil {
		wait := make(chan struct{})
		c.wait = wait
		go func() {
			ev := <-c.ch
			c.mu.Lock()
			c.pending = append(c.pending, ev)
			c.wait = nil
			c.mu.Unlock()
			close(wait)
		}()
	}
	return c.wait
}

// Take returns what was fed; an event of type "GONE" stands for the
// watcher falling behind the window.
func (c *chanCursor) Take() ([]engine.Event, error) {
	c.mu.Lock()
	out := c.pending
	c.pending = nil
	c.mu.Unlock()
	for _, ev := range out {
		if ev.Type == "GONE" {
			return nil, fmt.Errorf("%w: the watch fell behind", errdef.ErrGone)
		}
	}
	return out, nil
}

func (c *chanCursor) Head() string { return "42" }

func (c *chanCursor) Lost() bool { return false }

// ResourceVersion implements engine.Watcher.
func (f *fakeEngine) ResourceVersion() string { return strconv.Itoa(42) }

var _ engine.Refresher = (*fakeEngine)(nil)

// RefreshRepository returns the repository; refreshes counts the calls.
func (f *fakeEngine) RefreshRepository(_ context.Context, ns, name string) (*configapi.Repository, error) {
	if err := f.enter(); err != nil {
		return nil, err
	}
	defer f.mu.Unlock()
	f.refreshes++
	r, err := getOf(f.repos, "repository", ns, name)
	if err != nil {
		return nil, err
	}
	return clone(r), nil
}
