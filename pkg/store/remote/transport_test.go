package remote_test

import (
	"context"
	"encoding/base64"
	"errors"
	"os"
	"path/filepath"
	"testing"

	"golang.org/x/crypto/bcrypt"
	"oras.land/oras-go/v2/registry/remote/auth"
	"oras.land/oras-go/v2/registry/remote/credentials"

	"pkgserver.dev/pkgserver/internal/registryproc"
	"pkgserver.dev/pkgserver/pkg/errdef"
	"pkgserver.dev/pkgserver/pkg/store/remote"
)

// TestDockerConfigCredentials: against a registry that asks for basic
// authentication, the store finds the credentials in the standard Docker
// config ($DOCKER_CONFIG/config.json), and without them it is refused.
func TestDockerConfigCredentials(t *testing.T) {
	bin, err := registryproc.Binary()
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	hash, err := bcrypt.GenerateFromPassword([]byte("s3cret"), bcrypt.DefaultCost)
	if err != nil {
		t.Fatal(err)
	}
	htpasswd := filepath.Join(dir, "htpasswd")
	if err := os.WriteFile(htpasswd, []byte("alice:"+string(hash)+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	p, err := registryproc.StartWith(bin, t.TempDir(), registryproc.Options{HTPasswd: htpasswd})
	if err != nil {
		t.Fatal(err)
	}
	defer p.Stop()
	ctx := context.Background()

	tests := []struct {
		name   string
		config string // config.json; "" for none
		ok     bool
	}{
		{"no credentials", "", false},
		{"wrong password", `{"auths":{"` + p.Addr + `":{"auth":"` + base64.StdEncoding.EncodeToString([]byte("alice:nope")) + `"}}}`, false},
		{"Docker config", `{"auths":{"` + p.Addr + `":{"auth":"` + base64.StdEncoding.EncodeToString([]byte("alice:s3cret")) + `"}}}`, true},
	}
	t.Run("WithCredentials", func(t *testing.T) {
		t.Setenv("DOCKER_CONFIG", t.TempDir()) // nothing there: the option must be used
		cs := credentials.NewMemoryStore()
		if err := cs.Put(ctx, p.Addr, auth.Credential{Username: "alice", Password: "s3cret"}); err != nil {
			t.Fatal(err)
		}
		s, err := remote.New(p.Addr, remote.WithPlainHTTP(true), remote.WithCredentials(cs), remote.WithUserAgent("pkgserver-test"))
		if err != nil {
			t.Fatal(err)
		}
		if err := s.Repositories(ctx, "", func([]string) error { return nil }); err != nil {
			t.Fatalf("with credentials from the option: %v", err)
		}
	})
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfgDir := t.TempDir()
			if tt.config != "" {
				if err := os.WriteFile(filepath.Join(cfgDir, "config.json"), []byte(tt.config), 0o600); err != nil {
					t.Fatal(err)
				}
			}
			t.Setenv("DOCKER_CONFIG", cfgDir)
			s, err := remote.New(p.Addr, remote.WithPlainHTTP(true))
			if err != nil {
				t.Fatal(err)
			}
			err = s.Repositories(ctx, "", func([]string) error { return nil })
			if tt.ok && err != nil {
				t.Fatalf("with credentials: %v", err)
			}
			if !tt.ok && !errors.Is(err, errdef.ErrForbidden) {
				t.Fatalf("without valid credentials: %v, want ErrForbidden", err)
			}
		})
	}
}
