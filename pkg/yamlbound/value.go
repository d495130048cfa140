package yamlbound

import (
	"fmt"

	"go.yaml.in/yaml/v3"
)

// maxValueDepth stops Value on trees that did not come from a Decoder; those
// that did are within Limits.MaxDepth already.
const maxValueDepth = 10_000

// Value returns the plain Go value of a node: map[string]any (map[any]any
// when a key is not a string), []any, and the scalars yaml.v3 resolves,
// following aliases and merge keys ("<<") as decoding into an `any` does.
// It exists because that decoding compares every pair of keys of a mapping
// and keeps an error for every equal pair, which is quadratic in time and
// memory; here a repeated key is one error found through a Go map.
func Value(n *yaml.Node) (any, error) {
	c := converter{active: map[*yaml.Node]bool{}}
	return c.value(n, 0)
}

type converter struct {
	active map[*yaml.Node]bool // anchored nodes being converted: a cycle check
}

func (c *converter) value(n *yaml.Node, depth int) (any, error) {
	if depth > maxValueDepth {
		return nil, fmt.Errorf("yaml: line %d: nesting of more than %d levels", n.Line, maxValueDepth)
	}
	if n.Anchor != "" {
		if c.active[n] {
			return nil, fmt.Errorf("yaml: line %d: anchor &%s: %w", n.Line, n.Anchor, errCycle)
		}
		c.active[n] = true
		defer delete(c.active, n)
	}
	switch n.Kind {
	case yaml.DocumentNode:
		if len(n.Content) == 0 {
			return nil, nil
		}
		return c.value(n.Content[0], depth)
	case yaml.AliasNode:
		if n.Alias == nil {
			return nil, fmt.Errorf("yaml: line %d: alias *%s names no anchor", n.Line, n.Value)
		}
		return c.value(n.Alias, depth)
	case yaml.SequenceNode:
		out := make([]any, len(n.Content))
		for i, e := range n.Content {
			v, err := c.value(e, depth+1)
			if err != nil {
				return nil, err
			}
			out[i] = v
		}
		return out, nil
	case yaml.MappingNode:
		return c.mapping(n, depth+1)
	case yaml.ScalarNode:
		return scalar(n)
	case 0:
		return nil, nil // the zero Node: an empty stream
	}
	return nil, fmt.Errorf("yaml: line %d: unknown node kind %d", n.Line, n.Kind)
}

// scalar resolves a scalar; strings and nulls, most of any file, skip the
// library's decoder.
func scalar(n *yaml.Node) (any, error) {
	switch n.ShortTag() {
	case "!!str":
		return n.Value, nil
	case "!!null":
		return nil, nil
	}
	var v any
	if err := n.Decode(&v); err != nil {
		return nil, err
	}
	return v, nil
}

// mapping converts a mapping. Keys written in it win over merged ones, and
// earlier merge sources over later ones (the YAML merge key rules).
func (c *converter) mapping(n *yaml.Node, depth int) (any, error) {
	var keys []any
	vals := map[any]any{}
	var merges []*yaml.Node
	for i := 0; i+1 < len(n.Content); i += 2 {
		kn, vn := n.Content[i], n.Content[i+1]
		if kn.Kind == yaml.ScalarNode && kn.ShortTag() == "!!merge" {
			if len(merges) > 0 {
				return nil, fmt.Errorf("yaml: line %d: mapping key \"<<\" already defined", kn.Line)
			}
			merges = append(merges, vn)
			continue
		}
		k, err := c.key(kn, depth)
		if err != nil {
			return nil, err
		}
		if _, dup := vals[k]; dup {
			return nil, fmt.Errorf("yaml: line %d: mapping key %q already defined", kn.Line, fmt.Sprint(k))
		}
		v, err := c.value(vn, depth)
		if err != nil {
			return nil, err
		}
		keys, vals[k] = append(keys, k), v
	}
	for _, m := range merges {
		srcs := []*yaml.Node{m}
		if r := resolve(m); r != nil && r.Kind == yaml.SequenceNode {
			srcs = r.Content
		}
		for _, src := range srcs {
			if r := resolve(src); r == nil || r.Kind != yaml.MappingNode {
				return nil, fmt.Errorf("yaml: line %d: map merge requires map or sequence of maps as the value", src.Line)
			}
			v, err := c.value(src, depth)
			if err != nil {
				return nil, err
			}
			for k, mv := range entries(v) {
				if _, ok := vals[k]; !ok {
					keys, vals[k] = append(keys, k), mv
				}
			}
		}
	}
	return build(keys, vals), nil
}

// key converts a mapping key, which must be a scalar to be hashable.
func (c *converter) key(n *yaml.Node, depth int) (any, error) {
	if r := resolve(n); r == nil || r.Kind != yaml.ScalarNode {
		return nil, fmt.Errorf("yaml: line %d: mapping key is not a scalar", n.Line)
	}
	return c.value(n, depth)
}

// resolve follows an alias to its anchor's node.
func resolve(n *yaml.Node) *yaml.Node {
	if n != nil && n.Kind == yaml.AliasNode {
		return n.Alias
	}
	return n
}

// entries iterates a converted mapping of either map type.
func entries(v any) func(func(any, any) bool) {
	return func(yield func(any, any) bool) {
		switch m := v.(type) {
		case map[string]any:
			for k, e := range m {
				if !yield(k, e) {
					return
				}
			}
		case map[any]any:
			for k, e := range m {
				if !yield(k, e) {
					return
				}
			}
		}
	}
}

// build makes a map[string]any when every key is a string, as yaml.v3 does.
func build(keys []any, vals map[any]any) any {
	for _, k := range keys {
		if _, ok := k.(string); !ok {
			return vals
		}
	}
	out := make(map[string]any, len(keys))
	for _, k := range keys {
		out[k.(string)] = vals[k]
	}
	return out
}
