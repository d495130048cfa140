package apiserver

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"

	jsonpatch "github.com/evanphx/json-patch/v5"

	pkgapi "pkgserver.dev/pkgserver/api/pkg/v1alpha1"
	"pkgserver.dev/pkgserver/pkg/errdef"
	"pkgserver.dev/pkgserver/pkg/krm"
)

// DefaultMaxPatchOperations is the JSON patch operation limit when
// Options.MaxPatchOperations is 0; Kubernetes has the same.
const DefaultMaxPatchOperations = 10_000

// Names of the limits this package enforces: the pkgserver flags that set them.
const (
	FlagMaxBodyBytes       = "max-body-bytes"
	FlagMaxPatchOperations = "max-patch-operations"
	FlagMaxPatchCopyBytes  = "max-patch-copy-bytes"
)

// limits are the bounds the handlers apply, defaults filled in.
type limits struct {
	body      int64
	patchOps  int
	patchCopy int64
	pkg       krm.Limits
}

func newLimits(o Options) limits {
	l := limits{body: o.MaxBodyBytes, patchOps: o.MaxPatchOperations, patchCopy: o.MaxPatchCopyBytes, pkg: o.Package.WithDefaults()}
	if l.body <= 0 {
		l.body = DefaultMaxBodyBytes
	}
	if l.patchOps <= 0 {
		l.patchOps = DefaultMaxPatchOperations
	}
	if l.patchCopy <= 0 {
		// A copy may add what a PUT body could carry.
		l.patchCopy = l.body
	}
	return l
}

// tooLarge is a request over a limit: a 413 naming it.
func tooLarge(flag string, limit int64, format string, args ...any) error {
	return &errdef.LimitError{Name: flag, Limit: limit, What: fmt.Sprintf(format, args...)}
}

// checkedResources checks the files of a PackageRevisionResources against
// the configured package limits before update (which validates them) sees
// them.
func checkedResources(lim krm.Limits, update func(context.Context, *pkgapi.PackageRevisionResources) (*pkgapi.PackageRevisionResources, error)) func(context.Context, *pkgapi.PackageRevisionResources) (*pkgapi.PackageRevisionResources, error) {
	return func(ctx context.Context, prr *pkgapi.PackageRevisionResources) (*pkgapi.PackageRevisionResources, error) {
		if err := krm.CheckLimits(prr.Spec.Resources, krm.WithLimits(lim)); err != nil {
			return nil, err
		}
		return update(ctx, prr)
	}
}

// applyJSONPatch applies an RFC 6902 patch within the limits: the operations
// are counted before they are decoded, copies stop at the library's
// accumulated copy size limit, and the result must fit a request body.
func applyJSONPatch(doc, patch []byte, lim limits) ([]byte, error) {
	if err := countOperations(patch, lim.patchOps); err != nil {
		return nil, err
	}
	p, err := jsonpatch.DecodePatch(patch)
	if err != nil {
		return nil, newError(errdef.ErrBadRequest, "JSON patch: %v", err)
	}
	opts := jsonpatch.NewApplyOptions()
	opts.AccumulatedCopySizeLimit = lim.patchCopy
	out, err := p.ApplyWithOptions(doc, opts)
	var copyErr *jsonpatch.AccumulatedCopySizeError
	if errors.As(err, &copyErr) {
		return nil, tooLarge(FlagMaxPatchCopyBytes, lim.patchCopy, "what the copy operations of a JSON patch add")
	}
	if err != nil {
		return nil, newError(errdef.ErrInvalid, "JSON patch: %v", err)
	}
	return out, checkPatched(out, lim)
}

// countOperations refuses a patch of more than max operations, reading it
// as a stream so that a huge list is not decoded first.
func countOperations(patch []byte, limit int) error {
	dec := json.NewDecoder(bytes.NewReader(patch))
	if tok, err := dec.Token(); err != nil || tok != json.Delim('[') {
		return nil // not a list: DecodePatch says what is wrong
	}
	var op json.RawMessage // reused: RawMessage decoding appends to it
	for n := 1; dec.More(); n++ {
		if n > limit {
			return tooLarge(FlagMaxPatchOperations, int64(limit), "a JSON patch of more than %d operations", limit)
		}
		if err := dec.Decode(&op); err != nil {
			return nil
		}
	}
	return nil
}

// checkPatched refuses a patched object larger than a request body may be:
// what a PUT could not send, a PATCH may not make.
func checkPatched(out []byte, lim limits) error {
	if int64(len(out)) > lim.body {
		return tooLarge(FlagMaxBodyBytes, lim.body, "the patched object of %d bytes", len(out))
	}
	return nil
}
