package layout_test

import (
	"errors"
	"strings"
	"testing"

	"pkgserver.dev/pkgserver/pkg/errdef"
	"pkgserver.dev/pkgserver/pkg/store/layout"
)

func TestOpenLocked(t *testing.T) {
	dir := t.TempDir()
	s := open(t, dir)
	_, err := layout.Open(dir)
	if !errors.Is(err, errdef.ErrLocked) {
		t.Fatalf("second Open = %v, want errdef.ErrLocked", err)
	}
	for _, want := range []string{dir, "in use by another pkgserver process"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q does not mention %q", err, want)
		}
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	// Closing releases the lock.
	open(t, dir)
}
