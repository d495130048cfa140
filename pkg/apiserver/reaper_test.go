package apiserver

import (
	"bufio"
	"context"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/http/httptrace"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	pkgapi "pkgserver.dev/pkgserver/api/pkg/v1alpha1"
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

// TestWatchDropsStalledClient: a watch whose client reads nothing while
// events keep coming is dropped once a write has been blocked for
// stallTimeout, though the event window never leaves it behind (a slow
// watcher held its connection and goroutine for the watch's whole life).
func TestWatchDropsStalledClient(t *testing.T) {
	defer func(d time.Duration) { stallTimeout = d }(stallTimeout)
	stallTimeout = 300 * time.Millisecond
	f := newFake()
	srv := httptest.NewUnstartedServer(New(f, Options{}))
	closed := make(chan struct{})
	srv.Config.ConnState = func(_ net.Conn, s http.ConnState) {
		if s == http.StateClosed {
			close(closed)
		}
	}
	srv.Start()
	defer srv.Close()
	conn, err := net.Dial("tcp", srv.Listener.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	conn.(*net.TCPConn).SetReadBuffer(4 << 10)
	conn.Write([]byte("GET /apis/pkg.pkgserver.dev/v1alpha1/namespaces/default/packagerevisions?watch=true&resourceVersion=41 HTTP/1.1\r\nHost: x\r\n\r\n"))
	ch := f.watchOf(t)
	// Large events until the socket buffers are full and well past the
	// stall timeout; the client reads nothing.
	big := prIn("default", "a")
	big.Annotations = map[string]string{"x": strings.Repeat("x", 60<<10)}
	sent := 0
	for end := time.Now().Add(3 * time.Second); time.Now().Before(end); {
		select {
		case ch <- engine.Event{Type: "MODIFIED", Kind: pkgapi.PackageRevisionKind, Object: big}:
			sent++
		case <-time.After(100 * time.Millisecond):
		}
	}
	// The server closed the connection (the client would read what is
	// still buffered, then the end of the stream).
	select {
	case <-closed:
	case <-time.After(5 * time.Second):
		t.Fatalf("the stalled watch is still open (%d events sent)", sent)
	}
}

// TestWatchLeavesNoDeadline: a watch that ended leaves its connection
// without a write deadline, so the next request on it is answered however
// long after (a keep-alive connection failed every request once the
// watch's stall deadline had passed).
func TestWatchLeavesNoDeadline(t *testing.T) {
	defer func(d time.Duration) { stallTimeout = d }(stallTimeout)
	stallTimeout = 200 * time.Millisecond
	f := newFake()
	f.prs[key("default", "a")] = prIn("default", "a")
	srv := httptest.NewServer(New(f, Options{}))
	defer srv.Close()
	client := &http.Client{Transport: &http.Transport{MaxIdleConns: 1, MaxConnsPerHost: 1}}
	get := func(path string) (*http.Response, bool) {
		reused := false
		trace := &httptrace.ClientTrace{GotConn: func(i httptrace.GotConnInfo) { reused = i.Reused }}
		req, _ := http.NewRequestWithContext(httptrace.WithClientTrace(context.Background(), trace), http.MethodGet, srv.URL+path, nil)
		res, err := client.Do(req)
		if err != nil {
			t.Fatalf("GET %s: %v", path, err)
		}
		return res, reused
	}
	// A watch from the current state: its ADDED event arms the deadline;
	// it ends after a second.
	res, _ := get("/apis/pkg.pkgserver.dev/v1alpha1/namespaces/default/packagerevisions?watch=true&timeoutSeconds=1")
	_, err := io.Copy(io.Discard, res.Body)
	res.Body.Close()
	if err != nil {
		t.Fatalf("the watch did not end cleanly: %v", err)
	}
	time.Sleep(4 * stallTimeout)
	res, reused := get("/apis/pkg.pkgserver.dev/v1alpha1/namespaces/default/packagerevisions")
	body, err := io.ReadAll(res.Body)
	res.Body.Close()
	if !reused {
		t.Fatal("the watch's connection was not reused")
	}
	if err != nil || res.StatusCode != http.StatusOK {
		t.Fatalf("the next request on the connection: %s, %v: %s", res.Status, err, body)
	}
}

// TestWatchIdleHTTP2: over HTTP/2 a watch left idle for longer than the
// stall timeout still gets the next event and ends cleanly (an HTTP/2
// write deadline is a timer that resets the stream when it fires, writing
// or not: every idle watch over TLS was cut stallTimeout after its last
// event).
func TestWatchIdleHTTP2(t *testing.T) {
	defer func(d time.Duration) { stallTimeout = d }(stallTimeout)
	stallTimeout = 200 * time.Millisecond
	f := newFake()
	f.prs[key("default", "a")] = prIn("default", "a")
	srv := httptest.NewUnstartedServer(New(f, Options{}))
	srv.EnableHTTP2 = true
	srv.StartTLS()
	defer srv.Close()
	client := srv.Client()
	// A watch from the current state: its ADDED event arms the deadline.
	res, err := client.Get(srv.URL + "/apis/pkg.pkgserver.dev/v1alpha1/namespaces/default/packagerevisions?watch=true&timeoutSeconds=3")
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	if res.ProtoMajor != 2 {
		t.Fatalf("the watch went over %s, want HTTP/2", res.Proto)
	}
	lines := bufio.NewScanner(res.Body)
	if !lines.Scan() || !strings.Contains(lines.Text(), `"ADDED"`) {
		t.Fatalf("first line %q (%v), want the ADDED event", lines.Text(), lines.Err())
	}
	ch := f.watchOf(t)
	// Idle well past the stall timeout, with the client reading.
	time.Sleep(5 * stallTimeout)
	ch <- engine.Event{Type: "MODIFIED", Kind: pkgapi.PackageRevisionKind, Object: prIn("default", "a")}
	for lines.Scan() && strings.Contains(lines.Text(), `"ADDED"`) {
	}
	if !strings.Contains(lines.Text(), `"MODIFIED"`) {
		t.Fatalf("after an idle spell: %q (%v), want the MODIFIED event", lines.Text(), lines.Err())
	}
	// The watch ends by its timeout, idle again: a clean end of stream.
	for lines.Scan() {
	}
	if err := lines.Err(); err != nil {
		t.Fatalf("the watch did not end cleanly: %v", err)
	}
}

// TestStopEndsInitialEvents: a server that stops ends a watch still sending
// its initial events to a client that reads slowly, between two events (the
// loop over a large snapshot looked at the stop only once it was done, and
// held the shutdown until then).
func TestStopEndsInitialEvents(t *testing.T) {
	f := newFake()
	big := strings.Repeat("x", 16<<10)
	for i := range 4000 {
		pr := prIn("default", "r"+strconv.Itoa(i))
		pr.Annotations = map[string]string{"x": big}
		f.prs[key(pr.Namespace, pr.Name)] = pr
	}
	stop := make(chan struct{})
	api := New(f, Options{Stop: stop})
	returned := make(chan struct{})
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		defer close(returned)
		api.ServeHTTP(w, r)
	}))
	defer srv.Close()
	res, err := http.Get(srv.URL + "/apis/pkg.pkgserver.dev/v1alpha1/namespaces/default/packagerevisions?watch=true")
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	// A slow reader: 64 MB of initial events take it 10 s or more.
	reading := make(chan struct{})
	go func() {
		defer close(reading)
		buf := make([]byte, 32<<10)
		for {
			if _, err := io.ReadFull(res.Body, buf); err != nil {
				return
			}
			time.Sleep(5 * time.Millisecond)
		}
	}()
	time.Sleep(200 * time.Millisecond)
	close(stop)
	select {
	case <-returned:
	case <-time.After(3 * time.Second):
		t.Fatal("the watch still sends its initial events after the stop")
	}
	res.Body.Close()
	<-reading
}
