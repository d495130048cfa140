package clienttest

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/http"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"pkgserver.dev/pkgserver/pkg/errdef"
)

// statusTable maps the sentinel errors to codes and reasons as the real
// server does (pkg/apiserver/errors.go).
var statusTable = []struct {
	err    error
	code   int
	reason metav1.StatusReason
}{
	{errdef.ErrNotFound, http.StatusNotFound, metav1.StatusReasonNotFound},
	{errdef.ErrConflict, http.StatusConflict, metav1.StatusReasonConflict},
	{errdef.ErrAlreadyExists, http.StatusConflict, metav1.StatusReasonAlreadyExists},
	{errdef.ErrInvalid, http.StatusUnprocessableEntity, metav1.StatusReasonInvalid},
	{errdef.ErrBadRequest, http.StatusBadRequest, metav1.StatusReasonBadRequest},
	{errdef.ErrForbidden, http.StatusForbidden, metav1.StatusReasonForbidden},
}

// httpError is an error with its own code, like the router's 404 and 405.
type httpError struct {
	code int
	msg  string
}

func (e *httpError) Error() string { return e.msg }

func echoErr(code int, msg string) error { return &httpError{code: code, msg: msg} }

func notFound(kind, name string) error {
	return fmt.Errorf("%w: %s %q", errdef.ErrNotFound, kind, name)
}

func writeStatus(w http.ResponseWriter, err error) {
	st := metav1.Status{
		TypeMeta: metav1.TypeMeta{Kind: "Status", APIVersion: "v1"},
		Status:   metav1.StatusFailure,
		Message:  err.Error(),
		Code:     http.StatusInternalServerError,
		Reason:   metav1.StatusReasonInternalError,
	}
	var he *httpError
	if errors.As(err, &he) {
		st.Code, st.Reason = int32(he.code), metav1.StatusReasonNotFound
		if he.code == http.StatusMethodNotAllowed {
			st.Reason = metav1.StatusReasonMethodNotAllowed
		}
	}
	for _, row := range statusTable {
		if errors.Is(err, row.err) {
			st.Code, st.Reason = int32(row.code), row.reason
			break
		}
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(int(st.Code))
	_ = json.NewEncoder(w).Encode(&st)
}

func success(name, group, resource string) *metav1.Status {
	return &metav1.Status{
		TypeMeta: metav1.TypeMeta{Kind: "Status", APIVersion: "v1"},
		Status:   metav1.StatusSuccess,
		Code:     http.StatusOK,
		Details:  &metav1.StatusDetails{Name: name, Group: group, Kind: resource},
	}
}
