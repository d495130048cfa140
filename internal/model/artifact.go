package model

import (
	"encoding/json"
	"maps"
	"slices"

	"github.com/opencontainers/go-digest"
	specs "github.com/opencontainers/image-spec/specs-go"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
)

// artifact is a manifest as another tool (oras push of files) makes it,
// with the blobs it needs.
type artifact struct {
	manifest []byte
	digest   string
	blobs    [][]byte
}

// plainArtifact packs files as oras push does: an empty config and one
// layer per file, titled by its path.
func plainArtifact(files map[string]string, annotations map[string]string, artifactType string) artifact {
	if artifactType == "" {
		artifactType = "application/vnd.unknown.artifact.v1"
	}
	a := artifact{blobs: [][]byte{ocispec.DescriptorEmptyJSON.Data}}
	m := ocispec.Manifest{
		Versioned:    specs.Versioned{SchemaVersion: 2},
		MediaType:    ocispec.MediaTypeImageManifest,
		ArtifactType: artifactType,
		Config:       ocispec.DescriptorEmptyJSON,
		Layers:       []ocispec.Descriptor{},
		Annotations:  annotations,
	}
	for _, p := range slices.Sorted(maps.Keys(files)) {
		b := []byte(files[p])
		a.blobs = append(a.blobs, b)
		m.Layers = append(m.Layers, ocispec.Descriptor{
			MediaType: "application/vnd.oci.image.layer.v1.tar", Digest: digest.FromBytes(b), Size: int64(len(b)),
			Annotations: map[string]string{ocispec.AnnotationTitle: p},
		})
	}
	a.manifest, _ = json.Marshal(m)
	a.digest = digest.FromBytes(a.manifest).String()
	return a
}

// blobsOf lists what a manifest refers to: config and layers.
func blobsOf(manifest []byte) []digest.Digest {
	var m ocispec.Manifest
	if json.Unmarshal(manifest, &m) != nil {
		return nil
	}
	out := []digest.Digest{m.Config.Digest}
	for _, l := range m.Layers {
		out = append(out, l.Digest)
	}
	return out
}

// annotation returns one manifest annotation.
func annotation(manifest []byte, key string) string {
	var m ocispec.Manifest
	if json.Unmarshal(manifest, &m) != nil {
		return ""
	}
	return m.Annotations[key]
}
