package remote_test

import (
	"context"
	"errors"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"pkgserver.dev/pkgserver/pkg/errdef"
	"pkgserver.dev/pkgserver/pkg/store"
	"pkgserver.dev/pkgserver/pkg/store/remote"
)

// TestErrorTranslation checks registry failures map to the pkg/errdef sentinels.
func TestErrorTranslation(t *testing.T) {
	for _, tt := range []struct {
		name   string
		status int
		body   string
		want   error
	}{
		{"404 NAME_UNKNOWN", http.StatusNotFound, `{"errors":[{"code":"NAME_UNKNOWN"}]}`, errdef.ErrNotFound},
		{"503", http.StatusServiceUnavailable, ``, errdef.ErrUnavailable},
		{"500", http.StatusInternalServerError, `{"errors":[{"code":"UNKNOWN"}]}`, errdef.ErrUnavailable},
	} {
		t.Run(tt.name, func(t *testing.T) {
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				w.Header().Set("Content-Type", "application/json")
				w.WriteHeader(tt.status)
				w.Write([]byte(tt.body))
			}))
			defer srv.Close()
			repo := repoAt(t, strings.TrimPrefix(srv.URL, "http://"))
			_, err := repo.Resolve(context.Background(), "v1")
			if !errors.Is(err, tt.want) {
				t.Fatalf("Resolve = %v, want %v", err, tt.want)
			}
		})
	}
	t.Run("connection refused", func(t *testing.T) {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		addr := l.Addr().String()
		l.Close()
		_, err = repoAt(t, addr).Resolve(context.Background(), "v1")
		if !errors.Is(err, errdef.ErrUnavailable) {
			t.Fatalf("Resolve = %v, want errdef.ErrUnavailable", err)
		}
	})
}

// TestUntagRefused checks a registry without tag deletion gives a clear error.
func TestUntagRefused(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusMethodNotAllowed)
		w.Write([]byte(`{"errors":[{"code":"UNSUPPORTED","message":"The operation is unsupported."}]}`))
	}))
	defer srv.Close()
	repo := repoAt(t, strings.TrimPrefix(srv.URL, "http://"))
	err := repo.(store.Untagger).Untag(context.Background(), "v1")
	if !errors.Is(err, errors.ErrUnsupported) || !strings.Contains(err.Error(), "refused to delete the tag") {
		t.Fatalf("Untag = %v, want errors.ErrUnsupported with a clear message", err)
	}
}

// repoAt returns repository "a/b" of the registry at addr, without retries so
// that 5xx answers come back at once.
func repoAt(t *testing.T, addr string) store.Repository {
	t.Helper()
	s, err := remote.New(addr, remote.WithPlainHTTP(true), remote.WithHTTPClient(http.DefaultClient))
	if err != nil {
		t.Fatal(err)
	}
	repo, err := s.Repository(context.Background(), "a/b")
	if err != nil {
		t.Fatal(err)
	}
	return repo
}
