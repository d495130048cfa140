package format

import (
	"encoding/json"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"

	"pkgserver.dev/pkgserver/pkg/errdef"
)

func TestManifest(t *testing.T) {
	l, err := PackLayer("router", testFiles)
	if err != nil {
		t.Fatal(err)
	}
	meta := fullMeta()
	m := Manifest(meta, l.Descriptor)
	if m.Descriptor.Digest != digest.FromBytes(m.Data) || m.Descriptor.Size != int64(len(m.Data)) {
		t.Fatalf("descriptor %+v does not describe the data", m.Descriptor)
	}
	if again := Manifest(fullMeta(), l.Descriptor); again.Descriptor.Digest != m.Descriptor.Digest {
		t.Error("same metadata and layer, different digest")
	}
	meta.PublishedBy = "bob"
	if other := Manifest(meta, l.Descriptor); other.Descriptor.Digest == m.Descriptor.Digest {
		t.Error("different metadata, same digest")
	}
	parsed, err := ParseManifest(m.Data)
	if err != nil {
		t.Fatal(err)
	}
	if parsed.ArtifactType != ArtifactType || parsed.MediaType != ocispec.MediaTypeImageManifest || parsed.SchemaVersion != 2 {
		t.Errorf("manifest header %q %q %d", parsed.ArtifactType, parsed.MediaType, parsed.SchemaVersion)
	}
	if parsed.Config.Digest != Empty.Descriptor.Digest || parsed.Config.MediaType != ocispec.MediaTypeEmptyJSON {
		t.Errorf("config %+v, want the empty JSON", parsed.Config)
	}
	if len(parsed.Layers) != 1 || parsed.Layers[0].Digest != l.Descriptor.Digest {
		t.Errorf("layers %+v", parsed.Layers)
	}
	if got := utc(Decode(parsed.Annotations)); got.Revision != "v3" || got.Upstream.Name != meta.Upstream.Name {
		t.Errorf("annotations do not decode: %+v", got)
	}
}

func TestDeletionMarker(t *testing.T) {
	subject := Manifest(fullMeta()).Descriptor
	at := time.Date(2025, 1, 1, 0, 0, 0, 0, time.FixedZone("x", 3600))
	m := DeletionMarker(subject, "v3", at)
	parsed, err := ParseManifest(m.Data)
	if err != nil {
		t.Fatal(err)
	}
	if parsed.ArtifactType != DeletionMarkerType || parsed.Subject == nil || parsed.Subject.Digest != subject.Digest {
		t.Errorf("marker %+v", parsed)
	}
	if len(parsed.Subject.Annotations) != 0 {
		t.Errorf("subject carries annotations %v; want a plain descriptor", parsed.Subject.Annotations)
	}
	if parsed.Annotations[AnnotationDeletionOf] != "v3" || parsed.Annotations[AnnotationCreated] != "2024-12-31T23:00:00Z" {
		t.Errorf("annotations %v", parsed.Annotations)
	}
}

func TestObjectManifest(t *testing.T) {
	obj := []byte(`{"kind":"Repository"}`)
	m, cfg := ObjectManifest(RepositoryType, RepositoryConfigType, obj)
	if string(cfg.Data) != string(obj) || cfg.Descriptor.MediaType != RepositoryConfigType || cfg.Descriptor.Digest != digest.FromBytes(obj) {
		t.Errorf("config %+v", cfg.Descriptor)
	}
	parsed, err := ParseManifest(m.Data)
	if err != nil {
		t.Fatal(err)
	}
	if parsed.ArtifactType != RepositoryType || parsed.Config.Digest != cfg.Descriptor.Digest || len(parsed.Layers) != 1 {
		t.Errorf("manifest %+v", parsed)
	}
}

func TestParseManifestErrors(t *testing.T) {
	good := Manifest(Meta{Package: "p"}, Empty.Descriptor)
	mutate := func(f func(m map[string]any)) []byte {
		var m map[string]any
		if err := json.Unmarshal(good.Data, &m); err != nil {
			t.Fatal(err)
		}
		f(m)
		b, _ := json.Marshal(m)
		return b
	}
	tests := []struct {
		name string
		data []byte
		want string
	}{
		{"not JSON", []byte("nope"), "manifest"},
		{"empty", nil, "manifest"},
		{"JSON array", []byte("[]"), "manifest"},
		{"index media type", mutate(func(m map[string]any) { m["mediaType"] = ocispec.MediaTypeImageIndex }), "not an image manifest"},
		{"schema 1", mutate(func(m map[string]any) { m["schemaVersion"] = 1 }), "schemaVersion"},
		{"no schema", mutate(func(m map[string]any) { delete(m, "schemaVersion") }), "schemaVersion"},
		{"bad layer digest", mutate(func(m map[string]any) {
			m["layers"] = []any{map[string]any{"mediaType": "x", "digest": "sha256:zz", "size": 1}}
		}), "layer 0"},
		{"layers of wrong type", mutate(func(m map[string]any) { m["layers"] = "x" }), "manifest"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := ParseManifest(tt.data)
			if !errors.Is(err, errdef.ErrInvalid) || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("ParseManifest = %v, want ErrInvalid mentioning %q", err, tt.want)
			}
		})
	}
	t.Run("docker media type and no media type are accepted", func(t *testing.T) {
		for _, mt := range []any{"application/vnd.docker.distribution.manifest.v2+json", nil} {
			data := mutate(func(m map[string]any) {
				if mt == nil {
					delete(m, "mediaType")
				} else {
					m["mediaType"] = mt
				}
			})
			if _, err := ParseManifest(data); err != nil {
				t.Errorf("mediaType %v: %v", mt, err)
			}
		}
	})
}
