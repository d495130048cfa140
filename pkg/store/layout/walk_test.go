package layout

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"sync/atomic"
	"testing"
	"time"

	ocispec "github.com/opencontainers/image-spec/specs-go/v1"

	"pkgserver.dev/pkgserver/pkg/store/layout/internal/fsys"
)

// failFS fails ReadDir of one directory, optionally after a delay.
type failFS struct {
	fsys.FS
	dir   string
	delay time.Duration
	calls atomic.Int32
}

var errInjected = errors.New("injected")

func (f *failFS) ReadDir(name string) ([]fs.DirEntry, error) {
	f.calls.Add(1)
	if name == f.dir {
		time.Sleep(f.delay)
		return nil, &fs.PathError{Op: "readdir", Path: name, Err: errInjected}
	}
	return f.FS.ReadDir(name)
}

// namedTree makes n layouts at several depths on a Mem, all with old times.
func namedTree(t *testing.T, n int) (*fsys.Mem, []string) {
	t.Helper()
	m := fsys.NewMem()
	var names []string
	for i := range n {
		name := fmt.Sprintf("t%d/r%d", i%7, i)
		if i%3 == 0 {
			name += fmt.Sprintf("/sub%d/deeper", i)
		}
		names = append(names, name)
		writeDurable(t, m, filepath.Join(memDir, reposDir, name, layoutDirName, ocispec.ImageLayoutFile), []byte(`{"imageLayoutVersion":"1.0.0"}`))
		writeDurable(t, m, filepath.Join(memDir, reposDir, name, layoutDirName, ocispec.ImageIndexFile), []byte(`{}`))
	}
	old := time.Now().Add(-time.Hour)
	var all []string
	var collect func(string)
	collect = func(d string) {
		all = append(all, d)
		es, err := m.ReadDir(d)
		if err != nil {
			t.Fatal(err)
		}
		for _, e := range es {
			if e.IsDir() {
				collect(filepath.Join(d, e.Name()))
			} else {
				all = append(all, filepath.Join(d, e.Name()))
			}
		}
	}
	collect(filepath.Join(memDir, reposDir))
	for _, p := range all {
		if err := m.Chtimes(p, old, old); err != nil {
			t.Fatal(err)
		}
	}
	slices.Sort(names)
	return m, names
}

// A change anywhere (dir, index.json, oci-layout) is seen, whichever
// goroutine meets it; nothing changed is false.
func TestChangedSinceEveryPlace(t *testing.T) {
	m, names := namedTree(t, 60)
	s := newStore(memDir, m)
	at := time.Now().Add(-time.Minute)
	ctx := context.Background()
	if c, err := s.ChangedSince(ctx, at); c || err != nil {
		t.Fatalf("unchanged tree: %v, %v", c, err)
	}
	var targets []string
	for _, n := range names {
		d := filepath.Join(memDir, reposDir, n)
		targets = append(targets, d, filepath.Join(d, layoutDirName, ocispec.ImageIndexFile), filepath.Join(d, layoutDirName, ocispec.ImageLayoutFile))
	}
	targets = append(targets, filepath.Join(memDir, reposDir))
	old := time.Now().Add(-time.Hour)
	for _, p := range targets {
		now := time.Now()
		m.Chtimes(p, now, now)
		for range 3 {
			if c, err := s.ChangedSince(ctx, at); !c || err != nil {
				t.Fatalf("change at %s: %v, %v", p, c, err)
			}
		}
		m.Chtimes(p, old, old)
	}
}

// An error never turns into "unchanged": with a failing directory the answer
// is (true, err) or, if a change was seen first, true.
func TestChangedSinceErrors(t *testing.T) {
	m, names := namedTree(t, 60)
	at := time.Now().Add(-time.Minute)
	ctx := context.Background()
	for i, n := range names {
		f := &failFS{FS: m, dir: filepath.Join(memDir, reposDir, n), delay: time.Duration(i%3) * time.Millisecond}
		s := newStore(memDir, f)
		if c, err := s.ChangedSince(ctx, at); !c || !errors.Is(err, errInjected) {
			t.Fatalf("failing %s, nothing changed: %v, %v", n, c, err)
		}
		// A change elsewhere as well.
		other := filepath.Join(memDir, reposDir, names[(i+len(names)/2)%len(names)], layoutDirName, ocispec.ImageIndexFile)
		now := time.Now()
		m.Chtimes(other, now, now)
		if c, err := s.ChangedSince(ctx, at); !c {
			t.Fatalf("failing %s, %s changed: %v, %v", n, other, c, err)
		}
		old := time.Now().Add(-time.Hour)
		m.Chtimes(other, old, old)
	}
	// A cancelled context.
	s := newStore(memDir, m)
	cctx, cancel := context.WithCancel(ctx)
	cancel()
	if c, err := s.ChangedSince(cctx, at); !c || err == nil {
		t.Fatalf("cancelled: %v, %v", c, err)
	}
}

// The early stop reads far fewer directories than the whole tree (and does
// not hang).
func TestChangedSinceStopsEarly(t *testing.T) {
	m, _ := namedTree(t, 200)
	f := &failFS{FS: m, dir: "/nonexistent"}
	s := newStore(memDir, f)
	now := time.Now()
	m.Chtimes(filepath.Join(memDir, reposDir), now, now)
	if c, err := s.ChangedSince(context.Background(), now.Add(-time.Minute)); !c || err != nil {
		t.Fatalf("%v, %v", c, err)
	}
	t.Logf("ReadDir calls after a change at the root: %d", f.calls.Load())
}

// list: the names of a sequential walk, sorted, root excluded, and errors
// reported.
func TestListNames(t *testing.T) {
	m, names := namedTree(t, 80)
	// A layout at the root, an invalid name, and a "_" without oci-layout.
	writeDurable(t, m, filepath.Join(memDir, reposDir, layoutDirName, ocispec.ImageLayoutFile), []byte(`{}`))
	writeDurable(t, m, filepath.Join(memDir, reposDir, "Upper", layoutDirName, ocispec.ImageLayoutFile), []byte(`{}`))
	writeDurable(t, m, filepath.Join(memDir, reposDir, "half", layoutDirName, ocispec.ImageIndexFile), []byte(`{}`))
	s := newStore(memDir, m)
	for range 5 {
		got, err := s.list(context.Background())
		if err != nil || !slices.Equal(got, names) {
			t.Fatalf("list = %v, %v\nwant %v", got, err, names)
		}
	}
	f := &failFS{FS: m, dir: filepath.Join(memDir, reposDir, names[len(names)-1])}
	if _, err := newStore(memDir, f).list(context.Background()); !errors.Is(err, errInjected) {
		t.Fatalf("list with a failing directory: %v", err)
	}
}

// A layout of the previous mapping whose oci-layout is a symbolic link (to a
// regular file) is migrated. Fails if recover takes the DirEntry's type
// (ModeSymlink) for the file's.
func TestMigrateSymlinkedOCILayout(t *testing.T) {
	dir := t.TempDir()
	repo := filepath.Join(dir, reposDir, "a")
	if err := os.MkdirAll(filepath.Join(repo, blobsDir, "sha256"), 0o755); err != nil {
		t.Fatal(err)
	}
	shared := filepath.Join(dir, "oci-layout.shared")
	if err := os.WriteFile(shared, []byte(`{"imageLayoutVersion":"1.0.0"}`), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(shared, filepath.Join(repo, ocispec.ImageLayoutFile)); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(repo, ocispec.ImageIndexFile), []byte(`{"schemaVersion":2,"manifests":[]}`), 0o644); err != nil {
		t.Fatal(err)
	}
	s, err := openFS(dir, fsys.OS{})
	if err != nil {
		t.Fatal(err)
	}
	got, err := s.list(context.Background())
	if err != nil || !slices.Equal(got, []string{"a"}) {
		t.Errorf("after Open, list = %v, %v; want [a] (the old layout migrated)", got, err)
	}
}
