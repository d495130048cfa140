package client

import (
	"fmt"
	"strings"

	pkgapi "pkgserver.dev/pkgserver/api/pkg/v1alpha1"
)

// LifecycleError is returned by the lifecycle helpers of PackageRevisionClient
// when the revision is not in a lifecycle the asked change can start from.
// Nothing was written.
type LifecycleError struct {
	// Name of the package revision.
	Name string
	// Action is what was asked, as a verb: "propose", "approve", "reject",
	// "propose for deletion".
	Action string
	// Lifecycle is the revision's lifecycle when it was read.
	Lifecycle pkgapi.Lifecycle
	// Want lists the lifecycles Action starts from.
	Want []pkgapi.Lifecycle
}

func (e *LifecycleError) Error() string {
	want := make([]string, len(e.Want))
	for i, l := range e.Want {
		want[i] = string(l)
	}
	return fmt.Sprintf("cannot %s package revision %q: it is %s, not %s",
		e.Action, e.Name, e.Lifecycle, strings.Join(want, " or "))
}
