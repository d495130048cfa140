package registry_test

import (
	"bytes"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/opencontainers/go-digest"
	specs "github.com/opencontainers/image-spec/specs-go"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"

	"pkgserver.dev/pkgserver/pkg/registry"
	"pkgserver.dev/pkgserver/pkg/store/layout"
)

// fixture is a registry over a fresh embedded store, on an httptest server.
type fixture struct {
	t     *testing.T
	srv   *httptest.Server
	store *layout.Store
}

func newFixture(t *testing.T, opts registry.Options) *fixture {
	t.Helper()
	return newFixtureWith(t, func(*fixture) registry.Options { return opts })
}

// newFixtureWith builds the options once the store exists (for guards over it).
func newFixtureWith(t *testing.T, optsFor func(f *fixture) registry.Options) *fixture {
	t.Helper()
	s, err := layout.Open(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	f := &fixture{t: t, store: s}
	opts := optsFor(f)
	if opts.TempDir == "" {
		opts.TempDir = t.TempDir()
	}
	reg := registry.New(s, opts)
	f.srv = httptest.NewServer(reg)
	t.Cleanup(func() {
		f.srv.Close()
		reg.Close()
		s.Close()
	})
	return f
}

// response is what a test looks at.
type response struct {
	status int
	header http.Header
	body   []byte
}

func (f *fixture) do(method, path string, header map[string]string, body []byte) response {
	f.t.Helper()
	var rd io.Reader
	if body != nil {
		rd = bytes.NewReader(body)
	}
	req, err := http.NewRequest(method, f.srv.URL+path, rd)
	if err != nil {
		f.t.Fatal(err)
	}
	for k, v := range header {
		req.Header.Set(k, v)
	}
	resp, err := f.srv.Client().Do(req)
	if err != nil {
		f.t.Fatal(err)
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(resp.Body)
	if err != nil {
		f.t.Fatal(err)
	}
	return response{status: resp.StatusCode, header: resp.Header, body: data}
}

// pushBlob uploads data monolithically and returns its descriptor.
func (f *fixture) pushBlob(repo string, mediaType string, data []byte) ocispec.Descriptor {
	f.t.Helper()
	d := digest.FromBytes(data)
	r := f.do("POST", "/v2/"+repo+"/blobs/uploads/?digest="+d.String(), nil, data)
	if r.status != http.StatusCreated {
		f.t.Fatalf("push blob: %d %s", r.status, r.body)
	}
	return ocispec.Descriptor{MediaType: mediaType, Digest: d, Size: int64(len(data))}
}

// pushManifest PUTs body under ref and returns its descriptor.
func (f *fixture) pushManifest(repo, ref, mediaType string, body []byte) ocispec.Descriptor {
	f.t.Helper()
	r := f.do("PUT", "/v2/"+repo+"/manifests/"+ref, map[string]string{"Content-Type": mediaType}, body)
	if r.status != http.StatusCreated {
		f.t.Fatalf("push manifest %s: %d %s", ref, r.status, r.body)
	}
	return ocispec.Descriptor{MediaType: mediaType, Digest: digest.Digest(r.header.Get("Docker-Content-Digest")), Size: int64(len(body))}
}

// imageManifest returns the JSON of an image manifest.
func imageManifest(t *testing.T, artifactType string, config ocispec.Descriptor, layers []ocispec.Descriptor, subject *ocispec.Descriptor) []byte {
	t.Helper()
	if layers == nil {
		layers = []ocispec.Descriptor{}
	}
	b, err := json.Marshal(ocispec.Manifest{
		Versioned:    specs.Versioned{SchemaVersion: 2},
		MediaType:    ocispec.MediaTypeImageManifest,
		ArtifactType: artifactType,
		Config:       config,
		Layers:       layers,
		Subject:      subject,
	})
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// seed is the content every request test starts from, in repository a/b/c.
type seed struct {
	config, layer, image, referrer ocispec.Descriptor
	imageBody                      []byte
}

const seedRepo = "a/b/c"

func (f *fixture) seed() seed {
	var s seed
	s.config = f.pushBlob(seedRepo, ocispec.MediaTypeEmptyJSON, []byte("{}"))
	s.layer = f.pushBlob(seedRepo, "application/vnd.test.file", []byte("hello"))
	s.imageBody = imageManifest(f.t, "application/vnd.test.pkg", s.config, []ocispec.Descriptor{s.layer}, nil)
	s.image = f.pushManifest(seedRepo, "v1", ocispec.MediaTypeImageManifest, s.imageBody)
	ref := imageManifest(f.t, "application/vnd.test.sig", s.config, nil, &s.image)
	s.referrer = f.pushManifest(seedRepo, digest.FromBytes(ref).String(), ocispec.MediaTypeImageManifest, ref)
	return s
}

// errorCode returns the first code of a spec error body.
func errorCode(body []byte) string {
	var e struct {
		Errors []struct {
			Code    string `json:"code"`
			Message string `json:"message"`
		} `json:"errors"`
	}
	if json.Unmarshal(body, &e) != nil || len(e.Errors) == 0 {
		return ""
	}
	return e.Errors[0].Code
}

func bytesReader(s string) io.Reader { return bytes.NewReader([]byte(s)) }
