// Package layout is the embedded store: every OCI repository is a complete OCI
// image layout (image-spec image-layout.md) at <dir>/repositories/<name>/, so
// the data directory can be read by any OCI tool and copied file by file.
//
// Writes survive kill -9 at any moment: blobs and index.json are written to a
// temp file, fsynced and renamed into place; temp files left by a crash are
// removed by Open. One process owns a directory at a time (flock on <dir>/.lock),
// which lets each repository's index live in memory after its first load.
//
// Pushing content that is already stored is idempotent: it succeeds and
// changes nothing (unlike oras-go content stores, which return ErrAlreadyExists).
package layout

import (
	"context"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"sync"

	specs "github.com/opencontainers/image-spec/specs-go"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"

	"pkgserver.dev/pkgserver/pkg/errdef"
	"pkgserver.dev/pkgserver/pkg/names"
	"pkgserver.dev/pkgserver/pkg/store"
)

// reposDir is the directory under the data dir that holds the repositories.
const reposDir = "repositories"

// pageSize is how many names Tags and Repositories pass to fn at a time.
const pageSize = 100

var specsVersioned = specs.Versioned{SchemaVersion: 2}

// Store is an embedded OCI store on local disk. It is safe for concurrent use.
type Store struct {
	dir   string
	root  string
	lockf *os.File

	mu     sync.Mutex
	repos  map[string]*Repository
	closed bool

	notifyMu sync.RWMutex
	notify   []func(repo string)
}

var (
	_ store.Store    = (*Store)(nil)
	_ store.Lister   = (*Store)(nil)
	_ store.Notifier = (*Store)(nil)
)

// Open opens (creating if needed) the data directory dir and locks it. It fails
// at once with an error wrapping errdef.ErrLocked if another process, or another
// Open in this one, holds the directory. It removes temp files left by a crash.
func Open(dir string) (*Store, error) {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, fmt.Errorf("layout: create data directory: %w", err)
	}
	lf, err := lock(dir)
	if err != nil {
		return nil, err
	}
	root := filepath.Join(dir, reposDir)
	if err := os.MkdirAll(root, 0o755); err != nil {
		lf.Close()
		return nil, fmt.Errorf("layout: %w", err)
	}
	if err := removeTemps(root); err != nil {
		lf.Close()
		return nil, err
	}
	return &Store{dir: dir, root: root, lockf: lf, repos: map[string]*Repository{}}, nil
}

// Close releases the directory lock. The Store must not be used afterwards.
func (s *Store) Close() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return nil
	}
	s.closed = true
	return s.lockf.Close() // closing the file drops the flock
}

// Dir returns the data directory.
func (s *Store) Dir() string { return s.dir }

// Repository returns the repository name; it is created on first write.
// An invalid name is an error wrapping errdef.ErrInvalid.
func (s *Store) Repository(_ context.Context, name string) (store.Repository, error) {
	return s.repository(name)
}

func (s *Store) repository(name string) (*Repository, error) {
	if err := names.ValidateOCIRepository(name); err != nil {
		return nil, fmt.Errorf("layout: %w", err)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return nil, fmt.Errorf("layout: store %s: %w", s.dir, os.ErrClosed)
	}
	r, ok := s.repos[name]
	if !ok {
		r = &Repository{s: s, name: name, dir: filepath.Join(s.root, filepath.FromSlash(name))}
		s.repos[name] = r
	}
	return r, nil
}

// Notify registers fn, called with the repository name after every change of
// its tags or manifests, outside any lock.
func (s *Store) Notify(fn func(repo string)) {
	s.notifyMu.Lock()
	defer s.notifyMu.Unlock()
	s.notify = append(s.notify, fn)
}

func (s *Store) changed(repo string) {
	s.notifyMu.RLock()
	fns := slices.Clone(s.notify)
	s.notifyMu.RUnlock()
	for _, fn := range fns {
		fn(repo)
	}
}

// Repositories lists, in lexical order after last, the directories under
// <dir>/repositories that hold an oci-layout file.
func (s *Store) Repositories(ctx context.Context, last string, fn func(repos []string) error) error {
	var repos []string
	err := filepath.WalkDir(s.root, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() || d.Name() != ocispec.ImageLayoutFile {
			return nil
		}
		rel, err := filepath.Rel(s.root, filepath.Dir(path))
		if err != nil {
			return err
		}
		if name := filepath.ToSlash(rel); names.ValidateOCIRepository(name) == nil {
			repos = append(repos, name)
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("layout: list repositories: %w", err)
	}
	slices.Sort(repos)
	return pages(ctx, repos, last, fn)
}

// pages passes the sorted names after last to fn, pageSize at a time.
func pages(ctx context.Context, sorted []string, last string, fn func([]string) error) error {
	if last != "" {
		i, found := slices.BinarySearch(sorted, last)
		if found {
			i++
		}
		sorted = sorted[i:]
	}
	for len(sorted) > 0 {
		if err := ctx.Err(); err != nil {
			return err
		}
		n := min(pageSize, len(sorted))
		if err := fn(sorted[:n:n]); err != nil {
			return err
		}
		sorted = sorted[n:]
	}
	return nil
}

// errNoRepo is returned for reads of a repository that was never written.
func errNoRepo(name string) error {
	return fmt.Errorf("layout: repository %s: %w", name, errdef.ErrNotFound)
}
