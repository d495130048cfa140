package fsys

import (
	"errors"
	"io"
	"io/fs"
	"testing"
)

// write creates dir/name with data through a temp file, syncing as told.
func write(t *testing.T, m *Mem, dir, name, data string, syncFile, syncDir bool) {
	t.Helper()
	f, err := m.CreateTemp(dir, ".tmp-")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.Write([]byte(data)); err != nil {
		t.Fatal(err)
	}
	if syncFile {
		if err := f.Sync(); err != nil {
			t.Fatal(err)
		}
	}
	f.Close()
	if err := m.Rename(f.Name(), dir+"/"+name); err != nil {
		t.Fatal(err)
	}
	if syncDir {
		syncPath(t, m, dir)
	}
}

func syncPath(t *testing.T, m *Mem, p string) {
	t.Helper()
	d, err := m.Open(p)
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	if err := d.Sync(); err != nil {
		t.Fatal(err)
	}
}

func read(m *Mem, p string) (string, error) {
	f, err := m.Open(p)
	if err != nil {
		return "", err
	}
	defer f.Close()
	b, err := io.ReadAll(f)
	return string(b), err
}

// TestMemCrash checks the model: what survives a crash is exactly what was synced.
func TestMemCrash(t *testing.T) {
	tests := []struct {
		name     string
		run      func(t *testing.T, m *Mem)
		path     string
		want     string // "" with exists false: gone
		survives bool
	}{
		{"synced file in synced dir", func(t *testing.T, m *Mem) {
			write(t, m, "/", "f", "data", true, true)
		}, "/f", "data", true},
		{"unsynced dir entry", func(t *testing.T, m *Mem) {
			write(t, m, "/", "f", "data", true, false)
		}, "/f", "", false},
		{"unsynced data", func(t *testing.T, m *Mem) {
			write(t, m, "/", "f", "data", false, true)
		}, "/f", "", true},
		{"new dir without parent sync", func(t *testing.T, m *Mem) {
			if err := m.Mkdir("/d", 0o755); err != nil {
				t.Fatal(err)
			}
			write(t, m, "/d", "f", "data", true, true)
		}, "/d/f", "", false},
		{"new dir with parent sync", func(t *testing.T, m *Mem) {
			if err := m.Mkdir("/d", 0o755); err != nil {
				t.Fatal(err)
			}
			syncPath(t, m, "/")
			write(t, m, "/d", "f", "data", true, true)
		}, "/d/f", "data", true},
		{"rename over without dir sync keeps old", func(t *testing.T, m *Mem) {
			write(t, m, "/", "f", "old", true, true)
			write(t, m, "/", "f", "new", true, false)
		}, "/f", "old", true},
		{"remove without dir sync comes back", func(t *testing.T, m *Mem) {
			write(t, m, "/", "f", "data", true, true)
			if err := m.Remove("/f"); err != nil {
				t.Fatal(err)
			}
		}, "/f", "data", true},
		{"hard link needs its dir synced", func(t *testing.T, m *Mem) {
			write(t, m, "/", "f", "data", true, true)
			if err := m.Link("/f", "/g"); err != nil {
				t.Fatal(err)
			}
		}, "/g", "", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m := NewMem()
			tt.run(t, m)
			c := m.Crash()
			if _, err := m.Stat("/"); !errors.Is(err, ErrCrashed) {
				t.Fatalf("crashed Mem still answers: %v", err)
			}
			got, err := read(c, tt.path)
			if !tt.survives {
				if !errors.Is(err, fs.ErrNotExist) {
					t.Fatalf("%s after crash = %q, %v; want it gone", tt.path, got, err)
				}
				return
			}
			if err != nil || got != tt.want {
				t.Fatalf("%s after crash = %q, %v; want %q", tt.path, got, err, tt.want)
			}
		})
	}
}

func TestMemCrashAfter(t *testing.T) {
	m := NewMem()
	m.CrashAfter(2)
	if err := m.Mkdir("/a", 0o755); err != nil {
		t.Fatal(err)
	}
	if err := m.Mkdir("/b", 0o755); err != nil {
		t.Fatalf("the step that crashes still happens: %v", err)
	}
	if err := m.Mkdir("/c", 0o755); !errors.Is(err, ErrCrashed) {
		t.Fatalf("after the crash: %v, want ErrCrashed", err)
	}
	if _, err := m.ReadDir("/"); !errors.Is(err, ErrCrashed) {
		t.Fatalf("reads after the crash: %v, want ErrCrashed", err)
	}
	if got := m.Steps(); got != 2 {
		t.Fatalf("Steps = %d, want 2", got)
	}
}

func TestMemErrors(t *testing.T) {
	m := NewMem()
	if err := m.Mkdir("/d", 0o755); err != nil {
		t.Fatal(err)
	}
	write(t, m, "/d", "f", "x", true, true)
	for _, tt := range []struct {
		name string
		err  error
		want error
	}{
		{"mkdir existing", m.Mkdir("/d", 0o755), fs.ErrExist},
		{"link existing", m.Link("/d/f", "/d/f"), fs.ErrExist},
		{"open missing", func() error { _, err := m.Open("/nope"); return err }(), fs.ErrNotExist},
		{"stat under missing dir", func() error { _, err := m.Stat("/nope/f"); return err }(), fs.ErrNotExist},
		{"remove missing", m.Remove("/d/nope"), fs.ErrNotExist},
	} {
		if !errors.Is(tt.err, tt.want) {
			t.Errorf("%s: %v, want %v", tt.name, tt.err, tt.want)
		}
	}
	if err := m.Remove("/d"); err == nil {
		t.Error("removed a non-empty directory")
	}
}
