package apiserver

import (
	"bufio"
	"net"
	"net/http"
	"net/http/httptest"
	"sync/atomic"
	"testing"
	"time"

	"pkgserver.dev/pkgserver/pkg/engine"
)

type lostCursor struct {
	engine.Cursor
	lost atomic.Bool
}

func (c *lostCursor) Lost() bool { return c.lost.Load() }

// TestReaper: a watch blocked writing to a client that stopped reading is
// ended once its cursor is lost, and not before.
func TestReaper(t *testing.T) {
	var r reaper
	cur := &lostCursor{}
	done := make(chan struct{})
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		defer close(done)
		defer r.add(cur, w)()
		w.WriteHeader(http.StatusOK)
		chunk := make([]byte, 1<<20)
		for {
			if _, err := w.Write(chunk); err != nil {
				return
			}
		}
	}))
	defer srv.Close()
	conn, err := net.Dial("tcp", srv.Listener.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	conn.Write([]byte("GET / HTTP/1.1\r\nHost: x\r\n\r\n"))
	if _, err := http.ReadResponse(bufio.NewReader(conn), nil); err != nil {
		t.Fatal(err)
	}
	// The client reads no more: the handler blocks.
	select {
	case <-done:
		t.Fatal("the handler ended before its cursor was lost")
	case <-time.After(2*reapInterval + 500*time.Millisecond):
	}
	cur.lost.Store(true)
	select {
	case <-done:
	case <-time.After(5 * reapInterval):
		t.Fatal("a lost watch blocked in a write was not ended")
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if len(r.watches) != 0 {
		t.Errorf("%d watches still checked", len(r.watches))
	}
}
