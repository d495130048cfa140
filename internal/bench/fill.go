package bench

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"syscall"
	"time"

	"github.com/google/uuid"
	specs "github.com/opencontainers/image-spec/specs-go"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
	"golang.org/x/sync/errgroup"
	"oras.land/oras-go/v2/registry/remote"

	pkgapi "pkgserver.dev/pkgserver/api/pkg/v1alpha1"
	"pkgserver.dev/pkgserver/pkg/format"
	"pkgserver.dev/pkgserver/pkg/names"
	"pkgserver.dev/pkgserver/pkg/store/layout"
)

// RevisionsPerPackage is how many published revisions each pre-filled package has.
const RevisionsPerPackage = 3

// fillTime is the creation time written into pre-filled revisions, so that
// the same fill always gives the same digests.
var fillTime = time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)

// layerPool is a small set of generated package layers that pre-filled
// revisions take their content from. Listing reads manifests only, so the
// content of pre-filled revisions does not change what a list costs; a pool
// keeps a 100,000-revision fill from spending minutes in gzip.
type layerPool []format.Layer

func newLayerPool(n int) (layerPool, error) {
	pool := make(layerPool, n)
	for i := range pool {
		name := fmt.Sprintf("pool-%02d", i)
		l, err := format.PackLayer(name, GeneratePackage(name, uint64(1000+i)))
		if err != nil {
			return nil, err
		}
		pool[i] = l
	}
	return pool, nil
}

// fillPackage is one pre-filled package: its OCI path and its revision manifests.
type fillPackage struct {
	path      string
	layers    []format.Layer // one per revision
	manifests []format.Blob  // manifests[r] is revision r+1, tagged v<r+1>
}

// fillPackageAt describes package number i under prefix: realm team-<i%16>,
// package app-<i>, revisions v1..v3 published from workspaces ws1..ws3.
func fillPackageAt(prefix string, i int, pool layerPool) fillPackage {
	id := names.ID{Target: names.CatalogTarget, Realm: fmt.Sprintf("team-%02d", i%16), Package: fmt.Sprintf("app-%06d", i)}
	p := fillPackage{path: names.OCIPath(prefix, id, false)}
	for r := 1; r <= RevisionsPerPackage; r++ {
		layer := pool[(i*RevisionsPerPackage+r)%len(pool)]
		meta := format.Meta{
			Lifecycle:   pkgapi.LifecyclePublished,
			Target:      id.Target,
			Realm:       id.Realm,
			Package:     id.Package,
			Workspace:   fmt.Sprintf("ws%d", r),
			Revision:    names.RevisionTag(r),
			UID:         uuid.NewSHA1(uuid.NameSpaceURL, fmt.Appendf(nil, "%s@%d", p.path, r)).String(),
			Created:     fillTime,
			Description: "pre-filled by pkgbench",
			Tasks:       []pkgapi.Task{{Type: pkgapi.TaskTypeInit, Init: &pkgapi.InitTask{Description: "pre-filled by pkgbench"}}},
			PublishedBy: "pkgbench",
			PublishedAt: fillTime.Add(time.Duration(r) * time.Minute),
		}
		p.layers = append(p.layers, layer)
		p.manifests = append(p.manifests, format.Manifest(meta, layer.Descriptor))
	}
	return p
}

// FillLayout writes packages [from, to) under prefix straight into the
// embedded store's data directory, in the layout pkg/store/layout reads: one
// OCI image layout (image-spec image-layout.md) per package at
// <dataDir>/repositories/<path>. The server must be stopped. Files are not
// fsynced one by one (the store does that for its own writes); one sync(2) at
// the end makes the fill durable.
func FillLayout(ctx context.Context, dataDir, prefix string, from, to int, pool layerPool) error {
	g, ctx := errgroup.WithContext(ctx)
	g.SetLimit(8)
	for i := from; i < to; i++ {
		g.Go(func() error {
			if err := ctx.Err(); err != nil {
				return err
			}
			p := fillPackageAt(prefix, i, pool)
			return writeLayout(layout.RepositoryDir(dataDir, p.path), p)
		})
	}
	if err := g.Wait(); err != nil {
		return err
	}
	syscall.Sync()
	return nil
}

func writeLayout(dir string, p fillPackage) error {
	blobs := filepath.Join(dir, "blobs", "sha256")
	if err := os.MkdirAll(blobs, 0o755); err != nil {
		return err
	}
	write := func(d ocispec.Descriptor, data []byte) error {
		return os.WriteFile(filepath.Join(blobs, d.Digest.Encoded()), data, 0o644)
	}
	if err := write(format.Empty.Descriptor, format.Empty.Data); err != nil {
		return err
	}
	var entries []ocispec.Descriptor
	for r, m := range p.manifests {
		if err := write(p.layers[r].Descriptor, p.layers[r].Data); err != nil {
			return err
		}
		if err := write(m.Descriptor, m.Data); err != nil {
			return err
		}
		entries = append(entries, indexEntry(m.Descriptor, names.RevisionTag(r+1)))
	}
	last := p.manifests[len(p.manifests)-1].Descriptor
	entries = append(entries, indexEntry(last, names.LatestTag))
	idx, err := json.Marshal(ocispec.Index{
		Versioned: specs.Versioned{SchemaVersion: 2},
		MediaType: ocispec.MediaTypeImageIndex,
		Manifests: entries,
	})
	if err != nil {
		return err
	}
	if err := os.WriteFile(filepath.Join(dir, ocispec.ImageIndexFile), idx, 0o644); err != nil {
		return err
	}
	// oci-layout last: the store lists only directories that have it.
	return os.WriteFile(filepath.Join(dir, ocispec.ImageLayoutFile), []byte(`{"imageLayoutVersion":"1.0.0"}`), 0o644)
}

func indexEntry(d ocispec.Descriptor, tag string) ocispec.Descriptor {
	return ocispec.Descriptor{
		MediaType:    d.MediaType,
		ArtifactType: d.ArtifactType,
		Digest:       d.Digest,
		Size:         d.Size,
		Annotations:  map[string]string{ocispec.AnnotationRefName: tag},
	}
}

// FillRegistry pushes packages [from, to) under prefix to the registry at
// addr (host:port, plain HTTP) with oras-go, eight packages at a time.
func FillRegistry(ctx context.Context, addr, prefix string, from, to int, pool layerPool) error {
	g, ctx := errgroup.WithContext(ctx)
	g.SetLimit(8)
	for i := from; i < to; i++ {
		g.Go(func() error {
			p := fillPackageAt(prefix, i, pool)
			repo, err := remote.NewRepository(addr + "/" + p.path)
			if err != nil {
				return err
			}
			repo.PlainHTTP = true
			if err := repo.Blobs().Push(ctx, format.Empty.Descriptor, bytes.NewReader(format.Empty.Data)); err != nil {
				return fmt.Errorf("fill %s: %w", p.path, err)
			}
			for r, m := range p.manifests {
				l := p.layers[r]
				if r == 0 || l.Descriptor.Digest != p.layers[r-1].Descriptor.Digest {
					if err := repo.Blobs().Push(ctx, l.Descriptor, bytes.NewReader(l.Data)); err != nil {
						return fmt.Errorf("fill %s: %w", p.path, err)
					}
				}
				if err := repo.Manifests().PushReference(ctx, m.Descriptor, bytes.NewReader(m.Data), names.RevisionTag(r+1)); err != nil {
					return fmt.Errorf("fill %s: %w", p.path, err)
				}
			}
			last := p.manifests[len(p.manifests)-1]
			return repo.Manifests().PushReference(ctx, last.Descriptor, bytes.NewReader(last.Data), names.LatestTag)
		})
	}
	return g.Wait()
}
