package console

import (
	"context"
	"crypto/rand"
	"crypto/subtle"
	"encoding/base64"
	"errors"
	"fmt"
	"net/http"
	"sync"
	"time"

	"github.com/coreos/go-oidc/v3/oidc"
	"golang.org/x/oauth2"

	"pkgserver.dev/pkgserver/pkg/auth/audit"
	"pkgserver.dev/pkgserver/pkg/auth/authn"
	"pkgserver.dev/pkgserver/pkg/errdef"
)

// OIDCOptions configure sign-in with an OpenID Connect issuer: the
// authorization code flow with PKCE (RFC 7636, S256). The ID token it
// yields is then authenticated by the API's own OIDC authenticator, so the
// user name and groups are the ones kubectl users get.
type OIDCOptions struct {
	// IssuerURL is --oidc-issuer-url.
	IssuerURL string
	// ClientID is --oidc-client-id: the client the console signs in as, and
	// the audience of the ID tokens the API accepts.
	ClientID string
	// ClientSecret, when set, authenticates the client at the token
	// endpoint; public clients use PKCE alone.
	ClientSecret string
	// RedirectURL is where the issuer sends the browser back:
	// https://<external address>/ui/oidc/callback, registered at the issuer.
	RedirectURL string
	// ExtraScopes are asked for besides openid, email and profile.
	ExtraScopes []string
	// HTTPClient reaches the issuer (trusting --oidc-ca-file); nil means
	// http.DefaultClient.
	HTTPClient *http.Client
}

// pendingLifetime bounds a sign-in at the issuer.
const pendingLifetime = 10 * time.Minute

// pending is a sign-in under way, kept in its own cookie until the issuer
// sends the browser back.
type pending struct {
	State    string `json:"state"`
	Nonce    string `json:"nonce"`
	Verifier string `json:"verifier"`
	Return   string `json:"return"`
	Expires  int64  `json:"exp"`
}

// oidcClient talks to the issuer; it discovers it on first use, so the
// server starts while the issuer is down.
type oidcClient struct {
	opts   OIDCOptions
	tokens authn.Token

	mu       sync.Mutex
	provider *oidc.Provider
}

func newOIDCClient(o OIDCOptions, tokens authn.Token) (*oidcClient, error) {
	if o.IssuerURL == "" || o.ClientID == "" || o.RedirectURL == "" {
		return nil, errors.New("console: OIDC sign-in needs the issuer URL, the client ID and the redirect URL")
	}
	if tokens == nil {
		return nil, errors.New("console: OIDC sign-in needs the API's OIDC authenticator")
	}
	if o.HTTPClient == nil {
		o.HTTPClient = http.DefaultClient
	}
	return &oidcClient{opts: o, tokens: tokens}, nil
}

func (o *oidcClient) context(ctx context.Context) context.Context {
	return oidc.ClientContext(ctx, o.opts.HTTPClient)
}

// config discovers the issuer (once it answers) and returns the OAuth2
// client configuration.
func (o *oidcClient) config(ctx context.Context) (*oauth2.Config, *oidc.Provider, error) {
	o.mu.Lock()
	defer o.mu.Unlock()
	if o.provider == nil {
		p, err := oidc.NewProvider(o.context(ctx), o.opts.IssuerURL)
		if err != nil {
			return nil, nil, fmt.Errorf("%w: the OIDC issuer %s: %v", errdef.ErrUnavailable, o.opts.IssuerURL, err)
		}
		o.provider = p
	}
	scopes := append([]string{oidc.ScopeOpenID, "email", "profile"}, o.opts.ExtraScopes...)
	return &oauth2.Config{
		ClientID: o.opts.ClientID, ClientSecret: o.opts.ClientSecret, RedirectURL: o.opts.RedirectURL,
		Endpoint: o.provider.Endpoint(), Scopes: scopes,
	}, o.provider, nil
}

// refresh renews an ID token with a refresh token.
func (o *oidcClient) refresh(ctx context.Context, refreshToken string) (idToken, newRefresh string, err error) {
	cfg, _, err := o.config(ctx)
	if err != nil {
		return "", "", err
	}
	tok, err := cfg.TokenSource(o.context(ctx), &oauth2.Token{RefreshToken: refreshToken}).Token()
	if err != nil {
		return "", "", fmt.Errorf("%w: refreshing the OIDC session: %v", errdef.ErrUnauthorized, err)
	}
	id, _ := tok.Extra("id_token").(string)
	if id == "" {
		return "", "", fmt.Errorf("%w: the issuer's refresh answer has no ID token", errdef.ErrUnauthorized)
	}
	if tok.RefreshToken != "" {
		refreshToken = tok.RefreshToken
	}
	return id, refreshToken, nil
}

// oidcLogin sends the browser to the issuer with a fresh state, nonce and
// PKCE verifier, kept in the pending cookie.
func (c *Console) oidcLogin(v *visit) error {
	if c.oidc == nil {
		return fmt.Errorf("%w: OIDC sign-in is not configured", errdef.ErrNotFound)
	}
	cfg, _, err := c.oidc.config(v.r.Context())
	if err != nil {
		return err
	}
	p := pending{State: randomString(), Nonce: randomString(), Verifier: oauth2.GenerateVerifier(),
		Return: safeReturn(v.r.URL.Query().Get("return")), Expires: c.opts.Now().Add(pendingLifetime).Unix()}
	val, err := c.seal.seal(c.cookies.pending(), p)
	if err != nil {
		return err
	}
	c.cookies.set(v.w, c.cookies.pending(), val, pendingLifetime, true)
	v.save()
	noStore(v.w.Header())
	http.Redirect(v.w, v.r, cfg.AuthCodeURL(p.State, oauth2.S256ChallengeOption(p.Verifier), oidc.Nonce(p.Nonce)), http.StatusFound)
	return nil
}

// oidcCallback takes the issuer's answer: the state must be the pending
// one, the code is exchanged with the PKCE verifier, the ID token must
// carry the nonce and pass the API's authenticator.
func (c *Console) oidcCallback(v *visit) error {
	if c.oidc == nil {
		return fmt.Errorf("%w: OIDC sign-in is not configured", errdef.ErrNotFound)
	}
	var p pending
	ck, err := v.r.Cookie(c.cookies.pending())
	if err == nil {
		err = c.seal.open(ck.Name, ck.Value, &p)
	}
	c.cookies.set(v.w, c.cookies.pending(), "", -1, true)
	q := v.r.URL.Query()
	switch {
	case err != nil || p.Expires < c.opts.Now().Unix():
		return c.oidcFailed(v, "the sign-in took too long or did not start here; try again")
	case subtle.ConstantTimeCompare([]byte(q.Get("state")), []byte(p.State)) != 1:
		return c.oidcFailed(v, "the answer does not belong to this sign-in")
	case q.Get("error") != "":
		return c.oidcFailed(v, q.Get("error")+": "+q.Get("error_description"))
	}
	ctx := v.r.Context()
	cfg, provider, err := c.oidc.config(ctx)
	if err != nil {
		return err
	}
	tok, err := cfg.Exchange(c.oidc.context(ctx), q.Get("code"), oauth2.VerifierOption(p.Verifier))
	if err != nil {
		c.log.Info("OIDC code exchange failed", "err", err)
		return c.oidcFailed(v, "the issuer did not accept the code")
	}
	raw, _ := tok.Extra("id_token").(string)
	idt, err := provider.VerifierContext(c.oidc.context(ctx), &oidc.Config{ClientID: c.oidc.opts.ClientID}).Verify(ctx, raw)
	if err != nil || subtle.ConstantTimeCompare([]byte(idt.Nonce), []byte(p.Nonce)) != 1 {
		c.log.Info("OIDC ID token refused", "err", err)
		return c.oidcFailed(v, "the issuer's ID token is not valid for this sign-in")
	}
	u, err := c.tokenUser(ctx, raw)
	if err != nil {
		c.log.Info("OIDC ID token not accepted by the API's authenticator", "err", err)
		return c.oidcFailed(v, "the ID token is not accepted by this server")
	}
	if ev := audit.EventFrom(ctx); ev != nil {
		ev.User = audit.UserInfo(u)
	}
	v.sess = c.seal.newSession()
	v.sess.Kind, v.sess.Token, v.sess.Refresh, v.dirty = "oidc", raw, tok.RefreshToken, true
	if !c.seal.fits(c.cookies.session(), v.sess) {
		// Without the refresh token the session ends with the ID token.
		v.sess.Refresh = ""
		if !c.seal.fits(c.cookies.session(), v.sess) {
			v.sess = c.seal.newSession()
			return c.oidcFailed(v, fmt.Sprintf("the ID token (%d bytes) is too large for a session cookie; have the issuer put fewer claims in it", len(raw)))
		}
	}
	// The issuer's redirect was a cross-site navigation, on which browsers
	// do not send SameSite=Strict cookies: continue from a page of ours.
	return c.renderTemplate(v, http.StatusOK, "signedin", "layout", v.newPage("Signed in", "", withDone(p.Return, "signedin")))
}

func (c *Console) oidcFailed(v *visit, why string) error {
	if ev := audit.EventFrom(v.r.Context()); ev != nil {
		audit.Annotate(ev, audit.AnnotationReason, "console OIDC sign-in: "+why)
	}
	d := signInData{Token: c.opts.Tokens != nil, OIDC: true, Return: Prefix, Error: "The sign-in with the identity provider failed: " + why}
	return c.render(v, http.StatusUnauthorized, "signin", v.newPage("Sign in", "", d))
}

func randomString() string {
	b := make([]byte, 24)
	if _, err := rand.Read(b); err != nil {
		panic(err) // crypto/rand does not fail on supported systems
	}
	return base64.RawURLEncoding.EncodeToString(b)
}
