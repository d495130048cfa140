package registry_test

import (
	"crypto/sha512"
	"encoding/json"
	"fmt"
	"os"
	"strings"
	"testing"

	"github.com/opencontainers/go-digest"

	"pkgserver.dev/pkgserver/pkg/registry"
)

// step is one request of a flow and what must come back.
type step struct {
	method, path string
	header       map[string]string
	body         string
	status       int
	code         string
	wantHeader   map[string]string
	wantBody     string
}

// runFlow runs steps in order on one registry; {loc} in a path is the
// Location of the previous response.
func runFlow(t *testing.T, f *fixture, steps []step) {
	t.Helper()
	loc := ""
	for i, s := range steps {
		path := strings.ReplaceAll(s.path, "{loc}", loc)
		var body []byte
		if s.body != "" {
			body = []byte(s.body)
		}
		r := f.do(s.method, path, s.header, body)
		if r.status != s.status {
			t.Fatalf("step %d %s %s: status %d, want %d; %s", i, s.method, path, r.status, s.status, r.body)
		}
		if s.code != "" && errorCode(r.body) != s.code {
			t.Errorf("step %d: code %q, want %q", i, errorCode(r.body), s.code)
		}
		for k, v := range s.wantHeader {
			if got := r.header.Get(k); got != v {
				t.Errorf("step %d: header %s = %q, want %q", i, k, got, v)
			}
		}
		if s.wantBody != "" && strings.TrimSpace(string(r.body)) != s.wantBody {
			t.Errorf("step %d: body %s, want %s", i, r.body, s.wantBody)
		}
		if l := r.header.Get("Location"); l != "" {
			loc = l
		}
	}
}

func TestChunkedUpload(t *testing.T) {
	tmp := t.TempDir()
	f := newFixture(t, registry.Options{TempDir: tmp})
	d := digest.FromString("hello world").String()
	runFlow(t, f, []step{
		{method: "POST", path: "/v2/a/b/blobs/uploads/", status: 202, wantHeader: map[string]string{"Range": "0-0"}},
		{method: "PATCH", path: "{loc}", header: map[string]string{"Content-Range": "0-4"}, body: "hello", status: 202,
			wantHeader: map[string]string{"Range": "0-4"}},
		// Out of order: 416, and the session is unchanged.
		{method: "PATCH", path: "{loc}", header: map[string]string{"Content-Range": "7-10"}, body: "orld", status: 416,
			code: "RANGE_INVALID", wantHeader: map[string]string{"Range": "0-4"}},
		{method: "PUT", path: "{loc}?digest=" + d, header: map[string]string{"Content-Range": "0-1"}, body: "he", status: 416},
		// Content-Length disagreeing with Content-Range.
		{method: "PATCH", path: "{loc}", header: map[string]string{"Content-Range": "5-9"}, body: " wo", status: 416},
		{method: "GET", path: "{loc}", status: 204, wantHeader: map[string]string{"Range": "0-4"}},
		// Streamed chunk without Content-Range.
		{method: "PATCH", path: "{loc}", body: " wor", status: 202, wantHeader: map[string]string{"Range": "0-8"}},
		{method: "PUT", path: "{loc}?digest=" + d, header: map[string]string{"Content-Range": "9-10"}, body: "ld", status: 201,
			wantHeader: map[string]string{"Location": "/v2/a/b/blobs/" + d, "Docker-Content-Digest": d}},
		{method: "GET", path: "/v2/a/b/blobs/" + d, status: 200, wantBody: "hello world"},
		// The session is gone.
		{method: "GET", path: "/v2/a/b/blobs/uploads/" + "x", status: 404, code: "BLOB_UPLOAD_UNKNOWN"},
	})
	if files, _ := os.ReadDir(tmp); len(files) != 0 {
		t.Errorf("upload files left: %v", files)
	}
}

func TestUploadErrors(t *testing.T) {
	tmp := t.TempDir()
	f := newFixture(t, registry.Options{TempDir: tmp})
	runFlow(t, f, []step{
		{method: "POST", path: "/v2/a/blobs/uploads", status: 202},
		{method: "PUT", path: "{loc}", body: "x", status: 400, code: "DIGEST_INVALID"}, // no digest
		{method: "PUT", path: "{loc}?digest=" + digest.FromString("y").String(), status: 400, code: "DIGEST_INVALID"},
		// A digest mismatch ends the session.
		{method: "PATCH", path: "{loc}", body: "x", status: 404, code: "BLOB_UPLOAD_UNKNOWN"},
		// Sessions belong to their repository.
		{method: "POST", path: "/v2/a/blobs/uploads/", status: 202},
		{method: "PATCH", path: "{loc}", body: "x", status: 202},
	})
	r := f.do("POST", "/v2/a/blobs/uploads/", nil, nil)
	other := strings.Replace(r.header.Get("Location"), "/v2/a/", "/v2/b/", 1)
	if r := f.do("PATCH", other, nil, []byte("x")); r.status != 404 {
		t.Errorf("session used from another repository: %d", r.status)
	}
	// Cancel removes the session and its file.
	if r := f.do("DELETE", r.header.Get("Location"), nil, nil); r.status != 204 {
		t.Errorf("cancel: %d", r.status)
	}
}

func TestSHA512Blob(t *testing.T) {
	f := newFixture(t, registry.Options{})
	data := "sha512 content"
	d := digest.NewDigestFromEncoded(digest.SHA512, fmt.Sprintf("%x", sha512.Sum512([]byte(data)))).String()
	runFlow(t, f, []step{
		{method: "POST", path: "/v2/a/blobs/uploads/", status: 202},
		{method: "PUT", path: "{loc}?digest=" + d, body: data, status: 201, wantHeader: map[string]string{"Docker-Content-Digest": d}},
		{method: "HEAD", path: "/v2/a/blobs/" + d, status: 200, wantHeader: map[string]string{"Content-Length": fmt.Sprint(len(data))}},
		{method: "DELETE", path: "/v2/a/blobs/" + d, status: 202},
		{method: "HEAD", path: "/v2/a/blobs/" + d, status: 404},
	})
}

func TestTagsPagination(t *testing.T) {
	f := newFixture(t, registry.Options{})
	s := f.seed()
	for _, tag := range []string{"a", "b", "c", "d"} {
		f.pushManifest(seedRepo, tag, s.image.MediaType, s.imageBody)
	}
	var got []string
	path := "/v2/a/b/c/tags/list?n=2"
	for pages := 0; path != ""; pages++ {
		if pages > 5 {
			t.Fatal("pagination does not end")
		}
		r := f.do("GET", path, nil, nil)
		if r.status != 200 {
			t.Fatalf("%s: %d", path, r.status)
		}
		var tl struct{ Tags []string }
		mustJSON(t, r.body, &tl)
		if len(tl.Tags) > 2 {
			t.Fatalf("page of %d tags with n=2", len(tl.Tags))
		}
		got = append(got, tl.Tags...)
		path = nextLink(t, r.header.Get("Link"))
	}
	if strings.Join(got, ",") != "a,b,c,d,v1" {
		t.Errorf("tags = %v", got)
	}
	r := f.do("GET", "/v2/a/b/c/tags/list?last=c", nil, nil)
	if strings.TrimSpace(string(r.body)) != `{"name":"a/b/c","tags":["d","v1"]}` {
		t.Errorf("last=c: %s", r.body)
	}
}

func TestCatalogPagination(t *testing.T) {
	f := newFixture(t, registry.Options{})
	for _, repo := range []string{"x/1", "x/2", "y", "z/z/z"} {
		f.pushBlob(repo, "", []byte("b"))
	}
	r := f.do("GET", "/v2/_catalog?n=3", nil, nil)
	if strings.TrimSpace(string(r.body)) != `{"repositories":["x/1","x/2","y"]}` {
		t.Fatalf("page 1: %s", r.body)
	}
	next := nextLink(t, r.header.Get("Link"))
	if next != "/v2/_catalog?last=y&n=3" {
		t.Fatalf("Link = %q", next)
	}
	r = f.do("GET", next, nil, nil)
	if strings.TrimSpace(string(r.body)) != `{"repositories":["z/z/z"]}` || r.header.Get("Link") != "" {
		t.Fatalf("page 2: %s %q", r.body, r.header.Get("Link"))
	}
}

// TestTagAndManifestDelete checks that a tag delete leaves the manifest and
// a manifest delete drops its tags ("Deleting Tags", "Deleting Manifests").
func TestTagAndManifestDelete(t *testing.T) {
	f := newFixture(t, registry.Options{})
	s := f.seed()
	f.pushManifest(seedRepo, "v2", s.image.MediaType, s.imageBody)
	img := s.image.Digest.String()
	runFlow(t, f, []step{
		{method: "DELETE", path: "/v2/a/b/c/manifests/v1", status: 202},
		{method: "GET", path: "/v2/a/b/c/manifests/v1", status: 404},
		{method: "GET", path: "/v2/a/b/c/manifests/" + img, status: 200},
		{method: "GET", path: "/v2/a/b/c/tags/list", status: 200, wantBody: `{"name":"a/b/c","tags":["v2"]}`},
		{method: "DELETE", path: "/v2/a/b/c/manifests/" + img, status: 202},
		{method: "HEAD", path: "/v2/a/b/c/manifests/v2", status: 404},
		{method: "GET", path: "/v2/a/b/c/tags/list", status: 200, wantBody: `{"name":"a/b/c","tags":[]}`},
	})
}

func nextLink(t *testing.T, link string) string {
	t.Helper()
	if link == "" {
		return ""
	}
	u, rel, ok := strings.Cut(link, ">; ")
	if !ok || rel != `rel="next"` || !strings.HasPrefix(u, "<") {
		t.Fatalf("Link = %q", link)
	}
	return u[1:]
}

func mustJSON(t *testing.T, b []byte, v any) {
	t.Helper()
	if err := json.Unmarshal(b, v); err != nil {
		t.Fatalf("%s: %v", b, err)
	}
}
