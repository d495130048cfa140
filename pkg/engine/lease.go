package engine

import (
	"context"
	"crypto/rand"
	"encoding/json"
	"errors"
	"fmt"
	"sync"
	"time"

	"pkgserver.dev/pkgserver/pkg/errdef"
	"pkgserver.dev/pkgserver/pkg/format"
	"pkgserver.dev/pkgserver/pkg/names"
)

// Without a coordinator shared by replicas, two pkgserver processes writing
// one registry prefix would race (both publishing v1, say). So a replica
// without one claims each remote prefix it writes with a lease marker kept
// in that registry, and refuses writes while another replica holds it.
// The marker is an artifact in <prefix>/pkgserver.lease (a name with a dot
// is never a package), renewed while the replica runs and removed when it
// stops (docs/format.md).

// leaseTTL is how long a marker holds without renewal.
const leaseTTL = 30 * time.Second

// LeaseRepository is the OCI repository of the writer lease under a prefix.
const LeaseRepository = "pkgserver.lease"

type leaseMarker struct {
	Holder  string    `json:"holder"`
	Expires time.Time `json:"expires"`
}

// leases are the writer leases this replica holds, by repository location.
type leases struct {
	id string

	mu   sync.Mutex
	held map[string]*heldLease // by host/prefix
}

type heldLease struct {
	rs      *repoState
	expires time.Time
	lost    error
}

func newLeases(id string) *leases {
	if id == "" {
		id = rand.Text()
	}
	return &leases{id: id, held: map[string]*heldLease{}}
}

func leaseKey(rs *repoState) string { return rs.host + "/" + rs.prefix }

func (rs *repoState) leaseStore() *objectStore {
	return &objectStore{store: rs.store, repo: joinPath(rs.prefix, LeaseRepository)}
}

// claimWriter makes sure this replica may write to a remote repository:
// it holds the prefix's lease, or takes it when it is free or expired.
// With a shared coordinator (etcd) locks do this job and no lease is used.
func (e *Engine) claimWriter(ctx context.Context, rs *repoState) error {
	if e.opts.Shared || rs.embedded {
		return nil
	}
	l := e.leases
	now := e.opts.Now()
	l.mu.Lock()
	h := l.held[leaseKey(rs)]
	fresh := h != nil && h.lost == nil && now.Before(h.expires.Add(-leaseTTL/2))
	l.mu.Unlock()
	if fresh {
		return nil
	}
	// A lease lost to another replica is read again: once that replica
	// stopped (or its lease ran out) this one may take it back.
	cur, err := e.readLease(ctx, rs)
	if err != nil {
		return err
	}
	if cur != nil && cur.Holder != l.id && now.Before(cur.Expires) {
		return e.leaseError(rs, cur)
	}
	mine := leaseMarker{Holder: l.id, Expires: now.Add(leaseTTL)}
	data, _ := json.Marshal(mine)
	if _, err := rs.leaseStore().put(ctx, e.cache, names.LatestTag, format.LeaseType, format.LeaseConfigType, data); err != nil {
		return fmt.Errorf("%w: claim the writer lease of %s: %v", errdef.ErrUnavailable, leaseKey(rs), err)
	}
	// Another replica that claimed at the same instant wrote last: read back.
	if cur, err = e.readLease(ctx, rs); err != nil {
		return err
	}
	if cur == nil || cur.Holder != l.id {
		return e.leaseError(rs, cur)
	}
	l.mu.Lock()
	l.held[leaseKey(rs)] = &heldLease{rs: rs, expires: mine.Expires}
	l.mu.Unlock()
	return nil
}

func (e *Engine) leaseError(rs *repoState, cur *leaseMarker) error {
	until := "now"
	if cur != nil {
		until = cur.Expires.UTC().Format(time.RFC3339)
	}
	return fmt.Errorf("%w: another pkgserver writes to registry prefix %s without a coordinator (its lease runs until %s); run every replica with --etcd-servers, or only one replica", errdef.ErrUnavailable, leaseKey(rs), until)
}

func (e *Engine) readLease(ctx context.Context, rs *repoState) (*leaseMarker, error) {
	o := rs.leaseStore()
	repo, err := o.repository(ctx)
	if err != nil {
		return nil, err
	}
	obj, err := o.get(ctx, e.cache, repo, names.LatestTag)
	if errors.Is(err, errdef.ErrNotFound) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("%w: read the writer lease of %s: %v", errdef.ErrUnavailable, leaseKey(rs), err)
	}
	var m leaseMarker
	if err := json.Unmarshal(obj.data, &m); err != nil {
		return nil, nil // unreadable: treat as free
	}
	return &m, nil
}

// renewLeases keeps the leases this replica holds until ctx ends, then
// gives them up so a restart or another replica need not wait.
func (e *Engine) renewLeases(ctx context.Context) {
	t := time.NewTicker(leaseTTL / 3)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return // Close gives them up
		case <-t.C:
		}
		e.renewOnce(ctx)
	}
}

// renewOnce renews every lease this replica holds, and notes those another
// replica took.
func (e *Engine) renewOnce(ctx context.Context) {
	e.leases.mu.Lock()
	held := make([]*heldLease, 0, len(e.leases.held))
	for _, h := range e.leases.held {
		held = append(held, h)
	}
	e.leases.mu.Unlock()
	for _, h := range held {
		e.leases.mu.Lock()
		lost := h.lost != nil
		e.leases.mu.Unlock()
		if lost {
			continue
		}
		cur, err := e.readLease(ctx, h.rs)
		if err != nil {
			continue // the registry is down: try again
		}
		if cur != nil && cur.Holder != e.leases.id {
			e.leases.mu.Lock()
			h.lost = e.leaseError(h.rs, cur)
			e.leases.mu.Unlock()
			e.log.Error("lost the writer lease of a registry prefix to another replica; refusing writes there", "prefix", leaseKey(h.rs))
			continue
		}
		next := leaseMarker{Holder: e.leases.id, Expires: e.opts.Now().Add(leaseTTL)}
		data, _ := json.Marshal(next)
		if _, err := h.rs.leaseStore().put(ctx, e.cache, names.LatestTag, format.LeaseType, format.LeaseConfigType, data); err == nil {
			e.leases.mu.Lock()
			h.expires = next.Expires
			e.leases.mu.Unlock()
		}
	}
}

// releaseLeases removes the markers this replica holds.
func (e *Engine) releaseLeases() {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	e.leases.mu.Lock()
	defer e.leases.mu.Unlock()
	for k, h := range e.leases.held {
		if h.lost == nil {
			e.removeMarker(ctx, h.rs)
		}
		delete(e.leases.held, k)
	}
}

// removeMarker removes the lease marker of rs if this replica holds it. The
// lease may have expired and gone to another replica unnoticed: its marker
// stays (markers name their holder, so the one read is the one deleted).
func (e *Engine) removeMarker(ctx context.Context, rs *repoState) {
	o := rs.leaseStore()
	repo, err := o.repository(ctx)
	if err != nil {
		return
	}
	obj, err := o.get(ctx, e.cache, repo, names.LatestTag)
	if err != nil {
		return
	}
	var m leaseMarker
	if json.Unmarshal(obj.data, &m) != nil || m.Holder != e.leases.id {
		return
	}
	_ = repo.Delete(ctx, obj.desc)
}
