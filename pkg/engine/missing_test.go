package engine_test

import (
	"errors"
	"strings"
	"testing"

	pkgapi "pkgserver.dev/pkgserver/api/pkg/v1alpha1"
	"pkgserver.dev/pkgserver/internal/testregistry"
	"pkgserver.dev/pkgserver/pkg/errdef"
)

// TestMissingBlob: a blob of a revision deleted behind pkgserver's back
// (in the registry, or from the data directory) is a clear
// errdef.ErrMissingContent naming the blob, on every read and write that
// needs it, not an internal error nor a "not found" of the revision.
func TestMissingBlob(t *testing.T) {
	reg := testregistry.Start(t)
	for _, remoteBackend := range []bool{false, true} {
		t.Run(map[bool]string{false: "embedded", true: "remote"}[remoteBackend], func(t *testing.T) {
			r := newCrashRig(t, map[bool]string{false: "", true: reg}[remoteBackend], "missing")
			r.must("repo", r.createRepo(r.repo))
			one, two := nameOf(r.id("app", "one")), nameOf(r.id("app", "two"))
			r.must("create", r.create(r.id("app", "one")))
			r.must("files", r.setFiles(one, crashFiles))
			r.publish(one)
			r.must("edit", r.create(r.id("app", "two"), editOf(one)))
			layer := r.layerOf("v1")
			r.must("delete the layer behind pkgserver", r.behind("app").Delete(r.ctx, layer))
			r.crash() // nothing cached
			for _, c := range []struct {
				what string
				do   func() error
			}{
				{"read the files of v1", func() error { _, err := r.eng.GetPackageRevisionResources(r.ctx, testNS, one); return err }},
				{"clone v1", func() error { return r.create(r.id("copy", "one"), cloneOf(one)) }},
				{"propose a draft with that layer", func() error {
					return r.update(two, func(pr *pkgapi.PackageRevision) { pr.Spec.Lifecycle = pkgapi.LifecycleProposed })
				}},
			} {
				err := c.do()
				if !errors.Is(err, errdef.ErrMissingContent) || !strings.Contains(err.Error(), layer.Digest.String()) {
					t.Errorf("%s: %v; want errdef.ErrMissingContent naming %s", c.what, err, layer.Digest)
				}
			}
			r.must("another package still works", r.create(r.id("lib", "one")))
		})
	}
}
