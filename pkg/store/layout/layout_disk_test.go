package layout_test

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"testing"

	"github.com/opencontainers/go-digest"
	specs "github.com/opencontainers/image-spec/specs-go"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
	"oras.land/oras-go/v2/content"

	"pkgserver.dev/pkgserver/pkg/store"
	"pkgserver.dev/pkgserver/pkg/store/layout"
)

// manifest builds a small image manifest, optionally referring to subject.
func manifest(t *testing.T, seed string, subject *ocispec.Descriptor) (ocispec.Descriptor, []byte) {
	t.Helper()
	m := ocispec.Manifest{
		Versioned:    specs.Versioned{SchemaVersion: 2},
		MediaType:    ocispec.MediaTypeImageManifest,
		ArtifactType: "application/vnd.test." + seed,
		Config:       ocispec.DescriptorEmptyJSON,
		Layers:       []ocispec.Descriptor{ocispec.DescriptorEmptyJSON},
		Subject:      subject,
		Annotations:  map[string]string{"seed": seed},
	}
	data, err := json.Marshal(m)
	if err != nil {
		t.Fatal(err)
	}
	return content.NewDescriptorFromBytes(ocispec.MediaTypeImageManifest, data), data
}

func pushManifest(t *testing.T, repo store.Repository, seed string, subject *ocispec.Descriptor) ocispec.Descriptor {
	t.Helper()
	ctx := context.Background()
	if err := repo.Push(ctx, ocispec.DescriptorEmptyJSON, bytes.NewReader(ocispec.DescriptorEmptyJSON.Data)); err != nil {
		t.Fatal(err)
	}
	desc, data := manifest(t, seed, subject)
	if err := repo.Push(ctx, desc, bytes.NewReader(data)); err != nil {
		t.Fatal(err)
	}
	return desc
}

func readIndex(t *testing.T, path string) ocispec.Index {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var idx ocispec.Index
	if err := json.Unmarshal(data, &idx); err != nil {
		t.Fatalf("%s does not parse: %v", path, err)
	}
	return idx
}

// TestDiskFormat checks that a repository is a plain OCI image layout and that
// a reopened store finds tags, untagged manifests and referrers again.
func TestDiskFormat(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	s := open(t, dir)
	repo, _ := s.Repository(ctx, "default/catalog/realm/pkg")
	subject := pushManifest(t, repo, "subject", nil)
	if err := repo.Tag(ctx, subject, "v1"); err != nil {
		t.Fatal(err)
	}
	ref := pushManifest(t, repo, "ref", &subject)
	s.Close()

	repoDir := layout.RepositoryDir(dir, "default/catalog/realm/pkg")
	layoutData, err := os.ReadFile(filepath.Join(repoDir, ocispec.ImageLayoutFile))
	if err != nil || !bytes.Contains(layoutData, []byte(ocispec.ImageLayoutVersion)) {
		t.Fatalf("oci-layout = %s, %v", layoutData, err)
	}
	idx := readIndex(t, filepath.Join(repoDir, ocispec.ImageIndexFile))
	tags := map[digest.Digest]string{}
	for _, m := range idx.Manifests {
		tags[m.Digest] = m.Annotations[ocispec.AnnotationRefName]
	}
	if tags[subject.Digest] != "v1" {
		t.Errorf("index.json: subject tag = %q, want v1", tags[subject.Digest])
	}
	if tag, ok := tags[ref.Digest]; !ok || tag != "" {
		t.Errorf("index.json: referrer listed=%v tag=%q, want listed untagged", ok, tag)
	}

	s = open(t, dir)
	repo, _ = s.Repository(ctx, "default/catalog/realm/pkg")
	if got, err := repo.Resolve(ctx, "v1"); err != nil || got.Digest != subject.Digest {
		t.Fatalf("Resolve after reopen = %v, %v", got, err)
	}
	var refs []ocispec.Descriptor
	err = repo.(store.ReferrerLister).Referrers(ctx, subject, "", func(p []ocispec.Descriptor) error {
		refs = append(refs, p...)
		return nil
	})
	if err != nil || len(refs) != 1 || refs[0].Digest != ref.Digest || refs[0].ArtifactType != "application/vnd.test.ref" {
		t.Fatalf("Referrers after reopen = %+v, %v", refs, err)
	}
}

func TestSHA512(t *testing.T) {
	ctx := context.Background()
	repo, _ := open(t, t.TempDir()).Repository(ctx, "r")
	data := []byte("sha512 content")
	desc := ocispec.Descriptor{MediaType: "application/octet-stream", Digest: digest.SHA512.FromBytes(data), Size: int64(len(data))}
	if err := repo.Push(ctx, desc, bytes.NewReader(data)); err != nil {
		t.Fatalf("Push: %v", err)
	}
	rc, err := repo.Fetch(ctx, desc)
	if err != nil {
		t.Fatal(err)
	}
	defer rc.Close()
	if err := repo.Push(ctx, desc, bytes.NewReader([]byte("sha512 contenT"))); err != nil {
		t.Fatalf("re-push of existing digest: %v", err)
	}
	bad := desc
	bad.Digest = digest.SHA512.FromString("other")
	if err := repo.Push(ctx, bad, bytes.NewReader(data)); err == nil {
		t.Fatal("Push with wrong sha512 digest succeeded")
	}
}
