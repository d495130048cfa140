package console

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"

	"k8s.io/apiserver/pkg/authentication/user"

	"pkgserver.dev/pkgserver/pkg/auth/authn"
)

// caller makes API requests inside the process as one user: each goes
// through the API's own middleware (authentication by authn.OnBehalfOf,
// RBAC, audit, limits, metrics), so a console action is the same API call
// a client of that user would make, authorized and audited the same way.
type caller struct {
	api    http.Handler
	user   user.Info
	remote string // the browser's address, for the audit log
	agent  string // the browser's user agent, for the audit log
}

// userAgent marks the console's API calls in the audit log.
const userAgent = "pkgserver-console"

// request builds an API request; ctx keeps only the cancellation of the
// console request, so nothing of its context (its user, its audit event)
// leaks into the API call.
func (c *caller) request(ctx context.Context, method, path string, q url.Values, body any) (*http.Request, func(), error) {
	var rd io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			return nil, nil, err
		}
		rd = bytes.NewReader(b)
	}
	inner, cancel := context.WithCancel(context.Background())
	stop := context.AfterFunc(ctx, cancel)
	u := url.URL{Path: path}
	if method == http.MethodPost || method == http.MethodPut {
		// Writes are the console's in managedFields, not the browser's.
		q = cloneValues(q)
		q.Set("fieldManager", userAgent)
	}
	if len(q) > 0 {
		u.RawQuery = q.Encode()
	}
	r, err := http.NewRequestWithContext(authn.OnBehalfOf(inner, c.user), method, u.String(), rd)
	if err != nil {
		stop()
		cancel()
		return nil, nil, err
	}
	r.RemoteAddr = c.remote
	r.Header.Set("Accept", "application/json")
	r.Header.Set("User-Agent", userAgent+" ("+c.agent+")")
	if body != nil {
		r.Header.Set("Content-Type", "application/json")
	}
	return r, func() { stop(); cancel() }, nil
}

// do sends one request and decodes a JSON answer into out (when not nil);
// an error answer is an *APIError.
func (c *caller) do(ctx context.Context, method, path string, q url.Values, body, out any) error {
	r, done, err := c.request(ctx, method, path, q, body)
	if err != nil {
		return err
	}
	defer done()
	rec := &recorder{header: http.Header{}}
	c.api.ServeHTTP(rec, r)
	if rec.code >= 300 {
		return statusError(rec.code, rec.body.Bytes())
	}
	if out == nil {
		return nil
	}
	if err := json.Unmarshal(rec.body.Bytes(), out); err != nil {
		return fmt.Errorf("decoding the answer of %s %s: %w", method, path, err)
	}
	return nil
}

// recorder is the ResponseWriter of an in-process API call.
type recorder struct {
	header http.Header
	code   int
	body   bytes.Buffer
}

func (r *recorder) Header() http.Header { return r.header }

func (r *recorder) WriteHeader(code int) {
	if r.code == 0 {
		r.code = code
	}
}

func (r *recorder) Write(p []byte) (int, error) {
	r.WriteHeader(http.StatusOK)
	return r.body.Write(p)
}

// Flush is a no-op: the whole answer is read at once.
func (r *recorder) Flush() {}
