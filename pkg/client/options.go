package client

import (
	"errors"
	"net/http"
)

// Option configures a Client.
type Option func(*options) error

type options struct {
	httpClient *http.Client
	user       string
	userAgent  string
}

// DefaultUserAgent is the User-Agent sent when WithUserAgent is not given.
const DefaultUserAgent = "pkgserver-client"

// UserHeader is the request header that carries the user name given with
// WithUser: kubectl's --as, impersonation, which the server allows only to
// users with the impersonate right (everyone, on a server without
// authorization). The server records the user, e.g. as status.publishedBy.
const UserHeader = "Impersonate-User"

// WithHTTPClient sets the HTTP client used for every request.
// The default is http.DefaultClient.
func WithHTTPClient(hc *http.Client) Option {
	return func(o *options) error {
		if hc == nil {
			return errors.New("client: WithHTTPClient: nil *http.Client")
		}
		o.httpClient = hc
		return nil
	}
}

// WithUser impersonates user (the Impersonate-User header) on every request.
// The default sends no user.
func WithUser(user string) Option {
	return func(o *options) error {
		o.user = user
		return nil
	}
}

// WithUserAgent sets the User-Agent header. The default is DefaultUserAgent.
func WithUserAgent(ua string) Option {
	return func(o *options) error {
		if ua == "" {
			return errors.New("client: WithUserAgent: empty user agent")
		}
		o.userAgent = ua
		return nil
	}
}

// client returns the HTTP client to use: the given one, with a transport
// that sets the User-Agent and user headers (client-go leaves a given
// client's transport alone).
func (o options) client() *http.Client {
	hc := *o.httpClient
	next := hc.Transport
	if next == nil {
		next = http.DefaultTransport
	}
	hc.Transport = &headers{next: next, userAgent: o.userAgent, user: o.user}
	return &hc
}

// headers adds the client's headers to every request.
type headers struct {
	next      http.RoundTripper
	userAgent string
	user      string
}

func (h *headers) RoundTrip(r *http.Request) (*http.Response, error) {
	r = r.Clone(r.Context())
	r.Header.Set("User-Agent", h.userAgent)
	if h.user != "" {
		r.Header.Set(UserHeader, h.user)
	}
	return h.next.RoundTrip(r)
}
