package harness

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	configapi "pkgserver.dev/pkgserver/api/config/v1alpha1"
	pkgapi "pkgserver.dev/pkgserver/api/pkg/v1alpha1"
)

// Client talks to one pkgserver in one namespace with plain net/http and JSON.
// Its Do method never fails a test, so it can be used from any goroutine; the
// methods taking a testing.TB check the status code and fail the test.
type Client struct {
	// Base is http://host:port.
	Base string
	// Namespace is where objects are created and read.
	Namespace string
	// User, when set, is impersonated (Impersonate-User, as kubectl --as).
	User string
	// Token, when set, is sent as the bearer token.
	Token string
	HTTP  *http.Client
}

// NewClient returns a Client for base and namespace.
func NewClient(base, namespace string) *Client {
	return &Client{Base: base, Namespace: namespace, HTTP: &http.Client{Timeout: 30 * time.Second}}
}

// Response is what came back.
type Response struct {
	Method, Path string
	Code         int
	Body         []byte
}

// Status decodes the body as a metav1.Status (nil if it is not one).
func (r *Response) Status() *metav1.Status {
	var st metav1.Status
	if json.Unmarshal(r.Body, &st) != nil || st.Kind != "Status" {
		return nil
	}
	return &st
}

// Paths of the API.

// RepositoriesPath is the collection of repositories, or one by name.
func (c *Client) RepositoriesPath(name string) string {
	return item("/apis/"+configapi.Group+"/"+configapi.Version+"/namespaces/"+c.Namespace+"/"+configapi.RepositoryResource, name)
}

// RevisionsPath is the collection of package revisions, or one by name.
func (c *Client) RevisionsPath(name string) string {
	return item("/apis/"+pkgapi.Group+"/"+pkgapi.Version+"/namespaces/"+c.Namespace+"/"+pkgapi.PackageRevisionResource, name)
}

// ApprovalPath is the approval subresource of a package revision.
func (c *Client) ApprovalPath(name string) string { return c.RevisionsPath(name) + "/approval" }

// ResourcesPath is the collection of package revision resources, or one by name.
func (c *Client) ResourcesPath(name string) string {
	return item("/apis/"+pkgapi.Group+"/"+pkgapi.Version+"/namespaces/"+c.Namespace+"/"+pkgapi.PackageRevisionResourcesResource, name)
}

func item(coll, name string) string {
	if name == "" {
		return coll
	}
	return coll + "/" + url.PathEscape(name)
}

// Do sends a request. body may be nil, []byte (sent as is, JSON content
// type), an io.Reader (sent chunked, without Content-Length) or any value
// (sent as JSON).
func (c *Client) Do(ctx context.Context, method, path string, body any) (*Response, error) {
	var rd io.Reader
	length := int64(-1)
	switch b := body.(type) {
	case nil:
	case []byte:
		rd, length = bytes.NewReader(b), int64(len(b))
	case io.Reader:
		rd = b
	default:
		data, err := json.Marshal(b)
		if err != nil {
			return nil, err
		}
		rd, length = bytes.NewReader(data), int64(len(data))
	}
	req, err := http.NewRequestWithContext(ctx, method, c.Base+path, rd)
	if err != nil {
		return nil, err
	}
	if rd != nil {
		req.Header.Set("Content-Type", "application/json")
		if length < 0 {
			req.ContentLength = -1 // chunked
		}
	}
	req.Header.Set("Accept", "application/json")
	if c.User != "" {
		req.Header.Set("Impersonate-User", c.User)
	}
	if c.Token != "" {
		req.Header.Set("Authorization", "Bearer "+c.Token)
	}
	resp, err := c.HTTP.Do(req)
	if err != nil {
		return nil, fmt.Errorf("%s %s: %w", method, path, err)
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(resp.Body)
	if err != nil {
		return nil, fmt.Errorf("%s %s: reading body: %w", method, path, err)
	}
	return &Response{Method: method, Path: path, Code: resp.StatusCode, Body: data}, nil
}

// Expect sends a request and fails t unless the answer has code want. A
// success body is decoded into out when out is not nil. An error answer must
// be a metav1.Status carrying the same code.
func (c *Client) Expect(t testing.TB, method, path string, body any, want int, out any) *Response {
	t.Helper()
	resp, err := c.Do(t.Context(), method, path, body)
	if err != nil {
		t.Fatal(err)
	}
	if resp.Code != want {
		t.Fatalf("%s %s: got %d, want %d\nrequest: %s\nresponse: %s", method, path, resp.Code, want, describe(body), tail(string(resp.Body), 2000))
	}
	if want >= 400 {
		st := resp.Status()
		if st == nil {
			t.Fatalf("%s %s: error %d without a metav1.Status body: %s", method, path, resp.Code, tail(string(resp.Body), 2000))
		}
		if int(st.Code) != want || st.Status != metav1.StatusFailure {
			t.Fatalf("%s %s: Status body says code %d status %q, want %d Failure", method, path, st.Code, st.Status, want)
		}
		return resp
	}
	if out != nil {
		if err := json.Unmarshal(resp.Body, out); err != nil {
			t.Fatalf("%s %s: decoding %T: %v\n%s", method, path, out, err, tail(string(resp.Body), 2000))
		}
	}
	return resp
}

// ExpectStatus sends a request that must fail with code and returns its Status.
func (c *Client) ExpectStatus(t testing.TB, method, path string, body any, code int) *metav1.Status {
	t.Helper()
	return c.Expect(t, method, path, body, code, nil).Status()
}

func describe(body any) string {
	switch b := body.(type) {
	case nil:
		return "(none)"
	case []byte:
		return tail(string(b), 1000)
	case io.Reader:
		return "(stream)"
	}
	data, _ := json.Marshal(body)
	return tail(string(data), 1000)
}

// Typed calls. Each fails t unless the server answers with the usual code.

// CreateRepository POSTs a Repository and expects 201.
func (c *Client) CreateRepository(t testing.TB, r *configapi.Repository) *configapi.Repository {
	t.Helper()
	var out configapi.Repository
	c.Expect(t, http.MethodPost, c.RepositoriesPath(""), r, http.StatusCreated, &out)
	return &out
}

// ListRepositories lists the repositories of the namespace.
func (c *Client) ListRepositories(t testing.TB) *configapi.RepositoryList {
	t.Helper()
	var out configapi.RepositoryList
	c.Expect(t, http.MethodGet, c.RepositoriesPath(""), nil, http.StatusOK, &out)
	return &out
}

// CreateRevision POSTs a PackageRevision and expects 201.
func (c *Client) CreateRevision(t testing.TB, pr *pkgapi.PackageRevision) *pkgapi.PackageRevision {
	t.Helper()
	var out pkgapi.PackageRevision
	c.Expect(t, http.MethodPost, c.RevisionsPath(""), pr, http.StatusCreated, &out)
	return &out
}

// GetRevision GETs a PackageRevision.
func (c *Client) GetRevision(t testing.TB, name string) *pkgapi.PackageRevision {
	t.Helper()
	var out pkgapi.PackageRevision
	c.Expect(t, http.MethodGet, c.RevisionsPath(name), nil, http.StatusOK, &out)
	return &out
}

// UpdateRevision PUTs a PackageRevision and expects 200.
func (c *Client) UpdateRevision(t testing.TB, pr *pkgapi.PackageRevision) *pkgapi.PackageRevision {
	t.Helper()
	var out pkgapi.PackageRevision
	c.Expect(t, http.MethodPut, c.RevisionsPath(pr.Name), pr, http.StatusOK, &out)
	return &out
}

// Approve PUTs pr with lifecycle to on /approval and expects 200.
func (c *Client) Approve(t testing.TB, pr *pkgapi.PackageRevision, to pkgapi.Lifecycle) *pkgapi.PackageRevision {
	t.Helper()
	in := pr.DeepCopy()
	in.Spec.Lifecycle = to
	var out pkgapi.PackageRevision
	c.Expect(t, http.MethodPut, c.ApprovalPath(pr.Name), in, http.StatusOK, &out)
	return &out
}

// DeleteRevision DELETEs a PackageRevision and expects 200.
func (c *Client) DeleteRevision(t testing.TB, name string) {
	t.Helper()
	c.Expect(t, http.MethodDelete, c.RevisionsPath(name), nil, http.StatusOK, nil)
}

// ListRevisions lists package revisions with query parameters q.
func (c *Client) ListRevisions(t testing.TB, q url.Values) *pkgapi.PackageRevisionList {
	t.Helper()
	var out pkgapi.PackageRevisionList
	p := c.RevisionsPath("")
	if len(q) > 0 {
		p += "?" + q.Encode()
	}
	c.Expect(t, http.MethodGet, p, nil, http.StatusOK, &out)
	return &out
}

// GetResources GETs a PackageRevisionResources.
func (c *Client) GetResources(t testing.TB, name string) *pkgapi.PackageRevisionResources {
	t.Helper()
	var out pkgapi.PackageRevisionResources
	c.Expect(t, http.MethodGet, c.ResourcesPath(name), nil, http.StatusOK, &out)
	return &out
}

// UpdateResources PUTs a PackageRevisionResources and expects 200.
func (c *Client) UpdateResources(t testing.TB, prr *pkgapi.PackageRevisionResources) *pkgapi.PackageRevisionResources {
	t.Helper()
	var out pkgapi.PackageRevisionResources
	c.Expect(t, http.MethodPut, c.ResourcesPath(prr.Name), prr, http.StatusOK, &out)
	return &out
}

// RevisionName is the object name of an identity:
// <target>.<repository>.<realm with "/" as ":">.<package>.<workspace>.
func RevisionName(id pkgapi.PackageRevID) string {
	return strings.Join([]string{id.Target, id.Repository, strings.ReplaceAll(id.Realm, "/", ":"), id.Package, id.Workspace}, ".")
}
