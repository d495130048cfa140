package console

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"path"
	"strings"

	"k8s.io/apiserver/pkg/authentication/user"

	"pkgserver.dev/pkgserver/pkg/auth/audit"
	"pkgserver.dev/pkgserver/pkg/auth/authn"
	"pkgserver.dev/pkgserver/pkg/errdef"
)

// signInData is the sign-in page.
type signInData struct {
	// As is who the visitor is without signing in (anonymous, or the
	// user of a client certificate), when the server lets them in.
	As      string
	Return  string
	Token   bool // the token form is offered
	OIDC    bool // sign-in with the OIDC issuer is offered
	Expired bool // the previous session's credential stopped working
	Error   string
}

func (c *Console) signInPage(v *visit) error {
	q := v.r.URL.Query()
	d := signInData{Return: safeReturn(q.Get("return")), Token: c.opts.Tokens != nil, OIDC: c.oidc != nil, Expired: q.Get("expired") == "1"}
	v.identify()
	if v.user != nil && v.mayUseConsole() {
		d.As = v.user.GetName()
	}
	return c.render(v, http.StatusOK, "signin", v.newPage("Sign in", "", d))
}

// signIn takes a bearer token: the API's token authenticators (static
// tokens, OIDC ID tokens) decide who it is; the session keeps it and has
// it checked again on every request.
func (c *Console) signIn(v *visit) error {
	ret := safeReturn(v.r.PostForm.Get("return"))
	if c.opts.Tokens == nil {
		return fmt.Errorf("%w: this server takes no tokens", errdef.ErrNotFound)
	}
	tok := strings.TrimSpace(v.r.PostForm.Get("token"))
	u, err := c.tokenUser(v.r.Context(), tok)
	if err != nil {
		c.log.Info("console sign-in refused", "remote", v.r.RemoteAddr, "err", err)
		if ev := audit.EventFrom(v.r.Context()); ev != nil {
			audit.Annotate(ev, audit.AnnotationReason, "console sign-in: the token was not accepted")
		}
		d := signInData{Return: ret, Token: true, OIDC: c.oidc != nil, Error: "The token was not accepted."}
		return c.render(v, http.StatusUnauthorized, "signin", v.newPage("Sign in", "", d))
	}
	if ev := audit.EventFrom(v.r.Context()); ev != nil {
		ev.User = audit.UserInfo(u)
	}
	// A new session ID: nothing from before the sign-in carries over.
	v.sess = c.seal.newSession()
	v.sess.Kind, v.sess.Token, v.dirty = "token", tok, true
	if !c.seal.fits(c.cookies.session(), v.sess) {
		v.sess = c.seal.newSession()
		d := signInData{Return: ret, Token: true, OIDC: c.oidc != nil, Error: "The token is too large for a session cookie."}
		return c.render(v, http.StatusBadRequest, "signin", v.newPage("Sign in", "", d))
	}
	return v.redirect(withDone(ret, "signedin"))
}

func (c *Console) signOut(v *visit) error {
	v.identify() // for the audit log: who signed out
	v.sess, v.dirty = c.seal.newSession(), true
	if c.canSignIn() {
		return v.redirect(Prefix + "signin?done=signedout")
	}
	return v.redirect(Prefix)
}

// tokenUser authenticates a token a user signed in with; anonymous is no
// answer.
func (c *Console) tokenUser(ctx context.Context, tok string) (user.Info, error) {
	if tok == "" {
		return nil, fmt.Errorf("%w: empty token", errdef.ErrUnauthorized)
	}
	u, err := authn.TokenUser(ctx, c.opts.Tokens, tok)
	if err == nil && authn.IsAnonymous(u) {
		err = fmt.Errorf("%w: the token names the anonymous user", errdef.ErrUnauthorized)
	}
	return u, err
}

// authenticate checks the session's credential again; an OIDC session
// whose ID token expired is renewed with its refresh token.
func (c *Console) authenticate(ctx context.Context, v *visit) (user.Info, error) {
	u, err := c.tokenUser(ctx, v.sess.Token)
	if err == nil || v.sess.Kind != "oidc" || v.sess.Refresh == "" || c.oidc == nil {
		return u, err
	}
	id, refresh, rerr := c.oidc.refresh(ctx, v.sess.Refresh)
	if rerr != nil {
		return nil, errors.Join(err, rerr)
	}
	if u, err = c.tokenUser(ctx, id); err != nil {
		return nil, err
	}
	v.sess.Token, v.sess.Refresh, v.dirty = id, refresh, true
	if !c.seal.fits(c.cookies.session(), v.sess) {
		v.sess.Refresh = ""
	}
	return u, nil
}

// safeReturn keeps a return address only if it is a console path of this
// server, so sign-in never redirects elsewhere.
func safeReturn(s string) string {
	u, err := url.Parse(s)
	if err != nil || u.Scheme != "" || u.Host != "" || u.User != nil || strings.HasPrefix(s, "//") || strings.ContainsAny(s, "\\\r\n") {
		return Prefix
	}
	clean := path.Clean(u.Path)
	if !strings.HasPrefix(u.Path, Prefix) || clean != strings.TrimSuffix(u.Path, "/") ||
		strings.HasPrefix(clean, Prefix+"signin") || strings.HasPrefix(clean, Prefix+"oidc/") {
		return Prefix
	}
	// From the decoded path: "/ui%2F..." is no console path to the router.
	return (&url.URL{Path: u.Path, RawQuery: u.RawQuery}).RequestURI()
}

// withDone adds ?done=what to a console path, for the notice.
func withDone(target, what string) string {
	u, err := url.Parse(target)
	if err != nil {
		return target
	}
	q := u.Query()
	q.Set("done", what)
	u.RawQuery = q.Encode()
	return u.RequestURI()
}
