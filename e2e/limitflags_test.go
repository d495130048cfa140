package e2e

import (
	"bytes"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/opencontainers/go-digest"

	"pkgserver.dev/pkgserver/internal/hostile"
)

// TestLimitFlags starts one server with every limit flag set low and checks
// that each request just over a limit is refused with the configured value:
// the flags reach what enforces them.
func TestLimitFlags(t *testing.T) {
	h := newHostileEnv(t,
		"--max-patch-operations=3", "--max-patch-copy-bytes=50",
		"--max-package-files=3", "--max-package-bytes=2000",
		"--max-yaml-documents=2", "--max-yaml-document-bytes=300", "--max-yaml-depth=4", "--max-yaml-nodes=60",
		"--max-blob-bytes=10", "--max-manifest-bytes=200", "--max-upload-sessions=2",
		"--upload-session-ttl=1s", "--max-tags-per-push=2")
	// over checks a refusal naming flag with the configured value.
	over := func(t *testing.T, code int, body []byte, want int, flag string, value int) {
		t.Helper()
		if code != want || !bytes.Contains(body, fmt.Appendf(nil, "over the limit of %d (--%s)", value, flag)) {
			t.Fatalf("got %d, want %d naming --%s=%d: %.1000s", code, want, flag, value, body)
		}
	}
	put := func(t *testing.T, files map[string]string) (int, []byte) {
		return h.raw(t, "PUT", h.c.ResourcesPath(h.name), "application/json", h.prr(t, files))
	}
	patch := func(t *testing.T, ops string) (int, []byte) {
		return h.raw(t, "PATCH", h.c.ResourcesPath(h.name), "application/json-patch+json", []byte(ops))
	}
	const obj = "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: x\n"
	t.Run("api", func(t *testing.T) {
		test := `{"op":"test","path":"/kind","value":"PackageRevisionResources"}`
		code, body := patch(t, "["+strings.Repeat(test+",", 3)+test+"]")
		over(t, code, body, 413, "max-patch-operations", 3)
		code, body = patch(t, hostile.CopyPatch("/spec/x", 2))
		over(t, code, body, 413, "max-patch-copy-bytes", 50)
		code, body = put(t, map[string]string{"a": "", "b": "", "c": ""})
		over(t, code, body, 422, "max-package-files", 3)
		code, body = put(t, map[string]string{"a": strings.Repeat("x", 2000)})
		over(t, code, body, 422, "max-package-bytes", 2000)
		code, body = put(t, map[string]string{"a.yaml": obj + "---\n" + obj + "---\n" + obj})
		over(t, code, body, 422, "max-yaml-documents", 2)
		code, body = put(t, map[string]string{"a.yaml": obj + "data: {v: " + strings.Repeat("x", 300) + "}\n"})
		over(t, code, body, 422, "max-yaml-document-bytes", 300)
		code, body = put(t, map[string]string{"a.yaml": obj + "data: [[[[x]]]]\n"})
		over(t, code, body, 422, "max-yaml-depth", 4)
		code, body = put(t, map[string]string{"a.yaml": obj + "data: &d {a: [1, 2, 3, 4, 5, 6]}\nmore: [*d, *d, *d, *d, *d]\n"})
		over(t, code, body, 422, "max-yaml-nodes", 60)
	})
	t.Run("v2", func(t *testing.T) {
		data := []byte("01234567890")
		code, body := h.raw(t, "POST", "/v2/plain/repo/blobs/uploads/?digest="+digest.FromBytes(data).String(), "", data)
		over(t, code, body, 400, "max-blob-bytes", 10)

		cfg := []byte("{}")
		h.raw(t, "POST", "/v2/plain/repo/blobs/uploads/?digest="+digest.FromBytes(cfg).String(), "", cfg)
		m := fmt.Sprintf(`{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json","config":{"mediaType":"application/vnd.oci.empty.v1+json","digest":%q,"size":2},"layers":[]}`, digest.FromBytes(cfg))
		code, body = h.raw(t, "PUT", "/v2/plain/repo/manifests/v1?tag=a&tag=b&tag=c", "application/vnd.oci.image.manifest.v1+json", []byte(m))
		over(t, code, body, 400, "max-tags-per-push", 2)
		big := strings.Replace(m, `"layers":[]`, `"layers":[],"annotations":{"a":"`+strings.Repeat("x", 60)+`"}`, 1)
		code, body = h.raw(t, "PUT", "/v2/plain/repo/manifests/v1", "application/vnd.oci.image.manifest.v1+json", []byte(big))
		over(t, code, body, 400, "max-manifest-bytes", 200)

		var locs []string
		for range 2 {
			req, _ := http.NewRequestWithContext(t.Context(), "POST", h.srv.URL+"/v2/plain/repo/blobs/uploads/", nil)
			resp, err := h.c.HTTP.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			locs = append(locs, resp.Header.Get("Location"))
		}
		code, body = h.raw(t, "POST", "/v2/plain/repo/blobs/uploads/", "", nil)
		over(t, code, body, 429, "max-upload-sessions", 2)
		time.Sleep(1500 * time.Millisecond)
		code, body = h.raw(t, "PATCH", locs[0], "application/octet-stream", []byte("x"))
		if code != 404 || !bytes.Contains(body, []byte("--upload-session-ttl=1s")) {
			t.Fatalf("idle session: %d %s", code, body)
		}
	})
}
