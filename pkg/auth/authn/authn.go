// Package authn finds out who sent a request, as kube-apiserver does: static
// bearer tokens (--token-auth-file), OIDC ID tokens, client certificates, a
// trusted authenticating front proxy, and anonymous access, composed by Chain.
package authn

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strings"

	"k8s.io/apiserver/pkg/authentication/user"

	"pkgserver.dev/pkgserver/pkg/errdef"
)

// Request authenticates an HTTP request. ok is false when the request carries
// no credentials it understands; err is set when it carries credentials that
// are wrong (unknown, expired, forged). A wrong credential refuses the
// request: it never falls back to anonymous.
type Request interface {
	AuthenticateRequest(r *http.Request) (u user.Info, ok bool, err error)
}

// RequestFunc adapts a function to Request.
type RequestFunc func(r *http.Request) (user.Info, bool, error)

// AuthenticateRequest implements Request.
func (f RequestFunc) AuthenticateRequest(r *http.Request) (user.Info, bool, error) { return f(r) }

// Token authenticates a bearer token, with the same ok and err as Request.
type Token interface {
	AuthenticateToken(ctx context.Context, token string) (u user.Info, ok bool, err error)
}

// Tokens tries each Token in order; the first that knows the token decides.
type Tokens []Token

// AuthenticateToken implements Token.
func (ts Tokens) AuthenticateToken(ctx context.Context, token string) (user.Info, bool, error) {
	var errs []error
	for _, t := range ts {
		u, ok, err := t.AuthenticateToken(ctx, token)
		if ok && err == nil {
			return u, true, nil
		}
		if err != nil {
			errs = append(errs, err)
		}
	}
	return nil, false, errors.Join(errs...)
}

// ErrNoCredentials is returned by Chain when a request carries no
// credentials and anonymous requests are not allowed.
var ErrNoCredentials = fmt.Errorf("%w: no credentials were presented", errdef.ErrUnauthorized)

// Chain is the whole authentication of the server: each authenticator in
// order (the first that succeeds wins), then anonymous access.
type Chain struct {
	Authenticators []Request
	// Anonymous lets requests without credentials in as system:anonymous.
	Anonymous bool
}

// Configured reports whether any authenticator is set: without one, every
// request is anonymous (the zero configuration of a loopback server).
func (c *Chain) Configured() bool { return c != nil && len(c.Authenticators) > 0 }

// Authenticate returns who sent r: the user of OnBehalfOf for a request
// made inside the process, else the first authenticator's answer.
// Authenticated users get the group system:authenticated, anonymous ones
// system:unauthenticated. Errors wrap errdef.ErrUnauthorized.
func (c *Chain) Authenticate(r *http.Request) (user.Info, error) {
	if u, ok := onBehalf(r.Context()); ok {
		return u, nil
	}
	var errs []error
	if c != nil {
		for _, a := range c.Authenticators {
			u, ok, err := a.AuthenticateRequest(r)
			if ok && err == nil {
				return withAuthenticatedGroup(u), nil
			}
			if err != nil {
				errs = append(errs, err)
			}
		}
	}
	if len(errs) > 0 {
		return nil, fmt.Errorf("%w: %w", errdef.ErrUnauthorized, errors.Join(errs...))
	}
	if c == nil || !c.Configured() || c.Anonymous {
		return Anonymous(), nil
	}
	return nil, ErrNoCredentials
}

// Anonymous is the user of requests without credentials.
func Anonymous() user.Info {
	return &user.DefaultInfo{Name: user.Anonymous, Groups: []string{user.AllUnauthenticated}}
}

// IsAnonymous reports whether u is the anonymous user.
func IsAnonymous(u user.Info) bool { return u == nil || u.GetName() == user.Anonymous }

func withAuthenticatedGroup(u user.Info) user.Info {
	groups := u.GetGroups()
	if slices.Contains(groups, user.AllAuthenticated) || u.GetName() == user.Anonymous {
		return u
	}
	return &user.DefaultInfo{
		Name:   u.GetName(),
		UID:    u.GetUID(),
		Groups: append(slices.Clip(groups), user.AllAuthenticated),
		Extra:  u.GetExtra(),
	}
}

// ParseAuthorization splits an Authorization header value into its scheme
// (lower case) and credentials, as RFC 9110 section 11.4 writes them. ok is
// false for an empty or malformed value.
func ParseAuthorization(v string) (scheme, credentials string, ok bool) {
	scheme, credentials, found := strings.Cut(strings.TrimSpace(v), " ")
	if !found || scheme == "" {
		return "", "", false
	}
	credentials = strings.TrimSpace(credentials)
	if credentials == "" || strings.ContainsAny(credentials, " \t\r\n") {
		return "", "", false
	}
	return strings.ToLower(scheme), credentials, true
}

// Bearer authenticates `Authorization: Bearer <token>` with t. A bearer token
// that no authenticator knows is an error, not an anonymous request.
func Bearer(t Token) Request {
	return RequestFunc(func(r *http.Request) (user.Info, bool, error) {
		scheme, token, ok := ParseAuthorization(r.Header.Get("Authorization"))
		if !ok || scheme != "bearer" {
			return nil, false, nil
		}
		u, ok, err := t.AuthenticateToken(r.Context(), token)
		if err != nil {
			return nil, false, fmt.Errorf("invalid bearer token: %w", err)
		}
		if !ok {
			return nil, false, errors.New("invalid bearer token")
		}
		return u, true, nil
	})
}

// Basic authenticates `Authorization: Basic` credentials whose password is a
// token t knows, so registry clients (oras, crane, skopeo) log in with a user
// name and a token. The token alone says who the user is; the user name is
// not checked, since OIDC user names are often not what people type.
func Basic(t Token) Request {
	return RequestFunc(func(r *http.Request) (user.Info, bool, error) {
		if scheme, _, ok := ParseAuthorization(r.Header.Get("Authorization")); !ok || scheme != "basic" {
			return nil, false, nil
		}
		_, password, ok := r.BasicAuth()
		if !ok || password == "" {
			return nil, false, errors.New("malformed basic credentials")
		}
		u, ok, err := t.AuthenticateToken(r.Context(), password)
		if err != nil {
			return nil, false, fmt.Errorf("invalid basic credentials: %w", err)
		}
		if !ok {
			return nil, false, errors.New("invalid basic credentials")
		}
		return u, true, nil
	})
}

// OnlyUnder limits a to requests whose path starts with prefix (the registry
// tokens, valid on /v2/ only).
func OnlyUnder(prefix string, a Request) Request {
	return RequestFunc(func(r *http.Request) (user.Info, bool, error) {
		if !strings.HasPrefix(r.URL.Path, prefix) {
			return nil, false, nil
		}
		return a.AuthenticateRequest(r)
	})
}

// TokenUser authenticates a bearer token with t as Chain does for a request
// that carries it: the user gets the group system:authenticated, and a
// token t does not know is an error wrapping errdef.ErrUnauthorized. The
// console uses it for the token a user signed in with.
func TokenUser(ctx context.Context, t Token, token string) (user.Info, error) {
	if t == nil {
		return nil, fmt.Errorf("%w: no token authenticator is configured", errdef.ErrUnauthorized)
	}
	u, ok, err := t.AuthenticateToken(ctx, token)
	if err != nil {
		return nil, fmt.Errorf("%w: invalid token: %w", errdef.ErrUnauthorized, err)
	}
	if !ok {
		return nil, fmt.Errorf("%w: invalid token", errdef.ErrUnauthorized)
	}
	return withAuthenticatedGroup(u), nil
}
