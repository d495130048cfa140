package bench

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"syscall"
	"time"

	"github.com/google/uuid"
	specs "github.com/opencontainers/image-spec/specs-go"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
	"golang.org/x/sync/errgroup"
	"oras.land/oras-go/v2/errdef"
	"oras.land/oras-go/v2/registry/remote"

	pkgapi "pkgserver.dev/pkgserver/api/pkg/v1alpha1"
	"pkgserver.dev/pkgserver/pkg/format"
	"pkgserver.dev/pkgserver/pkg/names"
	"pkgserver.dev/pkgserver/pkg/store/layout"
)

// RevisionsPerPackage is how many published revisions each pre-filled package has.
const RevisionsPerPackage = 3

// The fill's shape, so that selective queries have something to select:
// one package in proposedEvery also has a proposed revision (workspace ws4),
// and one in cloneEvery is a clone of v2 of the first package of its block
// of cloneBlock (spec.upstream.name selects about cloneBlock/cloneEvery
// packages, and they have an upgrade available).
const (
	proposedEvery  = 1000
	proposedOffset = 7
	cloneEvery     = 10
	cloneOffset    = 5
	cloneBlock     = 100
)

// fillTime is the creation time written into pre-filled revisions, so that
// the same fill always gives the same digests.
var fillTime = time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)

// layerPool is a small set of generated package layers that pre-filled
// revisions take their content from. Listing reads manifests only, so the
// content of pre-filled revisions does not change what a list costs; a pool
// keeps a large fill from spending minutes in gzip.
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
	layers    []format.Layer // one per manifest
	manifests []format.Blob  // manifests[r] is revision r+1, tagged v<r+1>, then the proposed one
	tags      []string       // the tag of each manifest
}

// fillID is the identity of pre-filled package i (workspace left empty).
func fillID(i int) names.ID {
	return names.ID{Target: names.CatalogTarget, Realm: fmt.Sprintf("team-%02d", i%16), Package: fmt.Sprintf("app-%06d", i)}
}

// fillRevisionName is the object name of revision ws<r> of package i.
func fillRevisionName(i, r int) string {
	id := fillID(i)
	id.Repository, id.Workspace = fillRepo, fmt.Sprintf("ws%d", r)
	return id.Name()
}

// hasProposed reports whether package i has a proposed revision too.
func hasProposed(i int) bool { return i%proposedEvery == proposedOffset }

// upstreamOf returns the package that package i is a clone of, if it is one.
func upstreamOf(i int) (int, bool) { return i / cloneBlock * cloneBlock, i%cloneEvery == cloneOffset }

// fillRevisions is the number of revisions of packages [0, pkgs).
func fillRevisions(pkgs int) int {
	n := pkgs * RevisionsPerPackage
	if pkgs > proposedOffset {
		n += (pkgs-proposedOffset-1)/proposedEvery + 1
	}
	return n
}

// fillPackageAt describes package number i under prefix: realm team-<i%16>,
// package app-<i>, revisions v1..v3 published from workspaces ws1..ws3.
func fillPackageAt(prefix string, i int, pool layerPool) fillPackage {
	id := fillID(i)
	p := fillPackage{path: names.OCIPath(prefix, id, false)}
	var upstream *pkgapi.Upstream
	var lock *pkgapi.UpstreamLock
	task := pkgapi.Task{Type: pkgapi.TaskTypeInit, Init: &pkgapi.InitTask{Description: "pre-filled by pkgbench"}}
	if u, ok := upstreamOf(i); ok {
		up := fillPackageAt(prefix, u, pool)
		uid := fillID(u)
		upstream = &pkgapi.Upstream{Name: fillRevisionName(u, 2), PackageRevID: pkgapi.PackageRevID{
			Target: uid.Target, Repository: fillRepo, Realm: uid.Realm, Package: uid.Package, Workspace: "ws2", Revision: names.RevisionTag(2)}}
		lock = &pkgapi.UpstreamLock{Reference: up.path + ":" + names.RevisionTag(2), Digest: up.manifests[1].Descriptor.Digest.String()}
		task = pkgapi.Task{Type: pkgapi.TaskTypeClone, Clone: &pkgapi.CloneTask{Upstream: pkgapi.UpstreamRef{Name: upstream.Name}}}
	}
	revisions := RevisionsPerPackage
	if hasProposed(i) {
		revisions++
	}
	for r := 1; r <= revisions; r++ {
		layer := pool[(i*RevisionsPerPackage+r)%len(pool)]
		meta := format.Meta{
			Lifecycle:    pkgapi.LifecyclePublished,
			Target:       id.Target,
			Realm:        id.Realm,
			Package:      id.Package,
			Workspace:    fmt.Sprintf("ws%d", r),
			Revision:     names.RevisionTag(r),
			UID:          uuid.NewSHA1(uuid.NameSpaceURL, fmt.Appendf(nil, "%s@%d", p.path, r)).String(),
			Created:      fillTime,
			Description:  "pre-filled by pkgbench",
			Tasks:        []pkgapi.Task{task},
			Upstream:     upstream,
			UpstreamLock: lock,
			PublishedBy:  "pkgbench",
			PublishedAt:  fillTime.Add(time.Duration(r) * time.Minute),
		}
		tag := names.RevisionTag(r)
		if r > RevisionsPerPackage {
			meta.Lifecycle, meta.Revision, meta.PublishedBy, meta.PublishedAt = pkgapi.LifecycleProposed, "", "", time.Time{}
			tag = names.WorkspaceTag(meta.Workspace)
		}
		p.layers = append(p.layers, layer)
		p.manifests = append(p.manifests, format.Manifest(meta, layer.Descriptor))
		p.tags = append(p.tags, tag)
	}
	return p
}

// FillLayout writes packages [from, to) under prefix straight into the
// embedded store's data directory, in the layout pkg/store/layout reads: one
// OCI image layout (image-spec image-layout.md) per package at
// <dataDir>/repositories/<path>. The server must be stopped. Files are not
// fsynced one by one (the store does that for its own writes); one sync(2) at
// the end makes the fill durable. The pool's layers are written once under
// dataDir and hard-linked into each package, so that a million revisions
// take a few GB of disk, not tens.
func FillLayout(ctx context.Context, dataDir, prefix string, from, to int, pool layerPool) error {
	g, ctx := errgroup.WithContext(ctx)
	g.SetLimit(8)
	for shard := from / linksPerShard; shard*linksPerShard < to; shard++ {
		if err := writeShard(sharedDir(dataDir, shard), pool); err != nil {
			return err
		}
	}
	for i := from; i < to; i++ {
		g.Go(func() error {
			if err := ctx.Err(); err != nil {
				return err
			}
			p := fillPackageAt(prefix, i, pool)
			return writeLayout(layout.RepositoryDir(dataDir, p.path), sharedDir(dataDir, i/linksPerShard), p)
		})
	}
	if err := g.Wait(); err != nil {
		return err
	}
	syscall.Sync()
	return nil
}

// linksPerShard is how many packages link one copy of the pool: every
// package links the empty config blob, and ext4 allows 65,000 links to a file.
const linksPerShard = 50000

// sharedDir is where the copy of the pool that shard's packages link lives.
func sharedDir(dataDir string, shard int) string {
	return filepath.Join(dataDir, "pkgbench-pool", strconv.Itoa(shard))
}

// writeShard writes the pool's blobs and the empty blob into dir, once.
func writeShard(dir string, pool layerPool) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	for _, b := range append([]format.Blob{format.Empty}, pool.blobs()...) {
		path := filepath.Join(dir, b.Descriptor.Digest.Encoded())
		if _, err := os.Stat(path); err == nil {
			continue
		}
		if err := os.WriteFile(path, b.Data, 0o644); err != nil {
			return err
		}
	}
	return nil
}

func (pool layerPool) blobs() []format.Blob {
	out := make([]format.Blob, len(pool))
	for i, l := range pool {
		out[i] = format.Blob{Data: l.Data, Descriptor: l.Descriptor}
	}
	return out
}

func writeLayout(dir, shared string, p fillPackage) error {
	blobs := filepath.Join(dir, "blobs", "sha256")
	if err := os.MkdirAll(blobs, 0o755); err != nil {
		return err
	}
	link := func(d ocispec.Descriptor) error {
		err := os.Link(filepath.Join(shared, d.Digest.Encoded()), filepath.Join(blobs, d.Digest.Encoded()))
		if errors.Is(err, fs.ErrExist) {
			return nil
		}
		return err
	}
	if err := link(format.Empty.Descriptor); err != nil {
		return err
	}
	var entries []ocispec.Descriptor
	for r, m := range p.manifests {
		if err := link(p.layers[r].Descriptor); err != nil {
			return err
		}
		if err := os.WriteFile(filepath.Join(blobs, m.Descriptor.Digest.Encoded()), m.Data, 0o644); err != nil {
			return err
		}
		entries = append(entries, indexEntry(m.Descriptor, p.tags[r]))
	}
	latest := p.manifests[RevisionsPerPackage-1].Descriptor
	entries = append(entries, indexEntry(latest, names.LatestTag))
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
					if err := repo.Blobs().Push(ctx, l.Descriptor, bytes.NewReader(l.Data)); err != nil && !errors.Is(err, errdef.ErrAlreadyExists) {
						return fmt.Errorf("fill %s: %w", p.path, err)
					}
				}
				if err := repo.Manifests().PushReference(ctx, m.Descriptor, bytes.NewReader(m.Data), p.tags[r]); err != nil {
					return fmt.Errorf("fill %s: %w", p.path, err)
				}
			}
			last := p.manifests[RevisionsPerPackage-1]
			return repo.Manifests().PushReference(ctx, last.Descriptor, bytes.NewReader(last.Data), names.LatestTag)
		})
	}
	return g.Wait()
}
