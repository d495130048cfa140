package server

import (
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"os"
	"strings"

	"github.com/labstack/echo/v4"

	"pkgserver.dev/pkgserver/pkg/console"
)

// ConsoleConfig configures the web console on /ui/ (docs/console.md). Its
// users sign in with what the API takes (a token form, or the OIDC
// issuer of --oidc-issuer-url); these settings are only the ones the
// OIDC authorization code flow needs beyond the API's.
type ConsoleConfig struct {
	// OIDCClientSecretFile holds the secret of --oidc-client-id at the
	// issuer; empty for a public client (PKCE alone).
	OIDCClientSecretFile string
	// OIDCRedirectURL is where the issuer sends the browser back; empty
	// means <scheme>://<external address>/ui/oidc/callback.
	OIDCRedirectURL string
	// OIDCExtraScopes are asked for besides openid, email and profile.
	OIDCExtraScopes []string
}

// newConsole builds the console over the API that api will hold once it
// is built (the console calls the API in-process, as its signed-in user).
func newConsole(cfg ConsoleConfig, sec *security, external string, maxBody int64, api *http.Handler, log *slog.Logger) (*console.Console, error) {
	opts := console.Options{
		API:          http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { (*api).ServeHTTP(w, r) }),
		Authorizer:   sec.authorizer,
		Key:          sec.tokenKey,
		TLS:          sec.tls != nil,
		MaxBodyBytes: maxBody,
		Logger:       log,
	}
	if len(sec.tokens) > 0 {
		opts.Tokens = sec.tokens
	}
	if sec.oidc == nil {
		if cfg.OIDCClientSecretFile != "" || cfg.OIDCRedirectURL != "" || len(cfg.OIDCExtraScopes) > 0 {
			return nil, errors.New("--oidc-client-secret-file, --oidc-redirect-url and --oidc-extra-scope need --oidc-issuer-url")
		}
		return console.New(opts)
	}
	o := sec.oidc.Options()
	oc := &console.OIDCOptions{IssuerURL: o.IssuerURL, ClientID: o.ClientID, RedirectURL: cfg.OIDCRedirectURL,
		ExtraScopes: cfg.OIDCExtraScopes, HTTPClient: sec.oidc.HTTPClient()}
	if oc.RedirectURL == "" {
		scheme := "http://"
		if sec.tls != nil {
			scheme = "https://"
		}
		oc.RedirectURL = scheme + external + console.Prefix + "oidc/callback"
	}
	if cfg.OIDCClientSecretFile != "" {
		b, err := os.ReadFile(cfg.OIDCClientSecretFile)
		if err != nil {
			return nil, fmt.Errorf("--oidc-client-secret-file: %w", err)
		}
		oc.ClientSecret = strings.TrimSpace(string(b))
	}
	opts.OIDC = oc
	return console.New(opts)
}

// mountConsole serves the console on /ui and /ui/ of the API's Echo.
func mountConsole(e *echo.Echo, c *console.Console) {
	h := echo.WrapHandler(c)
	e.Any("/ui", h)
	e.Any(console.Prefix+"*", h)
}
