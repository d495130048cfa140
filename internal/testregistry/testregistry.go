// Package testregistry starts a real CNCF distribution registry process for
// integration tests, so that the remote store is tested against the registry
// operators actually run rather than a fake.
package testregistry

import (
	"testing"

	"pkgserver.dev/pkgserver/internal/registryproc"
)

// EnvBinary names the environment variable that points at the registry binary.
const EnvBinary = registryproc.EnvBinary

// Start runs a registry on a free 127.0.0.1 port with storage in t.TempDir(),
// waits until it answers GET /v2/, and stops it in t.Cleanup. It returns host:port.
func Start(t testing.TB) string {
	t.Helper()
	bin, err := registryproc.Binary()
	if err != nil {
		t.Fatal(err)
	}
	p, err := registryproc.Start(bin, t.TempDir())
	if err != nil {
		t.Fatalf("testregistry: %v", err)
	}
	t.Cleanup(p.Stop)
	return p.Addr
}
