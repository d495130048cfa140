package yamlbound

import (
	"errors"
	"io"
	"testing"

	"pkgserver.dev/pkgserver/internal/hostile"
	"pkgserver.dev/pkgserver/pkg/errdef"
)

// FuzzDecoder: whatever the text, decoding stays within the limits and
// never panics; what is accepted converts to values no larger than the
// node budget.
func FuzzDecoder(f *testing.F) {
	for _, s := range []string{
		"a: 1\n", "&a [*a]", "<<: &m {<<: *m}", "a: &a [x]\nb: [*a, *a]\n", "---\n---\n...\n",
		"? [a]\n: 1\n", "a: 1\na: 2\n", "m:\n  <<: [&b {p: 1}, *b]\n",
		hostile.AliasBomb(6, 6), hostile.Nested(8), hostile.Documents(5), hostile.DuplicateKeys(30),
	} {
		f.Add(s)
	}
	lim := Limits{MaxDocuments: 4, MaxDocumentBytes: 2048, MaxDepth: 6, MaxNodes: 300}
	f.Fuzz(func(t *testing.T, text string) {
		b := NewBudget(lim)
		d := NewDecoder(text, b)
		for docs := 0; ; docs++ {
			n, err := d.Next()
			if err == io.EOF {
				return
			}
			if err != nil {
				var le *LimitError
				if errors.As(err, &le) && !errors.Is(err, errdef.ErrTooLarge) {
					t.Fatalf("LimitError %v does not match ErrTooLarge", err)
				}
				return
			}
			if docs >= lim.MaxDocuments || b.used > lim.MaxNodes {
				t.Fatalf("accepted %d documents, %d nodes", docs+1, b.used)
			}
			v, err := Value(n)
			if err != nil {
				continue
			}
			if c := count(v); c > b.used {
				t.Fatalf("value of %d nodes from a document charged %d in all", c, b.used)
			}
		}
	})
}

// count is the number of values in v, map keys included.
func count(v any) int {
	n := 1
	switch v := v.(type) {
	case []any:
		for _, e := range v {
			n += count(e)
		}
	case map[string]any:
		for _, e := range v {
			n += 1 + count(e)
		}
	case map[any]any:
		for _, e := range v {
			n += 1 + count(e)
		}
	}
	return n
}
