package server

import (
	"io"
	"log/slog"
	"net/http"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

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

// Shutting the server down answers the console's live pages at once: a
// page waiting for a change holds its connection for up to 25 seconds, and
// would hold the shutdown as long.
func TestShutdownEndsLivePages(t *testing.T) {
	base, stop := startServer(t)
	// The page may be answered at once when something changed since it was
	// shown (the first scan finishing, on a loaded machine): then wait again.
	var live chan int
	for attempt := 0; ; attempt++ {
		live = waitLive(t, base)
		time.Sleep(500 * time.Millisecond)
		if len(live) == 0 {
			break
		}
		if attempt == 5 {
			t.Fatalf("the live page never waited: %d", <-live)
		}
	}
	if d := stop(); d > 5*time.Second {
		t.Errorf("stopped after %s", d)
	}
	if code := <-live; code != http.StatusNoContent {
		t.Errorf("the waiting page got %d, want 204", code)
	}
}

// waitLive shows the revisions page and asks its live element for changes;
// the channel gets the answer's status (0 for no answer).
func waitLive(t *testing.T, base string) chan int {
	t.Helper()
	resp, err := http.Get(base + "/ui/namespaces/default/revisions")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	m := regexp.MustCompile(`hx-get="([^"]+)"`).FindSubmatch(body)
	if m == nil {
		t.Fatalf("no live element:\n%s", body)
	}
	live := make(chan int, 1)
	go func() {
		req, _ := http.NewRequest("GET", base+strings.ReplaceAll(string(m[1]), "&amp;", "&"), nil)
		req.Header.Set("HX-Request", "true")
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			live <- 0
			return
		}
		resp.Body.Close()
		live <- resp.StatusCode
	}()
	return live
}
