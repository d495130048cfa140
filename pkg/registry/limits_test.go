package registry_test

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"

	"pkgserver.dev/pkgserver/pkg/registry"
)

var testLimits = registry.Options{
	MaxBlobBytes:               100,
	MaxManifestBytes:           1024,
	MaxUploadSessions:          3,
	MaxUploadSessionsPerClient: 2,
	MaxTagsPerPush:             2,
}

// errorMessage returns the first message of a spec error body.
func errorMessage(body []byte) string {
	var e struct {
		Errors []struct {
			Message string `json:"message"`
		} `json:"errors"`
	}
	if json.Unmarshal(body, &e) != nil || len(e.Errors) == 0 {
		return ""
	}
	return e.Errors[0].Message
}

// expectLimit checks r is the spec error code naming flag.
func expectLimit(t *testing.T, r response, status int, code, flag string) {
	t.Helper()
	if r.status != status || errorCode(r.body) != code {
		t.Fatalf("got %d %s, want %d %s: %s", r.status, errorCode(r.body), status, code, r.body)
	}
	if msg := errorMessage(r.body); !strings.Contains(msg, "(--"+flag+")") && !strings.Contains(msg, "--"+flag+"=") {
		t.Errorf("message %q does not name --%s", msg, flag)
	}
}

// chunked sends body without a Content-Length.
func (f *fixture) chunked(method, path, body string) response {
	f.t.Helper()
	req, err := http.NewRequest(method, f.srv.URL+path, io.MultiReader(strings.NewReader(body)))
	if err != nil {
		f.t.Fatal(err)
	}
	resp, err := f.srv.Client().Do(req)
	if err != nil {
		f.t.Fatal(err)
	}
	defer resp.Body.Close()
	data, _ := io.ReadAll(resp.Body)
	return response{status: resp.StatusCode, header: resp.Header, body: data}
}

func (f *fixture) blobExists(repo, data string) bool {
	f.t.Helper()
	return f.do("HEAD", "/v2/"+repo+"/blobs/"+digest.FromString(data).String(), nil, nil).status == http.StatusOK
}

func TestBlobLimit(t *testing.T) {
	at, over := strings.Repeat("a", 100), strings.Repeat("b", 101)
	tests := []struct {
		name string
		push func(f *fixture, data string) response
	}{
		{"monolithic", func(f *fixture, data string) response {
			return f.do("POST", "/v2/r/blobs/uploads/?digest="+digest.FromString(data).String(), nil, []byte(data))
		}},
		{"monolithic without Content-Length", func(f *fixture, data string) response {
			return f.chunked("POST", "/v2/r/blobs/uploads/?digest="+digest.FromString(data).String(), data)
		}},
		{"chunks", func(f *fixture, data string) response {
			loc := f.do("POST", "/v2/r/blobs/uploads/", nil, nil).header.Get("Location")
			half := len(data) / 2
			if r := f.do("PATCH", loc, map[string]string{"Content-Range": fmt.Sprintf("0-%d", half-1)}, []byte(data[:half])); r.status != http.StatusAccepted {
				return r
			}
			r := f.do("PATCH", loc, map[string]string{"Content-Range": fmt.Sprintf("%d-%d", half, len(data)-1)}, []byte(data[half:]))
			if r.status != http.StatusAccepted {
				// The refused chunk is rolled back: the session still holds the first half.
				if st := f.do("GET", loc, nil, nil); st.header.Get("Range") != fmt.Sprintf("0-%d", half-1) {
					f.t.Errorf("after a refused chunk, Range %q", st.header.Get("Range"))
				}
				return r
			}
			return f.do("PUT", loc+"?digest="+digest.FromString(data).String(), nil, nil)
		}},
		{"stream", func(f *fixture, data string) response {
			loc := f.do("POST", "/v2/r/blobs/uploads/", nil, nil).header.Get("Location")
			if r := f.chunked("PATCH", loc, data); r.status != http.StatusAccepted {
				return r
			}
			return f.do("PUT", loc+"?digest="+digest.FromString(data).String(), nil, nil)
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newFixture(t, testLimits)
			if r := tt.push(f, at); r.status != http.StatusCreated {
				t.Fatalf("blob at the limit: %d %s", r.status, r.body)
			}
			expectLimit(t, tt.push(f, over), http.StatusBadRequest, "SIZE_INVALID", registry.FlagMaxBlobBytes)
			if f.blobExists("r", over) {
				t.Error("the refused blob was stored")
			}
		})
	}
}

func TestManifestLimit(t *testing.T) {
	f := newFixture(t, testLimits)
	cfg := f.pushBlob("r", ocispec.MediaTypeEmptyJSON, []byte("{}"))
	body := func(size int) []byte {
		m := imageManifest(t, "application/vnd.test", cfg, nil, nil)
		pad := size - len(m) - len(`,"annotations":{"p":""}`)
		return []byte(strings.TrimSuffix(string(m), "}") + `,"annotations":{"p":"` + strings.Repeat("x", pad) + `"}}`)
	}
	if b := body(1024); len(b) != 1024 {
		t.Fatalf("test manifest of %d bytes", len(b))
	}
	f.pushManifest("r", "at", ocispec.MediaTypeImageManifest, body(1024))
	r := f.do("PUT", "/v2/r/manifests/over", map[string]string{"Content-Type": ocispec.MediaTypeImageManifest}, body(1025))
	expectLimit(t, r, http.StatusBadRequest, "MANIFEST_INVALID", registry.FlagMaxManifestBytes)
	if r := f.do("HEAD", "/v2/r/manifests/over", nil, nil); r.status != http.StatusNotFound {
		t.Errorf("refused manifest is there: %d", r.status)
	}
}

func TestTagsPerPush(t *testing.T) {
	f := newFixture(t, testLimits)
	cfg := f.pushBlob("r", ocispec.MediaTypeEmptyJSON, []byte("{}"))
	m := imageManifest(t, "application/vnd.test", cfg, nil, nil)
	d := digest.FromBytes(m).String()
	h := map[string]string{"Content-Type": ocispec.MediaTypeImageManifest}
	if r := f.do("PUT", "/v2/r/manifests/"+d+"?tag=a&tag=b", h, m); r.status != http.StatusCreated {
		t.Fatalf("two tags: %d %s", r.status, r.body)
	}
	r := f.do("PUT", "/v2/r/manifests/"+d+"?tag=c&tag=d&tag=e", h, m)
	expectLimit(t, r, http.StatusBadRequest, "MANIFEST_INVALID", registry.FlagMaxTagsPerPush)
	list := f.do("GET", "/v2/r/tags/list", nil, nil)
	if !strings.Contains(string(list.body), `["a","b"]`) {
		t.Errorf("tags after a refused push: %s", list.body)
	}
}

func TestUploadSessionLimits(t *testing.T) {
	start := func(f *fixture) response { return f.do("POST", "/v2/r/blobs/uploads/", nil, nil) }
	t.Run("per client", func(t *testing.T) {
		f := newFixture(t, testLimits)
		first := start(f)
		start(f)
		expectLimit(t, start(f), http.StatusTooManyRequests, "TOOMANYREQUESTS", registry.FlagMaxUploadSessionsPerClient)
		// Ending a session makes room.
		if r := f.do("DELETE", first.header.Get("Location"), nil, nil); r.status != http.StatusNoContent {
			t.Fatalf("cancel: %d", r.status)
		}
		if r := start(f); r.status != http.StatusAccepted {
			t.Fatalf("start after a cancel: %d %s", r.status, r.body)
		}
	})
	t.Run("global", func(t *testing.T) {
		opts := testLimits
		opts.MaxUploadSessionsPerClient = 10
		f := newFixture(t, opts)
		for range 3 {
			if r := start(f); r.status != http.StatusAccepted {
				t.Fatalf("start: %d %s", r.status, r.body)
			}
		}
		expectLimit(t, start(f), http.StatusTooManyRequests, "TOOMANYREQUESTS", registry.FlagMaxUploadSessions)
	})
	t.Run("idle sessions expire", func(t *testing.T) {
		opts := testLimits
		opts.UploadTTL = 200 * time.Millisecond
		f := newFixture(t, opts)
		loc := start(f).header.Get("Location")
		start(f)
		time.Sleep(300 * time.Millisecond)
		expectLimit(t, f.do("PATCH", loc, nil, []byte("x")), http.StatusNotFound, "BLOB_UPLOAD_UNKNOWN", registry.FlagUploadSessionTTL)
		// The other idle one is swept to make room.
		for range 2 {
			if r := start(f); r.status != http.StatusAccepted {
				t.Fatalf("start after expiry: %d %s", r.status, r.body)
			}
		}
	})
}
