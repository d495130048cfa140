package apiserver

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"net/http"
	"strings"
	"time"

	"github.com/labstack/echo/v4"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	auditv1 "k8s.io/apiserver/pkg/apis/audit/v1"
	"k8s.io/apiserver/pkg/authentication/user"

	"pkgserver.dev/pkgserver/pkg/auth/audit"
	"pkgserver.dev/pkgserver/pkg/auth/authn"
	"pkgserver.dev/pkgserver/pkg/auth/authz"
	"pkgserver.dev/pkgserver/pkg/errdef"
)

// Auth says how every request is authenticated, authorized and audited
// (docs/security.md). The zero value lets everyone in as system:anonymous,
// allows everything (impersonation included) and audits nothing: the zero
// configuration of a server on loopback.
type Auth struct {
	// Authenticator finds out who asks; nil (or one with no authenticators)
	// makes every request anonymous.
	Authenticator *authn.Chain
	// Authorizer decides; nil allows everything.
	Authorizer authz.Authorizer
	// Audit, when set, receives an event for every request that changes
	// something and every 401 and 403.
	Audit *audit.Log
	// Strip, when set, removes identity headers (the front proxy's) from
	// every request once it is authenticated.
	Strip func(*http.Request)
	// SelfAuthorized reports paths whose handler authorizes each request
	// itself and writes its own 401 and 403 (the /v2/ registry). They are
	// authenticated here; a failure is left in the context (authn.FailureFrom).
	SelfAuthorized func(path string) bool
}

func (a *Auth) authorizer() authz.Authorizer {
	if a.Authorizer == nil {
		return authz.AlwaysAllow{}
	}
	return a.Authorizer
}

// healthPaths answer probes even when anonymous requests are otherwise
// refused (they say nothing but "ok"); authorization still applies.
var healthPaths = map[string]bool{"/healthz": true, "/livez": true, "/readyz": true}

// authenticate is the one middleware that authenticates, applies
// impersonation, authorizes and audits every route before its handler runs.
func (s *server) authenticate(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) error {
		req := c.Request()
		a := &s.auth
		var ev *auditv1.Event
		if a.Audit != nil {
			ev = audit.NewEvent(req, time.Now())
			ev.Verb = strings.ToLower(req.Method)
			defer func() {
				if r := recover(); r != nil {
					s.writeAudit(ev, http.StatusInternalServerError, nil)
					panic(r)
				}
			}()
		}
		ctx := audit.WithEvent(req.Context(), ev)
		self := a.SelfAuthorized != nil && a.SelfAuthorized(req.URL.Path)
		var attrs authz.Attributes
		if !self {
			attrs = authz.FromRequest(req)
			if ev != nil {
				describe(ev, attrs)
			}
		}

		u, err := a.Authenticator.Authenticate(req)
		if errors.Is(err, authn.ErrNoCredentials) && healthPaths[req.URL.Path] {
			u, err = authn.Anonymous(), nil
		}
		if a.Strip != nil {
			a.Strip(req)
		}
		// A request without credentials is how a browser reaches the console
		// and a registry client starts: not worth a line on those paths.
		if err != nil && !(self && errors.Is(err, authn.ErrNoCredentials)) {
			s.log.Info("authentication failed", "method", req.Method, "path", req.URL.Path, "err", err)
		}
		if err != nil {
			if !self {
				err = unauthorized(err, attrs)
			}
		}
		if err == nil {
			if ev != nil {
				ev.User = audit.UserInfo(u)
			}
			var as user.Info
			as, err = authz.Impersonate(ctx, req, u, a.authorizer())
			if as != nil {
				u = as
				if ev != nil {
					iu := audit.UserInfo(as)
					ev.ImpersonatedUser = &iu
				}
			}
		}
		if err == nil {
			ctx = authn.WithUser(ctx, u)
			if !self {
				attrs.User = u
				err = s.authorize(ctx, attrs, ev)
			}
		}
		if err != nil && self {
			ctx, err = authn.WithFailure(ctx, err), nil
		}
		c.SetRequest(req.WithContext(ctx))
		if err == nil {
			err = next(c)
		}
		if err != nil {
			c.Error(err) // now, so the audit records the status sent
		}
		s.writeAudit(ev, c.Response().Status, err)
		return nil
	}
}

// describe records the verb and object of a request on its audit event.
func describe(ev *auditv1.Event, a authz.Attributes) {
	ev.Verb = a.Verb
	if a.ResourceRequest {
		ev.ObjectRef = &auditv1.ObjectReference{
			Resource: a.Resource, Subresource: a.Subresource, Namespace: a.Namespace,
			Name: a.Name, APIGroup: a.APIGroup,
		}
	}
}

// unauthorized words a failed authentication for the client: what was
// asked, and whether credentials were missing or wrong (the details are in
// the server log, not in the answer).
func unauthorized(err error, a authz.Attributes) error {
	cause := "invalid credentials"
	if errors.Is(err, authn.ErrNoCredentials) {
		cause = "no credentials were presented"
	}
	what := fmt.Sprintf("%s path %q", a.Verb, a.Path)
	if a.ResourceRequest {
		res := a.Resource
		if a.Subresource != "" {
			res += "/" + a.Subresource
		}
		what = fmt.Sprintf("%s resource %q in API group %q", a.Verb, res, a.APIGroup)
		if a.Namespace != "" {
			what += fmt.Sprintf(" in the namespace %q", a.Namespace)
		}
	}
	return about(newError(errdef.ErrUnauthorized, "Unauthorized: %s (to %s)", cause, what), a)
}

// about attaches the object of a resource request to err, for Status.details.
func about(err error, a authz.Attributes) error {
	if !a.ResourceRequest {
		return err
	}
	return aboutObject(err, a.APIGroup, a.Resource, a.Name)
}

// authorize checks a request that is not self-authorized; a refusal is a
// DeniedError about the object, so its Status has details.
func (s *server) authorize(ctx context.Context, attrs authz.Attributes, ev *auditv1.Event) error {
	d, err := s.auth.authorizer().Authorize(ctx, attrs)
	if err != nil {
		return err
	}
	if d.Reason != "" {
		audit.Annotate(ev, audit.AnnotationReason, d.Reason)
	}
	if !d.Allowed {
		audit.Annotate(ev, audit.AnnotationDecision, "forbid")
		return about(&authz.DeniedError{Attributes: attrs, Reason: d.Reason}, attrs)
	}
	audit.Annotate(ev, audit.AnnotationDecision, "allow")
	return nil
}

// authorizeCreate checks that the user of a request authorized as patch may
// also create its object, for a server-side apply that creates it: as in
// kube-apiserver, patching is not creating.
func (s *server) authorizeCreate(c echo.Context) error {
	req := c.Request()
	attrs := authz.FromRequest(req)
	attrs.Verb = "create"
	attrs.User = requestUser(c)
	return s.authorize(req.Context(), attrs, audit.EventFrom(req.Context()))
}

// maxWatch bounds a watch: authentication and authorization happen when it
// starts, so a user whose token was revoked, or whose binding was removed,
// would otherwise go on receiving changes. The client's next watch is
// checked again.
const maxWatch = time.Hour

// watchDuration is how long a watch that asked for asked (0: nothing) runs:
// what it asked, up to maxWatch; else, as kube-apiserver does without
// timeoutSeconds, a random time between half of maxWatch and maxWatch, so
// that clients do not all come back at once.
func watchDuration(asked time.Duration) time.Duration {
	if asked > 0 && asked <= maxWatch {
		return asked
	}
	return maxWatch/2 + rand.N(maxWatch/2+1)
}

// writeAudit writes ev when the request changed something or was refused.
func (s *server) writeAudit(ev *auditv1.Event, code int, err error) {
	if ev == nil {
		return
	}
	if !audit.Mutating(ev.Verb) && code != http.StatusUnauthorized && code != http.StatusForbidden {
		return
	}
	ev.StageTimestamp = metav1.NewMicroTime(time.Now())
	st := ev.ResponseStatus
	if st == nil {
		st = &metav1.Status{}
		if err != nil {
			full := statusOf(err)
			st.Status, st.Reason, st.Message = full.Status, full.Reason, full.Message
		}
		ev.ResponseStatus = st
	}
	st.Code = int32(code)
	if werr := s.auth.Audit.Write(ev); werr != nil {
		s.log.Error("writing the audit log failed", "err", werr)
	}
}
