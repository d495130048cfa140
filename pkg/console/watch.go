package console

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"sync"
	"time"

	"pkgserver.dev/pkgserver/pkg/errdef"
)

// waitChange watches path (a list of the API, with the page's selectors
// in q) from resourceVersion rv, as the user, and returns when an object
// in it changes (true), or when wait passes or ctx ends (false). A
// resourceVersion the server no longer keeps counts as a change: the page
// is stale anyway.
func (c *caller) waitChange(ctx context.Context, path string, q url.Values, rv string, wait time.Duration) (bool, error) {
	q = cloneValues(q)
	q.Set("watch", "true")
	q.Set("resourceVersion", rv)
	q.Set("timeoutSeconds", strconv.Itoa(int(wait/time.Second)))
	ctx, cancel := context.WithTimeout(ctx, wait+time.Second)
	defer cancel()
	r, done, err := c.request(ctx, http.MethodGet, path, q, nil)
	if err != nil {
		return false, err
	}
	defer done()

	pr, pw := io.Pipe()
	sw := &streamWriter{header: http.Header{}, pw: pw, started: make(chan struct{})}
	served := make(chan struct{})
	go func() {
		defer close(served)
		c.api.ServeHTTP(sw, r)
		sw.start(http.StatusOK)
		pw.Close()
	}()
	// The handler blocks in Write while nobody reads: close the pipe and
	// cancel before waiting for it.
	defer func() { pr.Close(); done(); <-served }()

	select {
	case <-sw.started:
	case <-ctx.Done():
		return false, nil
	}
	if sw.code != http.StatusOK {
		body, _ := io.ReadAll(io.LimitReader(pr, 1<<20))
		err := statusError(sw.code, body)
		if errors.Is(err, errdef.ErrGone) {
			return true, nil
		}
		return false, err
	}
	sc := bufio.NewScanner(pr)
	sc.Buffer(make([]byte, 64<<10), 64<<20)
	for sc.Scan() {
		var ev struct {
			Type string `json:"type"`
		}
		if json.Unmarshal(sc.Bytes(), &ev) != nil {
			return false, errors.New("the watch sent something that is not an event")
		}
		switch ev.Type {
		case "ADDED", "MODIFIED", "DELETED":
			return true, nil
		case "ERROR":
			return true, nil
		}
	}
	return false, nil
}

// streamWriter is the ResponseWriter of an in-process watch: the body goes
// through a pipe to the reader as it is written.
type streamWriter struct {
	header  http.Header
	pw      *io.PipeWriter
	once    sync.Once
	code    int
	started chan struct{} // closed once code is set
}

func (w *streamWriter) Header() http.Header { return w.header }

func (w *streamWriter) start(code int) {
	w.once.Do(func() {
		w.code = code
		close(w.started)
	})
}

func (w *streamWriter) WriteHeader(code int) { w.start(code) }

func (w *streamWriter) Write(p []byte) (int, error) {
	w.start(http.StatusOK)
	return w.pw.Write(p)
}

// Flush is a no-op: every Write already reaches the reader.
func (w *streamWriter) Flush() {}

func cloneValues(q url.Values) url.Values {
	out := url.Values{}
	for k, v := range q {
		out[k] = append([]string(nil), v...)
	}
	return out
}
