package engine_test

import (
	"errors"
	"testing"

	configapi "pkgserver.dev/pkgserver/api/config/v1alpha1"
	pkgapi "pkgserver.dev/pkgserver/api/pkg/v1alpha1"
	"pkgserver.dev/pkgserver/internal/testregistry"
	"pkgserver.dev/pkgserver/pkg/errdef"
)

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
