package layout_test

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"slices"
	"testing"

	specs "github.com/opencontainers/image-spec/specs-go"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"

	"pkgserver.dev/pkgserver/pkg/store/layout"
)

// writeOldLayout writes repository name the way the previous mapping did:
// the layout files right in <data>/repositories/<name>/, one manifest
// tagged v1, and temp files of an interrupted write.
func writeOldLayout(t *testing.T, dataDir, name string) ocispec.Descriptor {
	t.Helper()
	dir := filepath.Join(dataDir, "repositories", filepath.FromSlash(name))
	blobs := filepath.Join(dir, "blobs", "sha256")
	if err := os.MkdirAll(blobs, 0o755); err != nil {
		t.Fatal(err)
	}
	desc, data := manifest(t, name, nil)
	idx, err := json.Marshal(ocispec.Index{
		Versioned: specs.Versioned{SchemaVersion: 2},
		MediaType: ocispec.MediaTypeImageIndex,
		Manifests: []ocispec.Descriptor{{
			MediaType: desc.MediaType, Digest: desc.Digest, Size: desc.Size,
			Annotations: map[string]string{ocispec.AnnotationRefName: "v1"},
		}},
	})
	if err != nil {
		t.Fatal(err)
	}
	files := map[string][]byte{
		filepath.Join(dir, ocispec.ImageLayoutFile):                        []byte(`{"imageLayoutVersion":"1.0.0"}`),
		filepath.Join(dir, ocispec.ImageIndexFile):                         idx,
		filepath.Join(dir, ".tmp-index.json-1"):                            []byte("{"),
		filepath.Join(blobs, ".tmp-blob-2"):                                []byte("partial"),
		filepath.Join(blobs, desc.Digest.Encoded()):                        data,
		filepath.Join(blobs, ocispec.DescriptorEmptyJSON.Digest.Encoded()): ocispec.DescriptorEmptyJSON.Data,
	}
	for p, b := range files {
		if err := os.WriteFile(p, b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return desc
}

// TestMigrateOldMapping: a data directory of the previous mapping opens with
// every repository listed and readable, its files moved under "_", and a
// second Open changes nothing.
func TestMigrateOldMapping(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	// "a/blobs/sha256/x" shares a directory with the blobs of "a".
	names := []string{"a", "a/b", "a/blobs/sha256/x", "default/catalog/realm/pkg"}
	descs := map[string]ocispec.Descriptor{}
	for _, n := range names {
		descs[n] = writeOldLayout(t, dir, n)
	}
	for range 2 {
		s := open(t, dir)
		var listed []string
		err := s.Repositories(ctx, "", func(p []string) error {
			listed = append(listed, p...)
			return nil
		})
		if err != nil || !slices.Equal(listed, names) {
			t.Fatalf("Repositories = %v, %v; want %v", listed, err, names)
		}
		for _, n := range names {
			repo, _ := s.Repository(ctx, n)
			got, err := repo.Resolve(ctx, "v1")
			if err != nil || got.Digest != descs[n].Digest {
				t.Fatalf("%s:v1 = %v, %v; want %s", n, got.Digest, err, descs[n].Digest)
			}
			for _, d := range []ocispec.Descriptor{got, ocispec.DescriptorEmptyJSON} {
				rc, err := repo.Fetch(ctx, d)
				if err != nil {
					t.Fatalf("Fetch %s@%s: %v", n, d.Digest, err)
				}
				rc.Close()
			}
			// Writes go on in the new place.
			if err := repo.Tag(ctx, got, "v2"); err != nil {
				t.Fatal(err)
			}
			old := filepath.Join(dir, "repositories", filepath.FromSlash(n))
			for _, f := range []string{ocispec.ImageLayoutFile, ocispec.ImageIndexFile, ".tmp-index.json-1", "blobs/sha256/" + got.Digest.Encoded()} {
				if _, err := os.Stat(filepath.Join(old, f)); !os.IsNotExist(err) {
					t.Errorf("%s/%s still there after Open: %v", n, f, err)
				}
			}
			if _, err := os.Stat(filepath.Join(layout.RepositoryDir(dir, n), ocispec.ImageLayoutFile)); err != nil {
				t.Errorf("%s: oci-layout not moved: %v", n, err)
			}
		}
		s.Close()
	}
}
