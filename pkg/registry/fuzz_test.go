package registry

import (
	"net/http"
	"net/http/httptest"
	"net/url"
	"testing"

	"pkgserver.dev/pkgserver/pkg/store/layout"
)

// FuzzRoutes checks that the route parser never panics, that what it parses
// round-trips through route.path, and that the handler answers any path.
func FuzzRoutes(f *testing.F) {
	for _, s := range []string{
		"/v2/", "/v2", "/v2/_catalog", "/v2/a/b/c/manifests/v1", "/v2/a/blobs/sha256:abc",
		"/v2/a/blobs/uploads/", "/v2/a/blobs/uploads", "/v2/a/blobs/uploads/ID", "/v2/a/tags/list",
		"/v2/a/referrers/sha256:abc", "/v2/blobs/blobs/uploads/blobs/x", "/v2/a/manifests/", "/v3/x", "//v2/a",
		"/v2/a/blobs/uploads/manifests/x", "/v2/tags/list/tags/list",
	} {
		f.Add("GET", s)
	}
	s, err := layout.Open(f.TempDir())
	if err != nil {
		f.Fatal(err)
	}
	defer s.Close()
	reg := New(s, Options{TempDir: f.TempDir()})
	defer reg.Close()
	f.Fuzz(func(t *testing.T, method, path string) {
		rt, ok := parseRoute(path)
		if ok {
			again, ok2 := parseRoute(rt.path())
			if !ok2 || again != rt {
				t.Fatalf("%q parsed as %+v, its path %q as %+v", path, rt, rt.path(), again)
			}
		}
		switch method {
		case "GET", "HEAD", "DELETE", "PATCH", "OPTIONS":
		default:
			method = "GET" // no bodies: PUT and POST would write to the store
		}
		req := httptest.NewRequest("GET", "/", nil)
		req.Method = method
		req.URL = &url.URL{Path: path}
		w := httptest.NewRecorder()
		reg.ServeHTTP(w, req)
		if w.Code < 200 || w.Code >= 500 && w.Code != http.StatusServiceUnavailable {
			t.Fatalf("%s %q: status %d %s", method, path, w.Code, w.Body)
		}
	})
}
