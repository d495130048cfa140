package layout

import (
	"context"
	"io/fs"
	"path/filepath"
	"sync/atomic"
	"syscall"
	"time"

	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
	"golang.org/x/sync/errgroup"
)

// ChangedSince reports whether any repository's tags or manifests, or the
// set of repositories, may have changed after t: a repository directory or an
// index.json whose change time is later. It reads no file, only their
// metadata, so the engine can trust a checkpoint written at t without
// reading every repository. The change time (not the modification time,
// which copies can set back) is used where the system has one.
//
// Repositories are looked at by several goroutines: the cost is one stat of
// each, and the system answers many at once.
func (s *Store) ChangedSince(ctx context.Context, t time.Time) (bool, error) {
	var changed atomic.Bool
	newer := func(fi fs.FileInfo) bool { return changeTime(fi).After(t) }
	g, ctx := errgroup.WithContext(ctx)
	sem := make(chan struct{}, 16)
	var walk func(dir string) error
	walk = func(dir string) error {
		if err := ctx.Err(); err != nil || changed.Load() {
			return err
		}
		fi, err := s.fs.Stat(dir)
		if err != nil {
			return err
		}
		if newer(fi) {
			changed.Store(true)
			return nil
		}
		entries, err := s.fs.ReadDir(dir)
		if err != nil {
			return err
		}
		for _, e := range entries {
			if changed.Load() || !e.IsDir() {
				continue
			}
			if e.Name() != layoutDirName {
				sub := filepath.Join(dir, e.Name())
				select {
				case sem <- struct{}{}: // another goroutine takes it
					g.Go(func() error {
						defer func() { <-sem }()
						return walk(sub)
					})
				default:
					if err := walk(sub); err != nil {
						return err
					}
				}
				continue
			}
			for _, f := range []string{ocispec.ImageIndexFile, ocispec.ImageLayoutFile} {
				fi, err := s.fs.Stat(filepath.Join(dir, layoutDirName, f))
				if err == nil && newer(fi) {
					changed.Store(true)
				}
			}
		}
		return nil
	}
	g.Go(func() error { return walk(s.root) })
	if err := g.Wait(); err != nil {
		return true, err
	}
	return changed.Load(), nil
}

// changeTime is the inode change time where the system reports it.
func changeTime(fi fs.FileInfo) time.Time {
	if st, ok := fi.Sys().(*syscall.Stat_t); ok {
		return time.Unix(st.Ctim.Sec, st.Ctim.Nsec)
	}
	return fi.ModTime()
}
