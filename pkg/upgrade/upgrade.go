package upgrade

import (
	"cmp"
	"fmt"
	"maps"
	"path"
	"slices"
	"strings"

	"pkgserver.dev/pkgserver/pkg/errdef"
	"pkgserver.dev/pkgserver/pkg/yamlbound"
)

// Strategy says how local edits and upstream changes are combined; the
// values are those of kpt pkg update --strategy and Porch's upgrade task.
type Strategy string

const (
	// ResourceMerge merges each resource three ways; the default.
	ResourceMerge Strategy = "resource-merge"
	// FastForward takes upstream, and is refused if the package was edited locally.
	FastForward Strategy = "fast-forward"
	// ForceDeleteReplace takes upstream and drops every local edit.
	ForceDeleteReplace Strategy = "force-delete-replace"
	// CopyMerge copies upstream's files over the local ones, keeps local-only
	// files and deletes files upstream deleted.
	CopyMerge Strategy = "copy-merge"
)

// Strategies lists every strategy, the default first.
var Strategies = []Strategy{ResourceMerge, FastForward, ForceDeleteReplace, CopyMerge}

// Result is the upgraded package and what could not be merged cleanly.
type Result struct {
	Files     map[string]string
	Conflicts []Conflict // sorted by Path, Resource, Field
}

// Conflict is something both sides changed differently; the local version
// was kept. Resource and Field are empty for a conflict on a whole non-KRM
// file; Field is empty for one on a whole resource (deleted on one side,
// changed on the other).
type Conflict struct {
	Path     string // file in the local package (upstream's if deleted locally)
	Resource string // group/kind/namespace/name, e.g. apps/Deployment/default/web
	Field    string // e.g. spec.template.spec.containers[name=app].image
	Local    string // YAML text of the local value; "" if absent
	Upstream string // YAML text of the upstream value; "" if absent
}

// String reads like: app.yaml: apps/Deployment/default/web: spec.replicas: local 3, upstream 5.
func (c Conflict) String() string {
	var b strings.Builder
	b.WriteString(c.Path)
	for _, s := range []string{c.Resource, c.Field} {
		if s != "" {
			b.WriteString(": " + s)
		}
	}
	side := func(name, v string) string {
		switch {
		case v == "":
			return name + " deleted"
		case c.Field == "" || strings.Contains(v, "\n"):
			return name + " changed"
		}
		return name + " " + v
	}
	b.WriteString(": " + side("local", c.Local) + ", " + side("upstream", c.Upstream) + "; kept local")
	return b.String()
}

// Upgrade rebases local, a downstream of original, onto upstream, a newer
// revision of original, with strategy s ("" means ResourceMerge). The
// inputs are not modified. Errors wrap errdef.ErrInvalid: an unknown
// strategy, fast-forward over local edits, or YAML over the limits
// (yamlbound.DefaultLimits, else WithLimits; a resource merge holds the
// three packages at once under one node budget).
func Upgrade(original, upstream, local map[string]string, s Strategy, opts ...Option) (Result, error) {
	o := options{limits: yamlbound.DefaultLimits()}
	for _, opt := range opts {
		opt(&o)
	}
	lim := o.limits
	switch s {
	case ResourceMerge, "":
		return resourceMerge(original, upstream, local, lim)
	case FastForward:
		if edited := editedFiles(original, local, lim); len(edited) > 0 {
			return Result{}, fmt.Errorf("%w: strategy %s: the package was edited locally (%s); use another strategy",
				errdef.ErrInvalid, s, strings.Join(edited, ", "))
		}
		return Result{Files: withLocalKptfiles(maps.Clone(upstream), local, lim)}, nil
	case ForceDeleteReplace:
		return Result{Files: withLocalKptfiles(maps.Clone(upstream), local, lim)}, nil
	case CopyMerge:
		return Result{Files: withLocalKptfiles(copyMerge(original, upstream, local), local, lim)}, nil
	}
	return Result{}, fmt.Errorf("%w: unknown upgrade strategy %q; want one of %s", errdef.ErrInvalid, s, strategyList())
}

// Option configures Upgrade.
type Option func(*options)

type options struct {
	limits yamlbound.Limits
}

// WithLimits parses YAML under l instead of yamlbound.DefaultLimits.
func WithLimits(l yamlbound.Limits) Option {
	return func(o *options) { o.limits = l }
}

func strategyList() string {
	names := make([]string, len(Strategies))
	for i, s := range Strategies {
		names[i] = string(s)
	}
	return strings.Join(names, ", ")
}

// editedFiles lists the files of local that differ from original. Like kpt,
// an empty original (nothing known to compare with) finds no edits, and the
// downstream-owned fields of a Kptfile are not edits.
func editedFiles(original, local map[string]string, lim yamlbound.Limits) []string {
	if len(original) == 0 {
		return nil
	}
	var edited []string
	for _, p := range sortedKeys(union(original, local)) {
		o, inO := original[p]
		l, inL := local[p]
		switch {
		case inO != inL:
			edited = append(edited, p)
		case o == l:
		case path.Base(p) == kptfileName && sameKptfile(p, o, l, lim):
		default:
			edited = append(edited, p)
		}
	}
	return edited
}

// sameKptfile reports whether two Kptfiles differ only in downstream-owned fields.
func sameKptfile(p, o, l string, lim yamlbound.Limits) bool {
	od, ld := singleKptfile(p, o, lim), singleKptfile(p, l, lim)
	if od == nil || ld == nil {
		return false
	}
	keepLocalKptfileFields(od.body(), ld.body())
	return equal(od.body(), ld.body())
}

// copyMerge is kpt's copy-merge: upstream files overwrite local ones, files
// upstream deleted since original are deleted, local-only files are kept.
func copyMerge(original, upstream, local map[string]string) map[string]string {
	out := maps.Clone(local)
	if out == nil {
		out = map[string]string{}
	}
	for p := range original {
		if _, ok := upstream[p]; !ok && p != kptfileName {
			delete(out, p)
		}
	}
	maps.Copy(out, upstream)
	return out
}

// mergeText merges one opaque file. ok is false when absent from the result.
func mergeText(p string, original, upstream, local map[string]string) (text string, ok bool, c *Conflict) {
	o, inO := original[p]
	u, inU := upstream[p]
	l, inL := local[p]
	same := func(a string, inA bool, b string, inB bool) bool { return inA == inB && a == b }
	switch {
	case same(l, inL, o, inO):
		return u, inU, nil
	case same(u, inU, o, inO), same(l, inL, u, inU):
		return l, inL, nil
	}
	return l, inL, &Conflict{Path: p, Local: l, Upstream: u}
}

func union(ms ...map[string]string) map[string]bool {
	all := map[string]bool{}
	for _, m := range ms {
		for k := range m {
			all[k] = true
		}
	}
	return all
}

func sortedKeys[V any](m map[string]V) []string {
	return slices.Sorted(maps.Keys(m))
}

func sortConflicts(cs []Conflict) {
	slices.SortStableFunc(cs, func(a, b Conflict) int {
		return cmp.Or(cmp.Compare(a.Path, b.Path), cmp.Compare(a.Resource, b.Resource), cmp.Compare(a.Field, b.Field))
	})
}
