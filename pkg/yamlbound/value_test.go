package yamlbound

import (
	"errors"
	"reflect"
	"strings"
	"testing"
	"time"

	"go.yaml.in/yaml/v3"

	"pkgserver.dev/pkgserver/internal/hostile"
	"pkgserver.dev/pkgserver/pkg/errdef"
)

func parseOne(t testing.TB, text string) *yaml.Node {
	t.Helper()
	docs, err := Documents(text, NewBudget(DefaultLimits()))
	if err != nil || len(docs) != 1 {
		t.Fatalf("Documents(%q) = %d, %v", text, len(docs), err)
	}
	return docs[0]
}

// TestValueMatchesLibrary: Value gives what yaml.v3's decoding into an `any` gives.
func TestValueMatchesLibrary(t *testing.T) {
	for _, text := range []string{
		"a: 1\nb: 1.5\nc: true\nd: ~\ne: x\nf: '1'\ng: 0x10\nh: .inf\n",
		"- 1\n- [a, b]\n- {c: d}\n",
		"1: a\n2: b\n",
		"a: &x {p: 1, q: 2}\nb: *x\n",
		"base: &b {p: 1, q: 2}\nm:\n  <<: *b\n  q: 3\n",
		"b1: &b1 {p: 1}\nb2: &b2 {p: 2, r: 3}\nm:\n  <<: [*b1, *b2]\n",
		"m:\n  <<: {p: 1}\n  s: 2\n",
		"t: 2001-12-14t21:59:43.10-05:00\n",
		"bin: !!binary aGVsbG8=\n",
		"s: !!str 12\n",
		"hello\n",
		"",
		hostile.Documents(1),
		hostile.AliasFanout(10, 10),
	} {
		var want any
		if err := yaml.Unmarshal([]byte(text), &want); err != nil {
			t.Fatalf("yaml.Unmarshal(%q): %v", text, err)
		}
		var n yaml.Node
		if err := yaml.Unmarshal([]byte(text), &n); err != nil {
			t.Fatal(err)
		}
		got, err := Value(&n)
		if err != nil {
			t.Errorf("Value(%q): %v", text, err)
			continue
		}
		if !reflect.DeepEqual(got, want) {
			t.Errorf("Value(%q) = %#v, want %#v", text, got, want)
		}
	}
}

func TestValueErrors(t *testing.T) {
	tests := []struct{ text, want string }{
		{"a: 1\na: 2\n", `line 2: mapping key "a" already defined`},
		{"m:\n  <<: {a: 1}\n  <<: {b: 1}\n", `mapping key "<<" already defined`},
		{"m:\n  <<: [1]\n", "map merge requires map"},
		{"m:\n  <<: 1\n", "map merge requires map"},
		{"? [a]\n: 1\n", "mapping key is not a scalar"},
	}
	for _, tt := range tests {
		var n yaml.Node
		if err := yaml.Unmarshal([]byte(tt.text), &n); err != nil {
			t.Fatal(err)
		}
		if _, err := Value(&n); err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("Value(%q) = %v, want %q", tt.text, err, tt.want)
		}
	}
	// A cycle built by the parser (an anchor inside itself).
	var n yaml.Node
	if err := yaml.Unmarshal([]byte("&a [*a]"), &n); err != nil {
		t.Fatal(err)
	}
	if _, err := Value(&n); !errors.Is(err, errCycle) {
		t.Errorf("Value(&a [*a]) = %v, want a cycle error", err)
	}
}

// TestValueDuplicateKeysLinear: many equal keys are one error, found fast.
// yaml.v3 keeps an error per pair: 20,000 keys would be 200 million.
func TestValueDuplicateKeysLinear(t *testing.T) {
	n := parseOne(t, hostile.DuplicateKeys(20_000))
	start := time.Now()
	_, err := Value(n)
	if err == nil || !strings.Contains(err.Error(), "already defined") {
		t.Fatalf("Value = %v, want a duplicate key error", err)
	}
	if d := time.Since(start); d > 2*time.Second {
		t.Errorf("Value took %v", d)
	}
}

func TestToJSON(t *testing.T) {
	tests := []struct {
		name, in, want string
		limit          string
	}{
		{"JSON as is", `{"a": [1, 2]}`, `{"a": [1, 2]}`, ""},
		{"YAML", "a: [1, 2]\nb: yes\n", `{"a":[1,2],"b":true}`, ""},
		{"first document", "a: 1\n---\nb: 2\n", `{"a":1}`, ""},
		{"alias bomb", hostile.AliasBomb(9, 10), "", FlagMaxNodes},
		{"deep", hostile.Nested(DefaultMaxDepth + 1), "", FlagMaxDepth},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := ToJSON([]byte(tt.in), DefaultLimits())
			if tt.limit != "" {
				var le *errdef.LimitError
				if !errors.As(err, &le) || le.Name != tt.limit {
					t.Fatalf("ToJSON = %v, want --%s", err, tt.limit)
				}
				return
			}
			if err != nil || string(got) != tt.want {
				t.Fatalf("ToJSON = %s, %v; want %s", got, err, tt.want)
			}
		})
	}
}
