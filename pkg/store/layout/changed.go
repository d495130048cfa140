package layout

import (
	"context"
	"io/fs"
	"path/filepath"
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
func (s *Store) ChangedSince(ctx context.Context, t time.Time) (bool, error) {
	changed := false
	newer := func(fi fs.FileInfo) bool { return changeTime(fi).After(t) }
	var walk func(dir string) error
	walk = func(dir string) error {
		if err := ctx.Err(); err != nil {
			return err
		}
		fi, err := s.fs.Stat(dir)
		if err != nil {
			return err
		}
		if newer(fi) {
			changed = true
			return nil
		}
		entries, err := s.fs.ReadDir(dir)
		if err != nil {
			return err
		}
		for _, e := range entries {
			if changed || !e.IsDir() {
				continue
			}
			if e.Name() != layoutDirName {
				if err := walk(filepath.Join(dir, e.Name())); err != nil {
					return err
				}
				continue
			}
			for _, f := range []string{ocispec.ImageIndexFile, ocispec.ImageLayoutFile} {
				fi, err := s.fs.Stat(filepath.Join(dir, layoutDirName, f))
				if err == nil && newer(fi) {
					changed = true
				}
			}
		}
		return nil
	}
	if err := walk(s.root); err != nil {
		return true, err
	}
	return changed, nil
}

// changeTime is the inode change time where the system reports it.
func changeTime(fi fs.FileInfo) time.Time {
	if st, ok := fi.Sys().(*syscall.Stat_t); ok {
		return time.Unix(st.Ctim.Sec, st.Ctim.Nsec)
	}
	return fi.ModTime()
}
