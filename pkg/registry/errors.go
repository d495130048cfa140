package registry

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"

	"oras.land/oras-go/v2/content"

	"pkgserver.dev/pkgserver/pkg/errdef"
)

// Code is an error code of the distribution spec ("Error Codes").
type Code string

// The error codes of the spec, and three that distribution also uses for
// conditions the spec gives a status but no code.
const (
	CodeBlobUnknown         Code = "BLOB_UNKNOWN"
	CodeBlobUploadInvalid   Code = "BLOB_UPLOAD_INVALID"
	CodeBlobUploadUnknown   Code = "BLOB_UPLOAD_UNKNOWN"
	CodeDigestInvalid       Code = "DIGEST_INVALID"
	CodeManifestBlobUnknown Code = "MANIFEST_BLOB_UNKNOWN"
	CodeManifestInvalid     Code = "MANIFEST_INVALID"
	CodeManifestUnknown     Code = "MANIFEST_UNKNOWN"
	CodeNameInvalid         Code = "NAME_INVALID"
	CodeNameUnknown         Code = "NAME_UNKNOWN"
	CodeSizeInvalid         Code = "SIZE_INVALID"
	CodeUnauthorized        Code = "UNAUTHORIZED"
	CodeDenied              Code = "DENIED"
	CodeUnsupported         Code = "UNSUPPORTED"
	CodeTooManyRequests     Code = "TOOMANYREQUESTS"

	// CodeRangeInvalid: a chunk out of order or a bad Content-Range (416).
	CodeRangeInvalid Code = "RANGE_INVALID"
	// CodeUnavailable: the store cannot be reached (503).
	CodeUnavailable Code = "UNAVAILABLE"
	// CodeUnknown: anything else, a server fault (500).
	CodeUnknown Code = "UNKNOWN"
)

// statusOf is the one table from code to HTTP status ("Error Codes" and the
// status each endpoint section gives).
var statusOf = map[Code]int{
	CodeBlobUnknown:         http.StatusNotFound,
	CodeBlobUploadInvalid:   http.StatusBadRequest,
	CodeBlobUploadUnknown:   http.StatusNotFound,
	CodeDigestInvalid:       http.StatusBadRequest,
	CodeManifestBlobUnknown: http.StatusBadRequest,
	CodeManifestInvalid:     http.StatusBadRequest,
	CodeManifestUnknown:     http.StatusNotFound,
	CodeNameInvalid:         http.StatusBadRequest,
	CodeNameUnknown:         http.StatusNotFound,
	CodeSizeInvalid:         http.StatusBadRequest,
	CodeUnauthorized:        http.StatusUnauthorized,
	CodeDenied:              http.StatusForbidden,
	CodeUnsupported:         http.StatusMethodNotAllowed,
	CodeTooManyRequests:     http.StatusTooManyRequests,
	CodeRangeInvalid:        http.StatusRequestedRangeNotSatisfiable,
	CodeUnavailable:         http.StatusServiceUnavailable,
	CodeUnknown:             http.StatusInternalServerError,
}

// Error is a failed request: a code with a message and an optional detail.
type Error struct {
	Code    Code
	Message string
	Detail  any
	// header is set on the error response (Location and Range after a 416).
	header http.Header
	err    error
}

func (e *Error) Error() string {
	if e.err != nil {
		return fmt.Sprintf("%s: %s: %v", e.Code, e.Message, e.err)
	}
	return fmt.Sprintf("%s: %s", e.Code, e.Message)
}

func (e *Error) Unwrap() error { return e.err }

// newError returns an Error with code and a printf message.
func newError(code Code, format string, args ...any) *Error {
	return &Error{Code: code, Message: fmt.Sprintf(format, args...)}
}

// wrap returns an Error with code whose message is err's, keeping err for errors.Is.
func wrap(code Code, err error) *Error {
	return &Error{Code: code, Message: err.Error(), err: err}
}

// kindCodes tells what a store sentinel means on a given endpoint: a missing
// object is a BLOB_UNKNOWN on a blob route and a MANIFEST_UNKNOWN on a
// manifest route.
type kindCodes struct {
	notFound Code
	invalid  Code
}

// classify maps err to a code: an *Error keeps its own; store sentinels map by
// the route's kindCodes; anything else is a server fault.
func classify(err error, kc kindCodes) Code {
	var e *Error
	switch {
	case errors.As(err, &e):
		return e.Code
	case errors.Is(err, errdef.ErrNotFound):
		return kc.notFound
	case errors.Is(err, content.ErrMismatchedDigest):
		return CodeDigestInvalid
	case errors.Is(err, errdef.ErrInvalid), errors.Is(err, errdef.ErrBadRequest), errors.Is(err, errdef.ErrTooLarge):
		return kc.invalid
	case errors.Is(err, errdef.ErrForbidden):
		return CodeDenied
	case errors.Is(err, errdef.ErrUnavailable), errors.Is(err, errdef.ErrLocked):
		return CodeUnavailable
	case errors.Is(err, context.DeadlineExceeded):
		return CodeUnavailable
	}
	return CodeUnknown
}

// errorBody is the error response body ("Error Codes").
type errorBody struct {
	Errors []errorEntry `json:"errors"`
}

type errorEntry struct {
	Code    Code   `json:"code"`
	Message string `json:"message"`
	Detail  any    `json:"detail,omitempty"`
}

// writeError is the one error writer. 5xx messages are logged, not sent.
func (r *Registry) writeError(w http.ResponseWriter, req *http.Request, err error, kc kindCodes) {
	code := classify(err, kc)
	status := statusOf[code]
	msg, detail := err.Error(), any(nil)
	var e *Error
	if errors.As(err, &e) {
		msg, detail = e.Message, e.Detail
		for k, v := range e.header {
			w.Header()[k] = v
		}
	}
	if status >= 500 {
		r.log.ErrorContext(req.Context(), "registry request failed", "method", req.Method, "path", req.URL.Path, "err", err)
		msg = http.StatusText(status)
	}
	body, _ := json.Marshal(errorBody{Errors: []errorEntry{{Code: code, Message: msg, Detail: detail}}})
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Content-Length", fmt.Sprint(len(body)))
	w.WriteHeader(status)
	if req.Method != http.MethodHead {
		_, _ = w.Write(body)
	}
}
