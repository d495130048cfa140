package remote_test

import (
	"testing"

	"pkgserver.dev/pkgserver/internal/testregistry"
	"pkgserver.dev/pkgserver/pkg/store"
	"pkgserver.dev/pkgserver/pkg/store/remote"
	"pkgserver.dev/pkgserver/pkg/store/storetest"
)

// newStore returns a store on a fresh CNCF distribution registry.
func newStore(t *testing.T) *remote.Store {
	t.Helper()
	s, err := remote.New(testregistry.Start(t), remote.WithPlainHTTP(true))
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	return s
}

func TestConformance(t *testing.T) {
	// One registry for the suite; every subtest uses repositories of its own.
	s := newStore(t)
	storetest.Run(t, func(t *testing.T) store.Store { return s })
}
