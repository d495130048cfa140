package registry

import (
	"fmt"
	"net"
	"net/http"

	"pkgserver.dev/pkgserver/pkg/errdef"
)

// Names of the limits of the registry: the pkgserver flags that set them.
const (
	FlagMaxBlobBytes               = "max-blob-bytes"
	FlagMaxManifestBytes           = "max-manifest-bytes"
	FlagMaxUploadSessions          = "max-upload-sessions"
	FlagMaxUploadSessionsPerClient = "max-upload-sessions-per-client"
	FlagUploadSessionTTL           = "upload-session-ttl"
	FlagMaxTagsPerPush             = "max-tags-per-push"
)

// withDefaults fills the zero limits of o.
func (o Options) withDefaults() Options {
	if o.MaxManifestBytes <= 0 {
		o.MaxManifestBytes = DefaultMaxManifestBytes
	}
	if o.UploadTTL <= 0 {
		o.UploadTTL = DefaultUploadTTL
	}
	if o.MaxBlobBytes <= 0 {
		o.MaxBlobBytes = DefaultMaxBlobBytes
	}
	if o.MaxUploadSessions <= 0 {
		o.MaxUploadSessions = DefaultMaxUploadSessions
	}
	if o.MaxUploadSessionsPerClient <= 0 {
		o.MaxUploadSessionsPerClient = DefaultMaxUploadSessionsPerClient
	}
	if o.MaxTagsPerPush <= 0 {
		o.MaxTagsPerPush = DefaultMaxTagsPerPush
	}
	return o
}

// overLimit is a request over one of the limits, with the code the spec
// gives its endpoint.
func overLimit(code Code, flag string, limit int64, format string, args ...any) *Error {
	return wrap(code, &errdef.LimitError{Name: flag, Limit: limit, What: fmt.Sprintf(format, args...)})
}

// clientOf is who an upload session belongs to, for the per-client limit:
// the remote address without its port. Behind a proxy every client shares
// the proxy's address; the global limit still holds.
func clientOf(req *http.Request) string {
	if host, _, err := net.SplitHostPort(req.RemoteAddr); err == nil {
		return host
	}
	return req.RemoteAddr
}
