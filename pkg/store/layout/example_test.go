package layout_test

import (
	"bytes"
	"context"
	"fmt"
	"log"
	"os"
	"time"

	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
	"oras.land/oras-go/v2/content"

	"pkgserver.dev/pkgserver/pkg/store/layout"
)

// Open a data directory, push a blob into a repository and read it back.
func ExampleOpen() {
	dir, err := os.MkdirTemp("", "pkgserver-example")
	if err != nil {
		log.Fatal(err)
	}
	defer os.RemoveAll(dir)
	s, err := layout.Open(dir)
	if err != nil {
		log.Fatal(err) // wraps errdef.ErrLocked if another process holds dir
	}
	defer s.Close()

	ctx := context.Background()
	repo, err := s.Repository(ctx, "default/catalog/realm/pkg")
	if err != nil {
		log.Fatal(err)
	}
	data := []byte("kind: ConfigMap\n")
	desc := content.NewDescriptorFromBytes(ocispec.MediaTypeImageLayer, data)
	if err := repo.Push(ctx, desc, bytes.NewReader(data)); err != nil {
		log.Fatal(err)
	}
	got, err := content.FetchAll(ctx, repo, desc)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Printf("%s", got)
	// Output: kind: ConfigMap
}

// Collect garbage: blobs that no listed manifest refers to, older than the grace period.
func ExampleStore_GC() {
	dir, err := os.MkdirTemp("", "pkgserver-example")
	if err != nil {
		log.Fatal(err)
	}
	defer os.RemoveAll(dir)
	s, err := layout.Open(dir)
	if err != nil {
		log.Fatal(err)
	}
	defer s.Close()

	ctx := context.Background()
	repo, err := s.Repository(ctx, "default/catalog/realm/pkg")
	if err != nil {
		log.Fatal(err)
	}
	data := []byte("pushed, never referred to")
	desc := content.NewDescriptorFromBytes(ocispec.MediaTypeImageLayer, data)
	if err := repo.Push(ctx, desc, bytes.NewReader(data)); err != nil {
		log.Fatal(err)
	}
	// Within the grace period the blob stays: its manifest may be on its way.
	res, err := s.GC(ctx, layout.GCOptions{Grace: time.Hour})
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println("removed:", res.BlobsRemoved)
	// Output: removed: 0
}
