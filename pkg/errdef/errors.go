// Package errdef holds the sentinel errors shared by every layer of pkgserver.
// Backends and the engine wrap them with %w and context; the HTTP layer maps them
// to status codes in exactly one table (pkg/apiserver/errors.go).
package errdef

import (
	"errors"
	"fmt"
)

var (
	// ErrNotFound: the object, tag, blob or repository does not exist.
	ErrNotFound = errors.New("not found")
	// ErrAlreadyExists: creating something whose name is taken.
	ErrAlreadyExists = errors.New("already exists")
	// ErrConflict: a stale resourceVersion or a concurrent change.
	ErrConflict = errors.New("conflict")
	// ErrInvalid: the object is well-formed but breaks a rule (field, lifecycle).
	ErrInvalid = errors.New("invalid")
	// ErrBadRequest: the request cannot be parsed.
	ErrBadRequest = errors.New("bad request")
	// ErrForbidden: the operation is never allowed on this object (e.g. changing a published revision),
	// or this user may not do it (authorization).
	ErrForbidden = errors.New("forbidden")
	// ErrUnauthorized: the request carries no valid credentials (authentication).
	ErrUnauthorized = errors.New("unauthorized")
	// ErrTooLarge: the request, or something in it, is over a configured limit.
	ErrTooLarge = errors.New("request entity too large")
	// ErrUnavailable: the registry failed or cannot be reached.
	ErrUnavailable = errors.New("registry unavailable")
	// ErrMissingContent: a manifest names a blob (or a manifest) the registry
	// does not have, such as one deleted behind pkgserver's back; the stored
	// revision cannot be read or written again until it is pushed again.
	ErrMissingContent = errors.New("content missing from the registry")
	// ErrLocked: the data directory is in use by another process.
	ErrLocked = errors.New("data directory locked")
)

// ErrGone: a watch asked to resume from a resourceVersion older than the server keeps.
var ErrGone = errors.New("resource version too old")

// ErrTooLargeResourceVersion: a list or watch asked for a resourceVersion this
// replica has not reached yet (Kubernetes answers 504 with a
// ResourceVersionTooLarge cause; clients then list again).
var ErrTooLargeResourceVersion = errors.New("too large resource version")

// LimitError is an input over one of the configured limits. Name is the
// command-line flag that sets the limit, so the message tells an operator
// what to raise. It matches ErrTooLarge with errors.Is; callers that refuse
// content rather than a request wrap it in ErrInvalid as well.
type LimitError struct {
	Name  string // flag of the limit, e.g. "max-yaml-depth"
	Limit int64  // the limit in force
	What  string // what went over it, e.g. "nesting of 101 levels"
}

func (e *LimitError) Error() string {
	return fmt.Sprintf("%s is over the limit of %d (--%s)", e.What, e.Limit, e.Name)
}

// Unwrap makes errors.Is(err, ErrTooLarge) true.
func (e *LimitError) Unwrap() error { return ErrTooLarge }
