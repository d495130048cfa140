package yamlbound

import (
	"fmt"

	"pkgserver.dev/pkgserver/pkg/errdef"
)

// Defaults of Limits; docs/operations.md explains how they were chosen.
const (
	DefaultMaxDocuments     = 1000
	DefaultMaxDocumentBytes = 1 << 20
	DefaultMaxDepth         = 100
	DefaultMaxNodes         = 500_000
)

// Names of the limits: the pkgserver flags that set them.
const (
	FlagMaxDocuments     = "max-yaml-documents"
	FlagMaxDocumentBytes = "max-yaml-document-bytes"
	FlagMaxDepth         = "max-yaml-depth"
	FlagMaxNodes         = "max-yaml-nodes"
)

// Limits bound the cost of decoding YAML. A zero field takes its default.
type Limits struct {
	// MaxDocuments is the most documents one stream (a file, a body) may hold.
	MaxDocuments int
	// MaxDocumentBytes is the largest document, checked before the parser
	// builds its node tree; it bounds the memory one parse takes.
	MaxDocumentBytes int
	// MaxDepth is the deepest nesting of mappings and sequences, aliases followed.
	MaxDepth int
	// MaxNodes is the most nodes one Budget may decode, an alias counting as
	// a copy of the nodes it names; it bounds what an operation holds and
	// what alias expansion can cost.
	MaxNodes int
}

// DefaultLimits returns the limits pkgserver uses unless configured otherwise.
func DefaultLimits() Limits {
	return Limits{
		MaxDocuments:     DefaultMaxDocuments,
		MaxDocumentBytes: DefaultMaxDocumentBytes,
		MaxDepth:         DefaultMaxDepth,
		MaxNodes:         DefaultMaxNodes,
	}
}

// WithDefaults returns l with its zero fields set to their defaults.
func (l Limits) WithDefaults() Limits {
	d := DefaultLimits()
	if l.MaxDocuments <= 0 {
		l.MaxDocuments = d.MaxDocuments
	}
	if l.MaxDocumentBytes <= 0 {
		l.MaxDocumentBytes = d.MaxDocumentBytes
	}
	if l.MaxDepth <= 0 {
		l.MaxDepth = d.MaxDepth
	}
	if l.MaxNodes <= 0 {
		l.MaxNodes = d.MaxNodes
	}
	return l
}

// LimitError is YAML over one of the Limits, found at Line.
type LimitError struct {
	Line int // 1-based line where it was found; 0 when not known
	Err  *errdef.LimitError
}

func (e *LimitError) Error() string { return e.Err.Error() }

// Unwrap reaches the errdef.LimitError, and through it errdef.ErrTooLarge.
func (e *LimitError) Unwrap() error { return e.Err }

func limitError(line int, name string, limit int, format string, args ...any) *LimitError {
	return &LimitError{Line: line, Err: &errdef.LimitError{Name: name, Limit: int64(limit), What: fmt.Sprintf(format, args...)}}
}
