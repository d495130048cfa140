package apiserver

import (
	"context"
	"encoding/json"
	"mime"
	"net/http"

	jsonpatch "github.com/evanphx/json-patch/v5"
	"github.com/labstack/echo/v4"

	"pkgserver.dev/pkgserver/pkg/errdef"
)

// Patch media types (Kubernetes API conventions).
const (
	mergePatch     = "application/merge-patch+json"
	jsonPatch      = "application/json-patch+json"
	strategicPatch = "application/strategic-merge-patch+json"
	applyPatch     = "application/apply-patch+yaml"
)

// handlePatch serves PATCH on the object or a subresource: it reads the
// current object, applies the patch and hands the result to write, so every
// rule of a PUT (validation, lifecycle, resourceVersion) holds for PATCH too.
func (r *resource[T, P]) handlePatch(c echo.Context, s *server, write func(context.Context, *T) (*T, error)) error {
	name, ns := c.Param("name"), c.Param("namespace")
	mediaType, _, _ := mime.ParseMediaType(c.Request().Header.Get(echo.HeaderContentType))
	body, err := readBody(c.Request(), s.maxBody)
	if err != nil {
		return r.about(err, name)
	}
	cur, err := r.get(c.Request().Context(), ns, name)
	if err != nil {
		return r.about(err, name)
	}
	r.setKind(cur)
	doc, err := json.Marshal(cur)
	if err != nil {
		return err
	}
	patched, err := applyPatchBody(mediaType, doc, body, s.limits)
	if err != nil {
		return r.about(err, name)
	}
	obj := new(T)
	if err := decodeJSON(patched, obj, strictFields(c)); err != nil {
		return r.about(newError(errdef.ErrInvalid, "patched object: %v", err), name)
	}
	if err := r.checkBody(obj, ns, name); err != nil {
		return r.about(err, name)
	}
	out, err := write(c.Request().Context(), obj)
	if err != nil {
		return r.about(err, name)
	}
	return r.respond(c, http.StatusOK, out)
}

// applyPatchBody applies a patch of the given media type to doc, within lim.
func applyPatchBody(mediaType string, doc, patch []byte, lim limits) ([]byte, error) {
	switch mediaType {
	case mergePatch:
		out, err := jsonpatch.MergePatch(doc, patch)
		if err != nil {
			return nil, newError(errdef.ErrBadRequest, "merge patch: %v", err)
		}
		return out, checkPatched(out, lim)
	case jsonPatch:
		return applyJSONPatch(doc, patch, lim)
	case applyPatch:
		// Server-side apply without field managers: the applied configuration
		// is merged into the live object like a merge patch.
		j, err := yamlToJSON(patch, lim.pkg.YAML)
		if err != nil {
			return nil, err
		}
		out, err := jsonpatch.MergePatch(doc, j)
		if err != nil {
			return nil, newError(errdef.ErrBadRequest, "apply patch: %v", err)
		}
		return out, checkPatched(out, lim)
	case strategicPatch:
		return nil, echo.NewHTTPError(http.StatusUnsupportedMediaType,
			"strategic merge patch is not supported for this resource; use --type=merge or --type=json")
	}
	return nil, echo.NewHTTPError(http.StatusUnsupportedMediaType,
		"patch content type "+mediaType+" is not supported; use "+mergePatch+" or "+jsonPatch)
}
