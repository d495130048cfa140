package engine

import (
	"context"
	"errors"
	"fmt"
	"sync"

	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
	"oras.land/oras-go/v2/content"

	"pkgserver.dev/pkgserver/pkg/errdef"
	"pkgserver.dev/pkgserver/pkg/format"
	"pkgserver.dev/pkgserver/pkg/krm"
	"pkgserver.dev/pkgserver/pkg/store"
)

// maxCachedFileBytes bounds the file cache.
const maxCachedFileBytes = 256 << 20

// maxCachedManifests bounds the manifest cache: the index keeps what lists
// need (decoded metadata), so manifests are only wanted again for writes.
const maxCachedManifests = 16384

// cache keeps what never changes: manifests and unpacked files, by digest.
type cache struct {
	limits    krm.Limits
	mu        sync.Mutex
	manifests map[digest.Digest]ocispec.Manifest
	files     map[digest.Digest]map[string]string
	fileBytes int
}

func newCache(limits krm.Limits) *cache {
	return &cache{limits: limits, manifests: map[digest.Digest]ocispec.Manifest{}, files: map[digest.Digest]map[string]string{}}
}

// manifest returns the parsed manifest desc names, from the cache or the store.
func (c *cache) manifest(ctx context.Context, repo store.Repository, desc ocispec.Descriptor) (ocispec.Manifest, error) {
	c.mu.Lock()
	m, ok := c.manifests[desc.Digest]
	c.mu.Unlock()
	if ok {
		return m, nil
	}
	data, err := content.FetchAll(ctx, repo, desc)
	if err != nil {
		return m, fmt.Errorf("fetch manifest %s: %w", desc.Digest, err)
	}
	m, err = format.ParseManifest(data)
	if err != nil {
		return m, fmt.Errorf("manifest %s: %w", desc.Digest, err)
	}
	c.storeManifest(desc.Digest, m)
	return m, nil
}

func (c *cache) storeManifest(d digest.Digest, m ocispec.Manifest) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if len(c.manifests) >= maxCachedManifests {
		c.manifests = map[digest.Digest]ocispec.Manifest{} // bounded and simple: start over
	}
	c.manifests[d] = m
}

// putManifest records a manifest we just wrote, saving the fetch.
func (c *cache) putManifest(d digest.Digest, data []byte) {
	m, err := format.ParseManifest(data)
	if err != nil {
		return
	}
	c.storeManifest(d, m)
}

// readFiles unpacks the files of a revision's layers within the package limits.
func readFiles(ctx context.Context, repo content.Fetcher, layers []ocispec.Descriptor, limits krm.Limits) (map[string]string, error) {
	files := map[string]string{}
	for _, l := range layers {
		if format.Classify(l) == format.KindIgnored {
			continue
		}
		if max := format.MaxLayerBytes(limits); l.Size > max {
			return nil, fmt.Errorf("layer %s of %d bytes cannot hold a package within the limits (%d bytes)", l.Digest, l.Size, max)
		}
		data, err := content.FetchAll(ctx, repo, l)
		if errors.Is(err, errdef.ErrNotFound) {
			// The manifest is there and names it: the blob was deleted
			// behind pkgserver's back.
			return nil, fmt.Errorf("%w: layer %s of the revision is not in the registry (deleted behind pkgserver?): %v", errdef.ErrMissingContent, l.Digest, err)
		}
		if err != nil {
			return nil, fmt.Errorf("fetch layer %s: %w", l.Digest, err)
		}
		if err := format.ReadLayer(l, data, files, format.WithLimits(limits)); err != nil {
			return nil, err
		}
	}
	return files, nil
}

// files returns the files of the revision whose manifest is desc. The map is
// shared: callers copy before changing it.
func (c *cache) filesOf(ctx context.Context, repo store.Repository, desc ocispec.Descriptor) (map[string]string, error) {
	c.mu.Lock()
	f, ok := c.files[desc.Digest]
	c.mu.Unlock()
	if ok {
		return f, nil
	}
	m, err := c.manifest(ctx, repo, desc)
	if err != nil {
		return nil, err
	}
	f, err = readFiles(ctx, repo, m.Layers, c.limits)
	if errors.Is(err, errdef.ErrMissingContent) || errors.Is(err, errdef.ErrUnavailable) {
		return nil, fmt.Errorf("read revision %s: %w", desc.Digest, err)
	}
	if err != nil {
		// The stored artifact is at fault, not the request: no 4xx sentinel.
		return nil, fmt.Errorf("stored artifact %s cannot be read as a package (pushed by another tool?): %v", desc.Digest, err)
	}
	c.putFiles(desc.Digest, f)
	return f, nil
}

func (c *cache) putFiles(d digest.Digest, f map[string]string) {
	size := 0
	for k, v := range f {
		size += len(k) + len(v)
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.fileBytes+size > maxCachedFileBytes {
		// Simple and bounded: start over rather than track recency.
		c.files = map[digest.Digest]map[string]string{}
		c.fileBytes = 0
	}
	if _, ok := c.files[d]; !ok {
		c.files[d] = f
		c.fileBytes += size
	}
}
