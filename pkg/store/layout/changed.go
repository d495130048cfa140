package layout

import (
	"context"
	"io/fs"
	"path/filepath"
	"sync/atomic"
	"syscall"
	"time"

	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
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
	newer := func(path string) (bool, error) {
		fi, err := s.fs.Stat(path)
		if err != nil {
			return false, err
		}
		return changeTime(fi).After(t), nil
	}
	err := s.walk(ctx, s.root, walkParallelism, func(dir string, entries []fs.DirEntry) error {
		paths := []string{dir}
		for _, e := range entries {
			if e.IsDir() && e.Name() == layoutDirName {
				for _, f := range []string{ocispec.ImageIndexFile, ocispec.ImageLayoutFile} {
					paths = append(paths, filepath.Join(dir, layoutDirName, f))
				}
			}
		}
		for i, p := range paths {
			n, err := newer(p)
			if i > 0 && isNotExist(err) {
				continue // a layout without its files yet
			}
			if err != nil {
				return err
			}
			if n || changed.Load() {
				changed.Store(true)
				return errStopWalk
			}
		}
		return nil
	})
	if err != nil {
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
