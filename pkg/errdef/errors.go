// Package errdef holds the sentinel errors shared by every layer of pkgserver.
// Backends and the engine wrap them with %w and context; the HTTP layer maps them
// to status codes in exactly one table (pkg/apiserver/errors.go).
package errdef

import "errors"

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
	// ErrTooLarge: the request body is over the configured limit.
	ErrTooLarge = errors.New("request entity too large")
	// ErrUnavailable: the registry failed or cannot be reached.
	ErrUnavailable = errors.New("registry unavailable")
	// ErrLocked: the data directory is in use by another process.
	ErrLocked = errors.New("data directory locked")
)

// ErrGone: a watch asked to resume from a resourceVersion older than the server keeps.
var ErrGone = errors.New("resource version too old")

// ErrTooLargeResourceVersion: a list or watch asked for a resourceVersion this
// replica has not reached yet (Kubernetes answers 504 with a
// ResourceVersionTooLarge cause; clients then list again).
var ErrTooLargeResourceVersion = errors.New("too large resource version")
