package yamlbound

import (
	"errors"
	"fmt"
	"io"
	"strings"
	"testing"

	"go.yaml.in/yaml/v3"

	"pkgserver.dev/pkgserver/internal/hostile"
	"pkgserver.dev/pkgserver/pkg/errdef"
)

// small are limits low enough to reach in a table test.
var small = Limits{MaxDocuments: 3, MaxDocumentBytes: 256, MaxDepth: 5, MaxNodes: 40}

func TestLimits(t *testing.T) {
	tests := []struct {
		name  string
		lim   Limits
		text  string
		limit string // flag of the LimitError expected; "" means accepted
		line  int    // line of the LimitError, when not 0
	}{
		{"no documents", small, "", "", 0},
		{"documents at the limit", small, "a: 1\n---\nb: 2\n---\nc: 3\n", "", 0},
		{"documents over the limit", small, "a: 1\n---\nb: 2\n---\nc: 3\n---\nd: 4\n", FlagMaxDocuments, 7},
		{"empty documents count", small, "---\n---\n---\n---\n", FlagMaxDocuments, 0},
		{"document at the byte limit", small, "a: " + strings.Repeat("x", 256-4) + "\n", "", 0},
		{"document over the byte limit", small, "a: " + strings.Repeat("x", 256-3) + "\n", FlagMaxDocumentBytes, 1},
		{"second document over the byte limit", small, "a: 1\n---\nb: " + strings.Repeat("x", 260) + "\n", FlagMaxDocumentBytes, 2},
		// Sized before parsing: the syntax error behind the limit is never seen.
		{"oversized garbage refused unparsed", small, "[[[" + strings.Repeat("{", 300), FlagMaxDocumentBytes, 1},
		{"each document under, stream over", small, strings.Join([]string{"a: " + strings.Repeat("x", 200), "b: " + strings.Repeat("x", 200), "c: " + strings.Repeat("x", 200)}, "\n---\n"), "", 0},
		{"document end marker splits", small, "a: " + strings.Repeat("x", 200) + "\n...\n---\nb: " + strings.Repeat("y", 200) + "\n", "", 0},
		{"marker needs a blank after it", small, "a: " + strings.Repeat("x", 200) + "\n---x: " + strings.Repeat("y", 200) + "\n", FlagMaxDocumentBytes, 1},
		{"depth at the limit", small, "a: [[[[x]]]]\n", "", 0},
		{"depth over the limit", small, "a: [[[[[x]]]]]\n", FlagMaxDepth, 1},
		{"depth through an alias at the limit", small, "a: &a [[x]]\nb: [[*a]]\n", "", 0},
		{"depth through an alias over the limit", small, "a: &a [[x]]\nb: [[[*a]]]\n", FlagMaxDepth, 1},
		// 9 nodes without the aliases (see TestNodeCount), 4 per alias, 3 for c.
		{"nodes at the limit", small, "a: &a [x, y, z]\nb: [*a, *a, *a, *a, *a, *a, *a]\nc: [d]\n", "", 0},
		{"nodes over the limit", small, "a: &a [x, y, z]\nb: [*a, *a, *a, *a, *a, *a, *a]\nc: [d, e]\n", FlagMaxNodes, 1},
		{"nodes count across documents", small, "a: [" + strings.Repeat("x,", 20) + "x]\n---\nb: [" + strings.Repeat("x,", 20) + "x]\n", FlagMaxNodes, 0},
		{"alias bomb", DefaultLimits(), hostile.AliasBomb(9, 10), FlagMaxNodes, 0},
		{"deep nesting", DefaultLimits(), hostile.Nested(DefaultMaxDepth + 1), FlagMaxDepth, 0},
		{"deep nesting at the limit", DefaultLimits(), hostile.Nested(DefaultMaxDepth), "", 0},
		{"document count", DefaultLimits(), hostile.Documents(DefaultMaxDocuments + 1), FlagMaxDocuments, 0},
		{"document count at the limit", DefaultLimits(), hostile.Documents(DefaultMaxDocuments), "", 0},
		{"dense document", DefaultLimits(), hostile.Dense(DefaultMaxDocumentBytes + 1), FlagMaxDocumentBytes, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Documents(tt.text, NewBudget(tt.lim))
			if tt.limit == "" {
				if err != nil {
					t.Fatalf("Documents = %v, want no error", err)
				}
				return
			}
			var le *LimitError
			if !errors.As(err, &le) {
				t.Fatalf("Documents = %v, want a LimitError of --%s", err, tt.limit)
			}
			if le.Err.Name != tt.limit {
				t.Fatalf("Documents = %v, want the limit --%s", err, tt.limit)
			}
			if !errors.Is(err, errdef.ErrTooLarge) {
				t.Errorf("%v does not match errdef.ErrTooLarge", err)
			}
			if !strings.Contains(err.Error(), "--"+tt.limit) || !strings.Contains(err.Error(), "over the limit of") {
				t.Errorf("message %q does not name the limit", err)
			}
			if tt.line != 0 && le.Line != tt.line {
				t.Errorf("line %d, want %d", le.Line, tt.line)
			}
		})
	}
}

func TestNodeCount(t *testing.T) {
	// A document node, a mapping, two keys, a sequence of three scalars,
	// and six aliases of four nodes each: 1+1+2+4+1+6*4 = 33.
	b := NewBudget(small)
	if _, err := Documents("a: &a [x, y, z]\nb: [*a, *a, *a, *a, *a, *a]\n", b); err != nil {
		t.Fatal(err)
	}
	if b.used != 33 {
		t.Errorf("used %d nodes, want 33", b.used)
	}
}

func TestCycle(t *testing.T) {
	for _, text := range []string{"&a [*a]", "a: &m {b: *m}", "<<: &m {<<: *m}"} {
		_, err := Documents(text, NewBudget(small))
		if !errors.Is(err, errCycle) {
			t.Errorf("Documents(%q) = %v, want a cycle error", text, err)
		}
	}
}

func TestSyntaxErrorPassesThrough(t *testing.T) {
	d := NewDecoder("a: 1\n---\n[", NewBudget(small))
	if _, err := d.Next(); err != nil {
		t.Fatal(err)
	}
	_, err := d.Next()
	if err == nil || !strings.HasPrefix(err.Error(), "yaml: ") || errors.Is(err, errdef.ErrTooLarge) {
		t.Fatalf("Next = %v, want the parser's error", err)
	}
	if _, again := d.Next(); again != err {
		t.Errorf("error is not sticky: %v then %v", err, again)
	}
}

func TestEOF(t *testing.T) {
	d := NewDecoder("a: 1\n", NewBudget(small))
	if _, err := d.Next(); err != nil {
		t.Fatal(err)
	}
	for range 2 {
		if _, err := d.Next(); err != io.EOF {
			t.Fatalf("Next = %v, want io.EOF", err)
		}
	}
}

// TestLibraryGuards pins what yaml.v3 bounds by itself (see the package doc),
// so a change of the library shows up here.
func TestLibraryGuards(t *testing.T) {
	bomb := hostile.AliasBomb(9, 10)
	var v any
	if err := yaml.Unmarshal([]byte(bomb), &v); err == nil || !strings.Contains(err.Error(), "excessive aliasing") {
		t.Errorf("yaml.v3 into any: %v, want excessive aliasing", err)
	}
	var n yaml.Node
	if err := yaml.Unmarshal([]byte(bomb), &n); err != nil {
		t.Errorf("yaml.v3 into yaml.Node: %v, want no check at all", err)
	}
	// Equal keys: one error per pair of them, n*(n-1)/2.
	err := yaml.Unmarshal([]byte(hostile.DuplicateKeys(100)), &v)
	if err == nil || strings.Count(err.Error(), "already defined") != 100*99/2 {
		t.Errorf("yaml.v3 with 100 equal keys: %d errors, want one per pair", strings.Count(fmt.Sprint(err), "already defined"))
	}
	// Each document stays under the ratio (300,000 nodes, 99% from
	// aliases), so every Decode passes: the stream costs their sum.
	doc := hostile.AliasFanout(3000, 100)
	stream := strings.Repeat(doc+"---\n", 19) + doc
	dec := yaml.NewDecoder(strings.NewReader(stream))
	docs := 0
	for {
		var v any
		err := dec.Decode(&v)
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatalf("yaml.v3 document %d: %v", docs+1, err)
		}
		docs++
	}
	if docs != 20 {
		t.Fatalf("decoded %d documents", docs)
	}
	if _, err := Documents(stream, NewBudget(DefaultLimits())); !errors.Is(err, errdef.ErrTooLarge) {
		t.Errorf("Documents = %v, want the node budget to refuse the stream", err)
	}
}

func TestDefaults(t *testing.T) {
	if got := (Limits{MaxDepth: 7}).WithDefaults(); got.MaxDepth != 7 || got.MaxNodes != DefaultMaxNodes ||
		got.MaxDocuments != DefaultMaxDocuments || got.MaxDocumentBytes != DefaultMaxDocumentBytes {
		t.Errorf("WithDefaults = %+v", got)
	}
}
