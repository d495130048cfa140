package apiserver

import (
	"net/http"
	"sync"
	"time"

	"pkgserver.dev/pkgserver/pkg/engine"
)

// reapInterval is how often watches are checked for having fallen behind.
const reapInterval = time.Second

// reaper ends the watches the event window has left behind while their
// client does not read: the write they are blocked in fails and the
// connection closes, as Kubernetes drops slow watchers, so a client that
// stopped reading holds nothing for long. One goroutine checks every watch,
// and only while there are some.
type reaper struct {
	mu      sync.Mutex
	watches map[*reapable]struct{}
	running bool
}

type reapable struct {
	cur engine.Cursor
	rc  *http.ResponseController
}

// add watches cur, whose stream writes through w, until the returned
// function is called.
func (r *reaper) add(cur engine.Cursor, w http.ResponseWriter) (remove func()) {
	it := &reapable{cur: cur, rc: http.NewResponseController(w)}
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.watches == nil {
		r.watches = map[*reapable]struct{}{}
	}
	r.watches[it] = struct{}{}
	if !r.running {
		r.running = true
		go r.loop()
	}
	return func() {
		r.mu.Lock()
		delete(r.watches, it)
		r.mu.Unlock()
	}
}

func (r *reaper) loop() {
	t := time.NewTicker(reapInterval)
	defer t.Stop()
	for range t.C {
		r.mu.Lock()
		if len(r.watches) == 0 {
			r.running = false
			r.mu.Unlock()
			return
		}
		var lost []*reapable
		for it := range r.watches {
			if it.cur.Lost() {
				lost = append(lost, it)
				delete(r.watches, it)
			}
		}
		r.mu.Unlock()
		for _, it := range lost {
			_ = it.rc.SetWriteDeadline(time.Now()) // a blocked write fails at once
		}
	}
}
