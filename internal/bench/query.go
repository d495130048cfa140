package bench

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"strconv"
)

// latestLabel is the label pkgserver keeps on the newest published revision
// of each package.
const latestLabel = "pkg.pkgserver.dev/latest-revision"

// queryResult is one selective query, timed QueryRuns times.
type queryResult struct {
	name    string
	results int // answers of the last run
	samples Samples
}

// selectiveQuery is one kind of selective query: the parameters of run k and
// how many revisions it must return.
type selectiveQuery struct {
	name string
	run  func(k int) (params url.Values, want int)
}

// pickPackage spreads the runs of a query over the fill.
func pickPackage(k, pkgs int) int { return (k*7919 + 13) % pkgs }

// selectiveQueries are the queries of issue 13 ("selectors on lifecycle,
// package and upstream answered from indexes") on a fill of pkgs packages
// with live packages published by the write loads.
func selectiveQueries(pkgs, live, page int) []selectiveQuery {
	proposed := 0
	for i := proposedOffset; i < pkgs; i += proposedEvery {
		proposed++
	}
	revisionsOf := func(i int) int {
		if hasProposed(i) {
			return RevisionsPerPackage + 1
		}
		return RevisionsPerPackage
	}
	return []selectiveQuery{
		{"label latest-revision=true, a page", func(int) (url.Values, int) {
			return url.Values{"labelSelector": {latestLabel + "=true"}, "limit": {strconv.Itoa(page)}}, min(page, pkgs+live)
		}},
		{"field spec.lifecycle=proposed", func(int) (url.Values, int) {
			return url.Values{"fieldSelector": {"spec.lifecycle=proposed"}}, proposed
		}},
		{"field spec.packageRevID.package", func(k int) (url.Values, int) {
			i := pickPackage(k, pkgs)
			return url.Values{"fieldSelector": {"spec.packageRevID.package=" + fillID(i).Package}}, revisionsOf(i)
		}},
		{"field spec.upstream.name", func(k int) (url.Values, int) {
			u, _ := upstreamOf(pickPackage(k, pkgs))
			want := 0
			for i := u; i < min(pkgs, u+cloneBlock); i++ {
				if _, ok := upstreamOf(i); ok {
					want += revisionsOf(i)
				}
			}
			return url.Values{"fieldSelector": {"spec.upstream.name=" + fillRevisionName(u, 2)}}, want
		}},
		{"label latest-revision=true and field package", func(k int) (url.Values, int) {
			i := pickPackage(k, pkgs)
			return url.Values{"labelSelector": {latestLabel + "=true"}, "fieldSelector": {"spec.packageRevID.package=" + fillID(i).Package}}, 1
		}},
	}
}

// measureQueries times each selective query and checks what it returns.
func (b *bench) measureQueries(ctx context.Context, st *stageServer, r *listResult) error {
	for _, q := range selectiveQueries(st.pkgs, st.live, b.cfg.PageSize) {
		res := queryResult{name: q.name}
		for k := range b.cfg.QueryRuns {
			params, want := q.run(k)
			var s listScan
			d, err := timed(func() (err error) { s, err = st.client.scanList(ctx, listURL(st.ns, params)); return err })
			if err != nil {
				return fmt.Errorf("query %s: %w", q.name, err)
			}
			if s.items != want {
				return fmt.Errorf("query %s (%s): %d revisions, want %d", q.name, params.Encode(), s.items, want)
			}
			res.samples = append(res.samples, d)
			res.results = s.items
		}
		r.queries = append(r.queries, res)
	}
	return nil
}

// measurePages times pages of PageSize revisions: from the start of the list,
// and walking on from its middle with the continue tokens the server gives.
func (b *bench) measurePages(ctx context.Context, st *stageServer, r *listResult, total int) error {
	page := url.Values{"limit": {strconv.Itoa(b.cfg.PageSize)}}
	for range b.cfg.QueryRuns {
		var s listScan
		d, err := timed(func() (err error) { s, err = st.client.scanList(ctx, listURL(st.ns, page)); return err })
		if err != nil {
			return err
		}
		if want := min(b.cfg.PageSize, total); s.items != want {
			return fmt.Errorf("first page: %d revisions, want %d", s.items, want)
		}
		r.pageFirst = append(r.pageFirst, d)
	}
	half := max(1, total/2)
	mid, err := st.client.scanList(ctx, listURL(st.ns, url.Values{"limit": {strconv.Itoa(half)}}))
	if err != nil {
		return err
	}
	token := mid.continueToken
	for range b.cfg.QueryRuns {
		if token == "" { // walked to the end: start again from the middle
			token = mid.continueToken
		}
		if token == "" {
			break // a list shorter than two pages has no middle
		}
		params := url.Values{"limit": {strconv.Itoa(b.cfg.PageSize)}, "continue": {token}}
		var s listScan
		d, err := timed(func() (err error) { s, err = st.client.scanList(ctx, listURL(st.ns, params)); return err })
		if err != nil {
			return err
		}
		if s.items == 0 || s.items > b.cfg.PageSize {
			return fmt.Errorf("page from the middle: %d revisions", s.items)
		}
		r.pageMiddle = append(r.pageMiddle, d)
		token = s.continueToken
	}
	return nil
}

// socketServer is the baseline of a streamed list: a plain Go HTTP server
// that writes n bytes, chunked as pkgserver streams a list, from memory.
type socketServer struct {
	URL string
	srv *http.Server
}

// socketChunk is what the baseline writes at a time (pkgserver buffers a
// list in 64 KiB).
const socketChunk = 64 << 10

func startSocketServer() (*socketServer, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	chunk := make([]byte, socketChunk)
	for i := range chunk {
		chunk[i] = "{}[],:\"abcdefgh0123456789"[i%25]
	}
	s := &socketServer{URL: "http://" + ln.Addr().String()}
	s.srv = &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		n, err := strconv.Atoi(r.URL.Query().Get("n"))
		if err != nil || n < 0 {
			http.Error(w, "n: a byte count", http.StatusBadRequest)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		for n > 0 {
			k := min(n, len(chunk))
			if _, err := w.Write(chunk[:k]); err != nil {
				return
			}
			n -= k
		}
	})}
	go func() { _ = s.srv.Serve(ln) }()
	return s, nil
}

func (s *socketServer) path(n int) string { return "/bytes?n=" + strconv.Itoa(n) }

func (s *socketServer) Close() error { return s.srv.Close() }

// packagesOf is the number of packages of a fill size.
func packagesOf(size int) int { return (size + RevisionsPerPackage - 1) / RevisionsPerPackage }
