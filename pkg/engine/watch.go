package engine

import (
	"context"
	"fmt"
	"strconv"
	"sync"

	"pkgserver.dev/pkgserver/pkg/errdef"
)

// eventLogSize is how many events a watch can resume over.
const eventLogSize = 8192

// subscriberBuffer is how far a watcher may fall behind before it is dropped
// (it then resumes or relists, as Kubernetes clients do).
const subscriberBuffer = 1024

// hub is the engine's event log and its subscribers.
type hub struct {
	mu   sync.Mutex
	rv   uint64
	log  []Event // the last eventLogSize events; event rv sits at (rv-1) % eventLogSize
	subs map[*subscriber]struct{}
}

type subscriber struct {
	kind string
	ch   chan Event
}

func newHub() *hub { return &hub{subs: map[*subscriber]struct{}{}} }

// emit records an event and sends it to every subscriber of its kind.
func (h *hub) emit(typ, kind string, obj any) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.rv++
	ev := Event{Type: typ, Kind: kind, Object: obj, ResourceVersion: h.rv}
	if len(h.log) < eventLogSize {
		h.log = append(h.log, ev)
	} else {
		h.log[(h.rv-1)%eventLogSize] = ev // ring: event rv sits at (rv-1) % size
	}
	for s := range h.subs {
		if s.kind != kind {
			continue
		}
		select {
		case s.ch <- ev:
		default: // too slow: end its watch rather than block every writer
			close(s.ch)
			delete(h.subs, s)
		}
	}
}

func (h *hub) watching() bool {
	h.mu.Lock()
	defer h.mu.Unlock()
	return len(h.subs) > 0
}

func (h *hub) current() uint64 {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.rv
}

// ResourceVersion implements Watcher.
func (e *Engine) ResourceVersion() string { return strconv.FormatUint(e.hub.current(), 10) }

// Watch implements Watcher.
func (e *Engine) Watch(ctx context.Context, kind, rv string) (<-chan Event, error) {
	h := e.hub
	h.mu.Lock()
	since := h.rv
	if rv != "" && rv != "0" {
		n, err := strconv.ParseUint(rv, 10, 64)
		if err != nil || n > h.rv {
			h.mu.Unlock()
			return nil, fmt.Errorf("%w: resourceVersion %q is not one this server issued; list again", errdef.ErrGone, rv)
		}
		oldest := h.rv - uint64(len(h.log))
		if n < oldest {
			h.mu.Unlock()
			return nil, fmt.Errorf("%w: resourceVersion %s is older than the oldest kept (%d); list again", errdef.ErrGone, rv, oldest)
		}
		since = n
	}
	// Room for the whole replay, so resuming never drops an event.
	s := &subscriber{kind: kind, ch: make(chan Event, subscriberBuffer+int(h.rv-since))}
	// Replay the kept events after since, oldest first.
	for rv := since + 1; rv <= h.rv; rv++ {
		ev := h.log[(rv-1)%eventLogSize]
		if ev.Kind != kind {
			continue
		}
		s.ch <- ev
	}
	h.subs[s] = struct{}{}
	h.mu.Unlock()

	go func() {
		<-ctx.Done()
		h.mu.Lock()
		if _, ok := h.subs[s]; ok {
			delete(h.subs, s)
			close(s.ch)
		}
		h.mu.Unlock()
	}()
	return s.ch, nil
}
