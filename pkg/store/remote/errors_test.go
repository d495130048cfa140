package remote_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/opencontainers/go-digest"
	specs "github.com/opencontainers/image-spec/specs-go"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"

	"pkgserver.dev/pkgserver/pkg/errdef"
	"pkgserver.dev/pkgserver/pkg/store"
	"pkgserver.dev/pkgserver/pkg/store/remote"
)

// TestErrorTranslation checks registry failures map to the pkg/errdef sentinels.
func TestErrorTranslation(t *testing.T) {
	for _, tt := range []struct {
		name   string
		status int
		body   string
		want   error
	}{
		{"404 NAME_UNKNOWN", http.StatusNotFound, `{"errors":[{"code":"NAME_UNKNOWN"}]}`, errdef.ErrNotFound},
		{"503", http.StatusServiceUnavailable, ``, errdef.ErrUnavailable},
		{"500", http.StatusInternalServerError, `{"errors":[{"code":"UNKNOWN"}]}`, errdef.ErrUnavailable},
	} {
		t.Run(tt.name, func(t *testing.T) {
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				w.Header().Set("Content-Type", "application/json")
				w.WriteHeader(tt.status)
				w.Write([]byte(tt.body))
			}))
			defer srv.Close()
			repo := repoAt(t, strings.TrimPrefix(srv.URL, "http://"))
			_, err := repo.Resolve(context.Background(), "v1")
			if !errors.Is(err, tt.want) {
				t.Fatalf("Resolve = %v, want %v", err, tt.want)
			}
		})
	}
	t.Run("connection refused", func(t *testing.T) {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		addr := l.Addr().String()
		l.Close()
		_, err = repoAt(t, addr).Resolve(context.Background(), "v1")
		if !errors.Is(err, errdef.ErrUnavailable) {
			t.Fatalf("Resolve = %v, want errdef.ErrUnavailable", err)
		}
	})
}

// TestUntagRefused checks a registry without tag deletion gives a clear error.
func TestUntagRefused(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusMethodNotAllowed)
		w.Write([]byte(`{"errors":[{"code":"UNSUPPORTED","message":"The operation is unsupported."}]}`))
	}))
	defer srv.Close()
	repo := repoAt(t, strings.TrimPrefix(srv.URL, "http://"))
	err := repo.(store.Untagger).Untag(context.Background(), "v1")
	if !errors.Is(err, errors.ErrUnsupported) || !strings.Contains(err.Error(), "refused to delete the tag") {
		t.Fatalf("Untag = %v, want errors.ErrUnsupported with a clear message", err)
	}
}

// repoAt returns repository "a/b" of the registry at addr, without retries so
// that 5xx answers come back at once.
func repoAt(t *testing.T, addr string) store.Repository {
	t.Helper()
	s, err := remote.New(addr, remote.WithPlainHTTP(true), remote.WithHTTPClient(http.DefaultClient))
	if err != nil {
		t.Fatal(err)
	}
	repo, err := s.Repository(context.Background(), "a/b")
	if err != nil {
		t.Fatal(err)
	}
	return repo
}

// TestMissingContent: a manifest push the registry refuses because a blob
// it names is missing (MANIFEST_BLOB_UNKNOWN, or BLOB_UNKNOWN from some
// registries, with 400 or 404) is errdef.ErrMissingContent, never
// ErrNotFound: the revision being written exists, a blob it needs does not.
func TestMissingContent(t *testing.T) {
	layer := []byte("a layer nobody pushed")
	m := ocispec.Manifest{
		Versioned:    specs.Versioned{SchemaVersion: 2},
		MediaType:    ocispec.MediaTypeImageManifest,
		ArtifactType: "application/vnd.example",
		Config:       ocispec.DescriptorEmptyJSON,
		Layers:       []ocispec.Descriptor{{MediaType: "application/octet-stream", Digest: digest.FromBytes(layer), Size: int64(len(layer))}},
	}
	data, err := json.Marshal(m)
	if err != nil {
		t.Fatal(err)
	}
	desc := ocispec.Descriptor{MediaType: ocispec.MediaTypeImageManifest, Digest: digest.FromBytes(data), Size: int64(len(data))}
	push := func(repo store.Repository) error {
		return repo.(store.ReferencePusher).PushReference(context.Background(), desc, bytes.NewReader(data), "v1")
	}
	for _, tt := range []struct {
		name   string
		status int
		body   string
	}{
		{"400 MANIFEST_BLOB_UNKNOWN", http.StatusBadRequest, `{"errors":[{"code":"MANIFEST_BLOB_UNKNOWN","message":"blob unknown to registry","detail":"` + m.Layers[0].Digest.String() + `"}]}`},
		{"404 MANIFEST_BLOB_UNKNOWN", http.StatusNotFound, `{"errors":[{"code":"MANIFEST_BLOB_UNKNOWN","message":"blob unknown to registry"}]}`},
		{"400 BLOB_UNKNOWN", http.StatusBadRequest, `{"errors":[{"code":"BLOB_UNKNOWN","message":"blob unknown to registry"}]}`},
	} {
		t.Run(tt.name, func(t *testing.T) {
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				w.Header().Set("Content-Type", "application/json")
				w.WriteHeader(tt.status)
				w.Write([]byte(tt.body))
			}))
			defer srv.Close()
			err := push(repoAt(t, strings.TrimPrefix(srv.URL, "http://")))
			if !errors.Is(err, errdef.ErrMissingContent) || errors.Is(err, errdef.ErrNotFound) {
				t.Fatalf("push = %v, want errdef.ErrMissingContent and not ErrNotFound", err)
			}
		})
	}
	t.Run("distribution", func(t *testing.T) {
		s := newStore(t)
		repo, err := s.Repository(context.Background(), "a/b")
		if err != nil {
			t.Fatal(err)
		}
		if err := repo.Push(context.Background(), ocispec.DescriptorEmptyJSON, bytes.NewReader(ocispec.DescriptorEmptyJSON.Data)); err != nil {
			t.Fatal(err)
		}
		err = push(repo)
		if !errors.Is(err, errdef.ErrMissingContent) || !strings.Contains(err.Error(), m.Layers[0].Digest.String()) {
			t.Fatalf("push = %v, want errdef.ErrMissingContent naming %s", err, m.Layers[0].Digest)
		}
	})
}
