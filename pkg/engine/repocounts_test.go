package engine_test

import "testing"

// The Repository status counts what the index holds, and says when the
// registry was last listed.
func TestRepositoryCounts(t *testing.T) {
	h := newHarness(t, embeddedBackend())
	h.createRepo("blueprints", false)
	counts := func() (int, int) {
		t.Helper()
		r, err := h.eng.GetRepository(h.ctx, testNS, "blueprints")
		if err != nil {
			t.Fatal(err)
		}
		list, err := h.eng.ListRepositories(h.ctx, testNS)
		if err != nil || len(list) != 1 || list[0].Status.PackageCount != r.Status.PackageCount || list[0].Status.RevisionCount != r.Status.RevisionCount {
			t.Fatalf("list %+v, get %+v: %v", list, r.Status, err)
		}
		if r.Status.LastScanTime == nil {
			t.Fatal("status.lastScanTime is not set after the registry was listed")
		}
		return r.Status.PackageCount, r.Status.RevisionCount
	}
	for _, tc := range []struct {
		name       string
		do         func()
		pkgs, revs int
	}{
		{name: "empty", do: func() {}},
		{name: "one draft", do: func() { h.mustCreate(catalogID) }, pkgs: 1, revs: 1},
		{name: "a second revision", do: func() { h.mustCreate(catalogV2) }, pkgs: 1, revs: 2},
		{name: "another package", do: func() {
			id := catalogID
			id.Package = "other"
			h.mustCreate(id)
		}, pkgs: 2, revs: 3},
		{name: "a deleted revision", do: func() {
			if err := h.eng.DeletePackageRevision(h.ctx, testNS, nameOf(catalogV2)); err != nil {
				t.Fatal(err)
			}
		}, pkgs: 2, revs: 2},
	} {
		t.Run(tc.name, func(t *testing.T) {
			tc.do()
			if p, r := counts(); p != tc.pkgs || r != tc.revs {
				t.Fatalf("packageCount %d, revisionCount %d; want %d, %d", p, r, tc.pkgs, tc.revs)
			}
		})
	}
}
