// Package diff compares two revisions of a package, given as maps of file
// path to file text: per file as unified diffs, and per KRM resource as a
// list of added, removed and changed resources.
package diff

import (
	"cmp"
	"crypto/sha256"
	"fmt"
	"io"
	"maps"
	"path"
	"slices"
	"strings"

	udiff "github.com/aymanbagabas/go-udiff"

	"pkgserver.dev/pkgserver/pkg/errdef"
	"pkgserver.dev/pkgserver/pkg/yamlbound"
)

// Values of FileDiff.Status and ResourceDiff.Change.
const (
	Added    = "added"
	Removed  = "removed"
	Modified = "modified" // FileDiff.Status
	Changed  = "changed"  // ResourceDiff.Change
)

// FileDiff is the difference of one file.
type FileDiff struct {
	Path    string
	Status  string // added, removed or modified
	Unified string // unified diff, as git diff writes it
}

// Files returns the files that differ between a and b, sorted by path.
// Headers are "--- a/path" and "+++ b/path", with /dev/null for the missing
// side of an added or removed file, so git apply and patch -p1 take them.
func Files(a, b map[string]string) []FileDiff {
	var diffs []FileDiff
	for _, p := range sortedPaths(a, b) {
		ta, inA := a[p]
		tb, inB := b[p]
		from, to, status := "a/"+p, "b/"+p, Modified
		switch {
		case !inA:
			from, status = "/dev/null", Added
		case !inB:
			to, status = "/dev/null", Removed
		case ta == tb:
			continue
		}
		diffs = append(diffs, FileDiff{Path: p, Status: status, Unified: unified(from, to, ta, tb)})
	}
	return diffs
}

// unified is udiff.Unified without its log.Fatal on an internal error.
func unified(from, to, a, b string) string {
	u, err := udiff.ToUnified(from, to, a, udiff.Lines(a, b), udiff.DefaultContextLines)
	if err != nil {
		return fmt.Sprintf("--- %s\n+++ %s\n(no diff: %v)\n", from, to, err)
	}
	if u == "" { // an empty file added or removed: headers only
		u = "--- " + from + "\n+++ " + to + "\n"
	}
	return u
}

// Option configures Resources.
type Option func(*options)

type options struct {
	limits yamlbound.Limits
}

// WithLimits parses YAML under l instead of yamlbound.DefaultLimits.
func WithLimits(l yamlbound.Limits) Option {
	return func(o *options) { o.limits = l }
}

// ResourceDiff is the difference of one KRM resource.
type ResourceDiff struct {
	Group, Kind, Namespace, Name string
	Path                         string // file in b; in a if removed
	Change                       string // added, removed or changed
}

// Resources compares the KRM resources of all YAML files (*.yaml, *.yml,
// Kptfile) of a and b by identity: group, kind, namespace, name. A resource
// is changed if its data differs; comments, layout, key order, file and
// position do not count, so moving a resource to another file is no change.
// An identity found more than once in a package is compared per file. The
// result is sorted by group, kind, namespace, name, path. The error wraps
// errdef.ErrInvalid if a YAML file is not a stream of KRM objects or is over
// the YAML limits (default yamlbound.DefaultLimits, else WithLimits), which
// apply to each package.
func Resources(a, b map[string]string, opts ...Option) ([]ResourceDiff, error) {
	o := options{limits: yamlbound.DefaultLimits()}
	for _, opt := range opts {
		opt(&o)
	}
	ra, err := resources(a, yamlbound.NewBudget(o.limits))
	if err != nil {
		return nil, err
	}
	rb, err := resources(b, yamlbound.NewBudget(o.limits))
	if err != nil {
		return nil, err
	}
	qualify(ra, rb)
	ia, ib := index(ra), index(rb)
	var diffs []ResourceDiff
	for k, x := range ia {
		switch y := ib[k]; {
		case y == nil:
			diffs = append(diffs, x.diff(x.path, Removed))
		case x.sum != y.sum:
			diffs = append(diffs, y.diff(y.path, Changed))
		}
	}
	for k, y := range ib {
		if ia[k] == nil {
			diffs = append(diffs, y.diff(y.path, Added))
		}
	}
	slices.SortFunc(diffs, func(x, y ResourceDiff) int {
		return cmp.Or(cmp.Compare(x.Group, y.Group), cmp.Compare(x.Kind, y.Kind),
			cmp.Compare(x.Namespace, y.Namespace), cmp.Compare(x.Name, y.Name), cmp.Compare(x.Path, y.Path))
	})
	return diffs, nil
}

// resource is one KRM object of a package.
type resource struct {
	group, kind, namespace, name string
	path                         string
	sum                          [sha256.Size]byte // of the object's data, canonically encoded
	key                          string
}

func (r *resource) id() string {
	return r.group + "/" + r.kind + "/" + r.namespace + "/" + r.name
}

func (r *resource) diff(p, change string) ResourceDiff {
	return ResourceDiff{Group: r.group, Kind: r.kind, Namespace: r.namespace, Name: r.name, Path: p, Change: change}
}

// resources parses the KRM objects of every YAML file, in path order.
func resources(files map[string]string, budget *yamlbound.Budget) ([]*resource, error) {
	var all []*resource
	for _, p := range slices.Sorted(maps.Keys(files)) {
		if !isYAML(p) {
			continue
		}
		rs, err := parse(p, files[p], budget)
		if err != nil {
			return nil, fmt.Errorf("%w: resources[%q]: %w", errdef.ErrInvalid, p, err)
		}
		all = append(all, rs...)
	}
	return all, nil
}

// isYAML reports whether a file holds KRM objects; same rule as pkg/krm.
func isYAML(p string) bool {
	return strings.HasSuffix(p, ".yaml") || strings.HasSuffix(p, ".yml") || path.Base(p) == "Kptfile"
}

// parse decodes a YAML stream into objects. Only a digest of each object's
// data is kept, so comparing two packages holds one document at a time.
func parse(p, text string, budget *yamlbound.Budget) ([]*resource, error) {
	dec := yamlbound.NewDecoder(text, budget)
	var rs []*resource
	for i := 1; ; i++ {
		n, err := dec.Next()
		if err == io.EOF {
			return rs, nil
		}
		if err != nil {
			return nil, fmt.Errorf("invalid YAML: %w", err)
		}
		v, err := yamlbound.Value(n)
		if err != nil {
			return nil, fmt.Errorf("invalid YAML: %w", err)
		}
		if v == nil {
			continue // empty document
		}
		r, ok := object(v)
		if !ok {
			return nil, fmt.Errorf("document %d: not a KRM object: want apiVersion, kind and metadata.name", i)
		}
		r.sum, r.path = digest(v), p
		rs = append(rs, r)
	}
}

// digest hashes data written canonically: map keys sorted, every value
// tagged with its type, so equal digests mean equal data (a .nan equals
// itself here).
func digest(v any) [sha256.Size]byte {
	h := sha256.New()
	writeValue(h, v)
	var sum [sha256.Size]byte
	h.Sum(sum[:0])
	return sum
}

// writeValue streams one value to w: a type letter, then the value with
// lengths before strings and collections so no two values share an encoding.
func writeValue(w io.Writer, v any) {
	switch v := v.(type) {
	case nil:
		io.WriteString(w, "n")
	case string:
		fmt.Fprintf(w, "s%d:%s", len(v), v)
	case []any:
		fmt.Fprintf(w, "l%d:", len(v))
		for _, e := range v {
			writeValue(w, e)
		}
	case map[string]any:
		fmt.Fprintf(w, "m%d:", len(v))
		for _, k := range slices.Sorted(maps.Keys(v)) {
			writeValue(w, k)
			writeValue(w, v[k])
		}
	case map[any]any:
		keys := make([]string, 0, len(v))
		byKey := make(map[string]any, len(v))
		for k, e := range v {
			var b strings.Builder
			writeValue(&b, k)
			keys = append(keys, b.String())
			byKey[b.String()] = e
		}
		slices.Sort(keys)
		fmt.Fprintf(w, "M%d:", len(v))
		for _, k := range keys {
			io.WriteString(w, k)
			writeValue(w, byKey[k])
		}
	default: // scalars: bool, int, uint64, float64, time.Time, []byte
		s := fmt.Sprint(v)
		fmt.Fprintf(w, "%T%d:%s", v, len(s), s)
	}
}

// object reads the identity of a decoded document.
func object(v any) (*resource, bool) {
	apiVersion, _ := get(v, "apiVersion").(string)
	kind, _ := get(v, "kind").(string)
	meta := get(v, "metadata")
	name, _ := get(meta, "name").(string)
	ns, _ := get(meta, "namespace").(string)
	if apiVersion == "" || kind == "" || name == "" {
		return nil, false
	}
	group := ""
	if i := strings.LastIndex(apiVersion, "/"); i >= 0 {
		group = apiVersion[:i]
	}
	return &resource{group: group, kind: kind, namespace: ns, name: name}, true
}

// get returns m[key] for either map type yaml.v3 decodes to (map[any]any
// when a key is not a string).
func get(m any, key string) any {
	switch m := m.(type) {
	case map[string]any:
		return m[key]
	case map[any]any:
		return m[key]
	}
	return nil
}

// qualify sets each resource's key: its identity, plus its file and position
// in the file when the identity is not unique in a or in b.
func qualify(a, b []*resource) {
	dup := map[string]bool{}
	for _, rs := range [][]*resource{a, b} {
		seen := map[string]bool{}
		for _, r := range rs {
			dup[r.id()] = dup[r.id()] || seen[r.id()]
			seen[r.id()] = true
		}
	}
	for _, rs := range [][]*resource{a, b} {
		n := map[string]int{}
		for _, r := range rs {
			r.key = r.id()
			if dup[r.key] {
				k := r.key + "@" + r.path
				r.key = fmt.Sprintf("%s#%d", k, n[k])
				n[k]++
			}
		}
	}
}

func index(rs []*resource) map[string]*resource {
	m := make(map[string]*resource, len(rs))
	for _, r := range rs {
		m[r.key] = r
	}
	return m
}

func sortedPaths(a, b map[string]string) []string {
	all := maps.Clone(a)
	if all == nil {
		all = map[string]string{}
	}
	maps.Copy(all, b)
	return slices.Sorted(maps.Keys(all))
}
