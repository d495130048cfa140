package remote

import (
	"net/http"

	"oras.land/oras-go/v2/registry/remote/credentials"
)

// Option configures a Store.
type Option func(*options) error

// options holds the settings of New; the zero value plus defaults() is what New uses.
type options struct {
	plainHTTP   bool
	credentials credentials.Store
	httpClient  *http.Client
	userAgent   string
}

// WithPlainHTTP talks HTTP instead of HTTPS to the registry. Default: false (HTTPS).
func WithPlainHTTP(plain bool) Option {
	return func(o *options) error {
		o.plainHTTP = plain
		return nil
	}
}

// WithCredentials sets where registry credentials come from. Default: the
// standard Docker config ($DOCKER_CONFIG/config.json or ~/.docker/config.json)
// with its credential helpers; a missing file means anonymous access.
func WithCredentials(store credentials.Store) Option {
	return func(o *options) error {
		o.credentials = store
		return nil
	}
}

// WithHTTPClient sets the HTTP client under authentication. Default: the
// oras-go retry client (retry.DefaultClient), which retries 5xx and 429 with backoff.
func WithHTTPClient(c *http.Client) Option {
	return func(o *options) error {
		o.httpClient = c
		return nil
	}
}

// WithUserAgent sets the User-Agent header. Default: "pkgserver".
func WithUserAgent(ua string) Option {
	return func(o *options) error {
		o.userAgent = ua
		return nil
	}
}
