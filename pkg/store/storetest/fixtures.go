package storetest

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"testing"

	"github.com/opencontainers/go-digest"
	specs "github.com/opencontainers/image-spec/specs-go"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
	"oras.land/oras-go/v2/content"

	"pkgserver.dev/pkgserver/pkg/errdef"
	"pkgserver.dev/pkgserver/pkg/store"
)

// ArtifactType is the artifactType of the test manifests.
const ArtifactType = "application/vnd.pkgserver.test.v1"

// blob is a descriptor with its content.
type blob struct {
	desc ocispec.Descriptor
	data []byte
}

func newBlob(mediaType string, data []byte) blob {
	return blob{desc: content.NewDescriptorFromBytes(mediaType, data), data: data}
}

// image is a manifest with its config and layers.
type image struct {
	manifest blob
	blobs    []blob
}

// newImage builds an OCI image manifest (image-spec v1.1 artifact form)
// whose content depends on seed, optionally referring to subject.
func newImage(seed string, artifactType string, subject *ocispec.Descriptor) image {
	config := newBlob(ocispec.MediaTypeEmptyJSON, []byte("{}"))
	layer := newBlob(ocispec.MediaTypeImageLayer, []byte("layer of "+seed))
	m := ocispec.Manifest{
		Versioned:    specs.Versioned{SchemaVersion: 2},
		MediaType:    ocispec.MediaTypeImageManifest,
		ArtifactType: artifactType,
		Config:       config.desc,
		Layers:       []ocispec.Descriptor{layer.desc},
		Subject:      subject,
		Annotations: map[string]string{
			ocispec.AnnotationTitle:   seed,
			"dev.pkgserver.test.seed": seed,
		},
	}
	data, err := json.Marshal(m)
	if err != nil {
		panic(err)
	}
	return image{manifest: newBlob(ocispec.MediaTypeImageManifest, data), blobs: []blob{config, layer}}
}

func push(t *testing.T, repo store.Repository, b blob) {
	t.Helper()
	if err := repo.Push(context.Background(), b.desc, bytes.NewReader(b.data)); err != nil {
		t.Fatalf("Push(%s): %v", b.desc.Digest, err)
	}
}

// pushImage pushes the blobs then the manifest, untagged.
func pushImage(t *testing.T, repo store.Repository, img image) ocispec.Descriptor {
	t.Helper()
	for _, b := range img.blobs {
		push(t, repo, b)
	}
	push(t, repo, img.manifest)
	return img.manifest.desc
}

func tag(t *testing.T, repo store.Repository, desc ocispec.Descriptor, ref string) {
	t.Helper()
	if err := repo.Tag(context.Background(), desc, ref); err != nil {
		t.Fatalf("Tag(%s, %s): %v", desc.Digest, ref, err)
	}
}

func fetchAll(t *testing.T, repo store.Repository, desc ocispec.Descriptor) []byte {
	t.Helper()
	rc, err := repo.Fetch(context.Background(), desc)
	if err != nil {
		t.Fatalf("Fetch(%s): %v", desc.Digest, err)
	}
	defer rc.Close()
	data, err := io.ReadAll(rc)
	if err != nil {
		t.Fatalf("read %s: %v", desc.Digest, err)
	}
	if got := digest.FromBytes(data); desc.Digest.Algorithm() == digest.SHA256 && got != desc.Digest {
		t.Fatalf("Fetch(%s) returned content with digest %s", desc.Digest, got)
	}
	return data
}

func resolve(t *testing.T, repo store.Repository, ref string) ocispec.Descriptor {
	t.Helper()
	desc, err := repo.Resolve(context.Background(), ref)
	if err != nil {
		t.Fatalf("Resolve(%s): %v", ref, err)
	}
	return desc
}

// allTags collects every page of Tags after last.
func allTags(t *testing.T, repo store.Repository, last string) []string {
	t.Helper()
	var tags []string
	err := repo.Tags(context.Background(), last, func(page []string) error {
		tags = append(tags, page...)
		return nil
	})
	if err != nil {
		t.Fatalf("Tags(%q): %v", last, err)
	}
	return tags
}

func wantNotFound(t *testing.T, what string, err error) {
	t.Helper()
	if !errors.Is(err, errdef.ErrNotFound) {
		t.Fatalf("%s: error %v, want one wrapping errdef.ErrNotFound", what, err)
	}
}

func sameDesc(a, b ocispec.Descriptor) bool {
	return a.Digest == b.Digest && a.Size == b.Size && a.MediaType == b.MediaType
}

// repoName gives every subtest its own repository, so that backends can share one registry.
func repoName(t *testing.T, suffix string) string {
	return fmt.Sprintf("storetest/%s/%s", sanitize(t.Name()), suffix)
}

func sanitize(s string) string {
	out := make([]byte, 0, len(s))
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c >= 'a' && c <= 'z' || c >= '0' && c <= '9':
			out = append(out, c)
		case c >= 'A' && c <= 'Z':
			out = append(out, c+'a'-'A')
		case len(out) > 0 && out[len(out)-1] != '-':
			out = append(out, '-')
		}
	}
	for len(out) > 0 && out[len(out)-1] == '-' {
		out = out[:len(out)-1]
	}
	return string(out)
}
