package registry_test

import (
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/labstack/echo/v4"
	"github.com/opencontainers/go-digest"

	"pkgserver.dev/pkgserver/pkg/registry"
	"pkgserver.dev/pkgserver/pkg/store/layout"
)

// TestMount serves the registry through Echo, as pkgserver does, and checks
// that /v2, /v2/ and multi-segment names reach it untouched.
func TestMount(t *testing.T) {
	s, err := layout.Open(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	e := echo.New()
	registry.MountEmbedded(registry.Options{TempDir: t.TempDir()})(e, s)
	srv := httptest.NewServer(e)
	defer srv.Close()

	d := digest.FromString("x").String()
	for _, c := range []struct {
		method, path, body string
		status             int
	}{
		{"GET", "/v2", "", 200},
		{"GET", "/v2/", "", 200},
		{"POST", "/v2/a/b/c/d/blobs/uploads/?digest=" + d, "x", 201},
		{"GET", "/v2/a/b/c/d/blobs/" + d, "", 200},
		{"GET", "/v2/_catalog", "", 200},
	} {
		req, _ := http.NewRequest(c.method, srv.URL+c.path, strings.NewReader(c.body))
		resp, err := srv.Client().Do(req)
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != c.status || resp.Header.Get("Docker-Distribution-API-Version") != "registry/2.0" {
			t.Errorf("%s %s: %d %s", c.method, c.path, resp.StatusCode, b)
		}
	}
}
