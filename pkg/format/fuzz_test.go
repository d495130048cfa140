package format

import (
	"archive/tar"
	"testing"

	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
	"oras.land/oras-go/v2/content"

	"pkgserver.dev/pkgserver/pkg/krm"
)

// FuzzReadLayer feeds arbitrary bytes to ReadLayer as every kind of layer: it
// must never panic, and every path it returns must be a valid package path.
func FuzzReadLayer(f *testing.F) {
	l, err := PackLayer("app", testFiles)
	if err != nil {
		f.Fatal(err)
	}
	f.Add(l.Data, "app")
	f.Add(makeTar(f, false, tarEntry{name: "a.yaml", body: "x"}, tarEntry{name: "../b", body: "y"}), "")
	f.Add(makeTar(f, true, tarEntry{name: "./", typ: tar.TypeDir}, tarEntry{name: "./d/a.yaml", body: "x"}), "d")
	f.Add(makeTar(f, false, tarEntry{name: "l", typ: tar.TypeSymlink, linkname: "/etc"}), "")
	f.Add([]byte{0x1f, 0x8b, 8, 0, 0, 0, 0, 0, 0, 0xff}, "x")
	f.Add([]byte("apiVersion: v1\n"), "a.yaml")
	f.Fuzz(func(t *testing.T, data []byte, title string) {
		descs := []ocispec.Descriptor{
			content.NewDescriptorFromBytes(ocispec.MediaTypeImageLayerGzip, data),                                 // Flux-style
			withAnnotations(content.NewDescriptorFromBytes(ocispec.MediaTypeImageLayerGzip, data), title, "true"), // oras directory
			withAnnotations(content.NewDescriptorFromBytes(ocispec.MediaTypeImageLayer, data), title, ""),         // oras file
		}
		for _, d := range descs {
			files := map[string]string{}
			err := ReadLayer(d, data, files)
			if err != nil {
				continue
			}
			for p := range files {
				if err := krm.ValidatePath(p); err != nil {
					t.Fatalf("ReadLayer returned invalid path %q (kind %v): %v", p, Classify(d), err)
				}
			}
		}
	})
}

func withAnnotations(d ocispec.Descriptor, title, unpack string) ocispec.Descriptor {
	d.Annotations = map[string]string{}
	if title != "" {
		d.Annotations[AnnotationTitle] = title
	}
	if unpack != "" {
		d.Annotations[AnnotationUnpack] = unpack
	}
	return d
}
