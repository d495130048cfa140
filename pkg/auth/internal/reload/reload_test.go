package reload

import (
	"errors"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"
)

func TestFiles(t *testing.T) {
	dir := t.TempDir()
	a, b := filepath.Join(dir, "a"), filepath.Join(dir, "b")
	write := func(p, s string) {
		t.Helper()
		if err := os.WriteFile(p, []byte(s), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	write(a, "one")
	write(b, "two")
	parses := 0
	parse := func(data [][]byte) (string, error) {
		parses++
		s := string(data[0]) + "+" + string(data[1])
		if strings.Contains(s, "bad") {
			return "", errors.New("bad contents")
		}
		return s, nil
	}
	var mu sync.Mutex
	now := time.Unix(1000, 0)
	clock := func() time.Time { mu.Lock(); defer mu.Unlock(); return now }
	tick := func() { mu.Lock(); now = now.Add(2 * time.Second); mu.Unlock() }
	f, err := New(parse, []string{a, b}, WithClock(clock), WithLogger(slog.New(slog.DiscardHandler)))
	if err != nil {
		t.Fatal(err)
	}

	steps := []struct {
		name   string
		change func()
		tick   bool
		want   string
		parses int
	}{
		{"initial", nil, false, "one+two", 1},
		{"changed but interval not passed", func() { write(a, "uno") }, false, "one+two", 1},
		{"interval passed", nil, true, "uno+two", 2},
		{"unchanged bytes are not parsed again", nil, true, "uno+two", 2},
		{"second file changes", func() { write(b, "dos") }, true, "uno+dos", 3},
		{"bad contents keep the last good value", func() { write(a, "bad") }, true, "uno+dos", 4},
		{"missing file keeps the last good value", func() { os.Remove(b) }, true, "uno+dos", 4},
		{"fixed", func() { write(a, "eins"); write(b, "zwei") }, true, "eins+zwei", 5},
	}
	for _, s := range steps {
		if s.change != nil {
			s.change()
		}
		if s.tick {
			tick()
		}
		if got := f.Get(); got != s.want || parses != s.parses {
			t.Fatalf("%s: got %q after %d parses, want %q after %d", s.name, got, parses, s.want, s.parses)
		}
	}
}

func TestNewFails(t *testing.T) {
	dir := t.TempDir()
	if _, err := New(func([][]byte) (int, error) { return 0, nil }, []string{filepath.Join(dir, "missing")}); err == nil {
		t.Fatal("missing file: no error")
	}
	p := filepath.Join(dir, "f")
	os.WriteFile(p, []byte("x"), 0o600)
	if _, err := New(func([][]byte) (int, error) { return 0, errors.New("no") }, []string{p}); err == nil {
		t.Fatal("parse error: no error")
	}
}
