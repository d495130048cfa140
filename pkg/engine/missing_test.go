package engine_test

import (
	"errors"
	"os"
	"path/filepath"
	"testing"

	pkgapi "pkgserver.dev/pkgserver/api/pkg/v1alpha1"
	"pkgserver.dev/pkgserver/pkg/errdef"
)

// A manifest that index.json lists but the disk lost (damage) is an error
// at a start without a checkpoint, not a tag deleted meanwhile. Fails if
// the scan drops the revision silently: its number would then be handed
// out again and the next publish would move v1.
func TestMissingListedManifestIsAnError(t *testing.T) {
	h := newHarness(t, embeddedBackend())
	h.createRepo("cat", false)
	for _, p := range []string{"a", "b"} {
		id := pkgapi.PackageRevID{Target: "catalog", Repository: "cat", Package: p, Workspace: "w1"}
		h.mustCreate(id)
		h.publish(nameOf(id))
	}
	v1 := h.tags(h.backend.prefix("cat") + "/a")["v1"]
	if err := h.eng.Close(); err != nil {
		t.Fatal(err)
	}
	if err := h.layout.Close(); err != nil {
		t.Fatal(err)
	}
	if err := os.Remove(filepath.Join(h.dir, "state", "checkpoint.bin")); err != nil {
		t.Fatal(err)
	}
	var victim string
	filepath.Walk(h.dir, func(p string, fi os.FileInfo, err error) error {
		if err == nil && !fi.IsDir() && fi.Name() == v1.Encoded() && filepath.Base(filepath.Dir(filepath.Dir(filepath.Dir(filepath.Dir(p))))) == "a" {
			victim = p
		}
		return nil
	})
	if victim == "" {
		t.Fatal("the manifest of a:v1 is not on disk")
	}
	if err := os.Remove(victim); err != nil {
		t.Fatal(err)
	}
	h.open(nil)
	_, err := h.eng.RefreshRepository(h.ctx, testNS, "cat")
	if !errors.Is(err, errdef.ErrMissingContent) {
		t.Fatalf("refresh with a:v1's manifest lost: %v, want an error of missing content (names now %v)", err, h.names())
	}
}
