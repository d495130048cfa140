package diff

import (
	"errors"
	"runtime"
	"strings"
	"testing"

	"pkgserver.dev/pkgserver/internal/hostile"
	"pkgserver.dev/pkgserver/pkg/errdef"
	"pkgserver.dev/pkgserver/pkg/yamlbound"
)

// allocated is how many bytes f allocates.
func allocated(f func()) uint64 {
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	f()
	runtime.ReadMemStats(&after)
	return after.TotalAlloc - before.TotalAlloc
}

// TestResourcesHostile: YAML that cost gigabytes to compare is refused at a
// small cost. Each case was accepted before, or took far more memory.
func TestResourcesHostile(t *testing.T) {
	base := map[string]string{"cm.yaml": "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: cm\n"}
	tests := []struct {
		name, text string
		maxAlloc   uint64
	}{
		// yaml.v3 keeps an error per pair of equal keys: 4.5 million here.
		{"duplicate keys", hostile.DuplicateKeys(3000), 8 << 20},
		// Each document passes yaml.v3's alias ratio; together they do not.
		{"aliases across documents", strings.Repeat(hostile.AliasFanout(3000, 100)+"---\n", 4) + hostile.AliasFanout(3000, 100), 64 << 20},
		{"alias bomb", hostile.AliasBomb(9, 10), 8 << 20},
		{"deep nesting", hostile.Nested(yamlbound.DefaultMaxDepth + 1), 8 << 20},
		{"many documents", hostile.Documents(yamlbound.DefaultMaxDocuments + 1), 64 << 20},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var err error
			n := allocated(func() { _, err = Resources(base, map[string]string{"cm.yaml": base["cm.yaml"], "x.yaml": tt.text}) })
			if !errors.Is(err, errdef.ErrInvalid) || !strings.Contains(err.Error(), `resources["x.yaml"]`) {
				t.Fatalf("Resources = %v, want ErrInvalid about x.yaml", err)
			}
			if n > tt.maxAlloc {
				t.Errorf("allocated %d MiB, want at most %d MiB", n>>20, tt.maxAlloc>>20)
			}
		})
	}
}

func TestResourcesLimits(t *testing.T) {
	obj := "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: x\n" // 10 nodes
	lim := yamlbound.Limits{MaxNodes: 20}
	pkg := func(n int) map[string]string {
		return map[string]string{"a.yaml": strings.TrimSuffix(strings.Repeat(obj+"---\n", n), "---\n")}
	}
	// Each package has its own budget.
	if _, err := Resources(pkg(2), pkg(2), WithLimits(lim)); err != nil {
		t.Errorf("Resources at the limit = %v", err)
	}
	_, err := Resources(pkg(2), pkg(3), WithLimits(lim))
	var le *errdef.LimitError
	if !errors.As(err, &le) || le.Name != yamlbound.FlagMaxNodes {
		t.Errorf("Resources over the limit = %v, want --%s", err, yamlbound.FlagMaxNodes)
	}
}

func TestDigest(t *testing.T) {
	same := [][2]string{
		{"a: 1\nb: [x, y]\n", "b: [x, y]\na: 1\n"},
		{"a: .nan\n", "a: .NaN\n"},
		{"a: &x {p: 1}\nb: *x\n", "a: {p: 1}\nb: {p: 1}\n"},
		{"1: a\n2: b\n", "2: b\n1: a\n"},
	}
	different := [][2]string{
		{"a: 1\n", "a: '1'\n"},
		{"a: 1\n", "a: 1.0\n"},
		{"a: [ab]\n", "a: [a, b]\n"},
		{"a: ~\n", "a: ''\n"},
		{"a: {}\n", "a: []\n"},
		{"1: a\n", "'1': a\n"},
	}
	sum := func(text string) [32]byte {
		docs, err := yamlbound.Documents(text, yamlbound.NewBudget(yamlbound.DefaultLimits()))
		if err != nil {
			t.Fatal(err)
		}
		v, err := yamlbound.Value(docs[0])
		if err != nil {
			t.Fatal(err)
		}
		return digest(v)
	}
	for _, p := range same {
		if sum(p[0]) != sum(p[1]) {
			t.Errorf("%q and %q differ", p[0], p[1])
		}
	}
	for _, p := range different {
		if sum(p[0]) == sum(p[1]) {
			t.Errorf("%q and %q are the same", p[0], p[1])
		}
	}
}
