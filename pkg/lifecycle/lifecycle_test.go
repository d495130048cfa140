package lifecycle

import (
	"errors"
	"testing"

	pkgapi "pkgserver.dev/pkgserver/api/pkg/v1alpha1"
	"pkgserver.dev/pkgserver/pkg/errdef"
)

const (
	d  = pkgapi.LifecycleDraft
	p  = pkgapi.LifecycleProposed
	pb = pkgapi.LifecyclePublished
	dp = pkgapi.LifecycleDeletionProposed
)

func TestTransitions(t *testing.T) {
	all := []pkgapi.Lifecycle{d, p, pb, dp}
	update := map[[2]pkgapi.Lifecycle]bool{{d, d}: true, {p, p}: true, {pb, pb}: true, {dp, dp}: true, {d, p}: true, {p, d}: true}
	approval := map[[2]pkgapi.Lifecycle]bool{{d, d}: true, {p, p}: true, {pb, pb}: true, {dp, dp}: true, {p, pb}: true, {p, d}: true, {pb, dp}: true, {dp, pb}: true}
	for _, from := range all {
		for _, to := range all {
			k := [2]pkgapi.Lifecycle{from, to}
			if got := CheckUpdate(from, to) == nil; got != update[k] {
				t.Errorf("CheckUpdate(%s, %s) allowed=%v, want %v", from, to, got, update[k])
			}
			if got := CheckApproval(from, to) == nil; got != approval[k] {
				t.Errorf("CheckApproval(%s, %s) allowed=%v, want %v", from, to, got, approval[k])
			}
		}
	}
}

func TestErrorsAndKinds(t *testing.T) {
	tests := []struct {
		name string
		err  error
		want error
	}{
		{"create published", CheckCreate(pb), errdef.ErrInvalid},
		{"create unknown", CheckCreate("bogus"), errdef.ErrInvalid},
		{"update to published", CheckUpdate(p, pb), errdef.ErrInvalid},
		{"update unknown", CheckUpdate(d, "bogus"), errdef.ErrInvalid},
		{"update of published", CheckUpdate(pb, d), errdef.ErrForbidden},
		{"approve draft", CheckApproval(d, pb), errdef.ErrInvalid},
		{"delete published", CheckDelete(pb), errdef.ErrForbidden},
		{"contents of proposed", CheckContents(p), errdef.ErrForbidden},
		{"contents of published", CheckContents(pb), errdef.ErrForbidden},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if !errors.Is(tt.err, tt.want) {
				t.Fatalf("got %v, want %v", tt.err, tt.want)
			}
		})
	}
	for _, l := range []pkgapi.Lifecycle{d, p, dp} {
		if err := CheckDelete(l); err != nil {
			t.Errorf("CheckDelete(%s) = %v, want nil", l, err)
		}
	}
	if err := CheckContents(d); err != nil {
		t.Errorf("CheckContents(draft) = %v", err)
	}
	if err := CheckCreate(""); err != nil {
		t.Errorf("CheckCreate(\"\") = %v", err)
	}
}
