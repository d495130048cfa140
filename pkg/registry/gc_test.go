package registry_test

import (
	"context"
	"net/http"
	"testing"

	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"

	"pkgserver.dev/pkgserver/pkg/registry"
)

// TestManifestBlobSweptDuringPut: a blob removed (as garbage collection does)
// after the manifest PUT checked its references but before the store listed
// it fails the PUT with MANIFEST_BLOB_UNKNOWN, so the client pushes it again.
func TestManifestBlobSweptDuringPut(t *testing.T) {
	var layer ocispec.Descriptor
	f := newFixtureWith(t, func(f *fixture) registry.Options {
		return registry.Options{Guard: func(ctx context.Context, repo, tag string, op registry.Op, d digest.Digest) error {
			r, err := f.store.Repository(ctx, repo)
			if err != nil {
				return err
			}
			return r.Delete(ctx, layer) // the sweep, between the check and the write
		}}
	})
	config := f.pushBlob("x/y", ocispec.MediaTypeEmptyJSON, []byte("{}"))
	layer = f.pushBlob("x/y", "application/vnd.test.file", []byte("swept"))
	body := imageManifest(t, "application/vnd.test.pkg", config, []ocispec.Descriptor{layer}, nil)
	r := f.do("PUT", "/v2/x/y/manifests/v1", map[string]string{"Content-Type": ocispec.MediaTypeImageManifest}, body)
	if r.status != http.StatusBadRequest || errorCode(r.body) != "MANIFEST_BLOB_UNKNOWN" {
		t.Fatalf("PUT = %d %s, want 400 MANIFEST_BLOB_UNKNOWN", r.status, r.body)
	}
	if r := f.do("GET", "/v2/x/y/manifests/v1", nil, nil); r.status != http.StatusNotFound {
		t.Fatalf("v1 served after a failed PUT: %d", r.status)
	}
}
