package engine_test

import (
	"errors"
	"testing"

	"github.com/opencontainers/go-digest"

	configapi "pkgserver.dev/pkgserver/api/config/v1alpha1"
	pkgapi "pkgserver.dev/pkgserver/api/pkg/v1alpha1"
	"pkgserver.dev/pkgserver/internal/testregistry"
	"pkgserver.dev/pkgserver/pkg/errdef"
)

// TestCheckRegistryWrite: the rules /v2/ applies under registered prefixes.
func TestCheckRegistryWrite(t *testing.T) {
	h := newHarness(t, embeddedBackend())
	h.createRepo("blueprints", false)
	id := pkgapi.PackageRevID{Target: "catalog", Repository: "blueprints", Package: "app", Workspace: "one"}
	v1 := h.publish(h.mustCreate(id).Name)
	id.Workspace = "two"
	v2name := h.mustCreate(id, pkgapi.Task{Type: pkgapi.TaskTypeEdit, Edit: &pkgapi.EditTask{Source: pkgapi.UpstreamRef{Name: v1.Name}}}).Name
	v2 := h.publish(v2name)
	if _, err := h.approve(v2.Name, pkgapi.LifecycleDeletionProposed); err != nil {
		t.Fatal(err)
	}
	if err := h.eng.DeletePackageRevision(h.ctx, testNS, v2.Name); err != nil {
		t.Fatal(err)
	}
	path := testNS + "/blueprints/app"
	d1 := digest.Digest(v1.Status.OCI.Digest)
	other := digest.FromString("other")
	tombstone := h.tags(path)["v2.deleted"]

	tests := []struct {
		name      string
		path, tag string
		dgst      digest.Digest
		deleteTag bool
		forbidden bool
	}{
		{"outside registered prefixes", "elsewhere/app", "v1", other, false, false},
		{"a new vN", path, "v3", other, false, false},
		{"v1 again, same manifest", path, "v1", d1, false, false},
		{"v1 to another manifest", path, "v1", other, false, true},
		{"delete tag v1", path, "v1", d1, true, true},
		{"delete manifest of v1", path, "", d1, false, true},
		{"reuse the number of a deleted revision", path, "v2", other, false, true},
		{"delete a tombstone tag", path, "v2.deleted", tombstone, true, true},
		{"delete a tombstone manifest", path, "", tombstone, false, true},
		{"a draft tag", path, "ws.next", other, false, false},
		{"delete a draft tag", path, "ws.next", other, true, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := h.eng.CheckRegistryWrite(h.ctx, tt.path, tt.tag, tt.dgst, tt.deleteTag)
			if got := errors.Is(err, errdef.ErrForbidden); got != tt.forbidden {
				t.Fatalf("CheckRegistryWrite = %v, forbidden %v, want %v", err, got, tt.forbidden)
			}
		})
	}
}

// TestUpdateKeepsGatesLeftOut: a PUT of just the lifecycle (the README's
// propose) must not drop readiness gates; an explicit [] removes them.
func TestUpdateKeepsGatesLeftOut(t *testing.T) {
	h := newHarness(t, embeddedBackend())
	h.createRepo("blueprints", false)
	pr := h.mustCreate(pkgapi.PackageRevID{Target: "catalog", Repository: "blueprints", Package: "app", Workspace: "one"})
	pr.Spec.ReadinessGates = []pkgapi.ReadinessGate{{ConditionType: "Tested"}}
	pr, err := h.eng.UpdatePackageRevision(h.ctx, pr)
	if err != nil {
		t.Fatal(err)
	}
	propose := &pkgapi.PackageRevision{ObjectMeta: pr.ObjectMeta, Spec: pkgapi.PackageRevisionSpec{Lifecycle: pkgapi.LifecycleProposed}}
	if pr, err = h.eng.UpdatePackageRevision(h.ctx, propose); err != nil {
		t.Fatal(err)
	}
	if len(pr.Spec.ReadinessGates) != 1 {
		t.Fatalf("gates after a PUT without them: %+v", pr.Spec.ReadinessGates)
	}
	if _, err := h.approve(pr.Name, pkgapi.LifecyclePublished); !errors.Is(err, errdef.ErrInvalid) {
		t.Fatalf("approve with an unmet gate: %v, want ErrInvalid", err)
	}
	pr.Spec.ReadinessGates = []pkgapi.ReadinessGate{}
	if pr, err = h.eng.UpdatePackageRevision(h.ctx, pr); err != nil || len(pr.Spec.ReadinessGates) != 0 {
		t.Fatalf("explicit [] keeps gates %+v (%v)", pr.Spec.ReadinessGates, err)
	}
}

// TestRepositoryReady: Ready says whether the registry answers, from the start.
func TestRepositoryReady(t *testing.T) {
	h := newHarness(t, embeddedBackend())
	reg := testregistry.Start(t)
	for _, tt := range []struct {
		name, registry, want string
	}{
		{"embedded", "", "True"},
		{"reachable", reg + "/pkgs/up", "True"},
		{"unreachable", "127.0.0.1:1/pkgs/down", "False"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			r := &configapi.Repository{ObjectMeta: metaNS(tt.name)}
			if tt.registry != "" {
				r.Spec.OCI = &configapi.OCIRepository{Registry: tt.registry, PlainHTTP: true}
			}
			got, err := h.eng.CreateRepository(h.ctx, r)
			if err != nil {
				t.Fatal(err)
			}
			if c := got.Status.Conditions; len(c) != 1 || c[0].Type != "Ready" || string(c[0].Status) != tt.want {
				t.Fatalf("conditions %+v, want Ready %s", c, tt.want)
			}
		})
	}
}
