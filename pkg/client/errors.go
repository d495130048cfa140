package client

import (
	"encoding/json"
	"fmt"
	"strings"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"

	pkgapi "pkgserver.dev/pkgserver/api/pkg/v1alpha1"
)

// maxErrorBody bounds how much of an error response is read.
const maxErrorBody = 1 << 20

// decodeError turns a non-2xx response into a *apierrors.StatusError. A
// metav1.Status body is used as it is, with its details completed from the
// request; any other body (a proxy's HTML page, plain text) becomes the
// message of a Status whose reason follows from the HTTP code, as client-go does.
func decodeError(code int, r *request, body []byte) error {
	var st metav1.Status
	if err := json.Unmarshal(body, &st); err == nil && st.Kind == "Status" && st.Status == metav1.StatusFailure {
		if st.Code == 0 {
			st.Code = int32(code)
		}
		if st.Reason == "" {
			st.Reason = apierrors.NewGenericServerResponse(code, r.method, schema.GroupResource{}, "", "", 0, false).ErrStatus.Reason
		}
		if st.Details == nil {
			st.Details = &metav1.StatusDetails{}
		}
		if st.Details.Name == "" {
			st.Details.Name = r.name
		}
		if st.Details.Group == "" {
			st.Details.Group = r.group
		}
		if st.Details.Kind == "" {
			st.Details.Kind = r.resource
		}
		return &apierrors.StatusError{ErrStatus: st}
	}
	msg := strings.TrimSpace(string(body))
	if len(msg) > 512 {
		msg = msg[:512] + "…"
	}
	err := apierrors.NewGenericServerResponse(code, strings.ToLower(r.method),
		schema.GroupResource{Group: r.group, Resource: r.resource}, r.name, msg, 0, true)
	return err
}

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
