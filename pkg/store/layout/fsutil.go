package layout

import (
	"errors"
	"io/fs"
	"path/filepath"
	"strings"

	"pkgserver.dev/pkgserver/pkg/store/layout/internal/fsys"
)

// tmpPrefix marks files that are not yet renamed into place; Open removes them.
const tmpPrefix = ".tmp-"

// writeFileAtomic replaces path with data so that a reader (or a restart after
// kill -9 or power loss) sees either the old file or the new one, never a torn one:
// temp file in the same directory, fsync, rename, fsync of the directory.
func writeFileAtomic(fsy fsys.FS, path string, data []byte) error {
	dir := filepath.Dir(path)
	f, err := fsy.CreateTemp(dir, tmpPrefix+filepath.Base(path)+"-")
	if err != nil {
		return err
	}
	tmp := f.Name()
	defer fsy.Remove(tmp) // no-op after a successful rename
	if _, err := f.Write(data); err != nil {
		f.Close()
		return err
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return err
	}
	if err := f.Close(); err != nil {
		return err
	}
	if err := fsy.Rename(tmp, path); err != nil {
		return err
	}
	return syncDir(fsy, dir)
}

// syncDir makes the entries created, renamed or removed in dir durable.
func syncDir(fsy fsys.FS, dir string) error {
	d, err := fsy.Open(dir)
	if err != nil {
		return err
	}
	defer d.Close()
	return d.Sync()
}

// mkdirAll creates dir and its missing parents, and makes each new entry
// durable by syncing the directory that holds it. It runs under s.dirMu, so
// a directory that exists was made durable by whoever created it.
func (s *Store) mkdirAll(dir string) error {
	s.dirMu.Lock()
	defer s.dirMu.Unlock()
	var missing []string
	for d := filepath.Clean(dir); ; d = filepath.Dir(d) {
		if _, err := s.fs.Stat(d); err == nil {
			break
		} else if !isNotExist(err) {
			return err
		}
		missing = append(missing, d)
		if d == filepath.Dir(d) {
			break
		}
	}
	for i := len(missing) - 1; i >= 0; i-- {
		if err := s.fs.Mkdir(missing[i], 0o755); err != nil && !errors.Is(err, fs.ErrExist) {
			return err
		}
		if err := syncDir(s.fs, filepath.Dir(missing[i])); err != nil {
			return err
		}
	}
	return nil
}

// removeIfEmpty removes an empty directory and reports whether it did.
func removeIfEmpty(fsy fsys.FS, dir string) (bool, error) {
	entries, err := fsy.ReadDir(dir)
	if isNotExist(err) {
		return false, nil
	}
	if err != nil || len(entries) > 0 {
		return false, err
	}
	return true, fsy.Remove(dir)
}

// tempsIn lists the temp files directly in dir: leftovers of writes
// interrupted by a crash. Finished files are only ever created by rename, so
// nothing else can be partial.
func tempsIn(fsy fsys.FS, dir string) ([]string, error) {
	entries, err := fsy.ReadDir(dir)
	if err != nil {
		return nil, err
	}
	var temps []string
	for _, e := range entries {
		if !e.IsDir() && strings.HasPrefix(e.Name(), tmpPrefix) {
			temps = append(temps, filepath.Join(dir, e.Name()))
		}
	}
	return temps, nil
}

// removeTemps deletes the temp files directly in dir (see tempsIn).
func removeTemps(fsy fsys.FS, dir string) error {
	temps, err := tempsIn(fsy, dir)
	if err != nil {
		return err
	}
	for _, p := range temps {
		if err := fsy.Remove(p); err != nil && !isNotExist(err) {
			return err
		}
	}
	return nil
}

// isNotExist reports a missing file or directory.
func isNotExist(err error) bool { return errors.Is(err, fs.ErrNotExist) }
