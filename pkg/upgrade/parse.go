package upgrade

import (
	"errors"
	"fmt"
	"io"
	"path"
	"strings"

	"go.yaml.in/yaml/v3"

	"pkgserver.dev/pkgserver/pkg/errdef"
	"pkgserver.dev/pkgserver/pkg/yamlbound"
)

// kptfileName is the file name of a package's or subpackage's Kptfile.
const kptfileName = "Kptfile"

// isYAML reports whether a file holds KRM resources; same rule as pkg/krm.
func isYAML(p string) bool {
	return strings.HasSuffix(p, ".yaml") || strings.HasSuffix(p, ".yml") || path.Base(p) == kptfileName
}

// doc is one KRM object of a YAML file.
type doc struct {
	path string
	node *yaml.Node // the document node; body() is the object
	id   string     // group/kind/namespace/name, or the path for a Kptfile
	key  string     // id, qualified if not unique (see keyDocs)
}

func (d *doc) body() *yaml.Node { return d.node.Content[0] }

// parseDocs splits a YAML stream into KRM objects, charging budget. It
// fails if the text does not parse, is over a YAML limit (a
// *yamlbound.LimitError) or holds a document that is not a KRM object: such
// a file is then merged as text, unless it was over a limit.
func parseDocs(p, text string, budget *yamlbound.Budget) (docs []*doc, err error) {
	dec := yamlbound.NewDecoder(text, budget)
	for {
		n, err := dec.Next()
		if err == io.EOF {
			return docs, nil
		}
		if err != nil {
			return nil, err
		}
		if len(n.Content) == 0 || n.Content[0].Kind == yaml.ScalarNode && n.Content[0].ShortTag() == "!!null" {
			continue // empty document, e.g. between two "---"
		}
		id, ok := identity(p, n.Content[0])
		if !ok {
			return nil, fmt.Errorf("%s: document is not a KRM object", p)
		}
		docs = append(docs, &doc{path: p, node: n, id: id})
	}
}

// identity returns group/kind/namespace/name of a KRM object. A Kptfile is
// known by its path instead: the downstream renames it, and it must still
// meet its upstream version.
func identity(p string, n *yaml.Node) (string, bool) {
	if n.Kind != yaml.MappingNode {
		return "", false
	}
	apiVersion, kind := scalar(n, "apiVersion"), scalar(n, "kind")
	meta := field(n, "metadata")
	if apiVersion == "" || kind == "" || meta == nil {
		return "", false
	}
	name, ns := scalar(meta, "name"), scalar(meta, "namespace")
	if name == "" {
		return "", false
	}
	if kind == kptfileName && path.Base(p) == kptfileName {
		return kptfileName + ":" + p, true
	}
	return resourceID(apiVersion, kind, ns, name), true
}

// resourceID is the Conflict.Resource form of an identity.
func resourceID(apiVersion, kind, ns, name string) string {
	group := ""
	if i := strings.LastIndex(apiVersion, "/"); i >= 0 {
		group = apiVersion[:i]
	}
	return group + "/" + kind + "/" + ns + "/" + name
}

// field returns the value of key in mapping n, or nil.
func field(n *yaml.Node, key string) *yaml.Node {
	if n == nil || n.Kind != yaml.MappingNode {
		return nil
	}
	for i := 0; i+1 < len(n.Content); i += 2 {
		if k := n.Content[i]; k.Kind == yaml.ScalarNode && k.Value == key {
			return n.Content[i+1]
		}
	}
	return nil
}

// scalar returns the text of the scalar at key in mapping n, or "".
func scalar(n *yaml.Node, key string) string {
	if v := field(n, key); v != nil && v.Kind == yaml.ScalarNode {
		return v.Value
	}
	return ""
}

// pkg is a package split into KRM objects and opaque files.
type pkg struct {
	files map[string]string // every file, as given
	docs  map[string][]*doc // KRM files, by path
	byID  map[string]*doc   // every object, by key (see keyDocs)
	order []*doc            // every object, in path then document order
}

// parsePackages parses the three packages consistently: a path is KRM only
// if it parses as KRM objects (at least one) in every package that has it,
// so each file is merged at one level. All three are held at once, so they
// share one budget; going over a YAML limit fails the whole merge rather
// than merging some files as text.
func parsePackages(budget *yamlbound.Budget, files ...map[string]string) ([]*pkg, error) {
	text := map[string]bool{}
	parsed := make([]map[string][]*doc, len(files))
	for i, fs := range files {
		parsed[i] = map[string][]*doc{}
		for _, p := range sortedKeys(fs) {
			if !isYAML(p) {
				text[p] = true
				continue
			}
			docs, err := parseDocs(p, fs[p], budget)
			var le *yamlbound.LimitError
			if errors.As(err, &le) {
				return nil, fmt.Errorf("%w: resources[%q]: %w", errdef.ErrInvalid, p, err)
			}
			if err != nil || len(docs) == 0 {
				text[p] = true
				continue
			}
			parsed[i][p] = docs
		}
	}
	pkgs := make([]*pkg, len(files))
	for i, fs := range files {
		pk := &pkg{files: fs, docs: map[string][]*doc{}}
		for _, p := range sortedKeys(parsed[i]) {
			if !text[p] {
				pk.docs[p] = parsed[i][p]
				pk.order = append(pk.order, parsed[i][p]...)
			}
		}
		pkgs[i] = pk
	}
	keyDocs(pkgs)
	return pkgs, nil
}

// keyDocs indexes the objects of each package. An identity found twice in
// one package (kustomize patches, per-environment copies) is qualified by
// its path and position so that the copies stay apart.
func keyDocs(pkgs []*pkg) {
	dup := map[string]bool{}
	for _, pk := range pkgs {
		seen := map[string]bool{}
		for _, d := range pk.order {
			if seen[d.id] {
				dup[d.id] = true
			}
			seen[d.id] = true
		}
	}
	for _, pk := range pkgs {
		pk.byID = map[string]*doc{}
		n := map[string]int{}
		for _, d := range pk.order {
			key := d.id
			if dup[d.id] {
				k := d.id + "@" + d.path
				key = fmt.Sprintf("%s#%d", k, n[k])
				n[k]++
			}
			d.key = key
			pk.byID[key] = d
		}
	}
}
