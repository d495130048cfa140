package model

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"time"

	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"

	configapi "pkgserver.dev/pkgserver/api/config/v1alpha1"
	pkgapi "pkgserver.dev/pkgserver/api/pkg/v1alpha1"
)

// Approver is the user the model acts as (Impersonate-User): with no
// security flags pkgserver lets anyone do anything.
const Approver = "model-approver"

// response is one answer; code 0 means the request got no answer.
type response struct {
	code int
	body []byte
	hdr  http.Header
	err  error
}

func (r response) ok() bool { return r.code >= 200 && r.code < 300 }

// lost reports a request whose outcome is unknown: no answer, or a server
// fault (which a crash in the middle of a write gives).
func (r response) lost() bool { return r.code == 0 || r.code >= 500 }

func (r response) String() string {
	if r.code == 0 {
		return fmt.Sprintf("no answer (%v)", r.err)
	}
	b := string(r.body)
	if len(b) > 300 {
		b = b[:300] + "…"
	}
	return fmt.Sprintf("%d %s", r.code, strings.TrimSpace(b))
}

// client speaks HTTP to pkgserver's API and to OCI registries.
type client struct {
	http *http.Client
	ns   string
}

func newClient(ns string) *client {
	return &client{http: &http.Client{Timeout: 60 * time.Second}, ns: ns}
}

func (c *client) do(ctx context.Context, method, url string, body any, header map[string]string) response {
	var rd io.Reader
	switch b := body.(type) {
	case nil:
	case []byte:
		rd = bytes.NewReader(b)
	default:
		data, err := json.Marshal(b)
		if err != nil {
			return response{err: err}
		}
		rd = bytes.NewReader(data)
		if header == nil {
			header = map[string]string{}
		}
		if _, ok := header["Content-Type"]; !ok {
			header["Content-Type"] = "application/json"
		}
	}
	req, err := http.NewRequestWithContext(ctx, method, url, rd)
	if err != nil {
		return response{err: err}
	}
	req.Header.Set("Impersonate-User", Approver)
	for k, v := range header {
		req.Header.Set(k, v)
	}
	resp, err := c.http.Do(req)
	if err != nil {
		return response{err: err}
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(resp.Body)
	if err != nil {
		return response{err: err}
	}
	return response{code: resp.StatusCode, body: data, hdr: resp.Header}
}

// API paths.

func (c *client) revPath(api, name string) string {
	p := api + "/apis/" + pkgapi.Group + "/" + pkgapi.Version + "/namespaces/" + c.ns + "/" + pkgapi.PackageRevisionResource
	if name != "" {
		p += "/" + url.PathEscape(name)
	}
	return p
}

func (c *client) resPath(api, name string) string {
	return api + "/apis/" + pkgapi.Group + "/" + pkgapi.Version + "/namespaces/" + c.ns + "/" + pkgapi.PackageRevisionResourcesResource + "/" + url.PathEscape(name)
}

func (c *client) repoPath(api, name string) string {
	p := api + "/apis/" + configapi.Group + "/" + configapi.Version + "/namespaces/" + c.ns + "/" + configapi.RepositoryResource
	if name != "" {
		p += "/" + url.PathEscape(name)
	}
	return p
}

// decode reads a JSON answer into out.
func decode[T any](r response) (*T, error) {
	var out T
	if err := json.Unmarshal(r.body, &out); err != nil {
		return nil, fmt.Errorf("decode %T: %v: %s", out, err, r.body)
	}
	return &out, nil
}

// OCI distribution API, plain HTTP.

var manifestAccept = strings.Join([]string{ocispec.MediaTypeImageManifest, ocispec.MediaTypeImageIndex,
	"application/vnd.docker.distribution.manifest.v2+json", "application/vnd.docker.distribution.manifest.list.v2+json"}, ", ")

// catalog lists every OCI repository of a registry.
func (c *client) catalog(ctx context.Context, base string) ([]string, error) {
	var out []string
	next := base + "/v2/_catalog?n=1000"
	for next != "" {
		r := c.do(ctx, http.MethodGet, next, nil, nil)
		if r.code != http.StatusOK {
			return nil, fmt.Errorf("catalog: %s", r)
		}
		var page struct {
			Repositories []string `json:"repositories"`
		}
		if err := json.Unmarshal(r.body, &page); err != nil {
			return nil, err
		}
		out = append(out, page.Repositories...)
		next = ""
		if len(page.Repositories) == 1000 {
			next = base + "/v2/_catalog?n=1000&last=" + url.QueryEscape(page.Repositories[len(page.Repositories)-1])
		}
	}
	return out, nil
}

// tags lists the tags of repo (none when it does not exist).
func (c *client) tags(ctx context.Context, base, repo string) ([]string, error) {
	r := c.do(ctx, http.MethodGet, base+"/v2/"+repo+"/tags/list?n=10000", nil, nil)
	if r.code == http.StatusNotFound {
		return nil, nil
	}
	if r.code != http.StatusOK {
		return nil, fmt.Errorf("tags of %s: %s", repo, r)
	}
	var out struct {
		Tags []string `json:"tags"`
	}
	if err := json.Unmarshal(r.body, &out); err != nil {
		return nil, err
	}
	slices.Sort(out.Tags)
	return out.Tags, nil
}

// manifest fetches a manifest by tag or digest; nil when there is none.
func (c *client) manifest(ctx context.Context, base, repo, ref string) ([]byte, string, error) {
	r := c.do(ctx, http.MethodGet, base+"/v2/"+repo+"/manifests/"+ref, nil, map[string]string{"Accept": manifestAccept})
	if r.code == http.StatusNotFound {
		return nil, "", nil
	}
	if r.code != http.StatusOK {
		return nil, "", fmt.Errorf("manifest %s:%s: %s", repo, ref, r)
	}
	return r.body, digest.FromBytes(r.body).String(), nil
}

// blob fetches a blob and checks its digest.
func (c *client) blob(ctx context.Context, base, repo string, d digest.Digest) error {
	r := c.do(ctx, http.MethodGet, base+"/v2/"+repo+"/blobs/"+d.String(), nil, nil)
	if r.code != http.StatusOK {
		return fmt.Errorf("blob %s@%s: %s", repo, d, r)
	}
	if got := d.Algorithm().FromBytes(r.body); got != d {
		return fmt.Errorf("blob %s@%s has digest %s", repo, d, got)
	}
	return nil
}

// pushBlob uploads a blob (POST, then PUT with the digest).
func (c *client) pushBlob(ctx context.Context, base, repo string, data []byte) response {
	r := c.do(ctx, http.MethodPost, base+"/v2/"+repo+"/blobs/uploads/", nil, nil)
	if r.code != http.StatusAccepted {
		return r
	}
	loc := r.hdr.Get("Location")
	if loc == "" {
		return response{err: fmt.Errorf("upload of %s: no Location", repo)}
	}
	u, err := url.Parse(loc)
	if err != nil {
		return response{err: err}
	}
	if !u.IsAbs() {
		b, _ := url.Parse(base)
		u = b.ResolveReference(u)
	}
	q := u.Query()
	q.Set("digest", digest.FromBytes(data).String())
	u.RawQuery = q.Encode()
	return c.do(ctx, http.MethodPut, u.String(), data, map[string]string{"Content-Type": "application/octet-stream"})
}

// putManifest pushes a manifest under ref (a tag or its digest).
func (c *client) putManifest(ctx context.Context, base, repo, ref string, body []byte) response {
	var m struct {
		MediaType string `json:"mediaType"`
	}
	_ = json.Unmarshal(body, &m)
	if m.MediaType == "" {
		m.MediaType = ocispec.MediaTypeImageManifest
	}
	return c.do(ctx, http.MethodPut, base+"/v2/"+repo+"/manifests/"+ref, body, map[string]string{"Content-Type": m.MediaType})
}

func (c *client) deleteManifest(ctx context.Context, base, repo, ref string) response {
	return c.do(ctx, http.MethodDelete, base+"/v2/"+repo+"/manifests/"+ref, nil, nil)
}

func (c *client) deleteBlob(ctx context.Context, base, repo string, d digest.Digest) response {
	return c.do(ctx, http.MethodDelete, base+"/v2/"+repo+"/blobs/"+d.String(), nil, nil)
}
