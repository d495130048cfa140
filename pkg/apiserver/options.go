package apiserver

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/url"
	"strings"
	"unicode"
	"unicode/utf8"

	"github.com/labstack/echo/v4"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/validation"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/validation/field"

	configapi "pkgserver.dev/pkgserver/api/config/v1alpha1"
	"pkgserver.dev/pkgserver/pkg/engine"
	"pkgserver.dev/pkgserver/pkg/errdef"
)

// The options of a write (metav1.CreateOptions, UpdateOptions, PatchOptions
// and DeleteOptions), read and validated as kube-apiserver does, and handed
// to the engine in the request context (engine.WriteOptions).

// writeOptions is what a create, update or patch asked for besides the body.
type writeOptions struct {
	dryRun  bool
	manager string // who makes the change, for managedFields
	force   bool   // apply: take over fields other managers own
}

// context returns ctx carrying the options the engine honours.
func (o writeOptions) context(ctx context.Context) context.Context {
	return engine.WithWriteOptions(ctx, engine.WriteOptions{DryRun: o.dryRun})
}

// createOptions reads the query of a POST.
func createOptions(c echo.Context) (writeOptions, error) {
	var o metav1.CreateOptions
	if err := decodeQuery(c.QueryParams(), &o); err != nil {
		return writeOptions{}, err
	}
	if errs := validation.ValidateCreateOptions(&o); len(errs) > 0 {
		return writeOptions{}, invalidOptions("CreateOptions", errs)
	}
	return writeOptions{dryRun: len(o.DryRun) > 0, manager: managerOf(o.FieldManager, c.Request().UserAgent())}, nil
}

// updateOptions reads the query of a PUT.
func updateOptions(c echo.Context) (writeOptions, error) {
	var o metav1.UpdateOptions
	if err := decodeQuery(c.QueryParams(), &o); err != nil {
		return writeOptions{}, err
	}
	if errs := validation.ValidateUpdateOptions(&o); len(errs) > 0 {
		return writeOptions{}, invalidOptions("UpdateOptions", errs)
	}
	return writeOptions{dryRun: len(o.DryRun) > 0, manager: managerOf(o.FieldManager, c.Request().UserAgent())}, nil
}

// patchOptions reads the query of a PATCH of the given media type: an apply
// patch must name its field manager, and only an apply may force.
func patchOptions(c echo.Context, mediaType string) (writeOptions, error) {
	var o metav1.PatchOptions
	if err := decodeQuery(c.QueryParams(), &o); err != nil {
		return writeOptions{}, err
	}
	if errs := validation.ValidatePatchOptions(&o, types.PatchType(mediaType)); len(errs) > 0 {
		return writeOptions{}, invalidOptions("PatchOptions", errs)
	}
	return writeOptions{
		dryRun:  len(o.DryRun) > 0,
		manager: managerOf(o.FieldManager, c.Request().UserAgent()),
		force:   o.Force != nil && *o.Force,
	}, nil
}

// deleteOptions reads the DeleteOptions of a DELETE: the query, then the
// body over it (clients send them as a body; curl users tend to use the
// query). propagationPolicy, gracePeriodSeconds and orphanDependents are
// validated and otherwise ignored: there are no dependents and no grace.
func deleteOptions(c echo.Context, limit int64) (engine.WriteOptions, error) {
	var o metav1.DeleteOptions
	if err := decodeQuery(c.QueryParams(), &o); err != nil {
		return engine.WriteOptions{}, err
	}
	body, err := io.ReadAll(io.LimitReader(c.Request().Body, limit+1))
	if err != nil {
		return engine.WriteOptions{}, newError(errdef.ErrBadRequest, "reading request body: %v", err)
	}
	if int64(len(body)) > limit {
		return engine.WriteOptions{}, newError(errdef.ErrTooLarge, "request body is over the limit of %d bytes", limit)
	}
	if len(bytes.TrimSpace(body)) > 0 {
		if err := json.Unmarshal(body, &o); err != nil {
			return engine.WriteOptions{}, newError(errdef.ErrBadRequest, "malformed DeleteOptions body: %v", err)
		}
		if o.Kind != "" && o.Kind != "DeleteOptions" {
			return engine.WriteOptions{}, newError(errdef.ErrBadRequest, "the body of a DELETE is a DeleteOptions, not a %s", o.Kind)
		}
	}
	if errs := validation.ValidateDeleteOptions(&o); len(errs) > 0 {
		return engine.WriteOptions{}, invalidOptions("DeleteOptions", errs)
	}
	wo := engine.WriteOptions{DryRun: len(o.DryRun) > 0}
	if p := o.Preconditions; p != nil {
		if p.UID != nil {
			wo.UID = string(*p.UID)
		}
		if p.ResourceVersion != nil {
			wo.ResourceVersion = *p.ResourceVersion
		}
	}
	return wo, nil
}

// parameterCodec reads options from a query with the conversions that
// metav1.AddToGroupVersion registered in the scheme of the served groups.
var parameterCodec = runtime.NewParameterCodec(scheme)

// decodeQuery reads the Kubernetes options of a request from its query.
func decodeQuery(q url.Values, into runtime.Object) error {
	if err := parameterCodec.DecodeParameters(q, configapi.SchemeGroupVersion, into); err != nil {
		return newError(errdef.ErrBadRequest, "query: %v", err)
	}
	return nil
}

// invalidOptions is the 422 of options that do not validate, one cause per field.
func invalidOptions(kind string, errs field.ErrorList) error {
	causes := make([]metav1.StatusCause, 0, len(errs))
	for _, e := range errs {
		causes = append(causes, metav1.StatusCause{Type: metav1.CauseType(e.Type), Field: e.Field, Message: e.ErrorBody()})
	}
	return newCausedError(errdef.ErrInvalid, causes, "%s.meta.k8s.io is invalid: %v", kind, errs.ToAggregate())
}

// managerOf names who makes a write for managedFields: the fieldManager the
// client gave, else the product of its User-Agent ("kubectl/v1.35 …" is
// "kubectl"), printable and at most 128 bytes, as kube-apiserver does.
func managerOf(fieldManager, userAgent string) string {
	if fieldManager != "" {
		return fieldManager
	}
	product, _, _ := strings.Cut(userAgent, "/")
	var b strings.Builder
	for _, r := range product {
		if !unicode.IsPrint(r) {
			continue
		}
		if b.Len()+utf8.RuneLen(r) > validation.FieldManagerMaxLength {
			break
		}
		b.WriteRune(r)
	}
	return b.String()
}
