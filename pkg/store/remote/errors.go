package remote

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"strings"

	"oras.land/oras-go/v2/content"
	orasErrdef "oras.land/oras-go/v2/errdef"
	"oras.land/oras-go/v2/registry/remote/auth"
	"oras.land/oras-go/v2/registry/remote/errcode"

	"pkgserver.dev/pkgserver/pkg/errdef"
)

// notFoundCodes are the distribution spec error codes that mean "missing".
var notFoundCodes = map[string]bool{
	errcode.ErrorCodeNameUnknown:     true,
	errcode.ErrorCodeManifestUnknown: true,
	errcode.ErrorCodeBlobUnknown:     true,
}

// translate wraps err with the pkg/errdef sentinel it stands for, keeping the
// original in the chain: a manifest refused for a blob it names that the
// registry lacks is ErrMissingContent, 404 and other *_UNKNOWN codes are
// ErrNotFound, 5xx and transport failures ErrUnavailable, digest and size
// mismatches ErrInvalid.
func translate(op string, err error) error {
	if err == nil {
		return nil
	}
	if errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
		return fmt.Errorf("remote: %s: %w", op, err)
	}
	if sentinel := classify(err); sentinel != nil {
		return fmt.Errorf("remote: %s: %w: %w", op, sentinel, err)
	}
	return fmt.Errorf("remote: %s: %w", op, err)
}

func classify(err error) error {
	if missingContent(err) {
		return errdef.ErrMissingContent
	}
	if errors.Is(err, orasErrdef.ErrNotFound) {
		return errdef.ErrNotFound
	}
	if errors.Is(err, content.ErrMismatchedDigest) || errors.Is(err, orasErrdef.ErrInvalidDigest) ||
		errors.Is(err, orasErrdef.ErrInvalidReference) {
		return errdef.ErrInvalid
	}
	if errors.Is(err, orasErrdef.ErrSizeExceedsLimit) {
		return errdef.ErrTooLarge
	}
	if errors.Is(err, auth.ErrBasicCredentialNotFound) {
		// The registry wants a login and the Docker config has none for it.
		return errdef.ErrForbidden
	}
	var resp *errcode.ErrorResponse
	if errors.As(err, &resp) {
		switch {
		case resp.StatusCode == http.StatusNotFound:
			return errdef.ErrNotFound
		case resp.StatusCode >= 500:
			return errdef.ErrUnavailable
		case resp.StatusCode == http.StatusUnauthorized || resp.StatusCode == http.StatusForbidden:
			return errdef.ErrForbidden
		}
		for _, e := range resp.Errors {
			if notFoundCodes[e.Code] {
				return errdef.ErrNotFound
			}
		}
		return nil
	}
	// *url.Error and *net.OpError (refused, reset, timeout, DNS) are net.Errors.
	var netErr net.Error
	if errors.As(err, &netErr) {
		return errdef.ErrUnavailable
	}
	return nil
}

// missingContent reports a manifest the registry refused because content it
// names is not there: MANIFEST_BLOB_UNKNOWN (distribution spec, "Pushing
// Manifests"), or BLOB_UNKNOWN in the answer to a manifest PUT, as some
// registries say it; with 400 or 404 alike. The manifest's repository and
// reference may well exist, so this is not ErrNotFound.
func missingContent(err error) bool {
	var resp *errcode.ErrorResponse
	if !errors.As(err, &resp) {
		return false
	}
	manifestPut := resp.Method == http.MethodPut && resp.URL != nil && strings.Contains(resp.URL.Path, "/manifests/")
	for _, e := range resp.Errors {
		if e.Code == errcode.ErrorCodeManifestBlobUnknown || manifestPut && e.Code == errcode.ErrorCodeBlobUnknown {
			return true
		}
	}
	return false
}
