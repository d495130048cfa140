package apiserver

import (
	"context"
	"encoding/json"
	"errors"
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

// handlePatch serves PATCH on the object or a subresource ("" for the
// object): it reads the current object, applies the patch and hands the
// result to write, so every rule of a PUT (validation, lifecycle,
// resourceVersion) holds for PATCH too. An apply patch is merged by the field
// manager instead (apply.go).
func (r *resource[T, P]) handlePatch(c echo.Context, s *server, write func(context.Context, *T) (*T, error), sub string) error {
	name, ns := c.Param("name"), c.Param("namespace")
	mediaType, _, _ := mime.ParseMediaType(c.Request().Header.Get(echo.HeaderContentType))
	opts, err := patchOptions(c, mediaType)
	if err != nil {
		return r.about(err, name)
	}
	body, err := readBody(c.Request(), s.maxBody)
	if err != nil {
		return r.about(err, name)
	}
	cur, err := r.get(c.Request().Context(), ns, name)
	if mediaType == applyPatch {
		return r.handleApply(c, s, cur, err, body, opts, write, sub)
	}
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
	if r.refuse != nil {
		if err := r.refuse(patched); err != nil {
			return r.about(err, name)
		}
	}
	obj := new(T)
	if err := decodeJSON(patched, obj, strictFields(c)); err != nil {
		return r.about(newError(errdef.ErrInvalid, "patched object: %v", err), name)
	}
	if err := r.checkBody(obj, ns, name); err != nil {
		return r.about(err, name)
	}
	obj = r.track(r.fm.forSubresource(sub), cur, obj, opts.manager)
	out, err := write(opts.context(c.Request().Context()), obj)
	if err != nil {
		return r.about(err, name)
	}
	return r.respond(c, http.StatusOK, out)
}

// handleApply serves a server-side apply: cur and getErr are the current
// object's read. An object that does not exist yet is created from the
// applied configuration (201), as kube-apiserver does, and only for a user
// who may also create it.
func (r *resource[T, P]) handleApply(c echo.Context, s *server, cur *T, getErr error, body []byte, opts writeOptions, write func(context.Context, *T) (*T, error), sub string) error {
	name, ns := c.Param("name"), c.Param("namespace")
	create := errors.Is(getErr, errdef.ErrNotFound) && sub == "" && r.create != nil
	if getErr != nil && !create {
		return r.about(getErr, name)
	}
	if create {
		if err := s.authorizeCreate(c); err != nil {
			return err
		}
		cur = nil
	}
	obj, err := r.apply(r.fm.forSubresource(sub), cur, ns, name, body, opts.manager, opts.force, s.limits)
	if err != nil {
		return r.about(err, name)
	}
	if err := r.checkBody(obj, ns, name); err != nil {
		return r.about(err, name)
	}
	ctx := opts.context(c.Request().Context())
	if create {
		out, err := r.create(ctx, obj)
		if err != nil {
			return r.about(err, name)
		}
		return r.respond(c, http.StatusCreated, out)
	}
	out, err := write(ctx, obj)
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
	case strategicPatch:
		return nil, echo.NewHTTPError(http.StatusUnsupportedMediaType,
			"strategic merge patch is not supported for this resource; use --type=merge or --type=json")
	}
	return nil, echo.NewHTTPError(http.StatusUnsupportedMediaType,
		"patch content type "+mediaType+" is not supported; use "+mergePatch+" or "+jsonPatch)
}
