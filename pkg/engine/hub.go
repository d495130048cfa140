package engine

import (
	"fmt"
	"sort"
	"strconv"
	"sync"
	"sync/atomic"

	"pkgserver.dev/pkgserver/pkg/errdef"
)

// resourceVersions: batch s of the feed makes events s<<rvShift|1, |2, ...;
// s<<rvShift|rvMask is the end of batch s, what lists and bookmarks carry.
// So every event has its own resourceVersion, every replica that applies the
// same batches computes the same ones, and they only grow.
const (
	rvShift = 20
	rvMask  = 1<<rvShift - 1
)

func endOf(seq uint64) uint64 { return seq<<rvShift | rvMask }

// DefaultWatchWindow is how many events a watch can resume over by default.
const DefaultWatchWindow = 10000

// hub is the window of recent events that watches read from. Watchers share
// one ring and keep only a position in it, so an idle watcher costs a few
// words and a slow one never holds up writers: once the ring has moved past
// its position it is dropped and resumes (or relists) as Kubernetes clients do.
//
// A watch that resumes from before the ring (after a restart, or past the
// ring) but after replayFloor is served the index's current state of what
// changed since (objects with a newer resourceVersion, and deletions kept as
// tombstones), then the ring: the end state is exact, intermediate states are
// skipped, as after an etcd compaction.
type hub struct {
	mu    sync.RWMutex
	ring  []Event // the last len(ring) events, oldest at start
	start int     // index of the oldest event in ring, once full
	count uint64  // events ever appended
	floor uint64  // the ring holds every event after floor
	head  uint64  // rv of the newest event or batch end
	// replayFloor: a resume from it or later can be served (<= floor).
	replayFloor uint64
	tombstones  []Event // recent DELETED events, oldest first
	wake        chan struct{}
}

func newHub(window int, floor uint64) *hub {
	if window <= 0 {
		window = DefaultWatchWindow
	}
	return &hub{ring: make([]Event, 0, window), floor: floor, head: floor, replayFloor: floor, wake: make(chan struct{})}
}

// append adds events (in resourceVersion order) and wakes the watchers.
func (h *hub) append(evs []Event, end uint64) {
	h.mu.Lock()
	for _, ev := range evs {
		ev.shared = &eventJSON{}
		if len(h.ring) < cap(h.ring) {
			h.ring = append(h.ring, ev)
		} else {
			h.floor = h.ring[h.start].ResourceVersion
			h.ring[h.start] = ev
			h.start = (h.start + 1) % len(h.ring)
		}
		h.count++
		if ev.Type == "DELETED" {
			h.tombstones = append(h.tombstones, ev)
			h.trimTombstones()
		}
	}
	h.head = max(h.head, end)
	wake := h.wake
	h.wake = make(chan struct{})
	h.mu.Unlock()
	close(wake)
}

// resetWindow forgets the ring (after a restore) and sets what can be replayed.
func (h *hub) resetWindow(replayFloor uint64, tombstones []Event) {
	h.mu.Lock()
	defer h.mu.Unlock()
	clear(h.ring[:cap(h.ring)]) // drop the events, not only the length
	h.ring, h.start, h.count = h.ring[:0], 0, 0
	h.floor = h.head
	h.replayFloor = replayFloor
	// A checkpoint of a larger window may hold more than this one keeps.
	h.tombstones = tombstones
	h.trimTombstones()
	h.replayFloor = min(h.replayFloor, h.floor)
}

// trimTombstones keeps the last cap(ring) deletions; a resume from before
// one let go cannot be replayed. h.mu must be held.
func (h *hub) trimTombstones() {
	if n := len(h.tombstones) - cap(h.ring); n > 0 {
		h.replayFloor = max(h.replayFloor, h.tombstones[n-1].ResourceVersion)
		clear(h.tombstones[:n]) // let the objects go
		h.tombstones = h.tombstones[n:]
	}
}

// at returns the i-th kept event, oldest first.
func (h *hub) at(i int) Event { return h.ring[(h.start+i)%len(h.ring)] }

// cursor returns a position after rv. replay gives the current state of
// what changed in (from, to] for a resume from before the ring.
func (h *hub) cursor(kind string, rv uint64, replay func(from, to uint64) []Event) (*cursor, error) {
	h.mu.RLock()
	defer h.mu.RUnlock()
	if rv < h.replayFloor {
		return nil, fmt.Errorf("%w: resourceVersion %d is older than the oldest this server keeps (%d); list again", errdef.ErrGone, rv, h.replayFloor)
	}
	if rv > h.head {
		return nil, fmt.Errorf("%w: resourceVersion %d is newer than this server has seen (%d)", ErrTooLargeResourceVersion, rv, h.head)
	}
	n := len(h.ring)
	c := &cursor{h: h, kind: kind}
	if rv >= h.floor {
		i := sort.Search(n, func(i int) bool { return h.at(i).ResourceVersion > rv })
		c.pos.Store(h.count - uint64(n-i))
		return c, nil
	}
	c.pos.Store(h.count - uint64(n))
	c.pending = replay(rv, h.floor)
	return c, nil
}

// deletedSince returns the kept deletions of kind in (from, to].
func (h *hub) deletedSince(kind string, from, to uint64) []Event {
	var out []Event
	for _, t := range h.tombstones {
		if t.Kind == kind && t.ResourceVersion > from && t.ResourceVersion <= to {
			out = append(out, t)
		}
	}
	return out
}

// ErrTooLargeResourceVersion: a watch asked to start after a resourceVersion
// this replica has not reached yet (Kubernetes answers 504 and the client
// lists again).
var ErrTooLargeResourceVersion = errdef.ErrTooLargeResourceVersion

// cursor is one watcher's position in the event window (Cursor).
type cursor struct {
	h       *hub
	kind    string
	pos     atomic.Uint64 // number of events (ever) before the next one to read
	pending []Event       // a replay, sent before the ring
}

// Ready returns a channel that is closed when Take has something to return.
func (c *cursor) Ready() <-chan struct{} {
	c.h.mu.RLock()
	defer c.h.mu.RUnlock()
	if len(c.pending) > 0 || c.pos.Load() < c.h.count {
		return closed
	}
	return c.h.wake
}

var closed = func() chan struct{} { c := make(chan struct{}); close(c); return c }()

// Take returns the events of the cursor's kind appended since the last call.
// It fails with errdef.ErrGone when the window has moved past the cursor: the
// watcher was too slow.
func (c *cursor) Take() ([]Event, error) {
	out := c.pending
	c.pending = nil
	c.h.mu.RLock()
	defer c.h.mu.RUnlock()
	oldest := c.h.count - uint64(len(c.h.ring))
	pos := c.pos.Load()
	if pos < oldest {
		return nil, fmt.Errorf("%w: the watch fell behind by more than %d events", errdef.ErrGone, len(c.h.ring))
	}
	for ; pos < c.h.count; pos++ {
		ev := c.h.at(int(pos - oldest))
		if ev.Kind == c.kind {
			out = append(out, ev)
		}
	}
	c.pos.Store(pos)
	return out, nil
}

// Lost implements Cursor.
func (c *cursor) Lost() bool {
	c.h.mu.RLock()
	defer c.h.mu.RUnlock()
	return c.pos.Load() < c.h.count-uint64(len(c.h.ring))
}

// Head returns the resourceVersion a bookmark sent now carries: every event
// up to it has been taken or is ready to take.
func (c *cursor) Head() string {
	c.h.mu.RLock()
	defer c.h.mu.RUnlock()
	oldest := c.h.count - uint64(len(c.h.ring))
	switch {
	case len(c.pending) > 0:
		return strconv.FormatUint(c.pending[0].ResourceVersion-1, 10)
	case c.pos.Load() < oldest:
		return strconv.FormatUint(c.h.floor, 10)
	case c.pos.Load() < c.h.count:
		// Events are pending: the bookmark may not claim past them.
		return strconv.FormatUint(c.h.at(int(c.pos.Load()-oldest)).ResourceVersion-1, 10)
	}
	return strconv.FormatUint(c.h.head, 10)
}
