package authn

import (
	"context"

	"k8s.io/apiserver/pkg/authentication/user"
	"k8s.io/apiserver/pkg/endpoints/request"
)

// WithUser returns ctx carrying the authenticated (or impersonated) user,
// where Kubernetes' request.UserFrom finds it.
func WithUser(ctx context.Context, u user.Info) context.Context {
	return request.WithUser(ctx, u)
}

// UserFrom returns the user of ctx.
func UserFrom(ctx context.Context) (user.Info, bool) {
	return request.UserFrom(ctx)
}

type failureKey struct{}

// WithFailure records why a request that authorizes itself (/v2/) could not
// be let in (no credentials, wrong credentials, a refused impersonation),
// so its handler answers in its own protocol.
func WithFailure(ctx context.Context, err error) context.Context {
	return context.WithValue(ctx, failureKey{}, err)
}

// FailureFrom returns the error WithFailure recorded, or nil.
func FailureFrom(ctx context.Context) error {
	err, _ := ctx.Value(failureKey{}).(error)
	return err
}

type onBehalfKey struct{}

// OnBehalfOf returns ctx for a request this process makes to its own API
// on behalf of a user it has already authenticated (the web console, whose
// users sign in with a token once and then send a session cookie). Chain
// takes u as the request's user, so the request is authorized and audited
// exactly like the same call from a client of u. Only code inside the
// process can put a value in a request's context: no header or cookie
// reaches it.
func OnBehalfOf(ctx context.Context, u user.Info) context.Context {
	return context.WithValue(ctx, onBehalfKey{}, u)
}

// onBehalf returns the user OnBehalfOf put in ctx.
func onBehalf(ctx context.Context) (user.Info, bool) {
	u, ok := ctx.Value(onBehalfKey{}).(user.Info)
	return u, ok && u != nil
}
