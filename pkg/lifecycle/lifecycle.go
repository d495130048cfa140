// Package lifecycle holds the rules of a package revision's lifecycle:
//
//	draft ──► proposed ──(approval)──► published ──(approval)──► deletionProposed ──► deleted
//	  ▲           │                        ▲                            │
//	  └─(reject)──┘                        └────────(approval)──────────┘
//
// Updates move between draft and proposed; the approval subresource does the rest.
package lifecycle

import (
	"fmt"

	pkgapi "pkgserver.dev/pkgserver/api/pkg/v1alpha1"
	"pkgserver.dev/pkgserver/pkg/errdef"
)

// Valid reports whether l is a known lifecycle value.
func Valid(l pkgapi.Lifecycle) bool {
	switch l {
	case pkgapi.LifecycleDraft, pkgapi.LifecycleProposed, pkgapi.LifecyclePublished, pkgapi.LifecycleDeletionProposed:
		return true
	}
	return false
}

// Mutable reports whether a revision in l may change at all (metadata or contents).
func Mutable(l pkgapi.Lifecycle) bool {
	return l == pkgapi.LifecycleDraft || l == pkgapi.LifecycleProposed
}

// CheckCreate checks the lifecycle asked for at creation: draft or unset.
func CheckCreate(l pkgapi.Lifecycle) error {
	if l == "" || l == pkgapi.LifecycleDraft {
		return nil
	}
	return fmt.Errorf("%w: spec.lifecycle: revisions are created as %q, not %q", errdef.ErrInvalid, pkgapi.LifecycleDraft, l)
}

// CheckUpdate checks a lifecycle change made by a plain update.
func CheckUpdate(from, to pkgapi.Lifecycle) error {
	if !Valid(to) {
		return fmt.Errorf("%w: spec.lifecycle: unknown value %q", errdef.ErrInvalid, to)
	}
	if from == to {
		return nil
	}
	if !Mutable(from) {
		return fmt.Errorf("%w: revision is %s and cannot be changed; use the approval subresource", errdef.ErrForbidden, from)
	}
	if !Mutable(to) {
		return fmt.Errorf("%w: spec.lifecycle: %s -> %s goes through the approval subresource", errdef.ErrInvalid, from, to)
	}
	return nil
}

// CheckApproval checks a lifecycle change made through the approval subresource.
func CheckApproval(from, to pkgapi.Lifecycle) error {
	if !Valid(to) {
		return fmt.Errorf("%w: spec.lifecycle: unknown value %q", errdef.ErrInvalid, to)
	}
	switch {
	case from == to,
		from == pkgapi.LifecycleProposed && to == pkgapi.LifecyclePublished,
		from == pkgapi.LifecycleProposed && to == pkgapi.LifecycleDraft,
		from == pkgapi.LifecyclePublished && to == pkgapi.LifecycleDeletionProposed,
		from == pkgapi.LifecycleDeletionProposed && to == pkgapi.LifecyclePublished:
		return nil
	}
	return fmt.Errorf("%w: spec.lifecycle: approval cannot move a revision from %s to %s", errdef.ErrInvalid, from, to)
}

// CheckDelete checks that a revision in l may be deleted.
func CheckDelete(l pkgapi.Lifecycle) error {
	if l == pkgapi.LifecyclePublished {
		return fmt.Errorf("%w: a published revision cannot be deleted; propose it for deletion through the approval subresource first", errdef.ErrForbidden)
	}
	return nil
}

// CheckContents checks that the contents of a revision in l may change.
func CheckContents(l pkgapi.Lifecycle) error {
	if l != pkgapi.LifecycleDraft {
		return fmt.Errorf("%w: contents change only in draft; this revision is %s", errdef.ErrForbidden, l)
	}
	return nil
}
