package registry_test

import (
	"context"
	"net/url"
	"testing"

	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
	"oras.land/oras-go/v2"
	"oras.land/oras-go/v2/content"
	"oras.land/oras-go/v2/content/memory"
	"oras.land/oras-go/v2/registry/remote"

	"pkgserver.dev/pkgserver/pkg/registry"
)

// TestORAS pushes an artifact and a referrer with oras-go's remote client
// (plain HTTP) and pulls them back.
func TestORAS(t *testing.T) {
	ctx := context.Background()
	f := newFixture(t, registry.Options{})
	u, _ := url.Parse(f.srv.URL)
	repo, err := remote.NewRepository(u.Host + "/pkgs/catalog/realm/app")
	if err != nil {
		t.Fatal(err)
	}
	repo.PlainHTTP = true

	src := memory.New()
	files := map[string]string{"Kptfile": "apiVersion: kpt.dev/v1\nkind: Kptfile\n", "deploy.yaml": "kind: ConfigMap\n"}
	var layers []ocispec.Descriptor
	for name, body := range files {
		desc := content.NewDescriptorFromBytes("application/vnd.test.yaml", []byte(body))
		desc.Annotations = map[string]string{ocispec.AnnotationTitle: name}
		if err := src.Push(ctx, desc, bytesReader(body)); err != nil {
			t.Fatal(err)
		}
		layers = append(layers, desc)
	}
	manifest, err := oras.PackManifest(ctx, src, oras.PackManifestVersion1_1, "application/vnd.pkgserver.package", oras.PackManifestOptions{Layers: layers})
	if err != nil {
		t.Fatal(err)
	}
	if err := src.Tag(ctx, manifest, "v1"); err != nil {
		t.Fatal(err)
	}
	if _, err := oras.Copy(ctx, src, "v1", repo, "v1", oras.DefaultCopyOptions); err != nil {
		t.Fatalf("push: %v", err)
	}
	// A signature-like referrer of the package.
	sig, err := oras.PackManifest(ctx, repo, oras.PackManifestVersion1_1, "application/vnd.test.sig", oras.PackManifestOptions{Subject: &manifest})
	if err != nil {
		t.Fatalf("push referrer: %v", err)
	}

	dst := memory.New()
	got, err := oras.Copy(ctx, repo, "v1", dst, "v1", oras.DefaultCopyOptions)
	if err != nil {
		t.Fatalf("pull: %v", err)
	}
	if got.Digest != manifest.Digest {
		t.Errorf("pulled %s, pushed %s", got.Digest, manifest.Digest)
	}
	for _, l := range layers {
		b, err := content.FetchAll(ctx, dst, l)
		if err != nil || string(b) != files[l.Annotations[ocispec.AnnotationTitle]] {
			t.Errorf("layer %s: %q %v", l.Annotations[ocispec.AnnotationTitle], b, err)
		}
	}
	var refs []ocispec.Descriptor
	if err := repo.Referrers(ctx, manifest, "application/vnd.test.sig", func(r []ocispec.Descriptor) error {
		refs = append(refs, r...)
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	if len(refs) != 1 || refs[0].Digest != sig.Digest {
		t.Errorf("referrers = %+v, want %s", refs, sig.Digest)
	}
	var tags []string
	if err := repo.Tags(ctx, "", func(ts []string) error { tags = append(tags, ts...); return nil }); err != nil || len(tags) != 1 || tags[0] != "v1" {
		t.Errorf("tags = %v, %v", tags, err)
	}
	// Cross-repository copy mounts the blobs.
	repo2, _ := remote.NewRepository(u.Host + "/mirror/app")
	repo2.PlainHTTP = true
	if _, err := oras.Copy(ctx, repo, "v1", repo2, "v1", oras.DefaultCopyOptions); err != nil {
		t.Fatalf("copy across repositories: %v", err)
	}
	if err := repo.Delete(ctx, sig); err != nil {
		t.Errorf("delete referrer: %v", err)
	}
}
