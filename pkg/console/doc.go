// Package console is pkgserver's web console on /ui/ (docs/console.md):
// pages rendered on the server with html/template, YAML highlighted with
// chroma, and one vendored script, htmx, that makes lists and revisions
// follow changes live. Every read and action is a request to the server's
// own API made in-process as the signed-in user (authn.OnBehalfOf), so it
// is authenticated, authorized with RBAC and audited exactly like the same
// call from kubectl. Users sign in with a token or with the OIDC issuer
// (authorization code flow with PKCE); sessions are sealed cookies, every
// form carries a CSRF token, and pages are served under a strict
// Content-Security-Policy.
package console
