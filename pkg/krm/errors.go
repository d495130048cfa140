package krm

import (
	"fmt"
	"strings"
)

// ResourceError is one problem in one file of a package.
type ResourceError struct {
	Path     string // file path inside the package
	Line     int    // 1-based line in the file; 0 if not known
	Document int    // 1-based document in a YAML stream; 0 if not about one document
	Msg      string
}

// Error reads like resources["deploy/app.yaml"]: line 12: document 2: metadata.name is missing.
func (e *ResourceError) Error() string {
	var b strings.Builder
	fmt.Fprintf(&b, "resources[%q]: ", e.Path)
	if e.Line > 0 {
		fmt.Fprintf(&b, "line %d: ", e.Line)
	}
	if e.Document > 0 {
		fmt.Fprintf(&b, "document %d: ", e.Document)
	}
	b.WriteString(e.Msg)
	return b.String()
}

// ResourceErrors is the list of problems Validate found, sorted by path. The
// HTTP layer can unpack it with errors.As to report one cause per problem.
type ResourceErrors []*ResourceError

// Error joins the problems with "; " to keep the message on one line.
func (l ResourceErrors) Error() string {
	msgs := make([]string, len(l))
	for i, e := range l {
		msgs[i] = e.Error()
	}
	return strings.Join(msgs, "; ")
}

// Unwrap lets errors.As reach each ResourceError.
func (l ResourceErrors) Unwrap() []error {
	errs := make([]error, len(l))
	for i, e := range l {
		errs[i] = e
	}
	return errs
}
