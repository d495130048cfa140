package layout

import (
	"context"
	"io"

	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
)

// FetchReference resolves a tag or digest and opens the manifest. On disk
// this is two cheap steps; it exists so callers need not tell backends apart.
func (r *Repository) FetchReference(ctx context.Context, reference string) (ocispec.Descriptor, io.ReadCloser, error) {
	desc, err := r.Resolve(ctx, reference)
	if err != nil {
		return desc, nil, err
	}
	rc, err := r.Fetch(ctx, desc)
	return desc, rc, err
}

// DeleteSubjectless deletes a manifest; on disk there is no referrers
// bookkeeping to skip, so it is Delete.
func (r *Repository) DeleteSubjectless(ctx context.Context, target ocispec.Descriptor) error {
	return r.Delete(ctx, target)
}
