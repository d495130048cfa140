package engine

import (
	"bytes"
	"context"
	"errors"
	"fmt"

	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
	"oras.land/oras-go/v2/content"
	oraserr "oras.land/oras-go/v2/errdef"

	"pkgserver.dev/pkgserver/pkg/format"
	"pkgserver.dev/pkgserver/pkg/store"
)

// pushBlob pushes b unless the repository has it. Blobs it pushed or saw are
// remembered (they never change), which saves a round trip on every write.
func (e *Engine) pushBlob(ctx context.Context, rs *repoState, repo content.Storage, k pkgKey, b format.Blob) error {
	key := k.String() + "@" + b.Descriptor.Digest.String()
	if _, ok := e.blobs.Load(key); ok {
		return nil
	}
	if err := pushBlob(ctx, repo, b); err != nil {
		return err
	}
	e.blobs.Store(key, struct{}{})
	return nil
}

// forgetBlobs drops what is remembered of the blobs of a manifest, pushes
// again those it has the bytes of, and checks the others are really there;
// false when a blob is missing for good.
func (e *Engine) forgetBlobs(ctx context.Context, rs *repoState, repo content.Storage, k pkgKey, have []format.Blob, layers []ocispec.Descriptor) bool {
	pushed := map[string]bool{}
	for _, b := range have {
		e.blobs.Delete(k.String() + "@" + b.Descriptor.Digest.String())
		if err := e.pushBlob(ctx, rs, repo, k, b); err != nil {
			return false
		}
		pushed[b.Descriptor.Digest.String()] = true
	}
	for _, l := range layers {
		if pushed[l.Digest.String()] {
			continue
		}
		e.blobs.Delete(k.String() + "@" + l.Digest.String())
		if ok, err := repo.Exists(ctx, l); err != nil || !ok {
			return false
		}
	}
	return true
}

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

// deleteManifest removes a manifest pkgserver wrote. Those never have a
// subject, which lets a remote store skip reading it first.
func deleteManifest(ctx context.Context, repo store.Repository, desc ocispec.Descriptor) error {
	if d, ok := repo.(store.SubjectlessDeleter); ok {
		return d.DeleteSubjectless(ctx, desc)
	}
	return repo.Delete(ctx, desc)
}
