package engine

import (
	"context"
	"errors"
	"fmt"

	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
	"oras.land/oras-go/v2/content"

	"pkgserver.dev/pkgserver/pkg/errdef"
	"pkgserver.dev/pkgserver/pkg/format"
	"pkgserver.dev/pkgserver/pkg/store"
)

// ConfigRepository is the OCI repository that holds Repository objects, one tag
// `<namespace>.<name>` each (neither part may contain a dot).
const ConfigRepository = "pkgserver-system/repositories"

// objectStore keeps JSON objects as OCI artifacts: the object is the config blob.
type objectStore struct {
	store store.Store
	repo  string
}

type storedObject struct {
	tag  string
	desc ocispec.Descriptor
	data []byte
}

func (o *objectStore) repository(ctx context.Context) (store.Repository, error) {
	return o.store.Repository(ctx, o.repo)
}

// list returns every stored object.
func (o *objectStore) list(ctx context.Context, c *cache) ([]storedObject, error) {
	repo, err := o.repository(ctx)
	if err != nil {
		return nil, err
	}
	var tags []string
	err = repo.Tags(ctx, "", func(t []string) error { tags = append(tags, t...); return nil })
	if errors.Is(err, errdef.ErrNotFound) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("list %s: %w", o.repo, err)
	}
	out := make([]storedObject, 0, len(tags))
	for _, t := range tags {
		obj, err := o.get(ctx, c, repo, t)
		if errors.Is(err, errdef.ErrNotFound) {
			continue // deleted meanwhile
		}
		if err != nil {
			return nil, err
		}
		out = append(out, obj)
	}
	return out, nil
}

// lookup returns the manifest of tag; a missing tag is an error wrapping
// errdef.ErrNotFound with a zero descriptor.
func (o *objectStore) lookup(ctx context.Context, _ *cache, tag string) (ocispec.Descriptor, error) {
	repo, err := o.repository(ctx)
	if err != nil {
		return ocispec.Descriptor{}, err
	}
	d, err := repo.Resolve(ctx, tag)
	if err != nil {
		return ocispec.Descriptor{}, err
	}
	return d, nil
}

func (o *objectStore) get(ctx context.Context, c *cache, repo store.Repository, tag string) (storedObject, error) {
	desc, err := repo.Resolve(ctx, tag)
	if err != nil {
		return storedObject{}, fmt.Errorf("resolve %s:%s: %w", o.repo, tag, err)
	}
	m, err := c.manifest(ctx, repo, desc)
	if err != nil {
		return storedObject{}, err
	}
	data, err := content.FetchAll(ctx, repo, m.Config)
	if err != nil {
		return storedObject{}, fmt.Errorf("fetch %s:%s config: %w", o.repo, tag, err)
	}
	return storedObject{tag: tag, desc: desc, data: data}, nil
}

// put stores data under tag and returns the manifest descriptor.
func (o *objectStore) put(ctx context.Context, c *cache, tag, artifactType, configType string, data []byte) (ocispec.Descriptor, error) {
	repo, err := o.repository(ctx)
	if err != nil {
		return ocispec.Descriptor{}, err
	}
	manifest, config := format.ObjectManifest(artifactType, configType, data)
	for _, b := range []format.Blob{config, format.Empty} {
		if err := pushBlob(ctx, repo, b); err != nil {
			return ocispec.Descriptor{}, err
		}
	}
	if err := pushManifest(ctx, repo, manifest, tag); err != nil {
		return ocispec.Descriptor{}, err
	}
	c.putManifest(manifest.Descriptor.Digest, manifest.Data)
	return manifest.Descriptor, nil
}

func (o *objectStore) delete(ctx context.Context, desc ocispec.Descriptor) error {
	repo, err := o.repository(ctx)
	if err != nil {
		return err
	}
	return repo.Delete(ctx, desc)
}
