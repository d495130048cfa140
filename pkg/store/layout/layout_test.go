package layout_test

import (
	"testing"

	"pkgserver.dev/pkgserver/pkg/store"
	"pkgserver.dev/pkgserver/pkg/store/layout"
	"pkgserver.dev/pkgserver/pkg/store/storetest"
)

// open opens a store in dir and closes it at the end of the test.
func open(t *testing.T, dir string) *layout.Store {
	t.Helper()
	s, err := layout.Open(dir)
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

func TestConformance(t *testing.T) {
	storetest.Run(t, func(t *testing.T) store.Store { return open(t, t.TempDir()) })
}
