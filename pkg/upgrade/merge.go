package upgrade

import (
	"bytes"
	"strings"

	"go.yaml.in/yaml/v3"
	kyaml "sigs.k8s.io/kustomize/kyaml/yaml"
	"sigs.k8s.io/kustomize/kyaml/yaml/merge3"

	"pkgserver.dev/pkgserver/pkg/yamlbound"
)

// merger collects the outcome of a resource merge.
type merger struct {
	o, u, l   *pkg
	replaced  map[*doc]*yaml.Node // local object → new body; nil deletes it
	added     map[string][]*doc   // upstream objects new to local, by upstream path
	conflicts []Conflict
}

// resourceMerge is the ResourceMerge strategy; see the package doc.
func resourceMerge(original, upstream, local map[string]string, lim yamlbound.Limits) (Result, error) {
	pk, err := parsePackages(yamlbound.NewBudget(lim), original, upstream, local)
	if err != nil {
		return Result{}, err
	}
	m := &merger{o: pk[0], u: pk[1], l: pk[2], replaced: map[*doc]*yaml.Node{}, added: map[string][]*doc{}}
	m.keepLocalKptfiles()

	out := map[string]string{}
	for p := range union(original, upstream, local) {
		if m.isKRM(p) {
			continue // KRM: merged per resource below
		}
		if text, ok, c := mergeText(p, original, upstream, local); ok {
			out[p] = text
			if c != nil {
				m.conflicts = append(m.conflicts, *c)
			}
		} else if c != nil {
			m.conflicts = append(m.conflicts, *c)
		}
	}

	// Visit identities in upstream order, then local-only ones, so that
	// additions land in a stable order.
	seen := map[string]bool{}
	for _, pk := range []*pkg{m.u, m.l, m.o} {
		for _, d := range pk.order {
			if !seen[d.key] {
				seen[d.key] = true
				m.resource(m.o.byID[d.key], m.u.byID[d.key], m.l.byID[d.key])
			}
		}
	}
	m.write(out)
	sortConflicts(m.conflicts)
	return Result{Files: out, Conflicts: m.conflicts}, nil
}

// isKRM reports whether path p is merged per resource.
func (m *merger) isKRM(p string) bool {
	for _, pk := range []*pkg{m.o, m.u, m.l} {
		if _, ok := pk.docs[p]; ok {
			return true
		}
	}
	return false
}

// keepLocalKptfiles gives the original and upstream Kptfiles the local
// downstream-owned fields, so that they merge as unchanged.
func (m *merger) keepLocalKptfiles() {
	for key, ld := range m.l.byID {
		if !strings.HasPrefix(ld.id, kptfileName+":") {
			continue
		}
		for _, pk := range []*pkg{m.o, m.u} {
			if d := pk.byID[key]; d != nil {
				keepLocalKptfileFields(d.body(), ld.body())
			}
		}
	}
}

// resource decides the fate of one identity; o, u, l may be nil.
func (m *merger) resource(o, u, l *doc) {
	switch {
	case l != nil && u != nil:
		switch {
		case o != nil && equal(o.body(), u.body()):
			// Upstream did not change it: keep local as is.
		case o != nil && equal(o.body(), l.body()):
			m.replaced[l] = deepCopy(u.body())
		default:
			var ob *yaml.Node
			if o != nil {
				ob = o.body()
			}
			merged := m.merge(l, ob, u.body())
			if !equal(merged, l.body()) {
				m.replaced[l] = merged
			}
		}
	case l != nil: // deleted upstream, or added locally
		switch {
		case o == nil:
		case equal(o.body(), l.body()):
			m.replaced[l] = nil
		default:
			m.conflict(l.path, l.body(), nil, l.body(), nil)
		}
	case u != nil: // added upstream, or deleted locally
		switch {
		case o == nil:
			m.added[u.path] = append(m.added[u.path], u)
		case !equal(o.body(), u.body()):
			m.conflict(u.path, u.body(), nil, nil, u.body())
		}
	}
}

// merge merges one resource with kyaml's merge3, then checks the result
// field by field (see checker) and records the conflicts.
func (m *merger) merge(l *doc, o, u *yaml.Node) *yaml.Node {
	merged := runMerge3(l.body(), o, u)
	if merged == nil || merged.Kind != yaml.MappingNode {
		merged = deepCopy(l.body()) // merge3 failed: the checker redoes the merge
	}
	c := &checker{merged: merged}
	c.walk(nil, o, u, l.body())
	for _, fc := range c.conflicts {
		m.conflict(l.path, l.body(), fc.path, fc.local, fc.upstream)
	}
	return c.merged
}

// runMerge3 calls kyaml's three-way merge on copies (it edits its
// destination); nil if it fails or panics on odd input.
func runMerge3(l, o, u *yaml.Node) (out *yaml.Node) {
	defer func() {
		if recover() != nil {
			out = nil
		}
	}()
	var orig *kyaml.RNode
	if o != nil {
		orig = kyaml.NewRNode(deepCopy(o))
	}
	r, err := merge3.Merge(kyaml.NewRNode(deepCopy(l)), orig, kyaml.NewRNode(deepCopy(u)))
	if err != nil || r == nil {
		return nil
	}
	return r.YNode()
}

// conflict records a conflict on a resource; path nil means the whole resource.
func (m *merger) conflict(p string, obj *yaml.Node, path []step, local, upstream *yaml.Node) {
	m.conflicts = append(m.conflicts, Conflict{
		Path:     p,
		Resource: describe(obj),
		Field:    fieldPath(path),
		Local:    render(local),
		Upstream: render(upstream),
	})
}

// describe is the group/kind/namespace/name of an object.
func describe(n *yaml.Node) string {
	meta := field(n, "metadata")
	return resourceID(scalar(n, "apiVersion"), scalar(n, "kind"), scalar(meta, "namespace"), scalar(meta, "name"))
}

// write puts the KRM files into out: a local file nothing happened to keeps
// its text byte for byte; a file that changed is written again; a file left
// with no object is deleted; a file that is all new comes as upstream wrote it.
func (m *merger) write(out map[string]string) {
	for p, docs := range m.l.docs {
		changed := len(m.added[p]) > 0
		var nodes []*yaml.Node
		for _, d := range docs {
			body, ok := m.replaced[d]
			switch {
			case !ok:
				nodes = append(nodes, d.node)
			case body != nil:
				changed = true
				n := *d.node // keep the document's comments
				n.Content = []*yaml.Node{body}
				nodes = append(nodes, &n)
			default:
				changed = true
			}
		}
		if !changed {
			out[p] = m.l.files[p]
			continue
		}
		for _, d := range m.added[p] {
			nodes = append(nodes, d.node)
		}
		if len(nodes) > 0 {
			out[p] = encodeFile(m.l.files[p], nodes)
		}
	}
	for p, docs := range m.added {
		if _, ok := m.l.docs[p]; ok {
			continue
		}
		if len(docs) == len(m.u.docs[p]) {
			out[p] = m.u.files[p]
			continue
		}
		nodes := make([]*yaml.Node, len(docs))
		for i, d := range docs {
			nodes[i] = d.node
		}
		out[p] = encodeFile(m.u.files[p], nodes)
	}
}

// encodeFile writes the documents of a file in the list style of its old text.
func encodeFile(old string, nodes []*yaml.Node) string {
	var b bytes.Buffer
	if err := encode(&b, wideLists(old), nodes...); err != nil {
		return old // cannot happen with parsed nodes; never lose the file
	}
	return b.String()
}
