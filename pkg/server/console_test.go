package server

import (
	"log/slog"
	"net/http"
	"path/filepath"
	"strings"
	"testing"

	"pkgserver.dev/pkgserver/internal/authtest"
	"pkgserver.dev/pkgserver/pkg/auth/authn"
)

func TestConsoleConfig(t *testing.T) {
	dir := t.TempDir()
	log := slog.New(slog.DiscardHandler)
	iss := authtest.NewIssuer(t)
	caFile := filepath.Join(dir, "oidc-ca.pem")
	authtest.WriteFile(t, caFile, iss.CAPEM)
	secret := filepath.Join(dir, "secret")
	authtest.WriteFile(t, secret, []byte("s3cret\n"))
	oidc := Security{OIDC: authn.OIDCOptions{IssuerURL: iss.URL, ClientID: "pkgserver", CAFile: caFile}}
	for _, tc := range []struct {
		name string
		sec  Security
		cfg  ConsoleConfig
		err  string
	}{
		{name: "zero configuration"},
		{name: "OIDC with defaults", sec: oidc},
		{name: "OIDC with everything", sec: oidc, cfg: ConsoleConfig{OIDCClientSecretFile: secret, OIDCRedirectURL: "https://console.example/ui/oidc/callback", OIDCExtraScopes: []string{"groups"}}},
		{name: "secret without issuer", cfg: ConsoleConfig{OIDCClientSecretFile: secret}, err: "need --oidc-issuer-url"},
		{name: "redirect without issuer", cfg: ConsoleConfig{OIDCRedirectURL: "https://x/ui/oidc/callback"}, err: "need --oidc-issuer-url"},
		{name: "missing secret file", sec: oidc, cfg: ConsoleConfig{OIDCClientSecretFile: filepath.Join(dir, "nope")}, err: "--oidc-client-secret-file"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s, err := tc.sec.build("127.0.0.1:0", log)
			if err != nil {
				t.Fatal(err)
			}
			defer s.close()
			var api http.Handler = http.NotFoundHandler()
			_, err = newConsole(tc.cfg, s, "127.0.0.1:8080", 0, &api, log)
			if tc.err != "" {
				if err == nil || !strings.Contains(err.Error(), tc.err) {
					t.Fatalf("err %v, want %q", err, tc.err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
		})
	}
}
