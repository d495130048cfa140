package authz

import (
	"fmt"

	"pkgserver.dev/pkgserver/pkg/errdef"
)

// DeniedError is an authorization refusal; it matches errdef.ErrForbidden.
type DeniedError struct {
	Attributes Attributes
	// Reason, when set, is added to the message.
	Reason string
}

// Error words the refusal as kube-apiserver does:
// `packagerevisions.pkg.pkgserver.dev "x" is forbidden: User "bob" cannot …`.
func (e *DeniedError) Error() string {
	a := e.Attributes
	msg := ForbiddenMessage(a)
	if e.Reason != "" {
		msg += ": " + e.Reason
	}
	if !a.ResourceRequest {
		return "forbidden: " + msg
	}
	what := a.Resource
	if a.APIGroup != "" {
		what += "." + a.APIGroup
	}
	if a.Name != "" {
		return fmt.Sprintf("%s %q is forbidden: %s", what, a.Name, msg)
	}
	return fmt.Sprintf("%s is forbidden: %s", what, msg)
}

// Unwrap makes the refusal an errdef.ErrForbidden.
func (e *DeniedError) Unwrap() error { return errdef.ErrForbidden }
