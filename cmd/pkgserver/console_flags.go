package main

import (
	"flag"

	"pkgserver.dev/pkgserver/pkg/server"
)

// consoleFlags defines the flags of the web console's OIDC sign-in; the
// rest of it is configured by the security flags (docs/console.md).
func consoleFlags(fs *flag.FlagSet, c *server.ConsoleConfig) {
	fs.StringVar(&c.OIDCClientSecretFile, "oidc-client-secret-file", "", "file holding the client secret of --oidc-client-id, for the console's OIDC sign-in (default: a public client, PKCE only)")
	fs.StringVar(&c.OIDCRedirectURL, "oidc-redirect-url", "", "where the OIDC issuer sends the console's browsers back (default: <scheme>://<external address>/ui/oidc/callback)")
	fs.Var(list(&c.OIDCExtraScopes), "oidc-extra-scope", "scopes the console asks the OIDC issuer for besides openid, email and profile (comma-separated, repeatable)")
}
