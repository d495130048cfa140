package remote_test

import (
	"bytes"
	"context"
	"io"
	"log"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/google/go-containerregistry/pkg/registry"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
	"oras.land/oras-go/v2/content"

	"pkgserver.dev/pkgserver/pkg/store"
	"pkgserver.dev/pkgserver/pkg/store/remote"
	"pkgserver.dev/pkgserver/pkg/store/storetest"
)

// memRegistry starts go-containerregistry's in-memory registry: no process
// to start, so unit tests of the remote store stay fast. It returns host:port.
func memRegistry(t *testing.T, opts ...registry.Option) string {
	t.Helper()
	opts = append(opts, registry.Logger(log.New(io.Discard, "", 0)))
	srv := httptest.NewServer(registry.New(opts...))
	t.Cleanup(srv.Close)
	return strings.TrimPrefix(srv.URL, "http://")
}

func newMemStore(t *testing.T, opts ...registry.Option) *remote.Store {
	t.Helper()
	s, err := remote.New(memRegistry(t, opts...), remote.WithPlainHTTP(true))
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	return s
}

// memRegistryDepartures are where go-containerregistry's in-memory registry
// departs from the distribution spec, so the suite cannot pass there; the
// real registry of TestConformance covers them.
var memRegistryDepartures = storetest.Skip{
	"TagsOrderAndPages":                  "the in-memory registry ignores ?last= when listing tags",
	"DeleteManifestRemovesTags":          "the in-memory registry keeps the tags of a deleted manifest",
	"DeleteSubjectless":                  "the in-memory registry keeps the tags of a deleted manifest",
	"Repositories":                       "the in-memory registry lists _catalog unsorted",
	"NotFound/Delete_blob/existing_repo": "the in-memory registry answers 500 to the delete of an unknown blob",
	"NotFound/Delete_blob/unknown_repo":  "the in-memory registry answers 500 to the delete of an unknown blob",
}

// TestConformanceInMemory runs the store suite on the in-memory registry,
// with and without the referrers API (the store then falls back to the
// referrers tag schema), beside TestConformance on a real registry process.
func TestConformanceInMemory(t *testing.T) {
	for _, referrers := range []bool{true, false} {
		name := "ReferrersAPI"
		if !referrers {
			name = "ReferrersTagSchema"
		}
		t.Run(name, func(t *testing.T) {
			s := newMemStore(t, registry.WithReferrersSupport(referrers))
			storetest.Run(t, func(t *testing.T) store.Store { return s }, memRegistryDepartures)
		})
	}
}

// TestRetriesTransientFailures: a registry that answers 503 now and then
// (a restarting replica, a proxy hiccup) costs a retry, not an error.
func TestRetriesTransientFailures(t *testing.T) {
	reg := registry.New(registry.Logger(log.New(io.Discard, "", 0)))
	var calls, refused atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if calls.Add(1)%2 == 1 { // every other request fails
			refused.Add(1)
			http.Error(w, "try again", http.StatusServiceUnavailable)
			return
		}
		reg.ServeHTTP(w, r)
	}))
	defer srv.Close()
	s, err := remote.New(strings.TrimPrefix(srv.URL, "http://"), remote.WithPlainHTTP(true))
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	repo, err := s.Repository(ctx, "retry/pkg")
	if err != nil {
		t.Fatal(err)
	}
	blob := []byte("apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: c\n")
	desc := content.NewDescriptorFromBytes(ocispec.MediaTypeImageLayer, blob)
	if err := repo.Push(ctx, desc, bytes.NewReader(blob)); err != nil {
		t.Fatalf("push through a flaky registry: %v", err)
	}
	got, err := content.FetchAll(ctx, repo, desc)
	if err != nil || !bytes.Equal(got, blob) {
		t.Fatalf("fetch through a flaky registry: %v", err)
	}
	if refused.Load() == 0 {
		t.Fatal("no request was refused: the test proves nothing")
	}
}
