package layout

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"github.com/opencontainers/go-digest"

	"pkgserver.dev/pkgserver/pkg/errdef"
)

// Defaults of GCOptions.
const (
	DefaultGCGrace   = time.Hour
	DefaultUploadTTL = time.Hour
)

// GCOptions configure GC. The zero value uses the defaults.
type GCOptions struct {
	// Grace keeps unreferenced blobs written, or pushed again, less than
	// Grace ago, so that the blobs a client pushes before their manifest
	// survive until it arrives. Zero means DefaultGCGrace.
	Grace time.Duration
	// UploadTTL is how long an upload session file in <data-dir>/uploads may
	// go untouched before it is removed. Zero means DefaultUploadTTL.
	UploadTTL time.Duration
}

// GCResult is what one collection did.
type GCResult struct {
	// Repositories is how many repositories were examined.
	Repositories int `json:"repositories"`
	// BlobsRemoved counts unreferenced blobs removed.
	BlobsRemoved int `json:"blobsRemoved"`
	// UploadsRemoved counts abandoned upload session files removed.
	UploadsRemoved int `json:"uploadsRemoved"`
	// BytesFreed is the disk space given back by both (a blob still
	// hard-linked from another repository frees nothing).
	BytesFreed int64 `json:"bytesFreed"`
}

// GC removes, online, the blobs of each repository that no manifest listed
// in its index.json reaches (through an image manifest's config, layers and
// subject, and an index's manifests, transitively) and that are older than
// the grace period, then the abandoned upload files.
//
// It is safe against concurrent writes: each repository is marked and swept
// under its lock, which a manifest push also holds while it checks that what
// the manifest refers to is stored, so a manifest is never listed with a
// blob swept from under it (the push fails with errdef.ErrNotFound and the
// client pushes the blob again). Blobs pushed just before their manifest are
// kept by the grace period; pushing a stored blob again refreshes its mtime.
//
// A repository whose index cannot be read is left alone and reported in the
// error; the others are still collected. One collection runs at a time.
func (s *Store) GC(ctx context.Context, opts GCOptions) (GCResult, error) {
	s.gcMu.Lock()
	defer s.gcMu.Unlock()
	if opts.Grace <= 0 {
		opts.Grace = DefaultGCGrace
	}
	if opts.UploadTTL <= 0 {
		opts.UploadTTL = DefaultUploadTTL
	}
	var res GCResult
	repos, err := s.list(ctx)
	if err != nil {
		return res, err
	}
	var errs []error
	for _, name := range repos {
		if err := ctx.Err(); err != nil {
			return res, err
		}
		r, err := s.repository(name)
		if err == nil {
			err = r.collect(s.now().Add(-opts.Grace), &res)
		}
		if err != nil {
			errs = append(errs, fmt.Errorf("layout: gc %s: %w", name, err))
			continue
		}
		res.Repositories++
	}
	if err := s.collectUploads(s.now().Add(-opts.UploadTTL), &res); err != nil {
		errs = append(errs, fmt.Errorf("layout: gc uploads: %w", err))
	}
	return res, errors.Join(errs...)
}

// collect marks and sweeps the repository under r.mu.
func (r *Repository) collect(cutoff time.Time, res *GCResult) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	if !r.exists() {
		return nil
	}
	idx, err := r.index()
	if err != nil {
		return err
	}
	live, err := r.mark(idx)
	if err != nil {
		return err
	}
	return r.sweep(live, cutoff, res)
}

// mark returns every digest reachable from the listed manifests. Manifests
// that are not listed (children of an index, subjects) are read from disk.
// A manifest that cannot be read is an error, never a reason to collect what
// it refers to: the repository is then left as it is.
func (r *Repository) mark(idx *index) (map[digest.Digest]bool, error) {
	live := map[digest.Digest]bool{}
	listed := map[digest.Digest]bool{}
	var todo []digest.Digest
	for _, e := range idx.entries {
		listed[e.Digest] = true
		todo = append(todo, e.Digest)
	}
	for len(todo) > 0 {
		d := todo[len(todo)-1]
		todo = todo[:len(todo)-1]
		if live[d] {
			continue
		}
		live[d] = true
		var info manifestInfo
		if listed[d] {
			var err error
			if info, err = idx.info(d); err != nil {
				return nil, err
			}
		} else {
			i, ok, err := r.unlistedManifest(d)
			if err != nil {
				return nil, err
			}
			if !ok {
				continue
			}
			info = i
		}
		for _, b := range info.blobs {
			live[b] = true
		}
		todo = append(todo, info.children...)
		if info.subject != "" {
			todo = append(todo, info.subject)
		}
	}
	return live, nil
}

// unlistedManifest reads a manifest that index.json does not list; false when
// it is missing, too large to be a manifest or not one, an error when it
// cannot be read.
func (r *Repository) unlistedManifest(d digest.Digest) (manifestInfo, bool, error) {
	path, err := blobPath(r.dir, d)
	if err != nil {
		return manifestInfo{}, false, nil
	}
	fi, err := r.s.fs.Stat(path)
	if isNotExist(err) {
		return manifestInfo{}, false, nil
	}
	if err != nil {
		return manifestInfo{}, false, fmt.Errorf("read manifest %s: %w", d, err)
	}
	if fi.Size() > maxManifestSize {
		return manifestInfo{}, false, nil
	}
	_, info, err := r.readManifest(d)
	switch {
	case errors.Is(err, errdef.ErrNotFound), errors.Is(err, errdef.ErrInvalid):
		return manifestInfo{}, false, nil
	case err != nil:
		return manifestInfo{}, false, fmt.Errorf("read manifest %s: %w", d, err)
	}
	return info, true, nil
}

// sweep removes the blobs not in live whose mtime is before cutoff, and
// syncs each directory it removed from.
func (r *Repository) sweep(live map[digest.Digest]bool, cutoff time.Time, res *GCResult) error {
	fsy := r.s.fs
	algs, err := fsy.ReadDir(filepath.Join(r.dir, blobsDir))
	if isNotExist(err) {
		return nil
	}
	if err != nil {
		return err
	}
	for _, a := range algs {
		dir := filepath.Join(r.dir, blobsDir, a.Name())
		if !a.IsDir() {
			continue
		}
		files, err := fsy.ReadDir(dir)
		if err != nil {
			return err
		}
		removed := false
		for _, f := range files {
			d := digest.NewDigestFromEncoded(digest.Algorithm(a.Name()), f.Name())
			if !f.Type().IsRegular() || strings.HasPrefix(f.Name(), tmpPrefix) || d.Validate() != nil || live[d] {
				continue
			}
			fi, err := f.Info()
			if isNotExist(err) {
				continue
			}
			if err != nil {
				return err
			}
			if !fi.ModTime().Before(cutoff) {
				continue
			}
			if err := fsy.Remove(filepath.Join(dir, f.Name())); err != nil {
				if isNotExist(err) {
					continue
				}
				return err
			}
			removed = true
			res.BlobsRemoved++
			res.BytesFreed += freed(fi)
		}
		if removed {
			if err := syncDir(fsy, dir); err != nil {
				return err
			}
		}
	}
	return nil
}

// collectUploads removes upload session files untouched since cutoff.
func (s *Store) collectUploads(cutoff time.Time, res *GCResult) error {
	dir := filepath.Join(s.dir, UploadsDir)
	entries, err := s.fs.ReadDir(dir)
	if isNotExist(err) {
		return nil
	}
	if err != nil {
		return err
	}
	for _, e := range entries {
		if !e.Type().IsRegular() || !strings.HasPrefix(e.Name(), UploadFilePrefix) {
			continue
		}
		fi, err := e.Info()
		if err != nil || !fi.ModTime().Before(cutoff) {
			continue
		}
		if err := s.fs.Remove(filepath.Join(dir, e.Name())); err != nil {
			if isNotExist(err) {
				continue
			}
			return err
		}
		res.UploadsRemoved++
		res.BytesFreed += fi.Size()
	}
	return nil
}

// freed is the space that removing fi gives back: none while other hard
// links (a blob mounted into another repository) keep the data.
func freed(fi fs.FileInfo) int64 {
	if st, ok := fi.Sys().(*syscall.Stat_t); ok && st.Nlink > 1 {
		return 0
	}
	return fi.Size()
}
