package console

import (
	"encoding/json"
	"errors"
	"fmt"
	"html/template"
	"net/http"
	"regexp"
	"strconv"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"pkgserver.dev/pkgserver/pkg/errdef"
)

// APIError is an error answer of the API: its Status, as a client sees it.
type APIError struct {
	Status metav1.Status
}

func (e *APIError) Error() string { return e.Status.Message }

// Unwrap maps the answer to the errdef sentinel of its code, so callers
// use errors.Is as with any other layer.
func (e *APIError) Unwrap() error {
	switch e.Status.Code {
	case http.StatusBadRequest:
		return errdef.ErrBadRequest
	case http.StatusUnauthorized:
		return errdef.ErrUnauthorized
	case http.StatusForbidden:
		return errdef.ErrForbidden
	case http.StatusNotFound:
		return errdef.ErrNotFound
	case http.StatusConflict:
		if e.Status.Reason == metav1.StatusReasonAlreadyExists {
			return errdef.ErrAlreadyExists
		}
		return errdef.ErrConflict
	case http.StatusGone:
		return errdef.ErrGone
	case http.StatusRequestEntityTooLarge:
		return errdef.ErrTooLarge
	case http.StatusUnprocessableEntity:
		return errdef.ErrInvalid
	case http.StatusServiceUnavailable, http.StatusBadGateway:
		return errdef.ErrUnavailable
	}
	return nil
}

// statusError reads an error answer; one that is not a Status keeps its code.
func statusError(code int, body []byte) error {
	var st metav1.Status
	if err := json.Unmarshal(body, &st); err != nil || st.Kind != "Status" {
		st = metav1.Status{Status: metav1.StatusFailure, Message: http.StatusText(code)}
	}
	st.Code = int32(code)
	return &APIError{Status: st}
}

// codeOf is the HTTP status a console page answers for err.
func codeOf(err error) int {
	var ae *APIError
	if errors.As(err, &ae) && ae.Status.Code >= 400 {
		return int(ae.Status.Code)
	}
	for _, m := range []struct {
		err  error
		code int
	}{
		{errdef.ErrBadRequest, http.StatusBadRequest},
		{errdef.ErrUnauthorized, http.StatusUnauthorized},
		{errdef.ErrForbidden, http.StatusForbidden},
		{errdef.ErrNotFound, http.StatusNotFound},
		{errdef.ErrAlreadyExists, http.StatusConflict},
		{errdef.ErrConflict, http.StatusConflict},
		{errdef.ErrInvalid, http.StatusUnprocessableEntity},
		{errdef.ErrTooLarge, http.StatusRequestEntityTooLarge},
		{errdef.ErrUnavailable, http.StatusServiceUnavailable},
	} {
		if errors.Is(err, m.err) {
			return m.code
		}
	}
	return http.StatusInternalServerError
}

// FileProblem is one validation problem of a package's file, as the API's
// 422 names it: spec.resources["path"] and "line N: message".
type FileProblem struct {
	Path    string
	Line    int // 0 when not known
	Message string
	// Excerpt shows the lines around Line, when the console has the file.
	Excerpt template.HTML
}

var (
	resourcesField = regexp.MustCompile(`^spec\.resources\[(".*")\]$`)
	lineMessage    = regexp.MustCompile(`^line (\d+): (.*)$`)
)

// fileProblems returns the file problems of a 422, and the causes about no
// file as plain messages.
func fileProblems(err error) (files []FileProblem, other []string) {
	var ae *APIError
	if !errors.As(err, &ae) {
		return nil, []string{err.Error()}
	}
	if ae.Status.Details == nil || len(ae.Status.Details.Causes) == 0 {
		return nil, []string{ae.Status.Message}
	}
	for _, c := range ae.Status.Details.Causes {
		m := resourcesField.FindStringSubmatch(c.Field)
		path, uerr := "", error(nil)
		if m != nil {
			path, uerr = strconv.Unquote(m[1])
		}
		if m == nil || uerr != nil {
			other = append(other, causeText(c))
			continue
		}
		p := FileProblem{Path: path, Message: c.Message}
		if lm := lineMessage.FindStringSubmatch(c.Message); lm != nil {
			p.Line, _ = strconv.Atoi(lm[1])
			p.Message = lm[2]
		}
		files = append(files, p)
	}
	return files, other
}

func causeText(c metav1.StatusCause) string {
	if c.Field == "" {
		return c.Message
	}
	return fmt.Sprintf("%s: %s", c.Field, c.Message)
}
