package upgrade

import (
	"bytes"
	"reflect"
	"strconv"
	"strings"

	"go.yaml.in/yaml/v3"

	"pkgserver.dev/pkgserver/pkg/yamlbound"
)

// step is one segment of a field path: a mapping key, or the element of a
// list whose listKey field equals listVal.
type step struct {
	key              string
	listKey, listVal string
}

// fieldConflict is a field both sides changed to different values.
type fieldConflict struct {
	path            []step
	local, upstream *yaml.Node // nil when absent on that side
}

// listKeys are the fields that identify the elements of a list of mappings,
// in kpt's order of preference (kpt pkg update, "Merge rules").
var listKeys = []string{"name", "mountPath", "devicePath", "ip", "type", "topologyKey", "containerPort"}

// checker holds the three versions of one resource and the merged one. It
// walks them together and makes every field of merged follow the three-way
// rule: the local value if local changed it, else the upstream value. Where
// both changed it to different values the local value is kept and the field
// is reported.
type checker struct {
	merged    *yaml.Node
	conflicts []fieldConflict
}

// walk visits one field; o, u, l are its values, nil when absent.
func (c *checker) walk(path []step, o, u, l *yaml.Node) {
	// Both sides hold a mapping, or a list of named elements: go down. An
	// original of another kind counts as absent, as if both sides added it.
	switch {
	case isKind(l, yaml.MappingNode) && isKind(u, yaml.MappingNode):
		if !isKind(o, yaml.MappingNode) {
			o = nil
		}
		for _, k := range mapKeys(l, u, o) {
			c.walk(append(path, step{key: k}), field(o, k), field(u, k), field(l, k))
		}
		return
	case isKind(l, yaml.SequenceNode) && isKind(u, yaml.SequenceNode):
		oo := o
		if !isKind(oo, yaml.SequenceNode) {
			oo = nil
		}
		if key := listKey(oo, u, l); key != "" {
			for _, v := range elementKeys(key, l, u, oo) {
				c.walk(append(path, step{listKey: key, listVal: v}), element(oo, key, v), element(u, key, v), element(l, key, v))
			}
			return
		}
	}
	changedL, changedU := !equal(l, o), !equal(u, o)
	want := u
	if changedL {
		want = l
		if changedU && !equal(l, u) {
			c.conflicts = append(c.conflicts, fieldConflict{path: clone(path), local: l, upstream: u})
		}
	}
	if !equal(lookup(c.merged, path), want) {
		if want == nil {
			remove(c.merged, path)
		} else {
			set(c.merged, path, deepCopy(want))
		}
	}
}

func isKind(n *yaml.Node, k yaml.Kind) bool { return n != nil && n.Kind == k }

func clone(p []step) []step { return append([]step(nil), p...) }

// mapKeys returns the keys of the mappings in order of first appearance.
func mapKeys(maps ...*yaml.Node) []string {
	seen := map[string]bool{}
	var keys []string
	for _, m := range maps {
		if m == nil {
			continue
		}
		for i := 0; i+1 < len(m.Content); i += 2 {
			k := m.Content[i]
			if k.Kind == yaml.ScalarNode && !seen[k.Value] {
				seen[k.Value] = true
				keys = append(keys, k.Value)
			}
		}
	}
	return keys
}

// listKey returns the field that names every element of the lists uniquely,
// or "" if the lists must be compared whole.
func listKey(lists ...*yaml.Node) string {
	n := 0
	for _, l := range lists {
		if l != nil {
			n += len(l.Content)
		}
	}
	if n == 0 {
		return ""
	}
next:
	for _, key := range listKeys {
		for _, l := range lists {
			if l == nil {
				continue
			}
			seen := map[string]bool{}
			for _, e := range l.Content {
				v := field(e, key)
				if v == nil || v.Kind != yaml.ScalarNode || v.Value == "" || seen[v.Value] {
					continue next
				}
				seen[v.Value] = true
			}
		}
		return key
	}
	return ""
}

// elementKeys returns the values of key in the lists, in order of first appearance.
func elementKeys(key string, lists ...*yaml.Node) []string {
	seen := map[string]bool{}
	var vals []string
	for _, l := range lists {
		if l == nil {
			continue
		}
		for _, e := range l.Content {
			if v := scalar(e, key); v != "" && !seen[v] {
				seen[v] = true
				vals = append(vals, v)
			}
		}
	}
	return vals
}

// element returns the element of list whose key field is val, or nil.
func element(list *yaml.Node, key, val string) *yaml.Node {
	if list == nil || list.Kind != yaml.SequenceNode {
		return nil
	}
	for _, e := range list.Content {
		if scalar(e, key) == val {
			return e
		}
	}
	return nil
}

// lookup returns the value at path under root, or nil.
func lookup(root *yaml.Node, path []step) *yaml.Node {
	n := root
	for _, s := range path {
		if s.listKey == "" {
			n = field(n, s.key)
		} else {
			n = element(n, s.listKey, s.listVal)
		}
		if n == nil {
			return nil
		}
	}
	return n
}

// set puts v at path under root, creating the mappings and list elements on
// the way; a value of the wrong kind on the way is replaced.
func set(root *yaml.Node, path []step, v *yaml.Node) {
	n := root
	for i, s := range path {
		last := i == len(path)-1
		if s.listKey == "" {
			if n.Kind != yaml.MappingNode {
				*n = yaml.Node{Kind: yaml.MappingNode, Tag: "!!map"}
			}
			child := field(n, s.key)
			switch {
			case child == nil:
				child = v
				if !last {
					child = &yaml.Node{Kind: yaml.MappingNode, Tag: "!!map"}
				}
				n.Content = append(n.Content, &yaml.Node{Kind: yaml.ScalarNode, Tag: "!!str", Value: s.key}, child)
			case last:
				*child = *v
			}
			n = child
			continue
		}
		if n.Kind != yaml.SequenceNode {
			*n = yaml.Node{Kind: yaml.SequenceNode, Tag: "!!seq"}
		}
		child := element(n, s.listKey, s.listVal)
		switch {
		case child == nil:
			child = v
			if !last {
				child = &yaml.Node{Kind: yaml.MappingNode, Tag: "!!map", Content: []*yaml.Node{
					{Kind: yaml.ScalarNode, Tag: "!!str", Value: s.listKey},
					{Kind: yaml.ScalarNode, Tag: "!!str", Value: s.listVal},
				}}
			}
			n.Content = append(n.Content, child)
		case last:
			*child = *v
		}
		n = child
	}
}

// remove deletes the value at path under root, if it is there.
func remove(root *yaml.Node, path []step) {
	if len(path) == 0 {
		return
	}
	parent := lookup(root, path[:len(path)-1])
	if parent == nil {
		return
	}
	s := path[len(path)-1]
	switch {
	case s.listKey == "" && parent.Kind == yaml.MappingNode:
		for i := 0; i+1 < len(parent.Content); i += 2 {
			if k := parent.Content[i]; k.Kind == yaml.ScalarNode && k.Value == s.key {
				parent.Content = append(parent.Content[:i], parent.Content[i+2:]...)
				return
			}
		}
	case s.listKey != "" && parent.Kind == yaml.SequenceNode:
		for i, e := range parent.Content {
			if scalar(e, s.listKey) == s.listVal {
				parent.Content = append(parent.Content[:i], parent.Content[i+1:]...)
				return
			}
		}
	}
}

// deepCopy copies a node tree; aliases keep pointing at their anchors.
func deepCopy(n *yaml.Node) *yaml.Node {
	if n == nil {
		return nil
	}
	c := *n
	c.Content = make([]*yaml.Node, len(n.Content))
	for i, e := range n.Content {
		c.Content[i] = deepCopy(e)
	}
	return &c
}

// equal reports whether two values are the same data, ignoring comments,
// styles and key order; nil (absent) equals only nil.
func equal(a, b *yaml.Node) bool {
	if a == nil || b == nil {
		return a == b
	}
	va, errA := decode(a)
	vb, errB := decode(b)
	if errA == nil && errB == nil {
		return reflect.DeepEqual(va, vb)
	}
	// Not decodable (duplicate keys, too many aliases): compare the text.
	return render(a) == render(b)
}

// decode turns a node into plain Go values, linear in its size even with
// many keys (yaml.v3's own decoding is quadratic in the keys of a mapping).
func decode(n *yaml.Node) (any, error) { return yamlbound.Value(n) }

// panicError is a panic of the YAML encoder, which gets outside input.
type panicError struct{}

func (panicError) Error() string { return "yaml: internal error" }

var errPanic error = panicError{}

// render is the YAML text of a value, as a conflict shows it; "" for nil.
func render(n *yaml.Node) string {
	if n == nil {
		return ""
	}
	var b bytes.Buffer
	if err := encode(&b, false, n); err != nil {
		return "<" + err.Error() + ">"
	}
	return strings.TrimSuffix(b.String(), "\n")
}

// encode writes nodes as a YAML stream, the way kpt writes files: two
// spaces, lists compact or wide as the file had them.
func encode(w *bytes.Buffer, wide bool, nodes ...*yaml.Node) (err error) {
	defer func() {
		if r := recover(); r != nil {
			err = errPanic
		}
	}()
	enc := yaml.NewEncoder(w)
	enc.SetIndent(2)
	if !wide {
		enc.CompactSeqIndent()
	}
	for _, n := range nodes {
		if err := enc.Encode(n); err != nil {
			return err
		}
	}
	return enc.Close()
}

// fieldPath renders a path as spec.template.spec.containers[name=app].image;
// keys that would be ambiguous are quoted: metadata.annotations["a.b/c"].
func fieldPath(path []step) string {
	var b strings.Builder
	for _, s := range path {
		switch {
		case s.listKey != "":
			b.WriteString("[" + s.listKey + "=" + s.listVal + "]")
		case s.key == "" || strings.ContainsAny(s.key, ".[]=\" \t\n"):
			b.WriteString("[" + strconv.Quote(s.key) + "]")
		default:
			if b.Len() > 0 {
				b.WriteByte('.')
			}
			b.WriteString(s.key)
		}
	}
	return b.String()
}
