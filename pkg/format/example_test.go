package format_test

import (
	"fmt"
	"time"

	pkgapi "pkgserver.dev/pkgserver/api/pkg/v1alpha1"
	"pkgserver.dev/pkgserver/pkg/format"
)

// A revision becomes one reproducible layer and one manifest whose
// annotations carry the metadata; reading goes the other way.
func Example() {
	files := map[string]string{
		"Kptfile":     "apiVersion: kpt.dev/v1\nkind: Kptfile\nmetadata:\n  name: router\n",
		"deploy.yaml": "apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: router\n",
	}
	layer, err := format.PackLayer("router", files)
	if err != nil {
		panic(err)
	}
	again, _ := format.PackLayer("router", files)
	fmt.Println("reproducible:", layer.Descriptor.Digest == again.Descriptor.Digest)
	fmt.Println("unpacks to:", layer.Descriptor.Annotations[format.AnnotationTitle]+"/")

	manifest := format.Manifest(format.Meta{
		Lifecycle: pkgapi.LifecyclePublished,
		Target:    "catalog",
		Package:   "router",
		Workspace: "main",
		Revision:  "v1",
		Created:   time.Date(2025, 1, 2, 3, 4, 5, 0, time.UTC),
	}, layer.Descriptor)
	m, err := format.ParseManifest(manifest.Data)
	if err != nil {
		panic(err)
	}
	fmt.Println("artifactType:", m.ArtifactType)
	fmt.Println("version:", m.Annotations[format.AnnotationVersion])
	meta := format.Decode(m.Annotations)
	fmt.Println("lifecycle:", meta.Lifecycle, "workspace:", meta.Workspace)

	read := map[string]string{}
	if err := format.ReadLayer(m.Layers[0], layer.Data, read); err != nil {
		panic(err)
	}
	fmt.Println("files:", len(read), read["Kptfile"] == files["Kptfile"])
	// Output:
	// reproducible: true
	// unpacks to: router/
	// artifactType: application/vnd.pkgserver.package.v1
	// version: v1
	// lifecycle: published workspace: main
	// files: 2 true
}
