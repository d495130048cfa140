package client

import (
	"context"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"testing"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"

	configapi "pkgserver.dev/pkgserver/api/config/v1alpha1"
	pkgapi "pkgserver.dev/pkgserver/api/pkg/v1alpha1"
)

// recorded is what the test server saw of one request.
type recorded struct {
	method, path, rawPath, query string
	header                       http.Header
	body                         string
}

// recorder answers every request with body and code and keeps what it saw.
type recorder struct {
	mu   sync.Mutex
	reqs []recorded
	code int
	body string
}

func (rec *recorder) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	b, _ := io.ReadAll(r.Body)
	rec.mu.Lock()
	rec.reqs = append(rec.reqs, recorded{r.Method, r.URL.Path, r.URL.EscapedPath(), r.URL.RawQuery, r.Header.Clone(), string(b)})
	code, body := rec.code, rec.body
	rec.mu.Unlock()
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	_, _ = io.WriteString(w, body)
}

func (rec *recorder) last(t *testing.T) recorded {
	t.Helper()
	rec.mu.Lock()
	defer rec.mu.Unlock()
	if len(rec.reqs) == 0 {
		t.Fatal("no request was sent")
	}
	return rec.reqs[len(rec.reqs)-1]
}

func newTestClient(t *testing.T, h http.Handler, opts ...Option) *Client {
	t.Helper()
	srv := httptest.NewServer(h)
	t.Cleanup(srv.Close)
	c, err := New(srv.URL+"/prefix/", opts...)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

const (
	prPath   = "/prefix/apis/pkg.pkgserver.dev/v1alpha1/namespaces/ns1/packagerevisions"
	prrPath  = "/prefix/apis/pkg.pkgserver.dev/v1alpha1/namespaces/ns1/packagerevisionresources"
	repoPath = "/prefix/apis/config.pkg.pkgserver.dev/v1alpha1/namespaces/ns1/repositories"
)

func TestRequests(t *testing.T) {
	pr := &pkgapi.PackageRevision{ObjectMeta: metav1.ObjectMeta{Name: "catalog.r.a:b.p.w", ResourceVersion: "7"}}
	tests := []struct {
		name        string
		call        func(ctx context.Context, c *Client) error
		method      string
		path        string
		query       string
		contentType string
		body        string // substring of the body sent
	}{
		{
			name: "list repositories",
			call: func(ctx context.Context, c *Client) error {
				_, err := c.Repositories("ns1").List(ctx, ListOptions{})
				return err
			},
			method: "GET", path: repoPath,
		},
		{
			name: "list with every option",
			call: func(ctx context.Context, c *Client) error {
				_, err := c.PackageRevisions("ns1").List(ctx, ListOptions{
					LabelSelector: "a=b", FieldSelector: "spec.lifecycle=draft", Limit: 5, Continue: "tok",
				})
				return err
			},
			method: "GET", path: prPath,
			query: "continue=tok&fieldSelector=spec.lifecycle%3Ddraft&labelSelector=a%3Db&limit=5",
		},
		{
			name: "list across namespaces",
			call: func(ctx context.Context, c *Client) error {
				_, err := c.PackageRevisionResources("").List(ctx, ListOptions{})
				return err
			},
			method: "GET", path: "/prefix/apis/pkg.pkgserver.dev/v1alpha1/packagerevisionresources",
		},
		{
			name: "get",
			call: func(ctx context.Context, c *Client) error {
				_, err := c.PackageRevisions("ns1").Get(ctx, "catalog.r.a:b.p.w")
				return err
			},
			method: "GET", path: prPath + "/catalog.r.a:b.p.w",
		},
		{
			name: "create",
			call: func(ctx context.Context, c *Client) error {
				_, err := c.Repositories("ns1").Create(ctx, &configapi.Repository{ObjectMeta: metav1.ObjectMeta{Name: "r"}})
				return err
			},
			method: "POST", path: repoPath, contentType: "application/json", body: `"name":"r"`,
		},
		{
			name: "update",
			call: func(ctx context.Context, c *Client) error {
				_, err := c.PackageRevisions("ns1").Update(ctx, pr)
				return err
			},
			method: "PUT", path: prPath + "/catalog.r.a:b.p.w", contentType: "application/json", body: `"resourceVersion":"7"`,
		},
		{
			name: "update approval",
			call: func(ctx context.Context, c *Client) error {
				_, err := c.PackageRevisions("ns1").UpdateApproval(ctx, pr)
				return err
			},
			method: "PUT", path: prPath + "/catalog.r.a:b.p.w/approval", contentType: "application/json", body: `"resourceVersion":"7"`,
		},
		{
			name: "update resources",
			call: func(ctx context.Context, c *Client) error {
				_, err := c.PackageRevisionResources("ns1").Update(ctx, &pkgapi.PackageRevisionResources{
					ObjectMeta: metav1.ObjectMeta{Name: "x.r..p.w"},
					Spec:       pkgapi.PackageRevisionResourcesSpec{Resources: map[string]string{"a.yaml": "x"}},
				})
				return err
			},
			method: "PUT", path: prrPath + "/x.r..p.w", contentType: "application/json", body: `"resources":{"a.yaml":"x"}`,
		},
		{
			name: "merge patch",
			call: func(ctx context.Context, c *Client) error {
				_, err := c.PackageRevisions("ns1").Patch(ctx, "n", types.MergePatchType, []byte(`{"spec":{}}`))
				return err
			},
			method: "PATCH", path: prPath + "/n", contentType: "application/merge-patch+json", body: `{"spec":{}}`,
		},
		{
			name: "json patch",
			call: func(ctx context.Context, c *Client) error {
				_, err := c.Repositories("ns1").Patch(ctx, "n", types.JSONPatchType, []byte(`[]`))
				return err
			},
			method: "PATCH", path: repoPath + "/n", contentType: "application/json-patch+json", body: `[]`,
		},
		{
			// DeleteOptions go in the body, as client-go sends them.
			name:   "delete",
			call:   func(ctx context.Context, c *Client) error { return c.Repositories("ns1").Delete(ctx, "r") },
			method: "DELETE", path: repoPath + "/r", contentType: "application/json", body: `"kind":"DeleteOptions"`,
		},
		{
			name: "watch",
			call: func(ctx context.Context, c *Client) error {
				w, err := c.PackageRevisions("ns1").Watch(ctx, ListOptions{ResourceVersion: "3", AllowWatchBookmarks: true})
				if err == nil {
					w.Stop()
				}
				return err
			},
			method: "GET", path: prPath, query: "allowWatchBookmarks=true&resourceVersion=3&watch=true",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rec := &recorder{code: 200, body: "{}"}
			c := newTestClient(t, rec, WithUser("alice"), WithUserAgent("test/1"))
			if err := tt.call(context.Background(), c); err != nil {
				t.Fatalf("call: %v", err)
			}
			got := rec.last(t)
			if got.method != tt.method {
				t.Errorf("method = %s, want %s", got.method, tt.method)
			}
			if got.rawPath != tt.path {
				t.Errorf("path = %s, want %s", got.rawPath, tt.path)
			}
			if got.query != tt.query {
				t.Errorf("query = %q, want %q", got.query, tt.query)
			}
			if ct := got.header.Get("Content-Type"); ct != tt.contentType {
				t.Errorf("Content-Type = %q, want %q", ct, tt.contentType)
			}
			if !strings.Contains(got.body, tt.body) {
				t.Errorf("body = %s, want it to contain %s", got.body, tt.body)
			}
			for h, want := range map[string]string{"Accept": "application/json", "User-Agent": "test/1", "Impersonate-User": "alice"} {
				if v := got.header.Get(h); v != want {
					t.Errorf("%s = %q, want %q", h, v, want)
				}
			}
		})
	}
}

func TestNoUserHeaderByDefault(t *testing.T) {
	rec := &recorder{code: 200, body: "{}"}
	c := newTestClient(t, rec)
	if _, err := c.Repositories("ns1").Get(context.Background(), "r"); err != nil {
		t.Fatal(err)
	}
	got := rec.last(t)
	if _, ok := got.header[UserHeader]; ok {
		t.Errorf("%s sent without WithUser", UserHeader)
	}
	if ua := got.header.Get("User-Agent"); ua != DefaultUserAgent {
		t.Errorf("User-Agent = %q, want %q", ua, DefaultUserAgent)
	}
}

func TestRefusedBeforeSending(t *testing.T) {
	rec := &recorder{code: 200, body: "{}"}
	c := newTestClient(t, rec)
	ctx := context.Background()
	tests := []struct {
		name string
		call func() error
		want string
	}{
		{"get without namespace", func() error { _, err := c.Repositories("").Get(ctx, "r"); return err }, "a namespace is required"},
		{"get without name", func() error { _, err := c.Repositories("ns").Get(ctx, ""); return err }, "a name is required"},
		{"create without namespace", func() error {
			_, err := c.Repositories("").Create(ctx, &configapi.Repository{})
			return err
		}, "a namespace is required"},
		{"update without name", func() error {
			_, err := c.PackageRevisions("ns").Update(ctx, &pkgapi.PackageRevision{})
			return err
		}, "a name is required"},
		{"patch without type", func() error { _, err := c.Repositories("ns").Patch(ctx, "r", "", nil); return err }, "a patch type is required"},
		{"delete without name", func() error { return c.Repositories("ns").Delete(ctx, "") }, "a name is required"},
		{"name that is not a path segment", func() error { _, err := c.Repositories("ns").Get(ctx, "a/b"); return err }, "may not contain '/'"},
		{"approval without name", func() error {
			_, err := c.PackageRevisions("ns").UpdateApproval(ctx, &pkgapi.PackageRevision{})
			return err
		}, "a name is required"},
		{"create contents", func() error {
			_, err := c.PackageRevisionResources("ns").Create(ctx, &pkgapi.PackageRevisionResources{})
			return err
		}, "created and deleted with their PackageRevision"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := tt.call()
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("err = %v, want %q", err, tt.want)
			}
		})
	}
	if len(rec.reqs) != 0 {
		t.Errorf("%d requests sent, want none", len(rec.reqs))
	}
}

func TestNew(t *testing.T) {
	tests := []struct {
		url     string
		opts    []Option
		want    string // Server(), or the error substring when wantErr
		wantErr bool
	}{
		{url: "http://127.0.0.1:8080", want: "http://127.0.0.1:8080"},
		{url: "https://pkg.example.com/base/", want: "https://pkg.example.com/base"},
		{url: "127.0.0.1:8080", want: "want an http:// or https:// URL", wantErr: true},
		{url: "ftp://x", want: "want an http:// or https:// URL", wantErr: true},
		{url: "http://", want: "has no host", wantErr: true},
		{url: "http://x/?a=b", want: "must not have a query", wantErr: true},
		{url: "http://x", opts: []Option{WithHTTPClient(nil)}, want: "nil *http.Client", wantErr: true},
		{url: "http://x", opts: []Option{WithUserAgent("")}, want: "empty user agent", wantErr: true},
	}
	for _, tt := range tests {
		t.Run(tt.url, func(t *testing.T) {
			c, err := New(tt.url, tt.opts...)
			if tt.wantErr {
				if err == nil || !strings.Contains(err.Error(), tt.want) {
					t.Fatalf("err = %v, want %q", err, tt.want)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if c.Server() != tt.want {
				t.Errorf("Server() = %q, want %q", c.Server(), tt.want)
			}
		})
	}
}

func TestErrorDecoding(t *testing.T) {
	tests := []struct {
		name    string
		code    int
		body    string
		check   func(error) bool
		reason  metav1.StatusReason
		message string
		details metav1.StatusDetails
	}{
		{
			name:  "not found",
			code:  404,
			body:  `{"kind":"Status","apiVersion":"v1","status":"Failure","message":"not found: package revision \"x\"","reason":"NotFound","code":404,"details":{"name":"x","group":"pkg.pkgserver.dev","kind":"packagerevisions"}}`,
			check: apierrors.IsNotFound, reason: metav1.StatusReasonNotFound,
			message: `not found: package revision "x"`,
			details: metav1.StatusDetails{Name: "x", Group: "pkg.pkgserver.dev", Kind: "packagerevisions"},
		},
		{
			name:  "conflict, details filled in from the request",
			code:  409,
			body:  `{"kind":"Status","apiVersion":"v1","status":"Failure","message":"stale","reason":"Conflict","code":409}`,
			check: apierrors.IsConflict, reason: metav1.StatusReasonConflict, message: "stale",
			details: metav1.StatusDetails{Name: "catalog.r..p.w", Group: "pkg.pkgserver.dev", Kind: "packagerevisions"},
		},
		{
			name:  "invalid",
			code:  422,
			body:  `{"kind":"Status","status":"Failure","message":"bad field","reason":"Invalid","code":422}`,
			check: apierrors.IsInvalid, reason: metav1.StatusReasonInvalid, message: "bad field",
			details: metav1.StatusDetails{Name: "catalog.r..p.w", Group: "pkg.pkgserver.dev", Kind: "packagerevisions"},
		},
		{
			name:  "forbidden",
			code:  403,
			body:  `{"kind":"Status","status":"Failure","message":"immutable","reason":"Forbidden","code":403}`,
			check: apierrors.IsForbidden, reason: metav1.StatusReasonForbidden, message: "immutable",
			details: metav1.StatusDetails{Name: "catalog.r..p.w", Group: "pkg.pkgserver.dev", Kind: "packagerevisions"},
		},
		{
			name:    "not a Status: a proxy's page",
			code:    502,
			body:    "<html>bad gateway</html>",
			check:   func(err error) bool { return apierrors.ReasonForError(err) == metav1.StatusReasonInternalError },
			reason:  metav1.StatusReasonInternalError,
			message: "an error on the server",
		},
		{
			name:  "not a Status: plain 404",
			code:  404,
			body:  "404 page not found",
			check: apierrors.IsNotFound, reason: metav1.StatusReasonNotFound,
			message: "the server could not find the requested resource",
		},
		{
			name:  "empty 503",
			code:  503,
			check: apierrors.IsServiceUnavailable, reason: metav1.StatusReasonServiceUnavailable,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := newTestClient(t, &recorder{code: tt.code, body: tt.body})
			_, err := c.PackageRevisions("ns1").Get(context.Background(), "catalog.r..p.w")
			var se *apierrors.StatusError
			if !errors.As(err, &se) {
				t.Fatalf("err = %T %v, want a *StatusError", err, err)
			}
			if !tt.check(err) {
				t.Errorf("check(%v) = false", err)
			}
			st := se.Status()
			if st.Reason != tt.reason {
				t.Errorf("reason = %q, want %q", st.Reason, tt.reason)
			}
			if int(st.Code) != tt.code {
				t.Errorf("code = %d, want %d", st.Code, tt.code)
			}
			if !strings.Contains(st.Message, tt.message) {
				t.Errorf("message = %q, want it to contain %q", st.Message, tt.message)
			}
			if tt.details.Name != "" && (st.Details == nil || st.Details.Name != tt.details.Name ||
				st.Details.Group != tt.details.Group || st.Details.Kind != tt.details.Kind) {
				t.Errorf("details = %+v, want %+v", st.Details, tt.details)
			}
		})
	}
}

func TestTransportError(t *testing.T) {
	srv := httptest.NewServer(http.NotFoundHandler())
	srv.Close() // nothing listens any more
	c, err := New(srv.URL)
	if err != nil {
		t.Fatal(err)
	}
	_, err = c.Repositories("ns").List(context.Background(), ListOptions{})
	var ue *url.Error
	if !errors.As(err, &ue) {
		t.Fatalf("err = %T %v, want a *url.Error", err, err)
	}
}

func TestUndecodableAnswer(t *testing.T) {
	c := newTestClient(t, &recorder{code: 200, body: "not json"})
	_, err := c.Repositories("ns").Get(context.Background(), "r")
	if err == nil || !strings.Contains(err.Error(), "json") {
		t.Fatalf("err = %v, want a decoding error", err)
	}
}
