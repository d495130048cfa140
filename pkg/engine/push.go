package engine

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"sync"

	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
	"oras.land/oras-go/v2/content"
	oraserr "oras.land/oras-go/v2/errdef"

	"pkgserver.dev/pkgserver/pkg/format"
	"pkgserver.dev/pkgserver/pkg/store"
)

// pushBlob makes b available in package k's repository. Blobs it pushed or
// saw are remembered (they never change), which saves a round trip on every
// write. In a remote registry a blob another repository holds (the empty
// config every revision shares) is mounted in one request, and other blobs
// are pushed without asking first: what pkgserver writes is small and
// almost always new, so an existence check would cost more than it saves.
func (e *Engine) pushBlob(ctx context.Context, rs *repoState, repo content.Storage, k pkgKey, b format.Blob) error {
	key := k.String() + "@" + b.Descriptor.Digest.String()
	if e.blobs.has(key) {
		return nil
	}
	var err error
	if rs.embedded {
		err = pushBlob(ctx, repo, b) // a local check is cheaper than a write
	} else {
		err = e.pushRemoteBlob(ctx, repo, k, b)
	}
	if err != nil {
		return err
	}
	e.blobs.add(key, "")
	e.blobs.add(k.store+"@"+b.Descriptor.Digest.String(), k.path)
	return nil
}

// pushRemoteBlob mounts b from a repository of the same registry known to
// hold it, or pushes it.
func (e *Engine) pushRemoteBlob(ctx context.Context, repo content.Storage, k pkgKey, b format.Blob) error {
	from, ok := e.blobs.get(k.store + "@" + b.Descriptor.Digest.String())
	if m, canMount := repo.(store.Mounter); ok && canMount && from != k.path {
		err := m.Mount(ctx, b.Descriptor, from, func() (io.ReadCloser, error) { return io.NopCloser(bytes.NewReader(b.Data)), nil })
		if err == nil {
			return nil
		}
		e.log.Debug("mounting a blob failed; pushing it", "digest", b.Descriptor.Digest, "from", from, "err", err)
	}
	if err := repo.Push(ctx, b.Descriptor, bytes.NewReader(b.Data)); err != nil && !errors.Is(err, oraserr.ErrAlreadyExists) {
		return fmt.Errorf("push blob %s: %w", b.Descriptor.Digest, err)
	}
	return nil
}

// knownBlobs remembers which blobs are stored where, up to a bound: it is
// a cache of facts that never change, and forgetting only costs a request.
type knownBlobs struct {
	mu sync.Mutex
	m  map[string]string
}

// maxKnownBlobs bounds knownBlobs (about 10 MB).
const maxKnownBlobs = 1 << 16

func (k *knownBlobs) has(key string) bool {
	_, ok := k.get(key)
	return ok
}

func (k *knownBlobs) get(key string) (string, bool) {
	k.mu.Lock()
	defer k.mu.Unlock()
	v, ok := k.m[key]
	return v, ok
}

func (k *knownBlobs) add(key, value string) {
	k.mu.Lock()
	defer k.mu.Unlock()
	if k.m == nil || len(k.m) >= maxKnownBlobs {
		k.m = map[string]string{} // start over rather than grow with every write
	}
	k.m[key] = value
}

func (k *knownBlobs) forget(key string) {
	k.mu.Lock()
	defer k.mu.Unlock()
	delete(k.m, key)
}

// forgetBlobs drops what is remembered of the blobs of a manifest, pushes
// again those it has the bytes of, and checks the others are really there;
// false when a blob is missing for good.
func (e *Engine) forgetBlobs(ctx context.Context, rs *repoState, repo content.Storage, k pkgKey, have []format.Blob, layers []ocispec.Descriptor) bool {
	pushed := map[string]bool{}
	for _, b := range have {
		e.blobs.forget(k.String() + "@" + b.Descriptor.Digest.String())
		if err := e.pushBlob(ctx, rs, repo, k, b); err != nil {
			return false
		}
		pushed[b.Descriptor.Digest.String()] = true
	}
	for _, l := range layers {
		if pushed[l.Digest.String()] {
			continue
		}
		e.blobs.forget(k.String() + "@" + l.Digest.String())
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
