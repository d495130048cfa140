package apiserver

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"strings"

	"github.com/labstack/echo/v4"

	"pkgserver.dev/pkgserver/pkg/errdef"
	"pkgserver.dev/pkgserver/pkg/yamlbound"
)

// readBody reads the request body, refusing anything over limit bytes: at once
// from Content-Length when the client sent it, else after limit+1 bytes read, so
// a large body is never held in memory whole.
func readBody(r *http.Request, limit int64) ([]byte, error) {
	if r.ContentLength > limit {
		return nil, tooLarge(FlagMaxBodyBytes, limit, "a request body of %d bytes", r.ContentLength)
	}
	if r.Body == nil {
		return nil, newError(errdef.ErrBadRequest, "request body is empty")
	}
	data, err := io.ReadAll(io.LimitReader(r.Body, limit+1))
	if err != nil {
		return nil, newError(errdef.ErrBadRequest, "reading request body: %v", err)
	}
	if int64(len(data)) > limit {
		return nil, tooLarge(FlagMaxBodyBytes, limit, "a request body of more than %d bytes", limit)
	}
	if len(bytes.TrimSpace(data)) == 0 {
		return nil, newError(errdef.ErrBadRequest, "request body is empty")
	}
	return data, nil
}

// decodeBody reads the request body into v: YAML when the Content-Type says
// so (within the YAML limits), JSON otherwise. Unknown fields are ignored, as
// Kubernetes does by default. refuse, when set, sees the body as JSON first
// and may turn it down.
func (s *server) decodeBody(c echo.Context, v any, refuse func(doc []byte) error) error {
	req := c.Request()
	mediaType, _, _ := mime.ParseMediaType(req.Header.Get(echo.HeaderContentType))
	isYAML := false
	switch {
	case mediaType == "application/yaml" || mediaType == "application/x-yaml" || mediaType == "text/yaml":
		isYAML = true
	case strings.Contains(mediaType, "protobuf") || strings.Contains(mediaType, "cbor"):
		// client-go falls back to JSON on a 415, so say it plainly.
		return echo.NewHTTPError(http.StatusUnsupportedMediaType, "content type "+mediaType+" is not supported; send JSON or YAML")
	}
	data, err := readBody(req, s.maxBody)
	if err != nil {
		return err
	}
	strict := strictFields(c)
	if isYAML {
		j, err := yamlToJSON(data, s.limits.pkg.YAML)
		if err != nil {
			return err
		}
		if refuse != nil {
			if err := refuse(j); err != nil {
				return err
			}
		}
		if err := decodeJSON(j, v, strict); err != nil {
			// Offsets in the converted JSON mean nothing to the client.
			return newError(errdef.ErrBadRequest, "YAML body does not fit the object: %v", err)
		}
		return nil
	}
	if refuse != nil {
		if err := refuse(data); err != nil {
			return err
		}
	}
	if err := decodeJSON(data, v, strict); err != nil {
		return jsonError(data, err)
	}
	return nil
}

// yamlToJSON converts a YAML body (one object) to JSON within lim: a limit
// is a 413 naming it, anything else a malformed body.
func yamlToJSON(data []byte, lim yamlbound.Limits) ([]byte, error) {
	j, err := yamlbound.ToJSON(data, lim)
	if errors.Is(err, errdef.ErrTooLarge) {
		return nil, err
	}
	if err != nil {
		return nil, newError(errdef.ErrBadRequest, "malformed YAML body: %v", err)
	}
	return j, nil
}

// strictFields reports whether the client asked for unknown fields to be
// refused (kubectl sends fieldValidation=Strict when the OpenAPI document
// says the server supports it).
func strictFields(c echo.Context) bool {
	return c.QueryParam("fieldValidation") == "Strict"
}

// decodeJSON decodes one JSON value, refusing unknown fields when strict.
func decodeJSON(data []byte, v any, strict bool) error {
	if !strict {
		return json.Unmarshal(data, v)
	}
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return fmt.Errorf("strict decoding error: %w", err)
	}
	return nil
}

// jsonError names where in data a JSON decoding error is, as line and column.
func jsonError(data []byte, err error) error {
	var offset int64 = -1
	var syn *json.SyntaxError
	var typ *json.UnmarshalTypeError
	switch {
	case errors.As(err, &syn):
		offset = syn.Offset
	case errors.As(err, &typ):
		offset = typ.Offset
	}
	if offset < 0 || offset > int64(len(data)) {
		return newError(errdef.ErrBadRequest, "malformed JSON body: %v", err)
	}
	line, col := lineCol(data[:offset])
	return newError(errdef.ErrBadRequest, "malformed JSON body at line %d, column %d (offset %d): %v", line, col, offset, err)
}

// lineCol returns the 1-based line and column of the last byte of prefix,
// the byte the JSON decoder stopped at.
func lineCol(prefix []byte) (line, col int) {
	line = 1 + bytes.Count(prefix, []byte("\n"))
	col = max(len(prefix)-(bytes.LastIndexByte(prefix, '\n')+1), 1)
	return line, col
}
