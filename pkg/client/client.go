package client

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"

	configapi "pkgserver.dev/pkgserver/api/config/v1alpha1"
	pkgapi "pkgserver.dev/pkgserver/api/pkg/v1alpha1"
)

// Client talks to one pkgserver. It is safe for concurrent use.
type Client struct {
	base *url.URL
	opts options
}

// New returns a client for the server at baseURL, an http or https URL with
// an optional path prefix (for a server behind a reverse proxy).
func New(baseURL string, opts ...Option) (*Client, error) {
	if !strings.Contains(baseURL, "://") {
		return nil, fmt.Errorf("client: server URL %q: want an http:// or https:// URL, such as http://127.0.0.1:8080", baseURL)
	}
	u, err := url.Parse(baseURL)
	if err != nil {
		return nil, fmt.Errorf("client: server URL %q: %w", baseURL, err)
	}
	if u.Scheme != "http" && u.Scheme != "https" {
		return nil, fmt.Errorf("client: server URL %q: want an http:// or https:// URL", baseURL)
	}
	if u.Host == "" {
		return nil, fmt.Errorf("client: server URL %q has no host", baseURL)
	}
	if u.RawQuery != "" || u.Fragment != "" {
		return nil, fmt.Errorf("client: server URL %q must not have a query or fragment", baseURL)
	}
	u.Path = strings.TrimSuffix(u.Path, "/")
	u.RawPath = ""
	o := options{httpClient: http.DefaultClient, userAgent: DefaultUserAgent}
	for _, opt := range opts {
		if err := opt(&o); err != nil {
			return nil, err
		}
	}
	return &Client{base: u, opts: o}, nil
}

// Server returns the base URL the client talks to.
func (c *Client) Server() string { return c.base.String() }

// Repositories returns the client for Repository objects of namespace ns.
// An empty ns lists and watches across all namespaces; the other verbs need one.
func (c *Client) Repositories(ns string) *RepositoryClient {
	return &RepositoryClient{
		c: c, group: configapi.Group, version: configapi.Version,
		plural: configapi.RepositoryResource, namespace: ns,
		newObj:  func() *configapi.Repository { return new(configapi.Repository) },
		newList: func() *configapi.RepositoryList { return new(configapi.RepositoryList) },
	}
}

// PackageRevisions returns the client for PackageRevision objects of namespace ns.
// An empty ns lists and watches across all namespaces; the other verbs need one.
func (c *Client) PackageRevisions(ns string) *PackageRevisionClient {
	return &PackageRevisionClient{Resource: &Resource[*pkgapi.PackageRevision, *pkgapi.PackageRevisionList]{
		c: c, group: pkgapi.Group, version: pkgapi.Version,
		plural: pkgapi.PackageRevisionResource, namespace: ns,
		newObj:  func() *pkgapi.PackageRevision { return new(pkgapi.PackageRevision) },
		newList: func() *pkgapi.PackageRevisionList { return new(pkgapi.PackageRevisionList) },
	}}
}

// PackageRevisionResources returns the client for PackageRevisionResources
// objects of namespace ns. The server creates and deletes them with their
// PackageRevision, so Create and Delete are refused; Get, Update and Patch
// read and write the files of a revision.
func (c *Client) PackageRevisionResources(ns string) *PackageRevisionResourcesClient {
	return &PackageRevisionResourcesClient{
		c: c, group: pkgapi.Group, version: pkgapi.Version,
		plural: pkgapi.PackageRevisionResourcesResource, namespace: ns,
		newObj:  func() *pkgapi.PackageRevisionResources { return new(pkgapi.PackageRevisionResources) },
		newList: func() *pkgapi.PackageRevisionResourcesList { return new(pkgapi.PackageRevisionResourcesList) },
	}
}

// request is one HTTP call to the API.
type request struct {
	method      string
	path        string // absolute path under the base URL, already escaped
	query       url.Values
	body        []byte
	contentType string
	// what the call is about, for errors decoded from the response
	group, resource, name string
}

// url returns the full URL of r.
func (c *Client) url(r *request) string {
	u := *c.base
	u.RawPath = c.base.EscapedPath() + r.path
	p, err := url.PathUnescape(u.RawPath)
	if err != nil { // cannot happen: every segment is escaped by pathOf
		p = u.RawPath
	}
	u.Path = p
	if len(r.query) > 0 {
		u.RawQuery = r.query.Encode()
	}
	return u.String()
}

// send performs r and returns the response when its status is 2xx; any other
// status is decoded into an error.
func (c *Client) send(ctx context.Context, r *request) (*http.Response, error) {
	var body io.Reader
	if r.body != nil {
		body = bytes.NewReader(r.body)
	}
	req, err := http.NewRequestWithContext(ctx, r.method, c.url(r), body)
	if err != nil {
		return nil, err
	}
	req.Header.Set("Accept", "application/json")
	req.Header.Set("User-Agent", c.opts.userAgent)
	if c.opts.user != "" {
		req.Header.Set(UserHeader, c.opts.user)
	}
	if r.body != nil {
		req.Header.Set("Content-Type", r.contentType)
	}
	resp, err := c.opts.httpClient.Do(req)
	if err != nil {
		return nil, err
	}
	if resp.StatusCode/100 == 2 {
		return resp, nil
	}
	defer resp.Body.Close()
	data, _ := io.ReadAll(io.LimitReader(resp.Body, maxErrorBody))
	return nil, decodeError(resp.StatusCode, r, data)
}

// do performs r and decodes a 2xx JSON answer into out, unless out is nil.
func (c *Client) do(ctx context.Context, r *request, out any) error {
	resp, err := c.send(ctx, r)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if out == nil {
		_, _ = io.Copy(io.Discard, resp.Body)
		return nil
	}
	if err := json.NewDecoder(resp.Body).Decode(out); err != nil {
		return fmt.Errorf("%s %s: decoding the response: %w", r.method, c.url(r), err)
	}
	return nil
}
