package bench

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"strconv"
	"sync"
	"time"

	"pkgserver.dev/pkgserver/pkg/names"
)

// The watcher groups of the watch phase: each a quarter of the watchers,
// each with the selector a controller of that kind would use.
const (
	groupLatest   = iota // label latest-revision=true: approvals
	groupProposed        // field spec.lifecycle=proposed: proposals and approvals
	groupRepo            // field spec.packageRevID.repository=live: every write
	groupPackage         // field spec.packageRevID.package=<one package>: its writes
	numGroups
)

var groupNames = [numGroups]string{
	"label " + latestLabel + "=true",
	"field spec.lifecycle=proposed",
	"field spec.packageRevID.repository=" + liveRepo,
	"field spec.packageRevID.package=<one live package>",
}

// writersFor is the number of writers of a load of rate operations per
// second: enough that writes of 300 ms still meet the rate.
func writersFor(rate float64) int { return max(4, int(rate/3)) }

// watchResult is what the watch phase measured.
type watchResult struct {
	watchers  int
	revisions int
	open      time.Duration // until every watch answered 200
	memBefore Memory        // before the watches
	memIdle   Memory        // with every watch open and idle
	memRun1   Memory        // after run 1, before the slow watchers
	memSlow   Memory        // after the run with the slow watchers
	runs      [3]watchRun   // without the slow watchers, with them, and without again
	slow      []slowResult
}

// watchRun is one loaded run.
type watchRun struct {
	duration   time.Duration
	writes     int
	writeLat   Samples
	delivery   Samples // write acknowledged → event received (0 when it came first)
	early      int     // events received before their write was acknowledged
	expected   int     // deliveries the selectors call for
	delivered  int
	unmatched  int // events of no write of the run's window (bookmarks aside)
	ended      int // watches that ended during the run
	endedFirst string
}

// slowResult is what became of a watcher that never reads.
type slowResult struct {
	name    string
	closed  bool   // the server closed the stream
	expired bool   // with a 410 Expired ERROR event
	pending int64  // bytes the server had queued for it, read when draining
	detail  string // what draining found
}

// delivery is one event received by a watcher.
type delivery struct {
	rv uint64
	at time.Time
}

type watchStream struct {
	group int
	pkg   string // groupPackage: the package watched

	mu     sync.Mutex
	got    []delivery
	bogus  int
	ended  error
	endsAt time.Time
}

// watchers measures issue 13's watcher target on st's fill.
func (b *bench) watchers(ctx context.Context, st *stageServer) error {
	res := &watchResult{watchers: b.cfg.Watchers, revisions: st.revisions()}
	b.watch = res
	rv, err := st.client.scanList(ctx, listURL(st.ns, url.Values{"limit": {"1"}}))
	if err != nil {
		return err
	}
	time.Sleep(b.cfg.Settle) // let the start's garbage settle
	if res.memBefore, err = st.srv.Memory(); err != nil {
		return err
	}
	next := &st.nextLive
	perRun := int(b.cfg.WatchWriteRate*b.cfg.WatchDuration.Seconds())/numSteps + writersFor(b.cfg.WatchWriteRate)
	wctx, cancel := context.WithCancel(ctx)
	defer cancel()
	tr := &http.Transport{MaxIdleConnsPerHost: b.cfg.Watchers, DisableCompression: true}
	defer tr.CloseIdleConnections()
	hc := &http.Client{Transport: tr}
	streams := make([]*watchStream, b.cfg.Watchers)
	opened := make(chan error, len(streams))
	start := time.Now()
	for i := range streams {
		s := &watchStream{group: i % numGroups}
		params := url.Values{"watch": {"true"}, "resourceVersion": {rv.resourceVersion}, "allowWatchBookmarks": {"true"}}
		switch s.group {
		case groupLatest:
			params.Set("labelSelector", latestLabel+"=true")
		case groupProposed:
			params.Set("fieldSelector", "spec.lifecycle=proposed")
		case groupRepo:
			params.Set("fieldSelector", "spec.packageRevID.repository="+liveRepo)
		case groupPackage:
			// Spread over the packages the runs will write.
			step := max(1, len(res.runs)*perRun/(b.cfg.Watchers/numGroups))
			s.pkg = livePackage(int(next.Load()) + 1 + (i/numGroups)*step)
			params.Set("fieldSelector", "spec.packageRevID.package="+s.pkg)
		}
		streams[i] = s
		go s.follow(wctx, hc, st.client.Base+listURL(st.ns, params), opened)
	}
	for range streams {
		if err := <-opened; err != nil {
			return fmt.Errorf("open a watch: %w", err)
		}
	}
	res.open = time.Since(start)
	time.Sleep(b.cfg.Settle)
	if res.memIdle, err = st.srv.Memory(); err != nil {
		return err
	}
	b.logf("watch: %d watches open in %s; RSS %d → %d MiB", b.cfg.Watchers, res.open.Round(time.Millisecond), res.memBefore.RSS>>20, res.memIdle.RSS>>20)

	load := newWriteLoad(st.client, st.ns, next)
	var slow []*slowWatch
	defer func() {
		for _, s := range slow {
			s.conn.Close()
		}
	}()
	for run := range res.runs {
		switch run {
		case 1:
			if res.memRun1, err = st.srv.Memory(); err != nil {
				return err
			}
			for _, sw := range []struct{ name, query string }{
				{"WatchList (every revision as initial events), never reads", "sendInitialEvents=true&resourceVersionMatch=NotOlderThan&allowWatchBookmarks=true&resourceVersion=" + rv.resourceVersion},
				{"watch of every change, never reads", "resourceVersion=" + rv.resourceVersion},
			} {
				s, err := openSlowWatch(st.srv.Addr, listPath(st.ns)+"?watch=true&"+sw.query, sw.name)
				if err != nil {
					return err
				}
				slow = append(slow, s)
			}
			time.Sleep(b.cfg.Settle)
		case 2:
			// What the server still holds for them, then see whether it
			// had dropped them; the last run is without them again, so
			// that the machine's own drift shows.
			if res.memSlow, err = st.srv.Memory(); err != nil {
				return err
			}
			// The server's zero-window probes back off exponentially, so
			// after being blocked for a run the next may be that far away:
			// only as long a silence means the stream is still open.
			quiet := b.cfg.WatchDuration + 2*b.cfg.Settle
			res.slow = make([]slowResult, len(slow))
			var wg sync.WaitGroup
			for i, s := range slow {
				wg.Add(1)
				go func() { defer wg.Done(); res.slow[i] = s.drain(quiet) }()
			}
			wg.Wait()
			for _, s := range slow {
				s.conn.Close()
			}
			slow = nil
			time.Sleep(b.cfg.Settle)
		}
		stopProfile := func() error { return nil }
		if run == 0 && b.cfg.ProfileDir != "" {
			stopProfile = b.profile(ctx, st.srv, fmt.Sprintf("%s-%d-watch", st.be.name, res.revisions), max(1, int(b.cfg.WatchDuration.Seconds())))
		}
		from := time.Now()
		st.live += load.run(ctx, b.cfg.WatchWriteRate, b.cfg.WatchDuration, writersFor(b.cfg.WatchWriteRate))
		to := time.Now()
		if err := stopProfile(); err != nil {
			return fmt.Errorf("profile: %w", err)
		}
		if err := load.err(); err != nil {
			return err
		}
		time.Sleep(min(time.Second, b.cfg.Settle)) // the last events of the run
		r := &res.runs[run]
		r.duration = b.cfg.WatchDuration
		r.writeLat = load.latencies(from, from.Add(b.cfg.WatchDuration))
		r.writes = len(r.writeLat)
		collectDeliveries(r, load, streams, from, to, min(time.Second, b.cfg.Settle))
		b.logf("watch run %d: %d writes (%.1f/s), delivery p50 %.1f ms p99 %.1f ms, %d of %d events delivered, write p50 %.1f ms",
			run+1, r.writes, float64(r.writes)/r.duration.Seconds(), r.delivery.P50(), r.delivery.P99(), r.delivered, r.expected, r.writeLat.P50())
	}
	return nil
}

// without pools the runs without slow watchers.
func (w *watchResult) without() (delivery, writes Samples) {
	for _, r := range []*watchRun{&w.runs[0], &w.runs[2]} {
		delivery = append(delivery, r.delivery...)
		writes = append(writes, r.writeLat...)
	}
	return delivery, writes
}

// follow runs one watch until ctx ends, recording every event it receives.
func (s *watchStream) follow(ctx context.Context, hc *http.Client, u string, opened chan<- error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		opened <- err
		return
	}
	resp, err := hc.Do(req)
	if err != nil {
		opened <- err
		return
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		body, _ := io.ReadAll(io.LimitReader(resp.Body, 4096))
		opened <- fmt.Errorf("%s: %s", resp.Status, bytes.TrimSpace(body))
		return
	}
	opened <- nil
	br := bufio.NewReaderSize(resp.Body, 64<<10)
	var long []byte
	for {
		line, err := br.ReadSlice('\n')
		if errors.Is(err, bufio.ErrBufferFull) {
			long = append(long, line...)
			continue
		}
		at := time.Now()
		if err != nil {
			if ctx.Err() == nil {
				s.mu.Lock()
				s.ended, s.endsAt = fmt.Errorf("stream ended: %w", err), at
				s.mu.Unlock()
			}
			return
		}
		if long != nil {
			line = append(long, line...)
			long = nil
		}
		typ, rv, ok := eventOf(line)
		s.mu.Lock()
		switch {
		case !ok:
			s.bogus++
		case typ == "BOOKMARK":
		case typ == "ERROR":
			s.ended, s.endsAt = fmt.Errorf("ERROR event: %s", bytes.TrimSpace(line)), at
		default:
			s.got = append(s.got, delivery{rv: rv, at: at})
		}
		s.mu.Unlock()
	}
}

var (
	typeKey = []byte(`"type":"`)
	rvKey   = []byte(`"resourceVersion":"`)
)

// eventOf reads the type and the object's resourceVersion of a watch event
// without decoding it: metadata (and so the object's resourceVersion) comes
// before spec and status, and nothing before it has a resourceVersion. 1,000
// watchers receive tens of thousands of events a second on 2 cores; decoding
// each would make the benchmark measure itself.
func eventOf(line []byte) (typ string, rv uint64, ok bool) {
	i := bytes.Index(line, typeKey)
	if i < 0 {
		return "", 0, false
	}
	rest := line[i+len(typeKey):]
	j := bytes.IndexByte(rest, '"')
	if j < 0 {
		return "", 0, false
	}
	typ = string(rest[:j])
	if typ == "ERROR" {
		return typ, 0, true
	}
	k := bytes.Index(line, rvKey)
	if k < 0 {
		return typ, 0, false
	}
	rest = line[k+len(rvKey):]
	j = bytes.IndexByte(rest, '"')
	if j < 0 {
		return typ, 0, false
	}
	rv, err := strconv.ParseUint(string(rest[:j]), 10, 64)
	return typ, rv, err == nil
}

// collectDeliveries matches the events the watchers received to the writes
// of one run (by resourceVersion, unique per change) and counts what the
// selectors call for.
func collectDeliveries(r *watchRun, load *writeLoad, streams []*watchStream, from, to time.Time, grace time.Duration) {
	load.mu.Lock()
	byRV := map[uint64]write{}
	watchedPkgs := map[string]int{}
	for _, s := range streams {
		if s.group == groupPackage {
			watchedPkgs[s.pkg]++
		}
	}
	perGroup := len(streams) / numGroups
	for _, w := range load.writes {
		if w.sent.Before(from) || !w.sent.Before(from.Add(r.duration)) {
			continue
		}
		byRV[w.rv] = w
		want := perGroup // every write: the repository group
		switch w.op {
		case stepPropose:
			want += perGroup
		case stepApprove:
			want += 2 * perGroup
		}
		if id, err := names.Parse(w.name); err == nil {
			want += watchedPkgs[id.Package]
		}
		r.expected += want
	}
	load.mu.Unlock()
	for _, s := range streams {
		s.mu.Lock()
		for _, d := range s.got {
			if d.at.Before(from) || d.at.After(to.Add(grace)) {
				continue
			}
			w, ok := byRV[d.rv]
			if !ok {
				if !d.at.After(to) {
					r.unmatched++
				}
				continue
			}
			r.delivered++
			lat := d.at.Sub(w.ack)
			if lat < 0 {
				r.early++
				lat = 0
			}
			r.delivery = append(r.delivery, lat)
		}
		if s.ended != nil && !s.endsAt.Before(from) {
			r.ended++
			if r.endedFirst == "" {
				r.endedFirst = s.ended.Error()
			}
		}
		s.mu.Unlock()
	}
}

// slowWatch is a watch on a raw connection with a tiny receive buffer that
// never reads: the server's writes to it block once the buffers are full.
type slowWatch struct {
	name string
	conn net.Conn
}

func openSlowWatch(addr, path, name string) (*slowWatch, error) {
	conn, err := net.Dial("tcp", addr)
	if err != nil {
		return nil, err
	}
	if tc, ok := conn.(*net.TCPConn); ok {
		_ = tc.SetReadBuffer(4096)
	}
	if _, err := fmt.Fprintf(conn, "GET %s HTTP/1.1\r\nHost: %s\r\nUser-Agent: pkgbench-slow-watcher\r\n\r\n", path, addr); err != nil {
		conn.Close()
		return nil, err
	}
	return &slowWatch{name: name, conn: conn}, nil
}

// drain reads what the server queued for the slow watcher until the server
// closes the stream or nothing comes for quiet (then it is still open).
func (s *slowWatch) drain(quiet time.Duration) slowResult {
	res := slowResult{name: s.name}
	// With the tiny buffer a drain crawls (a few KB per window update,
	// seconds apart); a large one lets the backlog through at once.
	if tc, ok := s.conn.(*net.TCPConn); ok {
		_ = tc.SetReadBuffer(4 << 20)
	}
	buf := make([]byte, 64<<10)
	var tail []byte
	// A stream the server keeps open sends a bookmark every 10 s: bound the
	// whole drain too, or it never ends.
	end := time.Now().Add(2 * quiet)
	for {
		next := time.Now().Add(quiet)
		if next.After(end) {
			next = end
		}
		_ = s.conn.SetReadDeadline(next)
		n, err := s.conn.Read(buf)
		res.pending += int64(n)
		tail = append(tail, buf[:n]...)
		if len(tail) > 8192 {
			tail = tail[len(tail)-8192:]
		}
		if err == nil {
			continue
		}
		switch {
		case errors.Is(err, os.ErrDeadlineExceeded) && !time.Now().Before(end):
			res.detail = fmt.Sprintf("still open after %s of reading", 2*quiet)
		case errors.Is(err, os.ErrDeadlineExceeded):
			res.detail = fmt.Sprintf("still open (nothing more within %s)", quiet)
		case errors.Is(err, io.EOF):
			res.closed = true
			res.detail = "closed by the server"
		default:
			res.closed = true
			res.detail = "ended: " + err.Error()
		}
		res.expired = bytes.Contains(tail, []byte(`"ERROR"`)) && bytes.Contains(tail, []byte("410"))
		return res
	}
}
