package upgrade

import (
	"errors"
	"runtime"
	"strings"
	"testing"

	"pkgserver.dev/pkgserver/internal/hostile"
	"pkgserver.dev/pkgserver/pkg/errdef"
	"pkgserver.dev/pkgserver/pkg/yamlbound"
)

// TestUpgradeHostile: a hostile file in any of the three packages fails the
// upgrade with the limit it went over. Each was merged before.
func TestUpgradeHostile(t *testing.T) {
	pkgWith := func(text string) map[string]string {
		return map[string]string{"Kptfile": "apiVersion: kpt.dev/v1\nkind: Kptfile\nmetadata:\n  name: p\n", "x.yaml": text}
	}
	ok := pkgWith("apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: x\n")
	tests := []struct {
		name, text, limit string
	}{
		{"alias bomb", hostile.AliasBomb(9, 10), yamlbound.FlagMaxNodes},
		{"deep nesting", hostile.Nested(yamlbound.DefaultMaxDepth + 1), yamlbound.FlagMaxDepth},
		{"many documents", hostile.Documents(yamlbound.DefaultMaxDocuments + 1), yamlbound.FlagMaxDocuments},
		{"dense document", hostile.Dense(yamlbound.DefaultMaxDocumentBytes + 1), yamlbound.FlagMaxDocumentBytes},
	}
	for _, tt := range tests {
		for side := range 3 {
			pkgs := []map[string]string{ok, ok, ok}
			pkgs[side] = pkgWith(tt.text)
			_, err := Upgrade(pkgs[0], pkgs[1], pkgs[2], ResourceMerge)
			var le *errdef.LimitError
			if !errors.Is(err, errdef.ErrInvalid) || !errors.As(err, &le) || le.Name != tt.limit || !strings.Contains(err.Error(), `resources["x.yaml"]`) {
				t.Errorf("%s in package %d: Upgrade = %v, want ErrInvalid naming x.yaml and --%s", tt.name, side, err, tt.limit)
			}
		}
	}
}

// TestUpgradeSharedBudget: the three packages are held at once, under one budget.
func TestUpgradeSharedBudget(t *testing.T) {
	p := map[string]string{"a.yaml": "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: x\n"} // 10 nodes
	if _, err := Upgrade(p, p, p, ResourceMerge, WithLimits(yamlbound.Limits{MaxNodes: 30})); err != nil {
		t.Errorf("Upgrade at the limit = %v", err)
	}
	_, err := Upgrade(p, p, p, ResourceMerge, WithLimits(yamlbound.Limits{MaxNodes: 29}))
	if !errors.Is(err, errdef.ErrTooLarge) || !strings.Contains(err.Error(), "--"+yamlbound.FlagMaxNodes) {
		t.Errorf("Upgrade over the limit = %v, want --%s", err, yamlbound.FlagMaxNodes)
	}
}

// TestUpgradeDuplicateKeys: a resource with many equal keys, changed on both
// sides, is compared at a small cost (yaml.v3 kept an error per pair).
func TestUpgradeDuplicateKeys(t *testing.T) {
	dup := hostile.DuplicateKeys(3000)
	o := map[string]string{"a.yaml": dup + "  o: 1\n"}
	u := map[string]string{"a.yaml": dup + "  u: 1\n"}
	l := map[string]string{"a.yaml": dup + "  l: 1\n"}
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	if _, err := Upgrade(o, u, l, ResourceMerge); err != nil {
		t.Fatal(err)
	}
	runtime.ReadMemStats(&after)
	if n := after.TotalAlloc - before.TotalAlloc; n > 128<<20 {
		t.Errorf("Upgrade allocated %d MiB", n>>20)
	}
}
