package engine

import (
	"context"
	"fmt"
	"strconv"
	"time"

	configapi "pkgserver.dev/pkgserver/api/config/v1alpha1"
	pkgapi "pkgserver.dev/pkgserver/api/pkg/v1alpha1"
	"pkgserver.dev/pkgserver/pkg/errdef"
)

// catchUpWait bounds how long a watch or list waits for this replica to
// reach a resourceVersion another replica handed out (Kubernetes waits 3s).
const catchUpWait = 3 * time.Second

var _ Watcher = (*Engine)(nil)

// ResourceVersion implements Watcher.
func (e *Engine) ResourceVersion() string {
	if e.idx == nil {
		return "0"
	}
	e.idx.mu.RLock()
	defer e.idx.mu.RUnlock()
	return formatRV(e.idx.listRV())
}

// parseRV reads a resourceVersion a client sent; 0 for "" and "0".
func parseRV(rv string) (uint64, error) {
	if rv == "" || rv == "0" {
		return 0, nil
	}
	n, err := strconv.ParseUint(rv, 10, 64)
	if err != nil {
		return 0, fmt.Errorf("%w: resourceVersion %q is not one this server issued", errdef.ErrGone, rv)
	}
	return n, nil
}

// AwaitResourceVersion waits until this replica has seen resourceVersion rv
// (a list or watch "not older than" it), for a few seconds at most.
func (e *Engine) AwaitResourceVersion(ctx context.Context, rv string) error {
	if err := e.wait(ctx); err != nil {
		return err
	}
	n, err := parseRV(rv)
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(ctx, catchUpWait)
	defer cancel()
	if err := e.idx.waitApplied(ctx, n>>rvShift); err != nil {
		return fmt.Errorf("%w: resourceVersion %s is newer than this server has seen (%s)", ErrTooLargeResourceVersion, rv, e.ResourceVersion())
	}
	return nil
}

// AwaitCurrent makes a read without a resourceVersion consistent, as
// Kubernetes does: with several replicas it waits until this one has
// applied every batch the coordinator had, so the read sees every write
// acknowledged before it, on any replica. A single server applies its own
// writes before acknowledging them and does not wait. When the coordinator
// cannot be reached (or this replica cannot catch up in a few seconds) the
// read is served from what this replica has: reads keep working while etcd
// is down.
func (e *Engine) AwaitCurrent(ctx context.Context) error {
	if err := e.wait(ctx); err != nil {
		return err
	}
	if !e.opts.Shared {
		return nil
	}
	cctx, cancel := context.WithTimeout(ctx, catchUpWait)
	defer cancel()
	seq, err := e.coord.Current(cctx)
	if err != nil {
		e.log.Debug("a read without a resourceVersion is served without asking the coordinator", "err", err)
		return nil
	}
	if err := e.idx.waitApplied(cctx, seq); err != nil && ctx.Err() != nil {
		return ctx.Err()
	}
	return nil
}

// Watch implements Watcher.
func (e *Engine) Watch(ctx context.Context, kind, rv string) (Cursor, error) {
	if err := e.wait(ctx); err != nil {
		return nil, err
	}
	n, err := parseRV(rv)
	if err != nil {
		return nil, err
	}
	if n != 0 {
		if err := e.AwaitResourceVersion(ctx, rv); err != nil {
			return nil, err
		}
	}
	x := e.idx
	x.mu.RLock()
	defer x.mu.RUnlock()
	if n == 0 {
		n = x.listRV()
	}
	c, err := x.hub.cursor(kind, n, x.replay(kind))
	if err != nil {
		return nil, err
	}
	return c, nil
}

// Snapshot implements Watcher.
func (e *Engine) Snapshot(ctx context.Context, kind, namespace string) ([]any, string, Cursor, error) {
	if err := e.wait(ctx); err != nil {
		return nil, "", nil, err
	}
	x := e.idx
	// Under the read lock no batch is applied: the objects, the
	// resourceVersion and the cursor agree.
	x.mu.RLock()
	defer x.mu.RUnlock()
	rv := x.listRV()
	cur, err := x.hub.cursor(kind, rv, x.replay(kind))
	if err != nil {
		return nil, "", nil, err
	}
	var out []any
	switch kind {
	case configapi.RepositoryKind:
		for _, rs := range x.sortedRepos() {
			if namespace == "" || rs.key.namespace == namespace {
				r := x.repoObject(rs, rs.rv)
				out = append(out, &r)
			}
		}
	case pkgapi.PackageRevisionKind:
		visit := func(o *object) bool {
			if namespace != "" && o.ns != namespace {
				return false
			}
			out = append(out, render(o.snap()))
			return true
		}
		if namespace == "" {
			x.objs.Ascend(visit)
		} else {
			x.objs.AscendGreaterOrEqual(&object{ns: namespace}, visit)
		}
	default:
		return nil, "", nil, fmt.Errorf("%w: no events of kind %q", errdef.ErrNotFound, kind)
	}
	return out, formatRV(rv), cur, nil
}
