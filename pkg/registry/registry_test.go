package registry_test

import (
	"crypto/sha512"
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"testing"

	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"

	"pkgserver.dev/pkgserver/pkg/registry"
)

// TestCalls runs one request against a freshly seeded registry per row and
// checks status, error code, headers and body. Paths, headers and bodies may
// use {config}, {layer}, {image} and {referrer} for the seeded digests.
func TestCalls(t *testing.T) {
	const (
		mtImage = ocispec.MediaTypeImageManifest
		mtIndex = ocispec.MediaTypeImageIndex
	)
	missing := digest.FromString("missing").String()
	tests := []struct {
		name       string
		method     string
		path       string
		header     map[string]string
		body       func(t *testing.T, s seed) []byte
		status     int
		code       string            // spec error code, for error responses
		wantHeader map[string]string // "" means present
		wantBody   string
		check      func(t *testing.T, s seed, r response)
	}{
		{name: "ping", method: "GET", path: "/v2/", status: 200,
			wantHeader: map[string]string{"Docker-Distribution-API-Version": "registry/2.0"}, wantBody: "{}"},
		{name: "ping without slash", method: "GET", path: "/v2", status: 200},
		{name: "blob get", method: "GET", path: "/v2/a/b/c/blobs/{layer}", status: 200, wantBody: "hello",
			wantHeader: map[string]string{"Content-Length": "5", "Docker-Content-Digest": "{layer}", "Content-Type": "application/octet-stream"}},
		{name: "blob head", method: "HEAD", path: "/v2/a/b/c/blobs/{layer}", status: 200, wantBody: "",
			wantHeader: map[string]string{"Content-Length": "5", "Docker-Content-Digest": "{layer}"}},
		{name: "blob range", method: "GET", path: "/v2/a/b/c/blobs/{layer}", header: map[string]string{"Range": "bytes=1-3"},
			status: 206, wantBody: "ell", wantHeader: map[string]string{"Content-Range": "bytes 1-3/5", "Content-Length": "3"}},
		{name: "blob suffix range", method: "GET", path: "/v2/a/b/c/blobs/{layer}", header: map[string]string{"Range": "bytes=-2"},
			status: 206, wantBody: "lo"},
		{name: "blob range not satisfiable", method: "GET", path: "/v2/a/b/c/blobs/{layer}", header: map[string]string{"Range": "bytes=10-20"}, status: 416},
		{name: "blob unknown", method: "GET", path: "/v2/a/b/c/blobs/" + missing, status: 404, code: "BLOB_UNKNOWN"},
		{name: "blob head unknown", method: "HEAD", path: "/v2/a/b/c/blobs/" + missing, status: 404},
		{name: "blob bad digest", method: "GET", path: "/v2/a/b/c/blobs/sha256:nothex", status: 400, code: "DIGEST_INVALID"},
		{name: "blob in other repo", method: "GET", path: "/v2/other/blobs/{layer}", status: 404, code: "BLOB_UNKNOWN"},
		{name: "blob delete", method: "DELETE", path: "/v2/a/b/c/blobs/{layer}", status: 202},
		{name: "blob delete unknown", method: "DELETE", path: "/v2/a/b/c/blobs/" + missing, status: 404, code: "BLOB_UNKNOWN"},

		{name: "manifest by tag", method: "GET", path: "/v2/a/b/c/manifests/v1", status: 200,
			wantHeader: map[string]string{"Content-Type": mtImage, "Docker-Content-Digest": "{image}"},
			check: func(t *testing.T, s seed, r response) {
				if string(r.body) != string(s.imageBody) {
					t.Errorf("body = %s", r.body)
				}
			}},
		{name: "manifest head by digest", method: "HEAD", path: "/v2/a/b/c/manifests/{image}", status: 200, wantBody: "",
			wantHeader: map[string]string{"Content-Type": mtImage, "Docker-Content-Digest": "{image}", "Content-Length": ""}},
		{name: "manifest unknown tag", method: "GET", path: "/v2/a/b/c/manifests/v9", status: 404, code: "MANIFEST_UNKNOWN"},
		{name: "manifest unknown digest", method: "GET", path: "/v2/a/b/c/manifests/" + missing, status: 404, code: "MANIFEST_UNKNOWN"},
		{name: "manifest get of a blob digest", method: "GET", path: "/v2/a/b/c/manifests/{layer}", status: 404, code: "MANIFEST_UNKNOWN"},
		{name: "manifest bad digest", method: "GET", path: "/v2/a/b/c/manifests/sha256:bad", status: 400, code: "DIGEST_INVALID"},
		{name: "invalid name", method: "GET", path: "/v2/A/b/manifests/v1", status: 400, code: "NAME_INVALID"},
		{name: "name with dotdot", method: "GET", path: "/v2/a/../b/manifests/v1", status: 400, code: "NAME_INVALID"},
		{name: "method not allowed", method: "POST", path: "/v2/a/b/c/manifests/v1", status: 405, code: "UNSUPPORTED"},
		{name: "unknown endpoint", method: "GET", path: "/v2/a/b/c/nothing", status: 404, code: "NAME_UNKNOWN"},

		{name: "manifest put missing blob", method: "PUT", path: "/v2/a/b/c/manifests/v2", header: map[string]string{"Content-Type": mtImage},
			body: func(t *testing.T, s seed) []byte {
				return imageManifest(t, "", s.config, []ocispec.Descriptor{{MediaType: "x", Digest: digest.FromString("no"), Size: 2}}, nil)
			}, status: 400, code: "MANIFEST_BLOB_UNKNOWN"},
		{name: "manifest put nondistributable layer need not exist", method: "PUT", path: "/v2/a/b/c/manifests/nd", header: map[string]string{"Content-Type": mtImage},
			body: func(t *testing.T, s seed) []byte {
				return imageManifest(t, "", s.config, []ocispec.Descriptor{{MediaType: ocispec.MediaTypeImageLayerNonDistributableGzip, Digest: digest.FromString("no"), Size: 2, URLs: []string{"https://example.com/x"}}}, nil) //nolint:staticcheck // deprecated type is still pushed
			}, status: 201},
		{name: "index put missing child", method: "PUT", path: "/v2/a/b/c/manifests/idx", header: map[string]string{"Content-Type": mtIndex},
			body: func(t *testing.T, s seed) []byte {
				return []byte(`{"schemaVersion":2,"mediaType":"` + mtIndex + `","manifests":[{"mediaType":"` + mtImage + `","digest":"` + missing + `","size":3}]}`)
			}, status: 400, code: "MANIFEST_BLOB_UNKNOWN"},
		{name: "index put", method: "PUT", path: "/v2/a/b/c/manifests/idx", header: map[string]string{"Content-Type": mtIndex},
			body: func(t *testing.T, s seed) []byte {
				return []byte(`{"schemaVersion":2,"mediaType":"` + mtIndex + `","manifests":[{"mediaType":"` + mtImage + `","digest":"` + s.image.Digest.String() + `","size":` + fmt.Sprint(s.image.Size) + `}]}`)
			}, status: 201, wantHeader: map[string]string{"Location": ""}},
		{name: "manifest put invalid json", method: "PUT", path: "/v2/a/b/c/manifests/v2", header: map[string]string{"Content-Type": mtImage},
			body: func(*testing.T, seed) []byte { return []byte("{") }, status: 400, code: "MANIFEST_INVALID"},
		{name: "manifest put media type mismatch", method: "PUT", path: "/v2/a/b/c/manifests/v2", header: map[string]string{"Content-Type": mtIndex},
			body: func(t *testing.T, s seed) []byte { return s.imageBody }, status: 400, code: "MANIFEST_INVALID"},
		{name: "manifest put unsupported media type", method: "PUT", path: "/v2/a/b/c/manifests/v2", header: map[string]string{"Content-Type": "text/plain"},
			body: func(*testing.T, seed) []byte { return []byte(`{"schemaVersion":2}`) }, status: 400, code: "MANIFEST_INVALID"},
		{name: "manifest put invalid tag", method: "PUT", path: "/v2/a/b/c/manifests/-bad", header: map[string]string{"Content-Type": mtImage},
			body: func(t *testing.T, s seed) []byte { return s.imageBody }, status: 400, code: "MANIFEST_INVALID"},
		{name: "manifest put digest mismatch", method: "PUT", path: "/v2/a/b/c/manifests/" + missing, header: map[string]string{"Content-Type": mtImage},
			body: func(t *testing.T, s seed) []byte { return s.imageBody }, status: 400, code: "DIGEST_INVALID"},
		{name: "manifest put by sha512", method: "PUT", path: "/v2/a/b/c/manifests/{image512}", header: map[string]string{"Content-Type": mtImage},
			body: func(t *testing.T, s seed) []byte { return s.imageBody }, status: 201,
			wantHeader: map[string]string{"Docker-Content-Digest": "{image512}", "Location": "/v2/a/b/c/manifests/{image512}"}},
		{name: "manifest put with subject", method: "PUT", path: "/v2/a/b/c/manifests/sig", header: map[string]string{"Content-Type": mtImage},
			body: func(t *testing.T, s seed) []byte {
				return imageManifest(t, "application/vnd.x", s.config, nil, &s.image)
			},
			status: 201, wantHeader: map[string]string{"OCI-Subject": "{image}"}},
		{name: "manifest put with tag params", method: "PUT", path: "/v2/a/b/c/manifests/{image}?tag=t1&tag=t2", header: map[string]string{"Content-Type": mtImage},
			body: func(t *testing.T, s seed) []byte { return s.imageBody }, status: 201,
			check: func(t *testing.T, s seed, r response) {
				if got := r.header.Values("OCI-Tag"); strings.Join(got, ",") != "t1,t2" {
					t.Errorf("OCI-Tag = %q", got)
				}
			}},
		{name: "manifest put too large", method: "PUT", path: "/v2/a/b/c/manifests/big", header: map[string]string{"Content-Type": mtImage},
			body: func(*testing.T, seed) []byte { return []byte(`{"x":"` + strings.Repeat("a", 5<<20) + `"}`) }, status: 400, code: "MANIFEST_INVALID"},
		{name: "tag delete", method: "DELETE", path: "/v2/a/b/c/manifests/v1", status: 202},
		{name: "tag delete unknown", method: "DELETE", path: "/v2/a/b/c/manifests/nope", status: 404, code: "MANIFEST_UNKNOWN"},
		{name: "manifest delete", method: "DELETE", path: "/v2/a/b/c/manifests/{image}", status: 202},
		{name: "manifest delete unknown", method: "DELETE", path: "/v2/a/b/c/manifests/" + missing, status: 404, code: "MANIFEST_UNKNOWN"},

		{name: "tags list", method: "GET", path: "/v2/a/b/c/tags/list", status: 200, wantBody: `{"name":"a/b/c","tags":["v1"]}`},
		{name: "tags list n=0", method: "GET", path: "/v2/a/b/c/tags/list?n=0", status: 200, wantBody: `{"name":"a/b/c","tags":[]}`},
		{name: "tags list bad n", method: "GET", path: "/v2/a/b/c/tags/list?n=x", status: 400, code: "SIZE_INVALID"},
		{name: "tags list unknown repo", method: "GET", path: "/v2/nope/tags/list", status: 404, code: "NAME_UNKNOWN"},
		{name: "catalog", method: "GET", path: "/v2/_catalog", status: 200, wantBody: `{"repositories":["a/b/c"]}`},

		{name: "referrers", method: "GET", path: "/v2/a/b/c/referrers/{image}", status: 200,
			wantHeader: map[string]string{"Content-Type": mtIndex},
			check: func(t *testing.T, s seed, r response) {
				idx := decodeIndex(t, r.body)
				if len(idx.Manifests) != 1 || idx.Manifests[0].Digest != s.referrer.Digest || idx.Manifests[0].ArtifactType != "application/vnd.test.sig" {
					t.Errorf("referrers = %+v", idx.Manifests)
				}
				if r.header.Get("OCI-Filters-Applied") != "" {
					t.Errorf("OCI-Filters-Applied set without a filter")
				}
			}},
		{name: "referrers filtered", method: "GET", path: "/v2/a/b/c/referrers/{image}?artifactType=application/vnd.other", status: 200,
			wantHeader: map[string]string{"OCI-Filters-Applied": "artifactType"}, wantBody: `{"schemaVersion":2,"mediaType":"` + mtIndex + `","manifests":[]}`},
		{name: "referrers of unknown subject", method: "GET", path: "/v2/a/b/c/referrers/" + missing, status: 200,
			wantBody: `{"schemaVersion":2,"mediaType":"` + mtIndex + `","manifests":[]}`},
		{name: "referrers bad digest", method: "GET", path: "/v2/a/b/c/referrers/sha256:x", status: 400, code: "DIGEST_INVALID"},

		{name: "upload start", method: "POST", path: "/v2/a/b/c/blobs/uploads/", status: 202,
			wantHeader: map[string]string{"Location": "", "Range": "0-0", "Docker-Upload-UUID": ""}},
		{name: "upload monolithic", method: "POST", path: "/v2/x/blobs/uploads/?digest={hi}", body: func(*testing.T, seed) []byte { return []byte("hi") },
			status: 201, wantHeader: map[string]string{"Location": "/v2/x/blobs/{hi}", "Docker-Content-Digest": "{hi}"}},
		{name: "upload monolithic bad digest", method: "POST", path: "/v2/x/blobs/uploads/?digest={layer}", body: func(*testing.T, seed) []byte { return []byte("hi") },
			status: 400, code: "DIGEST_INVALID"},
		{name: "upload unknown session", method: "PATCH", path: "/v2/a/b/c/blobs/uploads/nope", status: 404, code: "BLOB_UPLOAD_UNKNOWN"},
		{name: "mount", method: "POST", path: "/v2/x/y/blobs/uploads/?mount={layer}&from=a/b/c", status: 201,
			wantHeader: map[string]string{"Location": "/v2/x/y/blobs/{layer}", "Docker-Content-Digest": "{layer}"}},
		{name: "mount missing", method: "POST", path: "/v2/x/y/blobs/uploads/?mount=" + missing + "&from=a/b/c", status: 202,
			wantHeader: map[string]string{"Location": ""}},
		{name: "mount anonymous", method: "POST", path: "/v2/x/y/blobs/uploads/?mount={layer}", status: 201,
			wantHeader: map[string]string{"Location": "/v2/x/y/blobs/{layer}"}},
		{name: "mount anonymous missing", method: "POST", path: "/v2/x/y/blobs/uploads/?mount=" + missing, status: 202},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			f := newFixture(t, registry.Options{})
			s := f.seed()
			image512 := digest.NewDigestFromEncoded(digest.SHA512, fmt.Sprintf("%x", sha512.Sum512(s.imageBody)))
			rep := strings.NewReplacer("{config}", s.config.Digest.String(), "{layer}", s.layer.Digest.String(),
				"{image}", s.image.Digest.String(), "{referrer}", s.referrer.Digest.String(),
				"{image512}", image512.String(), "{hi}", digest.FromString("hi").String())
			var body []byte
			if tt.body != nil {
				body = tt.body(t, s)
			}
			r := f.do(tt.method, rep.Replace(tt.path), tt.header, body)
			if r.status != tt.status {
				t.Fatalf("status = %d, want %d; body %s", r.status, tt.status, r.body)
			}
			if tt.code != "" {
				if got := errorCode(r.body); got != tt.code {
					t.Errorf("code = %q, want %q; body %s", got, tt.code, r.body)
				}
			}
			for k, v := range tt.wantHeader {
				got, ok := r.header[http.CanonicalHeaderKey(k)]
				if !ok || v != "" && got[0] != rep.Replace(v) {
					t.Errorf("header %s = %q, want %q", k, got, rep.Replace(v))
				}
			}
			if tt.wantBody != "" || tt.method == "HEAD" {
				if got := strings.TrimSpace(string(r.body)); got != rep.Replace(tt.wantBody) {
					t.Errorf("body = %s, want %s", got, rep.Replace(tt.wantBody))
				}
			}
			if tt.check != nil {
				tt.check(t, s, r)
			}
		})
	}
}

func decodeIndex(t *testing.T, b []byte) ocispec.Index {
	t.Helper()
	var idx ocispec.Index
	if err := json.Unmarshal(b, &idx); err != nil {
		t.Fatalf("decode index %s: %v", b, err)
	}
	return idx
}
