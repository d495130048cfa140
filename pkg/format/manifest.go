package format

import (
	"encoding/json"
	"fmt"
	"time"

	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
	"oras.land/oras-go/v2/content"

	"pkgserver.dev/pkgserver/pkg/errdef"
)

// Blob is a blob to push with its descriptor.
type Blob struct {
	Data       []byte
	Descriptor ocispec.Descriptor
}

// Empty is the empty JSON config (and filler layer) of OCI image-spec v1.1 artifacts.
var Empty = Blob{Data: ocispec.DescriptorEmptyJSON.Data, Descriptor: content.NewDescriptorFromBytes(ocispec.MediaTypeEmptyJSON, ocispec.DescriptorEmptyJSON.Data)}

// Manifest builds the image manifest of a revision from its metadata and layers
// (one layer for what pkgserver writes; more when it keeps a plain push's layers).
func Manifest(m Meta, layers ...ocispec.Descriptor) Blob {
	return build(ocispec.Manifest{
		ArtifactType: ArtifactType,
		Config:       Empty.Descriptor,
		Layers:       layers,
		Annotations:  m.Encode(),
	})
}

// DeletionMarker builds the manifest that marks the published revision subject
// as proposed for deletion; the revision's own manifest never changes.
func DeletionMarker(subject ocispec.Descriptor, revision string, at time.Time) Blob {
	s := ocispec.Descriptor{MediaType: subject.MediaType, Digest: subject.Digest, Size: subject.Size}
	return build(ocispec.Manifest{
		ArtifactType: DeletionMarkerType,
		Config:       Empty.Descriptor,
		Layers:       []ocispec.Descriptor{Empty.Descriptor},
		Subject:      &s,
		Annotations: map[string]string{
			AnnotationFormat:     Version,
			AnnotationDeletionOf: revision,
			AnnotationCreated:    at.UTC().Format(time.RFC3339),
		},
	})
}

// Tombstone builds the manifest that keeps a deleted revision's number taken.
func Tombstone(revision string, at time.Time) Blob {
	return build(ocispec.Manifest{
		ArtifactType: TombstoneType,
		Config:       Empty.Descriptor,
		Layers:       []ocispec.Descriptor{Empty.Descriptor},
		Annotations: map[string]string{
			AnnotationFormat:  Version,
			AnnotationVersion: revision,
			AnnotationCreated: at.UTC().Format(time.RFC3339),
		},
	})
}

// ObjectManifest stores a JSON object (a Repository, a package index) as the
// config of an artifact of the given type.
func ObjectManifest(artifactType, configType string, object []byte) (manifest, config Blob) {
	config = Blob{Data: object, Descriptor: content.NewDescriptorFromBytes(configType, object)}
	return build(ocispec.Manifest{
		ArtifactType: artifactType,
		Config:       config.Descriptor,
		Layers:       []ocispec.Descriptor{Empty.Descriptor},
		Annotations:  map[string]string{AnnotationFormat: Version},
	}), config
}

func build(m ocispec.Manifest) Blob {
	m.Versioned.SchemaVersion = 2
	m.MediaType = ocispec.MediaTypeImageManifest
	b, err := json.Marshal(m)
	if err != nil {
		panic(err) // cannot happen: plain structs of strings
	}
	return Blob{Data: b, Descriptor: ocispec.Descriptor{MediaType: m.MediaType, ArtifactType: m.ArtifactType, Digest: digest.FromBytes(b), Size: int64(len(b)), Annotations: m.Annotations}}
}

// ParseManifest decodes an image manifest and checks what reading relies on.
func ParseManifest(data []byte) (ocispec.Manifest, error) {
	var m ocispec.Manifest
	if err := json.Unmarshal(data, &m); err != nil {
		return m, fmt.Errorf("%w: manifest: %v", errdef.ErrInvalid, err)
	}
	if m.MediaType != "" && m.MediaType != ocispec.MediaTypeImageManifest && m.MediaType != "application/vnd.docker.distribution.manifest.v2+json" {
		return m, fmt.Errorf("%w: manifest media type %q is not an image manifest", errdef.ErrInvalid, m.MediaType)
	}
	if m.SchemaVersion != 2 {
		return m, fmt.Errorf("%w: manifest schemaVersion %d, want 2", errdef.ErrInvalid, m.SchemaVersion)
	}
	for i, l := range m.Layers {
		if err := l.Digest.Validate(); err != nil {
			return m, fmt.Errorf("%w: manifest layer %d: %v", errdef.ErrInvalid, i, err)
		}
	}
	return m, nil
}
