package yamlbound

import (
	"errors"
	"fmt"
	"io"
	"strings"

	"go.yaml.in/yaml/v3"
)

// Budget counts the nodes decoded for one operation (one package, or the
// three packages of an upgrade) against Limits.MaxNodes. It is not safe for
// concurrent use.
type Budget struct {
	lim  Limits
	used int
}

// NewBudget returns an empty budget under l (zero fields take defaults).
func NewBudget(l Limits) *Budget { return &Budget{lim: l.WithDefaults()} }

// Limits returns the limits in force.
func (b *Budget) Limits() Limits { return b.lim }

// Decoder reads the documents of one YAML stream, checking each against the
// Limits of its Budget.
type Decoder struct {
	b    *Budget
	dec  *yaml.Decoder
	docs int
	err  error // sticky: the stream cannot be read past it
}

// NewDecoder returns a decoder of text charging b. Document sizes are checked
// here, before anything is parsed; a refusal comes from the first Next.
func NewDecoder(text string, b *Budget) *Decoder {
	d := &Decoder{b: b}
	if err := checkDocumentSizes(text, b.lim.MaxDocumentBytes); err != nil {
		d.err = err
		return d
	}
	d.dec = yaml.NewDecoder(strings.NewReader(text))
	return d
}

// Next returns the next document node (Kind yaml.DocumentNode, empty
// documents included), or io.EOF after the last. Other errors are either
// the parser's (syntax) or a *LimitError.
func (d *Decoder) Next() (*yaml.Node, error) {
	if d.err != nil {
		return nil, d.err
	}
	var n yaml.Node
	if err := decode(d.dec, &n); err != nil {
		d.err = err
		return nil, err
	}
	d.docs++
	if d.docs > d.b.lim.MaxDocuments {
		d.err = limitError(docLine(&n), FlagMaxDocuments, d.b.lim.MaxDocuments, "document %d of a stream", d.docs)
		return nil, d.err
	}
	if err := d.b.charge(&n); err != nil {
		d.err = err
		return nil, err
	}
	return &n, nil
}

// Documents decodes every document of text; see Decoder.
func Documents(text string, b *Budget) ([]*yaml.Node, error) {
	d := NewDecoder(text, b)
	var out []*yaml.Node
	for {
		n, err := d.Next()
		if err == io.EOF {
			return out, nil
		}
		if err != nil {
			return nil, err
		}
		out = append(out, n)
	}
}

// docLine is the line a document's content starts on.
func docLine(doc *yaml.Node) int {
	if len(doc.Content) > 0 {
		return doc.Content[0].Line
	}
	return doc.Line
}

// decode turns a panic of the YAML library into an error: the text comes
// from outside and one bad file must not take the server down.
func decode(dec *yaml.Decoder, n *yaml.Node) (err error) {
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("yaml: %v", r)
		}
	}()
	return dec.Decode(n)
}

// checkDocumentSizes refuses text that holds a document longer than limit
// bytes. Documents are split where the parser splits them: at a line starting
// with "---" or "..." and a blank (YAML 1.2, 9.1: such a marker ends any
// scalar, so it cannot hide inside one). Line breaks other than "\n" can only
// make the split coarser than the parser's, never finer.
func checkDocumentSizes(text string, limit int) error {
	start, startLine, line := 0, 1, 1
	for i := 0; ; {
		if i > start && isMarker(text[i:]) {
			if i-start > limit {
				return docTooLarge(startLine, i-start, limit)
			}
			start, startLine = i, line
		}
		j := strings.IndexByte(text[i:], '\n')
		if j < 0 {
			break
		}
		i += j + 1
		line++
	}
	if len(text)-start > limit {
		return docTooLarge(startLine, len(text)-start, limit)
	}
	return nil
}

func docTooLarge(line, size, limit int) error {
	return limitError(line, FlagMaxDocumentBytes, limit, "a document of %d bytes", size)
}

// isMarker reports whether a line starting s is a document marker.
func isMarker(s string) bool {
	if len(s) < 3 || s[:3] != "---" && s[:3] != "..." {
		return false
	}
	return len(s) == 3 || strings.IndexByte(" \t\r\n", s[3]) >= 0
}

// errCycle: an alias inside the node its anchor names (`&a [*a]`), which
// yaml.v3 parses and only refuses when decoding into Go values.
var errCycle = errors.New("an alias refers to a node that contains it")

// charge walks a parsed document: its nesting with aliases followed must be
// within MaxDepth, and its node count with every alias expanded is added to
// the budget. Anchored nodes are measured once, so a bomb costs its size in
// text, not in expansion.
func (b *Budget) charge(doc *yaml.Node) error {
	w := walker{lim: b.lim, cap: b.lim.MaxNodes - b.used + 1, memo: map[*yaml.Node]shape{}, active: map[*yaml.Node]bool{}}
	s, err := w.shape(doc, 0)
	if err != nil {
		return err
	}
	b.used += s.nodes
	if b.used > b.lim.MaxNodes {
		return limitError(docLine(doc), FlagMaxNodes, b.lim.MaxNodes, "YAML of more than %d nodes (aliases expanded)", b.lim.MaxNodes)
	}
	return nil
}

// shape is what a node costs: nodes with aliases expanded (saturated at the
// walker's cap) and nesting height.
type shape struct{ nodes, height int }

type walker struct {
	lim    Limits
	cap    int
	memo   map[*yaml.Node]shape // anchored nodes measured
	active map[*yaml.Node]bool  // anchored nodes being measured: a cycle check
}

// shape measures n, found under depth levels of nesting.
func (w *walker) shape(n *yaml.Node, depth int) (shape, error) {
	if n.Kind == yaml.AliasNode {
		if n.Alias == nil {
			return shape{}, fmt.Errorf("yaml: line %d: alias *%s names no anchor", n.Line, n.Value)
		}
		return w.shape(n.Alias, depth)
	}
	if n.Anchor != "" {
		if s, ok := w.memo[n]; ok {
			if depth+s.height > w.lim.MaxDepth {
				return shape{}, w.tooDeep(n)
			}
			return s, nil
		}
		if w.active[n] {
			return shape{}, fmt.Errorf("yaml: line %d: anchor &%s: %w", n.Line, n.Anchor, errCycle)
		}
		w.active[n] = true
		defer delete(w.active, n)
	}
	nests := n.Kind == yaml.MappingNode || n.Kind == yaml.SequenceNode
	inner := depth
	if nests {
		inner++
		if inner > w.lim.MaxDepth {
			return shape{}, w.tooDeep(n)
		}
	}
	s := shape{nodes: 1}
	for _, c := range n.Content {
		cs, err := w.shape(c, inner)
		if err != nil {
			return shape{}, err
		}
		s.nodes = min(s.nodes+cs.nodes, w.cap)
		s.height = max(s.height, cs.height)
	}
	if nests {
		s.height++
	}
	if n.Anchor != "" {
		w.memo[n] = s
	}
	return s, nil
}

func (w *walker) tooDeep(n *yaml.Node) error {
	return limitError(n.Line, FlagMaxDepth, w.lim.MaxDepth, "nesting of more than %d levels", w.lim.MaxDepth)
}
