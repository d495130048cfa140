// Package layout is the embedded store: every OCI repository is a complete OCI
// image layout (image-spec image-layout.md) at <dir>/repositories/<name>/_/,
// so the data directory can be read by any OCI tool and copied file by file.
//
// Writes survive kill -9 and power loss at any moment: blobs and index.json
// are written to a temp file, fsynced and renamed into place, and every
// directory that gained, lost or renamed an entry (new directories included)
// is fsynced before the write returns; temp files left by a crash are removed
// by Open. One process owns a directory at a time (flock on <dir>/.lock),
// which lets each repository's index live in memory after its first load.
//
// Pushing content that is already stored is idempotent: it succeeds and
// changes nothing (unlike oras-go content stores, which return ErrAlreadyExists).
// Unreferenced blobs are removed by GC.
package layout

import (
	"context"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"sync"
	"time"

	specs "github.com/opencontainers/image-spec/specs-go"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"

	"pkgserver.dev/pkgserver/pkg/names"
	"pkgserver.dev/pkgserver/pkg/store"
	"pkgserver.dev/pkgserver/pkg/store/layout/internal/fsys"
)

// pageSize is how many names Tags and Repositories pass to fn at a time.
const pageSize = 100

var specsVersioned = specs.Versioned{SchemaVersion: 2}

// Store is an embedded OCI store on local disk. It is safe for concurrent use.
type Store struct {
	dir   string
	root  string
	fs    fsys.FS
	now   func() time.Time
	lockf *os.File // nil when not on the OS filesystem (tests)

	dirMu sync.Mutex // held while directories are created, see mkdirAll
	gcMu  sync.Mutex // one collection at a time

	mu     sync.Mutex
	repos  map[string]*Repository
	closed bool
	// writing counts the writes under way (beginWrite): a stop in the
	// middle of one leaves temp files, so Close marks no clean stop then.
	writing int

	// loadedMu guards queue: the repositories whose index is in memory,
	// oldest first. Only maxLoaded stay loaded (a full scan reads them all).
	loadedMu  sync.Mutex
	queue     []*Repository
	maxLoaded int

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
// Open in this one, holds the directory. It removes temp files left by a crash
// and moves layouts of the previous on-disk mapping into place (migrate.go).
func Open(dir string) (*Store, error) {
	s := newStore(dir, fsys.OS{})
	if err := s.mkdirAll(dir); err != nil {
		return nil, fmt.Errorf("layout: create data directory: %w", err)
	}
	lf, err := lock(dir)
	if err != nil {
		return nil, err
	}
	s.lockf = lf
	if err := s.init(); err != nil {
		lf.Close()
		return nil, err
	}
	return s, nil
}

// cleanFile exists while the store is closed after a clean stop: no write
// was interrupted, so Open need not walk every repository for the temp
// files a crash leaves. Open removes it first, so a crash leaves none.
const cleanFile = ".clean"

// openFS opens a store on another filesystem, without the flock (tests).
func openFS(dir string, fsy fsys.FS) (*Store, error) {
	s := newStore(dir, fsy)
	if err := s.mkdirAll(dir); err != nil {
		return nil, fmt.Errorf("layout: create data directory: %w", err)
	}
	if err := s.init(); err != nil {
		return nil, err
	}
	return s, nil
}

func newStore(dir string, fsy fsys.FS) *Store {
	return &Store{dir: dir, root: filepath.Join(dir, reposDir), fs: fsy, now: time.Now, repos: map[string]*Repository{}, maxLoaded: maxLoaded}
}

// init creates the repositories directory and recovers from a crash.
func (s *Store) init() error {
	if err := s.mkdirAll(s.root); err != nil {
		return fmt.Errorf("layout: %w", err)
	}
	if isRegular(s.fs, filepath.Join(s.dir, cleanFile)) {
		if err := s.fs.Remove(filepath.Join(s.dir, cleanFile)); err != nil {
			return fmt.Errorf("layout: %w", err)
		}
		if err := syncDir(s.fs, s.dir); err != nil {
			return fmt.Errorf("layout: %w", err)
		}
		return nil
	}
	if err := s.recover(); err != nil {
		return fmt.Errorf("layout: %w", err)
	}
	return nil
}

// maxLoaded is how many repositories keep their index in memory; the others
// read it from disk again when asked (about 8 KB each).
const maxLoaded = 4096

// loaded records that r (whose lock the caller holds) loaded its index, and
// lets go of the oldest other ones beyond maxLoaded that nobody is using.
func (s *Store) loaded(r *Repository) {
	s.loadedMu.Lock()
	defer s.loadedMu.Unlock()
	s.queue = append(s.queue, r)
	for n := len(s.queue) - s.maxLoaded; n > 0; n-- {
		v := s.queue[0]
		s.queue = s.queue[1:]
		if v == r {
			s.queue = append(s.queue, v)
			continue
		}
		if !v.mu.TryLock() {
			s.queue = append(s.queue, v) // in use: later
			continue
		}
		v.idx = nil // memory always equals disk: reading it again is enough
		v.mu.Unlock()
	}
	if cap(s.queue) > 4*s.maxLoaded {
		s.queue = append([]*Repository(nil), s.queue...) // let the old array go
	}
}

// Close releases the directory lock. The Store must not be used afterwards.
func (s *Store) Close() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return nil
	}
	s.closed = true
	if s.lockf == nil {
		return nil
	}
	var err error
	if s.writing == 0 {
		err = s.markClean()
	}
	if cerr := s.lockf.Close(); err == nil { // closing the file drops the flock
		err = cerr
	}
	return err
}

// beginWrite counts a write that leaves temp files if the process stops in
// its middle (a slow upload cut off by the end of a shutdown, say): Close
// marks a clean stop only when none is under way, and writes fail after it.
// end must be called when the write is over.
func (s *Store) beginWrite() (end func(), err error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return nil, fmt.Errorf("layout: store %s: %w", s.dir, os.ErrClosed)
	}
	s.writing++
	return func() {
		s.mu.Lock()
		s.writing--
		s.mu.Unlock()
	}, nil
}

// markClean records that the store was closed with no write under way.
func (s *Store) markClean() error {
	if err := writeFileAtomic(s.fs, filepath.Join(s.dir, cleanFile), nil); err != nil {
		return fmt.Errorf("layout: mark a clean stop: %w", err)
	}
	return nil
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
		r = &Repository{s: s, name: name, dir: filepath.Join(s.root, filepath.FromSlash(name), layoutDirName)}
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

// Repositories lists, in lexical order after last, the repositories that
// hold an oci-layout file.
func (s *Store) Repositories(ctx context.Context, last string, fn func(repos []string) error) error {
	repos, err := s.list(ctx)
	if err != nil {
		return err
	}
	return pages(ctx, repos, last, fn)
}

// list walks the name directories (never into a layout) for created
// repositories, on one goroutine: the engine's scans behind serving list
// them, and must leave the other cores to requests (measured: a start from
// the checkpoint answers its first full list later when the scan it starts
// walks on every core).
func (s *Store) list(ctx context.Context) ([]string, error) {
	var mu sync.Mutex
	var repos []string
	err := s.walk(ctx, s.root, 1, func(dir string, entries []fs.DirEntry) error {
		for _, e := range entries {
			if !e.IsDir() || e.Name() != layoutDirName {
				continue
			}
			rel, err := filepath.Rel(s.root, dir)
			if err != nil {
				return err
			}
			name := filepath.ToSlash(rel)
			if _, err := s.fs.Stat(filepath.Join(dir, layoutDirName, ocispec.ImageLayoutFile)); err == nil && names.ValidateOCIRepository(name) == nil {
				mu.Lock()
				repos = append(repos, name)
				mu.Unlock()
			}
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("layout: list repositories: %w", err)
	}
	slices.Sort(repos)
	return repos, nil
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
