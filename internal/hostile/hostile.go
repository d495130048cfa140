// Package hostile builds the hostile inputs that the limit tests, fuzz seeds
// and the end-to-end memory test send: YAML bombs and a JSON patch bomb.
package hostile

import (
	"fmt"
	"strings"
)

// header starts every KRM object built here.
func header(name string) string {
	return "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: " + name + "\n"
}

// AliasBomb is a KRM object whose data, aliases expanded, holds about
// width^levels nodes in a few hundred bytes ("billion laughs").
func AliasBomb(levels, width int) string {
	var b strings.Builder
	b.WriteString(header("bomb"))
	b.WriteString("data:\n  a0: &a0 lol\n")
	for i := 1; i <= levels; i++ {
		fmt.Fprintf(&b, "  a%d: &a%d [", i, i)
		for j := range width {
			if j > 0 {
				b.WriteString(",")
			}
			fmt.Fprintf(&b, "*a%d", i-1)
		}
		b.WriteString("]\n")
	}
	return b.String()
}

// AliasFanout is a KRM object whose data holds one anchored list of items
// scalars and refs aliases to it: 3+items nodes written, about
// refs*(items+1) more when aliases are expanded.
func AliasFanout(items, refs int) string {
	var b strings.Builder
	b.WriteString(header("fanout"))
	b.WriteString("data:\n  list: &l [" + strings.Repeat("x,", items-1) + "x]\n  refs: [")
	b.WriteString(strings.TrimSuffix(strings.Repeat("*l,", refs), ","))
	b.WriteString("]\n")
	return b.String()
}

// Nested is a KRM object whose deepest nesting of mappings and sequences is
// exactly depth levels (depth >= 2; the object's mapping is the first).
func Nested(depth int) string {
	return header("deep") + "spec: " + strings.Repeat("[", depth-1) + strings.Repeat("]", depth-1) + "\n"
}

// Documents is a YAML stream of n KRM objects.
func Documents(n int) string {
	var b strings.Builder
	for i := range n {
		if i > 0 {
			b.WriteString("---\n")
		}
		b.WriteString(header(fmt.Sprintf("doc%d", i)))
	}
	return b.String()
}

// DuplicateKeys is a KRM object whose data sets the same key n times: a
// small file for which decoding into Go values with yaml.v3 keeps an error
// per pair of keys.
func DuplicateKeys(n int) string {
	return header("dup") + "data:\n" + strings.Repeat("  k: v\n", n)
}

// Dense is one KRM object of exactly size bytes of the densest YAML: a flow
// sequence of one-character scalars, a node per two bytes.
func Dense(size int) string {
	h := header("dense") + "spec: ["
	n := max((size-len(h)-2)/2, 1)
	body := h + strings.Repeat("0,", n-1) + "0]"
	return body + strings.Repeat(" ", max(size-len(body)-1, 0)) + "\n"
}

// DenseMap is one KRM object of exactly size bytes of the YAML with the most
// nodes per byte: a flow mapping of one-character keys without values, two
// nodes (a key and its null) per two bytes.
func DenseMap(size int) string {
	h := header("densemap") + "spec: {"
	n := max((size-len(h)-2)/2, 1)
	body := h + strings.Repeat("a,", n-1) + "a}"
	return body + strings.Repeat(" ", max(size-len(body)-1, 0)) + "\n"
}

// CopyPatch is a JSON patch (RFC 6902) of n operations that doubles the
// value at path with each copy, so n operations grow it 2^n times.
func CopyPatch(path string, n int) string {
	ops := make([]string, 0, 2*n)
	ops = append(ops, fmt.Sprintf(`{"op":"add","path":%q,"value":{"v":"0123456789abcdef"}}`, path))
	for i := range n {
		ops = append(ops, fmt.Sprintf(`{"op":"copy","from":%q,"path":"%s/c%d"}`, path, path, i))
	}
	return "[" + strings.Join(ops, ",") + "]"
}
