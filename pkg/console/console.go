package console

import (
	"context"
	"errors"
	"fmt"
	"html/template"
	"log/slog"
	"net/http"
	"net/url"
	"path"
	"strings"
	"time"

	"pkgserver.dev/pkgserver/pkg/auth/authn"
	"pkgserver.dev/pkgserver/pkg/auth/authz"
	"pkgserver.dev/pkgserver/pkg/errdef"
)

// Prefix is where the console is served.
const Prefix = "/ui/"

// Owns reports whether path is the console's: the API's middleware leaves
// authorization of these paths to the console (its users carry a session
// cookie, not credentials the API knows).
func Owns(path string) bool { return path == "/ui" || strings.HasPrefix(path, Prefix) }

// defaultLiveWait is how long a live page's request waits for a change.
const defaultLiveWait = 25 * time.Second

// Options configure the console. API is required.
type Options struct {
	// API is the server's HTTP API; every console read and action is a
	// request to it, made as the signed-in user.
	API http.Handler
	// Authorizer says which actions to offer, as kubectl auth can-i asks;
	// nil allows everything. The API decides again on every action.
	Authorizer authz.Authorizer
	// Tokens authenticates what users sign in with (static tokens, OIDC ID
	// tokens): the API's token authenticators. Nil: no token form.
	Tokens authn.Token
	// OIDC, when set, offers sign-in with the issuer (authorization code
	// flow with PKCE).
	OIDC *OIDCOptions
	// Key seals session cookies; replicas behind one address need the
	// same. Empty: a random key (sessions end with the process).
	Key []byte
	// TLS says the server speaks TLS: cookies are Secure and __Host-.
	TLS bool
	// MaxBodyBytes caps form bodies; zero means 8 MiB.
	MaxBodyBytes int64
	// LiveWait bounds how long a live page waits for a change; zero means
	// 25s.
	LiveWait time.Duration
	// Logger receives failures; nil discards them.
	Logger *slog.Logger
	// Now is the clock; nil means time.Now.
	Now func() time.Time
}

// Console serves the web console under Prefix.
type Console struct {
	opts    Options
	log     *slog.Logger
	seal    *sealer
	cookies cookies
	pages   map[string]*template.Template
	mux     *http.ServeMux
	oidc    *oidcClient
	// stop ends the requests that wait for changes, so a shutdown does
	// not wait for them.
	stopCtx context.Context
	stop    context.CancelFunc
}

// New builds the console.
func New(o Options) (*Console, error) {
	if o.API == nil {
		return nil, errors.New("console: Options.API is required")
	}
	if o.Authorizer == nil {
		o.Authorizer = authz.AlwaysAllow{}
	}
	if o.MaxBodyBytes <= 0 {
		o.MaxBodyBytes = 8 << 20
	}
	if o.LiveWait <= 0 {
		o.LiveWait = defaultLiveWait
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	c := &Console{opts: o, log: o.Logger, cookies: cookies{secure: o.TLS}}
	if c.log == nil {
		c.log = slog.New(slog.DiscardHandler)
	}
	var err error
	if c.seal, err = newSealer(o.Key, o.Now); err != nil {
		return nil, err
	}
	if c.pages, err = parsePages(); err != nil {
		return nil, err
	}
	if o.OIDC != nil {
		if c.oidc, err = newOIDCClient(*o.OIDC, o.Tokens); err != nil {
			return nil, err
		}
	}
	c.stopCtx, c.stop = context.WithCancel(context.Background())
	c.routes()
	return c, nil
}

// Close ends the requests waiting for changes (call it when the server
// shuts down; the browser asks again elsewhere).
func (c *Console) Close() { c.stop() }

// ServeHTTP implements http.Handler.
func (c *Console) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	securityHeaders(w.Header())
	if !strings.HasPrefix(r.URL.Path, Prefix+"static/") {
		noStore(w.Header())
	}
	if r.URL.Path == "/ui" {
		http.Redirect(w, r, Prefix, http.StatusMovedPermanently)
		return
	}
	if to, ok := crossSiteArrival(r); ok {
		c.bounce(w, r, to)
		return
	}
	c.mux.ServeHTTP(w, r)
}

// crossSiteArrival reports whether r is a browser opening a console page
// from a link on another site, and the page's address. Browsers do not send
// SameSite=Strict cookies on such a navigation, so the session is missing
// even when the user is signed in. The issuer's answer (the OIDC callback)
// and the static files are not pages to bounce.
func crossSiteArrival(r *http.Request) (string, bool) {
	h := r.Header
	if r.Method != http.MethodGet || h.Get("Sec-Fetch-Site") != "cross-site" || h.Get("Sec-Fetch-Mode") != "navigate" {
		return "", false
	}
	p := path.Clean(r.URL.Path)
	if p == Prefix+"oidc/callback" || strings.HasPrefix(p, Prefix+"static/") || !strings.HasPrefix(p+"/", Prefix) {
		return "", false
	}
	if p+"/" == Prefix || strings.HasSuffix(r.URL.Path, "/") {
		p += "/"
	}
	return (&url.URL{Path: p, RawQuery: r.URL.Query().Encode()}).RequestURI(), true
}

// bounce answers a cross-site arrival with a page that opens the same
// address from the console itself, so the session cookie goes with it. It
// sets no cookie: a fresh session's would replace the user's.
func (c *Console) bounce(w http.ResponseWriter, r *http.Request, to string) {
	v := &visit{c: c, w: w, r: r, sess: c.seal.newSession()}
	if err := c.renderTemplate(v, http.StatusOK, "continue", "layout", v.newPage("Opening the console", "", to)); err != nil {
		c.log.Error("rendering a console page", "err", err)
		http.Error(w, "Opening the console failed.", http.StatusInternalServerError)
	}
}

// routes registers every page. Pages that show data need an identity;
// the sign-in pages and the static files do not.
func (c *Console) routes() {
	m := http.NewServeMux()
	m.HandleFunc("GET /ui/static/{file}", c.static)
	m.Handle("GET /ui/signin", c.open(c.signInPage))
	m.Handle("POST /ui/signin", c.form(c.signIn))
	m.Handle("POST /ui/signout", c.form(c.signOut))
	m.Handle("GET /ui/oidc/login", c.open(c.oidcLogin))
	m.Handle("GET /ui/oidc/callback", c.open(c.oidcCallback))

	m.Handle("GET /ui/{$}", c.page(c.home))
	const ns = "/ui/namespaces/{ns}"
	const rev = ns + "/revisions/{name}"
	m.Handle("GET "+ns+"/repositories", c.page(c.repositories))
	m.Handle("POST "+ns+"/repositories/{name}/refresh", c.action(c.refreshRepository))
	m.Handle("GET "+ns+"/revisions", c.page(c.revisions))
	m.Handle("GET "+rev, c.page(c.revision))
	m.Handle("GET "+rev+"/diff", c.page(c.diff))
	m.Handle("GET "+rev+"/history", c.page(c.history))
	m.Handle("GET "+rev+"/confirm/{action}", c.page(c.confirm))
	m.Handle("POST "+rev+"/lifecycle", c.action(c.lifecycle))
	m.Handle("GET "+rev+"/edit", c.page(c.editPage))
	m.Handle("POST "+rev+"/edit", c.action(c.edit))
	m.Handle("POST "+rev+"/remove", c.action(c.removeFile))
	m.Handle("GET "+rev+"/new/{task}", c.page(c.createPage))
	m.Handle("POST "+rev+"/new/{task}", c.action(c.create))
	m.Handle("/ui/", c.page(func(v *visit) error {
		return fmt.Errorf("%w: no page %s in the console", errdef.ErrNotFound, v.r.URL.Path)
	}))
	c.mux = m
}
