package e2e

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	ocispec "github.com/opencontainers/image-spec/specs-go/v1"

	configapi "pkgserver.dev/pkgserver/api/config/v1alpha1"
	pkgapi "pkgserver.dev/pkgserver/api/pkg/v1alpha1"
	"pkgserver.dev/pkgserver/e2e/internal/harness"
	"pkgserver.dev/pkgserver/internal/testregistry"
)

// TestSkopeo: the containers/image stack (skopeo, also behind podman and
// CRI-O) reads a published revision from pkgserver's /v2/, copies it to an
// OCI layout and to a distribution registry with its digest, and pushes the
// layout back into a path no repository owns; under a repository's prefix
// the package rules hold for skopeo too. The commands are those of
// docs/registry.md.
func TestSkopeo(t *testing.T) {
	t.Parallel()
	sk := harness.NewSkopeo(t)
	e := newEnv(t, backends[0])
	e.createRepo(t, "blueprints", false)
	id := catalogID("blueprints", "apps", "web", "ws")
	pr, files := publishFiles(t, e.c, id, map[string]string{
		"deployment.yaml":     deploymentYAML("web", 2),
		"config/service.yaml": serviceYAML("web"),
	})
	digest := pr.Status.OCI.Digest
	src := "docker://" + e.ociRepo(id, false)
	pkgserver := "--tls-verify=false" // plain HTTP on loopback

	var tags struct{ Tags []string }
	if err := json.Unmarshal([]byte(sk.Run(t, "list-tags", pkgserver, src)), &tags); err != nil || !contains(tags.Tags, "v1") || !contains(tags.Tags, "latest") {
		t.Fatalf("skopeo list-tags: %v %v, want v1 and latest", tags.Tags, err)
	}
	if d := sha256Digest(sk.Run(t, "inspect", "--raw", pkgserver, src+":v1")); d != digest {
		t.Fatalf("skopeo inspect --raw: manifest digest %s, API says %s", d, digest)
	}
	if cfg := strings.TrimSpace(sk.Run(t, "inspect", "--config", "--raw", pkgserver, src+":v1")); cfg != "{}" {
		t.Fatalf("skopeo inspect --config --raw = %q, want the empty config {}", cfg)
	}

	// To an OCI layout (an air-gapped transfer): same manifest, and its
	// layer holds the package's files.
	layout := filepath.Join(t.TempDir(), "web")
	sk.Run(t, "copy", "--src-tls-verify=false", src+":v1", "oci:"+layout+":v1")
	assertFiles(t, "layer of the skopeo OCI layout", layoutFiles(t, layout, digest), under(id.Package, files))

	// To a distribution registry, served there by a second pkgserver.
	reg := testregistry.Start(t)
	dst := "docker://" + reg + "/mirror/blueprints/apps/web"
	sk.Run(t, "copy", "--preserve-digests", "--src-tls-verify=false", "--dest-tls-verify=false", src+":v1", dst+":v1")
	if d := sha256Digest(sk.Run(t, "inspect", "--raw", pkgserver, dst+":v1")); d != digest {
		t.Fatalf("copy on the distribution registry has digest %s, want %s", d, digest)
	}
	mirror := newEnv(t, backends[0])
	mirror.c.CreateRepository(t, repositoryManifest("blueprints", "a skopeo copy", &configapi.OCIRepository{Registry: reg + "/mirror/blueprints", PlainHTTP: true}))
	got := mirror.c.GetRevision(t, pr.Name)
	if got.Status.OCI == nil || got.Status.OCI.Digest != digest || got.Spec.PackageRevID.Revision != "v1" || got.Spec.Lifecycle != pkgapi.LifecyclePublished {
		t.Fatalf("mirror serves %s as %q %q %+v, want published v1 %s", pr.Name, got.Spec.Lifecycle, got.Spec.PackageRevID.Revision, got.Status.OCI, digest)
	}
	assertFiles(t, "mirror", mirror.c.GetResources(t, got.Name).Spec.Resources, files)

	// Back from the layout into a path no repository owns: a plain registry
	// there, so the copy can be deleted again.
	scratch := "docker://" + e.srv.Addr + "/scratch/web"
	sk.Run(t, "copy", "--dest-tls-verify=false", "oci:"+layout+":v1", scratch+":v1")
	if d := sha256Digest(sk.Run(t, "inspect", "--raw", pkgserver, scratch+":v1")); d != digest {
		t.Fatalf("pushed copy has digest %s, want %s", d, digest)
	}
	sk.Run(t, "delete", pkgserver, scratch+":v1")
	if _, _, err := sk.Try(t, "inspect", "--raw", pkgserver, scratch+":v1"); err == nil {
		t.Fatalf("%s:v1 still resolves after skopeo delete", scratch)
	}

	// Under the repository's prefix a published revision is not deleted.
	if _, stderr, err := sk.Try(t, "delete", pkgserver, src+":v1"); err == nil || !strings.Contains(stderr, "DENIED") {
		t.Fatalf("skopeo delete of published v1: %v, want DENIED:\n%s", err, stderr)
	}
	if now := e.c.GetRevision(t, pr.Name); now.Spec.Lifecycle != pkgapi.LifecyclePublished || now.Status.OCI == nil || now.Status.OCI.Digest != digest {
		t.Fatalf("after skopeo delete: %s is %q %+v, want published %s", pr.Name, now.Spec.Lifecycle, now.Status.OCI, digest)
	}
}

// sha256Digest is the digest of a manifest's bytes.
func sha256Digest(manifest string) string {
	sum := sha256.Sum256([]byte(manifest))
	return "sha256:" + hex.EncodeToString(sum[:])
}

// layoutFiles checks that the OCI image layout at dir tags v1 with the
// manifest digest and returns the files of the manifest's one tar+gzip layer.
func layoutFiles(t *testing.T, dir, digest string) map[string]string {
	t.Helper()
	blob := func(d string) []byte {
		t.Helper()
		algo, hexsum, _ := strings.Cut(d, ":")
		data, err := os.ReadFile(filepath.Join(dir, "blobs", algo, hexsum))
		if err != nil {
			t.Fatal(err)
		}
		if sha256Digest(string(data)) != d {
			t.Fatalf("blob %s of the layout has another digest", d)
		}
		return data
	}
	data, err := os.ReadFile(filepath.Join(dir, "index.json"))
	if err != nil {
		t.Fatal(err)
	}
	var index ocispec.Index
	if err := json.Unmarshal(data, &index); err != nil {
		t.Fatal(err)
	}
	if len(index.Manifests) != 1 || index.Manifests[0].Digest.String() != digest || index.Manifests[0].Annotations[ocispec.AnnotationRefName] != "v1" {
		t.Fatalf("layout index.json: %s, want one manifest %s tagged v1", data, digest)
	}
	var m ocispec.Manifest
	if err := json.Unmarshal(blob(digest), &m); err != nil {
		t.Fatal(err)
	}
	if len(m.Layers) != 1 || m.Layers[0].MediaType != ocispec.MediaTypeImageLayerGzip {
		t.Fatalf("layout manifest layers %+v, want one %s", m.Layers, ocispec.MediaTypeImageLayerGzip)
	}
	files, err := harness.UntarGzip(bytes.NewReader(blob(m.Layers[0].Digest.String())))
	if err != nil {
		t.Fatal(err)
	}
	return files
}
