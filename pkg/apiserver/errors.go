package apiserver

import (
	"errors"
	"fmt"
	"net/http"

	"github.com/labstack/echo/v4"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"pkgserver.dev/pkgserver/pkg/errdef"
	"pkgserver.dev/pkgserver/pkg/krm"
)

// statusTable is the one mapping from errors to HTTP codes and Kubernetes
// reasons. Rows with a sentinel are matched with errors.Is, in order; rows
// without one only name the reason of a code an echo.HTTPError carries.
var statusTable = []struct {
	err    error
	code   int
	reason metav1.StatusReason
}{
	// Content a revision needs is gone from the registry (deleted behind
	// pkgserver's back): the stored state conflicts with the request. Not
	// 404 (the revision exists), not 422 (the request is sound), not 503
	// (retrying will not bring it back). Before ErrNotFound, which a store
	// may wrap too.
	{errdef.ErrMissingContent, http.StatusConflict, metav1.StatusReasonConflict},
	{errdef.ErrNotFound, http.StatusNotFound, metav1.StatusReasonNotFound},
	// ErrConflict comes before ErrAlreadyExists so a bare 409 reads as Conflict.
	{errdef.ErrConflict, http.StatusConflict, metav1.StatusReasonConflict},
	{errdef.ErrAlreadyExists, http.StatusConflict, metav1.StatusReasonAlreadyExists},
	{errdef.ErrInvalid, http.StatusUnprocessableEntity, metav1.StatusReasonInvalid},
	{errdef.ErrBadRequest, http.StatusBadRequest, metav1.StatusReasonBadRequest},
	{errdef.ErrForbidden, http.StatusForbidden, metav1.StatusReasonForbidden},
	{errdef.ErrUnauthorized, http.StatusUnauthorized, metav1.StatusReasonUnauthorized},
	{errdef.ErrTooLarge, http.StatusRequestEntityTooLarge, metav1.StatusReasonRequestEntityTooLarge},
	{errdef.ErrUnavailable, http.StatusServiceUnavailable, metav1.StatusReasonServiceUnavailable},
	{errdef.ErrGone, http.StatusGone, metav1.StatusReasonExpired},
	{errdef.ErrTooLargeResourceVersion, http.StatusGatewayTimeout, metav1.StatusReasonTimeout},
	{nil, http.StatusMethodNotAllowed, metav1.StatusReasonMethodNotAllowed},
	{nil, http.StatusUnsupportedMediaType, metav1.StatusReasonUnsupportedMediaType},
	{nil, http.StatusGatewayTimeout, metav1.StatusReasonTimeout},
	{nil, http.StatusTooManyRequests, metav1.StatusReasonTooManyRequests},
}

// classify returns the HTTP code and reason of err.
func classify(err error) (int, metav1.StatusReason) {
	for _, row := range statusTable {
		if row.err != nil && errors.Is(err, row.err) {
			return row.code, row.reason
		}
	}
	var he *echo.HTTPError
	if errors.As(err, &he) {
		for _, row := range statusTable {
			if row.code == he.Code {
				return row.code, row.reason
			}
		}
		return he.Code, metav1.StatusReasonUnknown
	}
	return http.StatusInternalServerError, metav1.StatusReasonInternalError
}

// apiError is an error whose message is exactly msg and which still matches
// its sentinel with errors.Is, so Status messages carry no "bad request: " noise.
type apiError struct {
	sentinel error
	msg      string
}

func (e *apiError) Error() string { return e.msg }
func (e *apiError) Unwrap() error { return e.sentinel }

func newError(sentinel error, format string, args ...any) error {
	return &apiError{sentinel: sentinel, msg: fmt.Sprintf(format, args...)}
}

// causedError is an apiError that lists what went wrong field by field, for
// Status.details.causes (apply conflicts, invalid request options).
type causedError struct {
	apiError
	causes []metav1.StatusCause
}

func newCausedError(sentinel error, causes []metav1.StatusCause, format string, args ...any) error {
	return &causedError{apiError: apiError{sentinel: sentinel, msg: fmt.Sprintf(format, args...)}, causes: causes}
}

// objectError attaches the object an error is about, for Status.details.
type objectError struct {
	err     error
	details metav1.StatusDetails
}

func (e *objectError) Error() string { return e.err.Error() }
func (e *objectError) Unwrap() error { return e.err }

// aboutObject wraps err with the group, resource and name it concerns, unless
// an inner layer already did.
func aboutObject(err error, group, resource, name string) error {
	var oe *objectError
	if err == nil || errors.As(err, &oe) {
		return err
	}
	return &objectError{err: err, details: metav1.StatusDetails{Name: name, Group: group, Kind: resource}}
}

// statusOf builds the metav1.Status body for err.
func statusOf(err error) *metav1.Status {
	code, reason := classify(err)
	msg := err.Error()
	var he *echo.HTTPError
	switch {
	case errors.Is(err, echo.ErrNotFound):
		// The router's own 404; kubectl shows the apiserver's wording.
		msg = "the server could not find the requested resource"
	case errors.As(err, &he):
		msg = fmt.Sprint(he.Message)
	}
	st := &metav1.Status{
		TypeMeta: metav1.TypeMeta{Kind: "Status", APIVersion: "v1"},
		Status:   metav1.StatusFailure,
		Message:  msg,
		Reason:   reason,
		Code:     int32(code),
	}
	var oe *objectError
	if errors.As(err, &oe) {
		d := oe.details
		st.Details = &d
	}
	if errors.Is(err, errdef.ErrTooLargeResourceVersion) {
		// client-go recognises this cause and lists again.
		st.Details = &metav1.StatusDetails{Causes: []metav1.StatusCause{{Type: metav1.CauseTypeResourceVersionTooLarge, Message: "Too large resource version"}}, RetryAfterSeconds: 1}
	}
	var ce *causedError
	if errors.As(err, &ce) || reason == metav1.StatusReasonInvalid {
		// kubectl prints the causes of a 422, not its message.
		if st.Details == nil {
			st.Details = &metav1.StatusDetails{}
		}
		st.Details.Causes = causesOf(err)
	}
	return st
}

// causesOf lists what is invalid: the causes an error carries, the package
// for a package limit, one cause per file problem of a resources
// validation, else the whole message.
func causesOf(err error) []metav1.StatusCause {
	var ce *causedError
	if errors.As(err, &ce) {
		return ce.causes
	}
	var le *errdef.LimitError
	if errors.As(err, &le) && (le.Name == krm.FlagMaxFiles || le.Name == krm.FlagMaxBytes) {
		typ := metav1.CauseTypeTooLong
		if le.Name == krm.FlagMaxFiles {
			typ = metav1.CauseTypeTooMany
		}
		return []metav1.StatusCause{{Type: typ, Field: "spec.resources", Message: le.Error()}}
	}
	var problems krm.ResourceErrors
	if errors.As(err, &problems) {
		out := make([]metav1.StatusCause, 0, len(problems))
		for _, p := range problems {
			msg := p.Msg
			if p.Line > 0 {
				msg = fmt.Sprintf("line %d: %s", p.Line, msg)
			}
			out = append(out, metav1.StatusCause{Type: metav1.CauseTypeFieldValueInvalid, Field: fmt.Sprintf("spec.resources[%q]", p.Path), Message: msg})
		}
		return out
	}
	return []metav1.StatusCause{{Type: metav1.CauseTypeFieldValueInvalid, Message: err.Error()}}
}

// handleError is the Echo HTTPErrorHandler: the one place an error becomes a response.
func (s *server) handleError(err error, c echo.Context) {
	if c.Response().Committed {
		return
	}
	st := statusOf(err)
	// A panic was logged with its stack where it was recovered.
	if st.Code >= http.StatusInternalServerError && !errors.As(err, new(panicError)) {
		s.log.Error("request failed", "method", c.Request().Method, "path", c.Request().URL.Path, "error", err)
	}
	if c.Request().Method == http.MethodHead {
		err = c.NoContent(int(st.Code))
	} else {
		err = c.JSON(int(st.Code), st)
	}
	if err != nil {
		s.log.Debug("writing error response", "error", err)
	}
}
