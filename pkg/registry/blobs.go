package registry

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"

	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"

	"pkgserver.dev/pkgserver/pkg/errdef"
	"pkgserver.dev/pkgserver/pkg/store"
)

// getBlob serves GET and HEAD of a blob with Range support ("Pulling blobs",
// end-2). http.ServeContent does Range, HEAD, 206 and 416 by RFC 9110.
func (r *Registry) getBlob(w http.ResponseWriter, req *http.Request, rt route) error {
	d, err := parseDigest(rt.ref)
	if err != nil {
		return err
	}
	repo, err := r.repo(req.Context(), rt.name)
	if err != nil {
		return err
	}
	rc, err := repo.Fetch(req.Context(), ocispec.Descriptor{Digest: d})
	if err != nil {
		return err
	}
	defer rc.Close()
	rs, cleanup, err := r.seekable(rc)
	if err != nil {
		return err
	}
	defer cleanup()
	h := w.Header()
	h.Set("Content-Type", "application/octet-stream")
	h.Set("Docker-Content-Digest", d.String())
	h.Set("ETag", `"`+d.String()+`"`)
	h.Set("Cache-Control", "max-age=31536000") // content-addressed: never changes
	http.ServeContent(w, req, "", noModTime, rs)
	return nil
}

// seekable returns rc as an io.ReadSeeker, spooling it to a temp file when the
// store's reader cannot seek (the embedded store returns *os.File).
func (r *Registry) seekable(rc io.ReadCloser) (io.ReadSeeker, func(), error) {
	if rs, ok := rc.(io.ReadSeeker); ok {
		return rs, func() {}, nil
	}
	f, err := os.CreateTemp(r.opts.TempDir, uploadPrefix+"spool-")
	if err != nil {
		return nil, nil, err
	}
	cleanup := func() { f.Close(); os.Remove(f.Name()) }
	if _, err := io.Copy(f, rc); err != nil {
		cleanup()
		return nil, nil, err
	}
	if _, err := f.Seek(0, io.SeekStart); err != nil {
		cleanup()
		return nil, nil, err
	}
	return f, cleanup, nil
}

// blobSize returns the size of a stored blob, or an errdef.ErrNotFound error.
func blobSize(ctx context.Context, repo store.Repository, d digest.Digest) (int64, error) {
	rc, err := repo.Fetch(ctx, ocispec.Descriptor{Digest: d})
	if err != nil {
		return 0, err
	}
	defer rc.Close()
	if s, ok := rc.(io.Seeker); ok {
		return s.Seek(0, io.SeekEnd)
	}
	return io.Copy(io.Discard, rc)
}

// deleteBlob removes a blob ("Deleting Blobs", end-10). A digest that is a
// listed manifest is deleted as a manifest, through the Guard, so the blob
// route is no way around it.
func (r *Registry) deleteBlob(w http.ResponseWriter, req *http.Request, rt route) error {
	ctx := req.Context()
	d, err := parseDigest(rt.ref)
	if err != nil {
		return err
	}
	repo, err := r.repo(ctx, rt.name)
	if err != nil {
		return err
	}
	unlock, err := r.lock(ctx, rt.name)
	if err != nil {
		return err
	}
	changed := false
	defer func() { unlock(changed) }()
	op := OpDeleteBlob
	if _, err := repo.Resolve(ctx, d.String()); err == nil {
		op = OpDeleteManifest // the blob route is no way around the manifest rules
	}
	if err := r.guard(ctx, Request{Repo: rt.name, Op: op, Digest: d}); err != nil {
		return err
	}
	ok, err := repo.Exists(ctx, ocispec.Descriptor{Digest: d})
	if err != nil {
		return err
	}
	if !ok {
		return newError(CodeBlobUnknown, "blob %s unknown to repository %s", d, rt.name)
	}
	changed = op == OpDeleteManifest
	if err := repo.Delete(ctx, ocispec.Descriptor{Digest: d}); err != nil {
		return err
	}
	empty(w, http.StatusAccepted)
	return nil
}

// mount makes blob d of repository from available in repo ("Mounting a blob
// from another repository", end-11). It reports false, nil when from lacks it.
func (r *Registry) mount(ctx context.Context, repo store.Repository, d digest.Digest, from string) (bool, error) {
	src, err := r.repo(ctx, from)
	if err != nil {
		return false, err
	}
	size, err := blobSize(ctx, src, d)
	if errors.Is(err, errdef.ErrNotFound) {
		return false, nil
	}
	if err != nil {
		return false, err
	}
	desc := ocispec.Descriptor{MediaType: "application/octet-stream", Digest: d, Size: size}
	get := func() (io.ReadCloser, error) { return src.Fetch(ctx, desc) }
	if m, ok := repo.(store.Mounter); ok {
		err = m.Mount(ctx, desc, from, get)
	} else {
		var rc io.ReadCloser
		if rc, err = get(); err == nil {
			err = repo.Push(ctx, desc, rc)
			rc.Close()
		}
	}
	if err != nil {
		return false, fmt.Errorf("mount %s from %s: %w", d, from, err)
	}
	return true, nil
}

// locate finds a repository of the store holding blob d, for an anonymous
// mount (mount without from). It needs store.Lister; "" when not found.
func (r *Registry) locate(ctx context.Context, d digest.Digest) (string, error) {
	l, ok := r.s.(store.Lister)
	if !ok {
		return "", nil
	}
	errFound := errors.New("found")
	var found string
	err := l.Repositories(ctx, "", func(names []string) error {
		for _, name := range names {
			repo, err := r.s.Repository(ctx, name)
			if err != nil {
				continue
			}
			if ok, err := repo.Exists(ctx, ocispec.Descriptor{Digest: d}); err == nil && ok {
				found = name
				return errFound
			}
		}
		return nil
	})
	if err != nil && !errors.Is(err, errFound) {
		return "", err
	}
	return found, nil
}
