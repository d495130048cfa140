package layout

import (
	"context"
	"io/fs"
	"path/filepath"
	"slices"
	"strings"
	"sync"

	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"

	"pkgserver.dev/pkgserver/pkg/store/layout/internal/fsys"
)

// recover runs at Open, before anything is served: it walks the name
// directories, moves each layout of the previous mapping into place and
// removes temp files that a crash left in a layout.
//
// The previous mapping kept the layout files right in <name>/; a directory
// there holding a regular file "oci-layout" is one (under the current mapping
// such a directory only ever holds subdirectories).
func (s *Store) recover() error {
	found, err := s.findRecoveries()
	if err != nil {
		return err
	}
	if len(found.old) > 0 {
		slices.Sort(found.old) // a parent before its children
		for _, dir := range found.old {
			if err := s.migrate(dir); err != nil {
				return err
			}
		}
		// The layouts moved into place may hold temp files of their own.
		if found, err = s.findRecoveries(); err != nil {
			return err
		}
	}
	slices.Sort(found.temps)
	for _, p := range found.temps {
		if err := s.fs.Remove(p); err != nil && !isNotExist(err) {
			return err
		}
	}
	return nil
}

// recoveries is what recover has to do.
type recoveries struct {
	old   []string // directories of a layout of the previous mapping
	temps []string // temp files in layouts and their blob directories
}

// findRecoveries walks the name directories on several goroutines (a start
// after a crash reads every one of them before serving).
func (s *Store) findRecoveries() (recoveries, error) {
	var mu sync.Mutex
	var found recoveries
	err := s.walk(context.Background(), s.root, walkParallelism, func(dir string, entries []fs.DirEntry) error {
		var old bool
		var temps []string
		for _, e := range entries {
			switch {
			case !e.IsDir():
				// Stat follows a symbolic link, as the layout's readers do.
				old = old || e.Name() == ocispec.ImageLayoutFile && dir != s.root && isRegular(s.fs, filepath.Join(dir, e.Name()))
			case e.Name() == layoutDirName:
				t, err := s.layoutTemps(filepath.Join(dir, layoutDirName))
				if err != nil {
					return err
				}
				temps = append(temps, t...)
			}
		}
		mu.Lock()
		defer mu.Unlock()
		if old {
			found.old = append(found.old, dir)
		}
		found.temps = append(found.temps, temps...)
		return nil
	})
	return found, err
}

// layoutTemps lists the temp files of a layout directory and of its blob directories.
func (s *Store) layoutTemps(layoutDir string) ([]string, error) {
	temps, err := tempsIn(s.fs, layoutDir)
	if err != nil {
		return nil, err
	}
	algs, err := s.fs.ReadDir(filepath.Join(layoutDir, blobsDir))
	if isNotExist(err) {
		return temps, nil
	}
	if err != nil {
		return nil, err
	}
	for _, a := range algs {
		if a.IsDir() {
			t, err := tempsIn(s.fs, filepath.Join(layoutDir, blobsDir, a.Name()))
			if err != nil {
				return nil, err
			}
			temps = append(temps, t...)
		}
	}
	return temps, nil
}

// blobAlgorithms are the blob directories of a layout that migrate moves.
var blobAlgorithms = []digest.Algorithm{digest.SHA256, digest.SHA384, digest.SHA512}

// migrate moves the layout of the previous mapping in dir into dir/_, so
// that it is crash-safe and idempotent: every step is a rename (atomic), its
// target directory is fsynced before its source directory (so a crash leaves
// the file in one place or in both, never in neither), and "oci-layout" moves
// last, so that a crash anywhere leaves dir recognised as old, and the next
// Open finishes the move. Only what a layout holds is moved: regular files
// named by a digest in blobs/<alg>/, index.json and oci-layout, because a
// repository named "<name>/blobs/..." may share those directories.
func (s *Store) migrate(dir string) error {
	target := filepath.Join(dir, layoutDirName)
	for _, alg := range blobAlgorithms {
		src := filepath.Join(dir, blobsDir, alg.String())
		entries, err := s.fs.ReadDir(src)
		if isNotExist(err) {
			continue
		}
		if err != nil {
			return err
		}
		dst := filepath.Join(target, blobsDir, alg.String())
		if err := s.mkdirAll(dst); err != nil {
			return err
		}
		for _, e := range entries {
			name := filepath.Join(src, e.Name())
			switch {
			case !e.Type().IsRegular():
			case strings.HasPrefix(e.Name(), tmpPrefix):
				if err := s.fs.Remove(name); err != nil && !isNotExist(err) {
					return err
				}
			case digest.NewDigestFromEncoded(alg, e.Name()).Validate() == nil:
				if err := s.moveFile(name, filepath.Join(dst, e.Name())); err != nil {
					return err
				}
			}
		}
		if err := syncDir(s.fs, dst); err != nil {
			return err
		}
		if err := syncDir(s.fs, src); err != nil {
			return err
		}
		if _, err := removeIfEmpty(s.fs, src); err != nil {
			return err
		}
	}
	if _, err := removeIfEmpty(s.fs, filepath.Join(dir, blobsDir)); err != nil {
		return err
	}
	if err := s.mkdirAll(target); err != nil {
		return err
	}
	if err := removeTemps(s.fs, dir); err != nil {
		return err
	}
	for _, f := range []string{ocispec.ImageIndexFile, ocispec.ImageLayoutFile} {
		if err := s.moveFile(filepath.Join(dir, f), filepath.Join(target, f)); err != nil {
			return err
		}
		if err := syncDir(s.fs, target); err != nil {
			return err
		}
		if err := syncDir(s.fs, dir); err != nil {
			return err
		}
	}
	return nil
}

// moveFile renames the regular file src to dst; anything else at src (a
// directory of a repository named like a layout file) stays. When both
// exist (a crash between the syncs of an earlier move) they are the same
// file, and src is removed.
func (s *Store) moveFile(src, dst string) error {
	if !isRegular(s.fs, src) {
		return nil
	}
	if _, err := s.fs.Stat(dst); err == nil {
		return s.fs.Remove(src)
	}
	return s.fs.Rename(src, dst)
}

// isRegular reports whether path is a regular file.
func isRegular(fsy fsys.FS, path string) bool {
	fi, err := fsy.Stat(path)
	return err == nil && fi.Mode().IsRegular()
}
