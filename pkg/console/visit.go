package console

import (
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"time"

	"k8s.io/apiserver/pkg/authentication/user"

	"pkgserver.dev/pkgserver/pkg/auth/audit"
	"pkgserver.dev/pkgserver/pkg/auth/authn"
	"pkgserver.dev/pkgserver/pkg/auth/authz"
	"pkgserver.dev/pkgserver/pkg/errdef"
)

// visit is one request of a browser: its session and, once identified,
// its user and the API as that user.
type visit struct {
	c     *Console
	w     http.ResponseWriter
	r     *http.Request
	sess  *session
	dirty bool // sess must be written back
	user  user.Info
	// signedIn: the user comes from a console sign-in (not from the
	// connection, such as a client certificate, nor anonymous).
	signedIn bool
	// expired: the session's credential stopped working.
	expired bool
	api     *caller
}

// begin reads the session cookie, or starts a session.
func (c *Console) begin(w http.ResponseWriter, r *http.Request) *visit {
	v := &visit{c: c, w: w, r: r}
	if ck, err := r.Cookie(c.cookies.session()); err == nil {
		var s session
		if c.seal.open(ck.Name, ck.Value, &s) == nil && s.ID != "" && s.Expires > c.opts.Now().Unix() {
			v.sess = &s
		}
	}
	if v.sess == nil {
		v.sess, v.dirty = c.seal.newSession(), true
	}
	return v
}

// save writes the session cookie when it changed. Call it before the
// answer's header is written. A session nobody signed in to is not written
// in answer to another site's request: the browser left the user's
// SameSite=Strict cookie out of it, and would replace it with this one.
func (v *visit) save() {
	if !v.dirty || (v.sess.Kind == "" && v.r.Header.Get("Sec-Fetch-Site") == "cross-site") {
		return
	}
	val, err := v.c.seal.seal(v.c.cookies.session(), v.sess)
	if err != nil {
		v.c.log.Error("sealing the console session", "err", err)
		return
	}
	left := time.Duration(v.sess.Expires-v.c.seal.now().Unix()) * time.Second
	v.c.cookies.set(v.w, v.c.cookies.session(), val, left, false)
	v.dirty = false
}

// identify finds the user: the one the session signed in, else the one
// the connection authenticated (a client certificate, a front proxy, or
// anonymous when the server lets anonymous requests in). nil: nobody.
func (v *visit) identify() {
	ctx := v.r.Context()
	if v.sess.Kind != "" {
		u, err := v.c.authenticate(ctx, v)
		if err == nil {
			v.user, v.signedIn = u, true
		} else {
			v.c.log.Info("console session ended", "err", err)
			v.expired = true
			v.sess.Kind, v.sess.Token, v.sess.Refresh, v.dirty = "", "", "", true
		}
	}
	if v.user == nil && authn.FailureFrom(ctx) == nil {
		if u, ok := authn.UserFrom(ctx); ok {
			v.user = u
		}
	}
	if v.user != nil {
		v.api = &caller{api: v.c.opts.API, user: v.user, remote: v.r.RemoteAddr, agent: v.r.UserAgent()}
		if ev := audit.EventFrom(ctx); ev != nil {
			ev.User = audit.UserInfo(v.user)
		}
	}
}

// can asks the authorizer whether the user may do verb on a resource of
// pkgserver in the visit's namespace, as `kubectl auth can-i` does.
func (v *visit) can(verb, group, resource, subresource, name string) bool {
	if v.user == nil {
		return false
	}
	d, err := v.c.opts.Authorizer.Authorize(v.r.Context(), authz.Attributes{
		User: v.user, Verb: verb, ResourceRequest: true, APIGroup: group,
		Resource: resource, Subresource: subresource, Namespace: v.r.PathValue("ns"), Name: name,
	})
	return err == nil && d.Allowed
}

// mayUseConsole asks the authorizer for `get` on the console's path, a
// non-resource URL: the default policy grants /ui/* to every
// authenticated user, and an operator may grant or refuse it like /apis.
func (v *visit) mayUseConsole() bool {
	d, err := v.c.opts.Authorizer.Authorize(v.r.Context(), authz.Attributes{User: v.user, Verb: "get", Path: v.r.URL.Path})
	return err == nil && d.Allowed
}

// canSignIn says whether the console offers any way to sign in.
func (c *Console) canSignIn() bool { return c.opts.Tokens != nil || c.oidc != nil }

// signInURL is the sign-in page, coming back to where the user was.
func (v *visit) signInURL() string {
	q := url.Values{"return": {v.r.URL.RequestURI()}}
	if v.expired {
		q.Set("expired", "1")
	}
	return Prefix + "signin?" + q.Encode()
}

// handler is a console page or action.
type handler func(v *visit) error

// open serves a page that needs no identity (sign-in).
func (c *Console) open(h handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		v := c.begin(w, r)
		c.finish(v, h(v))
	})
}

// page serves a page as the visit's user; without one it sends the
// browser to sign in.
func (c *Console) page(h handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		v := c.begin(w, r)
		v.identify()
		if err := c.admit(v); err != nil {
			c.finish(v, err)
			return
		}
		c.finish(v, h(v))
	})
}

// maxOpenFormBytes bounds the forms anyone may post (sign in, sign out):
// a token and the CSRF token.
const maxOpenFormBytes = 64 << 10

// form serves a POST that needs the session's CSRF token and no identity.
func (c *Console) form(h handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		v := c.begin(w, r)
		if err := c.checkForm(v, maxOpenFormBytes); err != nil {
			c.finish(v, err)
			return
		}
		c.finish(v, h(v))
	})
}

// action serves a POST as the visit's user, with the CSRF token checked.
// The visitor is admitted before the form is read, so a stranger's body
// is never read at all.
func (c *Console) action(h handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		v := c.begin(w, r)
		v.identify()
		if err := c.admit(v); err != nil {
			c.finish(v, err)
			return
		}
		if err := c.checkForm(v, c.opts.MaxBodyBytes); err != nil {
			c.finish(v, err)
			return
		}
		c.finish(v, h(v))
	})
}

// admit lets the visit in, or says why not.
func (c *Console) admit(v *visit) error {
	switch {
	case v.user == nil:
		return errSignIn
	case v.mayUseConsole():
		return nil
	case authn.IsAnonymous(v.user) && c.canSignIn():
		return errSignIn
	}
	return fmt.Errorf("%w: %s", errdef.ErrForbidden, authz.ForbiddenMessage(authz.Attributes{User: v.user, Verb: "get", Path: v.r.URL.Path}))
}

// errSignIn sends the browser to the sign-in page.
var errSignIn = errors.New("sign in first")

// errCSRF refuses a form without the session's token.
var errCSRF = fmt.Errorf("%w: the form is not from this console session (CSRF token missing or wrong); reload the page and try again", errdef.ErrForbidden)

// checkForm reads a POST form of at most maxBytes and checks where it comes from: the
// session's CSRF token, and the browser's Origin and Sec-Fetch-Site when
// it sends them.
func (c *Console) checkForm(v *visit, maxBytes int64) error {
	r := v.r
	r.Body = http.MaxBytesReader(v.w, r.Body, maxBytes)
	if err := r.ParseForm(); err != nil {
		var mb *http.MaxBytesError
		if errors.As(err, &mb) {
			return fmt.Errorf("%w: the form is larger than %d bytes", errdef.ErrTooLarge, mb.Limit)
		}
		return fmt.Errorf("%w: %v", errdef.ErrBadRequest, err)
	}
	site := r.Header.Get("Sec-Fetch-Site")
	crossSite := site != "" && site != "same-origin" && site != "none"
	if !c.seal.checkCSRF(v.sess, r.PostForm.Get("csrf")) || crossSite || !sameOrigin(r) {
		if ev := audit.EventFrom(r.Context()); ev != nil {
			audit.Annotate(ev, audit.AnnotationDecision, "forbid")
			audit.Annotate(ev, audit.AnnotationReason, "console: CSRF token missing or wrong, or a cross-site form")
		}
		return errCSRF
	}
	return nil
}

// sameOrigin reports whether the Origin header, when present, is this
// server as the browser reached it.
func sameOrigin(r *http.Request) bool {
	o := r.Header.Get("Origin")
	if o == "" {
		return true
	}
	u, err := url.Parse(o)
	if err != nil {
		return false
	}
	return strings.EqualFold(u.Host, r.Host)
}

// finish answers: err becomes an error page (or a redirect to sign in),
// after the session cookie is written.
func (c *Console) finish(v *visit, err error) {
	if err == nil {
		return
	}
	if errors.Is(err, errSignIn) || (errors.Is(err, errdef.ErrUnauthorized) && c.canSignIn()) {
		v.save()
		if v.r.Method == http.MethodGet && v.r.Header.Get("HX-Request") == "" {
			http.Redirect(v.w, v.r, v.signInURL(), http.StatusSeeOther)
			return
		}
		c.renderError(v, http.StatusUnauthorized, "Sign in to use the console.")
		return
	}
	code := codeOf(err)
	if code >= http.StatusInternalServerError {
		c.log.Error("console request failed", "method", v.r.Method, "path", v.r.URL.Path, "err", err)
	}
	c.renderError(v, code, err.Error())
}
