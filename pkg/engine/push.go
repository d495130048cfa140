package engine

import (
	"bytes"
	"context"
	"errors"
	"fmt"

	"oras.land/oras-go/v2/content"
	oraserr "oras.land/oras-go/v2/errdef"

	"pkgserver.dev/pkgserver/pkg/format"
	"pkgserver.dev/pkgserver/pkg/store"
)

// pushBlob pushes b unless the repository has it.
func pushBlob(ctx context.Context, repo content.Storage, b format.Blob) error {
	ok, err := repo.Exists(ctx, b.Descriptor)
	if err != nil {
		return fmt.Errorf("check blob %s: %w", b.Descriptor.Digest, err)
	}
	if ok {
		return nil
	}
	if err := repo.Push(ctx, b.Descriptor, bytes.NewReader(b.Data)); err != nil && !errors.Is(err, oraserr.ErrAlreadyExists) {
		return fmt.Errorf("push blob %s: %w", b.Descriptor.Digest, err)
	}
	return nil
}

// pushManifest pushes m and points tag at it, in one request where the store can.
func pushManifest(ctx context.Context, repo store.Repository, m format.Blob, tag string) error {
	if rp, ok := repo.(store.ReferencePusher); ok {
		if err := rp.PushReference(ctx, m.Descriptor, bytes.NewReader(m.Data), tag); err != nil {
			return fmt.Errorf("push manifest %s as %s: %w", m.Descriptor.Digest, tag, err)
		}
		return nil
	}
	if err := repo.Push(ctx, m.Descriptor, bytes.NewReader(m.Data)); err != nil && !errors.Is(err, oraserr.ErrAlreadyExists) {
		return fmt.Errorf("push manifest %s: %w", m.Descriptor.Digest, err)
	}
	if err := repo.Tag(ctx, m.Descriptor, tag); err != nil {
		return fmt.Errorf("tag %s: %w", tag, err)
	}
	return nil
}
