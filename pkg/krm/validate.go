package krm

import (
	"errors"
	"fmt"
	"io"
	"maps"
	"path"
	"regexp"
	"slices"
	"strconv"
	"strings"

	"go.yaml.in/yaml/v3"

	"pkgserver.dev/pkgserver/pkg/errdef"
	"pkgserver.dev/pkgserver/pkg/yamlbound"
)

// MaxProblems is how many problems Validate reports; past that a client gains
// nothing from a longer message.
const MaxProblems = 10

// KptfileName is the file name of a package's (or subpackage's) Kptfile.
const KptfileName = "Kptfile"

// Validate checks the files of a package, given as path → file text:
//   - the package is within the Limits (files, bytes, and the YAML limits
//     for each YAML file; default DefaultLimits, else WithLimits);
//   - every path passes ValidatePath;
//   - every *.yaml, *.yml file and every Kptfile is a YAML stream whose
//     non-empty documents are KRM objects: mappings with a string apiVersion,
//     kind and metadata.name;
//   - any other file is accepted as is.
//
// It returns nil, or an error wrapping errdef.ErrInvalid and either an
// errdef.LimitError (the package as a whole is too large) or a
// ResourceErrors holding the first MaxProblems problems in path order.
func Validate(resources map[string]string, opts ...Option) error {
	return validate(resources, true, opts)
}

// CheckLimits checks only that a package is within the Limits: its size, and
// for each YAML file the YAML limits. Other problems are left to Validate. It
// lets a caller apply its configured limits before another layer validates.
func CheckLimits(resources map[string]string, opts ...Option) error {
	return validate(resources, false, opts)
}

// validate is Validate, or with all false only the limits of CheckLimits.
func validate(resources map[string]string, all bool, opts []Option) error {
	o := options{limits: DefaultLimits()}
	for _, opt := range opts {
		opt(&o)
	}
	lim := o.limits.WithDefaults()
	if err := lim.checkPackage(resources); err != nil {
		return fmt.Errorf("%w: %w", errdef.ErrInvalid, err)
	}
	// One budget for the package: what its YAML may cost to hold at once.
	budget := yamlbound.NewBudget(lim.YAML)
	var problems ResourceErrors
	truncated, exhausted := false, false
	for _, p := range slices.Sorted(maps.Keys(resources)) {
		if msg := pathProblem(p); msg != "" {
			if all {
				problems = append(problems, &ResourceError{Path: p, Msg: "invalid path: " + msg})
			}
		} else if isYAML(p) && !exhausted {
			var more []*ResourceError
			more, exhausted = validateYAML(p, resources[p], budget, all)
			problems = append(problems, more...)
		}
		if len(problems) > MaxProblems {
			problems, truncated = problems[:MaxProblems], true
			break
		}
	}
	switch {
	case len(problems) == 0:
		return nil
	case truncated:
		return fmt.Errorf("%w: %w; further problems not shown", errdef.ErrInvalid, problems)
	default:
		return fmt.Errorf("%w: %w", errdef.ErrInvalid, problems)
	}
}

// isYAML reports whether a file must hold KRM objects. Extensions are matched
// case-sensitively, as kpt does.
func isYAML(p string) bool {
	return strings.HasSuffix(p, ".yaml") || strings.HasSuffix(p, ".yml") || path.Base(p) == KptfileName
}

// validateYAML parses text as a YAML stream and checks each document (with
// all false, only against the limits). A syntax error or a limit ends the
// file: the parser cannot resume after it. exhausted reports that the
// package's node budget is spent, so no further file can be parsed.
func validateYAML(p, text string, budget *yamlbound.Budget, all bool) (problems []*ResourceError, exhausted bool) {
	dec := yamlbound.NewDecoder(text, budget)
	for doc := 1; ; doc++ {
		n, err := dec.Next()
		if err == io.EOF {
			return problems, false
		}
		var le *yamlbound.LimitError
		if errors.As(err, &le) {
			return append(problems, &ResourceError{Path: p, Line: le.Line, Msg: le.Error()}), le.Err.Name == yamlbound.FlagMaxNodes
		}
		if err != nil && !all {
			return problems, false
		}
		if err != nil {
			line, msg := syntaxError(err)
			// At end of input yaml.v3 points one line past the last one.
			line = min(line, strings.Count(strings.TrimSuffix(text, "\n"), "\n")+1)
			return append(problems, &ResourceError{Path: p, Line: line, Msg: "invalid YAML: " + msg}), false
		}
		if all {
			problems = append(problems, checkObject(p, doc, n)...)
		}
	}
}

var lineRE = regexp.MustCompile(`^yaml: line (\d+): `)

// parserProblems are the messages of yaml.v3's parser (parserc.go), which, unlike
// its scanner, reports a 0-based line and omits line 0. The fixtures in
// testdata/invalid pin the resulting lines, so a library change shows up there.
var parserProblems = map[string]bool{
	"did not find expected ',' or ']'":       true,
	"did not find expected ',' or '}'":       true,
	"did not find expected '-' indicator":    true,
	"did not find expected <document start>": true,
	"did not find expected <stream-start>":   true,
	"did not find expected key":              true,
	"did not find expected node content":     true,
	"found duplicate %TAG directive":         true,
	"found duplicate %YAML directive":        true,
	"found incompatible YAML document":       true,
	"found undefined tag handle":             true,
}

// syntaxError splits a yaml.v3 error ("yaml: line 3: did not find ...") into
// a 1-based line and a message; line is 0 when the library gives none (for
// example an unknown anchor).
func syntaxError(err error) (int, string) {
	s := err.Error()
	line := 0
	if m := lineRE.FindStringSubmatch(s); m != nil {
		if n, convErr := strconv.Atoi(m[1]); convErr == nil {
			line, s = n, s[len(m[0]):]
		}
	} else {
		s = strings.TrimPrefix(s, "yaml: ")
	}
	if parserProblems[s] {
		line++
	}
	return line, s
}

// checkObject checks that document number doc of file p is a KRM object, or empty.
func checkObject(p string, doc int, n *yaml.Node) []*ResourceError {
	if n.Kind == yaml.DocumentNode {
		if len(n.Content) == 0 {
			return nil
		}
		n = n.Content[0]
	}
	n = resolve(n)
	if n == nil || n.Kind == yaml.ScalarNode && n.ShortTag() == "!!null" {
		return nil // empty document, e.g. between two "---"
	}
	problem := func(line int, format string, args ...any) *ResourceError {
		return &ResourceError{Path: p, Line: line, Document: doc, Msg: fmt.Sprintf(format, args...)}
	}
	if n.Kind != yaml.MappingNode {
		return []*ResourceError{problem(n.Line, "not a KRM object: want a mapping with apiVersion, kind and metadata.name")}
	}
	var problems []*ResourceError
	add := func(e *ResourceError) {
		if e != nil {
			problems = append(problems, e)
		}
	}
	// stringField checks m[key]; a missing key is reported at line at, the
	// start of the mapping that should hold it.
	stringField := func(m *yaml.Node, at int, name, key string) *ResourceError {
		_, v, dup := lookup(m, key)
		switch {
		case dup != nil:
			return problem(dup.Line, "%s is set twice", name)
		case v == nil:
			return problem(at, "%s is missing", name)
		case v.Kind != yaml.ScalarNode || v.ShortTag() != "!!str":
			return problem(v.Line, "%s must be a string", name)
		case v.Value == "":
			return problem(v.Line, "%s must not be empty", name)
		}
		return nil
	}
	add(stringField(n, n.Line, "apiVersion", "apiVersion"))
	add(stringField(n, n.Line, "kind", "kind"))
	switch k, meta, dup := lookup(n, "metadata"); {
	case dup != nil:
		add(problem(dup.Line, "metadata is set twice"))
	case meta == nil:
		add(problem(n.Line, "metadata.name is missing"))
	case meta.Kind != yaml.MappingNode:
		add(problem(meta.Line, "metadata must be a mapping"))
	default:
		add(stringField(meta, k.Line, "metadata.name", "name"))
	}
	return problems
}

// maxDepth bounds alias and merge-key chains; yaml.v3 refuses cycles, this is
// belt and braces against deep nesting.
const maxDepth = 32

// resolve follows aliases to the node they name.
func resolve(n *yaml.Node) *yaml.Node {
	for i := 0; n != nil && n.Kind == yaml.AliasNode && i < maxDepth; i++ {
		n = n.Alias
	}
	return n
}

// lookup returns the key and value of key in mapping m, following merge keys
// ("<<") the way a YAML-to-JSON conversion would. dup is the second occurrence
// of a key written twice, which kubectl refuses as ambiguous.
func lookup(m *yaml.Node, key string) (k, v, dup *yaml.Node) {
	return lookupDepth(m, key, 0)
}

func lookupDepth(m *yaml.Node, key string, depth int) (k, v, dup *yaml.Node) {
	m = resolve(m)
	if m == nil || m.Kind != yaml.MappingNode || depth > maxDepth {
		return nil, nil, nil
	}
	var merges []*yaml.Node
	for i := 0; i+1 < len(m.Content); i += 2 {
		kn, vn := m.Content[i], resolve(m.Content[i+1])
		switch {
		case kn.Kind == yaml.ScalarNode && kn.ShortTag() == "!!merge":
			merges = append(merges, vn)
		case kn.Kind == yaml.ScalarNode && kn.ShortTag() == "!!str" && kn.Value == key:
			if v != nil {
				return k, v, kn
			}
			k, v = kn, vn
		}
	}
	if v != nil {
		return k, v, nil
	}
	for _, mg := range merges {
		srcs := []*yaml.Node{mg}
		if mg != nil && mg.Kind == yaml.SequenceNode {
			srcs = mg.Content
		}
		for _, src := range srcs {
			if k, v, _ := lookupDepth(src, key, depth+1); v != nil {
				return k, v, nil
			}
		}
	}
	return nil, nil, nil
}
