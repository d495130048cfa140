package format_test

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"context"
	"io"
	"testing"
	"time"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	ggcrlayout "github.com/google/go-containerregistry/pkg/v1/layout"
	"github.com/google/go-containerregistry/pkg/v1/validate"

	pkgapi "pkgserver.dev/pkgserver/api/pkg/v1alpha1"
	"pkgserver.dev/pkgserver/pkg/format"
	"pkgserver.dev/pkgserver/pkg/store"
	"pkgserver.dev/pkgserver/pkg/store/layout"
)

// TestArtifactsAreValidOCI writes every kind of artifact pkgserver writes (a
// revision, a deletion marker, a tombstone, a stored object) with the
// embedded store, then has go-containerregistry load each from the OCI image
// layout on disk and validate it.
//
// Validation is validate.Fast plus checkLayers: ggcr's full check maps each
// tar layer to a diff_id of an image config, and pkgserver's artifacts have
// the empty config of image-spec v1.1 artifacts, which carries none.
func TestArtifactsAreValidOCI(t *testing.T) {
	ctx := context.Background()
	const repoName = "ns/blueprints/router"
	layer, err := format.PackLayer("router", map[string]string{
		"Kptfile":     "apiVersion: kpt.dev/v1\nkind: Kptfile\nmetadata:\n  name: router\n",
		"deploy.yaml": "apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: router\n",
	})
	if err != nil {
		t.Fatal(err)
	}
	at := time.Date(2025, 1, 2, 3, 4, 5, 0, time.UTC)
	revision := format.Manifest(format.Meta{Lifecycle: pkgapi.LifecyclePublished, Target: "catalog",
		Package: "router", Workspace: "main", Revision: "v1", Created: at}, layer.Descriptor)
	object, config := format.ObjectManifest("application/vnd.pkgserver.test.object.v1", "application/vnd.pkgserver.test.object.v1+json", []byte(`{"kind":"Repository"}`))
	artifacts := []struct {
		tag      string
		manifest format.Blob
		blobs    []format.Blob
	}{
		{"v1", revision, []format.Blob{format.Empty, format.Blob(layer)}},
		{"v1.deletion-proposed", format.DeletionMarker(revision.Descriptor, "v1", at), []format.Blob{format.Empty}},
		{"v2.deleted", format.Tombstone("v2", at), []format.Blob{format.Empty}},
		{"object", object, []format.Blob{format.Empty, config}},
	}

	dir := t.TempDir()
	s, err := layout.Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	repo, err := s.Repository(ctx, repoName)
	if err != nil {
		t.Fatal(err)
	}
	for _, a := range artifacts {
		for _, b := range a.blobs {
			if err := repo.Push(ctx, b.Descriptor, bytes.NewReader(b.Data)); err != nil {
				t.Fatal(err)
			}
		}
		if err := repo.(store.ReferencePusher).PushReference(ctx, a.manifest.Descriptor, bytes.NewReader(a.manifest.Data), a.tag); err != nil {
			t.Fatal(err)
		}
	}

	p, err := ggcrlayout.FromPath(layout.RepositoryDir(dir, repoName))
	if err != nil {
		t.Fatalf("not an OCI image layout to go-containerregistry: %v", err)
	}
	idx, err := p.ImageIndex()
	if err != nil {
		t.Fatal(err)
	}
	if err := validate.Index(idx, validate.Fast); err != nil {
		t.Errorf("index.json: %v", err)
	}
	for _, a := range artifacts {
		t.Run(a.tag, func(t *testing.T) {
			h, err := v1.NewHash(a.manifest.Descriptor.Digest.String())
			if err != nil {
				t.Fatal(err)
			}
			img, err := p.Image(h)
			if err != nil {
				t.Fatal(err)
			}
			if err := validate.Image(img, validate.Fast); err != nil {
				t.Error(err)
			}
			checkLayers(t, img)
		})
	}
}

// checkLayers does what validate.Image does for layers without the config
// diff_ids: each layer's bytes match its digest and size, and a tar+gzip
// layer is a readable gzip-compressed tar.
func checkLayers(t *testing.T, img v1.Image) {
	t.Helper()
	m, err := img.Manifest()
	if err != nil {
		t.Fatal(err)
	}
	for i, d := range m.Layers {
		l, err := img.LayerByDigest(d.Digest)
		if err != nil {
			t.Fatal(err)
		}
		rc, err := l.Compressed()
		if err != nil {
			t.Fatal(err)
		}
		data, err := io.ReadAll(rc)
		rc.Close()
		if err != nil {
			t.Fatal(err)
		}
		h, size, err := v1.SHA256(bytes.NewReader(data))
		if err != nil || h != d.Digest || size != d.Size {
			t.Errorf("layer %d: sha256 %v, %d bytes (%v); manifest says %v, %d", i, h, size, err, d.Digest, d.Size)
		}
		if d.MediaType != format.LayerType {
			continue
		}
		zr, err := gzip.NewReader(bytes.NewReader(data))
		if err != nil {
			t.Fatalf("layer %d: %v", i, err)
		}
		tr := tar.NewReader(zr)
		for {
			if _, err := tr.Next(); err == io.EOF {
				break
			} else if err != nil {
				t.Fatalf("layer %d: not a tar: %v", i, err)
			}
		}
	}
}
