package layout

import (
	"context"
	"errors"
	"fmt"
	"io"

	ocispec "github.com/opencontainers/image-spec/specs-go/v1"

	"pkgserver.dev/pkgserver/pkg/errdef"
)

// FetchReference resolves a tag or digest and opens the manifest. On disk
// this is two cheap steps; it exists so callers need not tell backends apart.
func (r *Repository) FetchReference(ctx context.Context, reference string) (ocispec.Descriptor, io.ReadCloser, error) {
	desc, err := r.Resolve(ctx, reference)
	if err != nil {
		return desc, nil, err
	}
	rc, err := r.Fetch(ctx, desc)
	if errors.Is(err, errdef.ErrNotFound) {
		// Still listed, yet absent: damage, not a manifest deleted meanwhile.
		// Said as missing content, so that nobody takes the tag for free.
		if again, rerr := r.Resolve(ctx, reference); rerr == nil && again.Digest == desc.Digest {
			return desc, nil, fmt.Errorf("layout: %s: manifest %s listed in index.json: %w: %v", r.name, desc.Digest, errdef.ErrMissingContent, err)
		}
	}
	return desc, rc, err
}

// DeleteSubjectless deletes a manifest; on disk there is no referrers
// bookkeeping to skip, so it is Delete.
func (r *Repository) DeleteSubjectless(ctx context.Context, target ocispec.Descriptor) error {
	return r.Delete(ctx, target)
}
