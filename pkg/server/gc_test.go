package server

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/labstack/echo/v4"
	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
	"oras.land/oras-go/v2/content"

	"pkgserver.dev/pkgserver/pkg/errdef"
	"pkgserver.dev/pkgserver/pkg/store/layout"
)

// garbage pushes an unreferenced blob into dir's store and ages it past the grace period.
func garbage(t *testing.T, s *layout.Store, data string) {
	t.Helper()
	ctx := context.Background()
	repo, err := s.Repository(ctx, "ns/pkg")
	if err != nil {
		t.Fatal(err)
	}
	desc := content.NewDescriptorFromBytes("application/octet-stream", []byte(data))
	if err := repo.Push(ctx, desc, bytes.NewReader([]byte(data))); err != nil {
		t.Fatal(err)
	}
	p := filepath.Join(layout.RepositoryDir(s.Dir(), "ns/pkg"), "blobs", "sha256", desc.Digest.Encoded())
	old := time.Now().Add(-2 * time.Hour)
	if err := os.Chtimes(p, old, old); err != nil {
		t.Fatal(err)
	}
}

// TestGCEndpoint: POST /admin/gc collects, answers the result as JSON (read
// by RequestGC) and counts the run, blobs and bytes for /metrics.
func TestGCEndpoint(t *testing.T) {
	s, err := layout.Open(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	garbage(t, s, "12345")
	c := newCollector(s, layout.GCOptions{Grace: time.Hour}, slog.New(slog.DiscardHandler))
	e := echo.New()
	c.mount(e)
	srv := httptest.NewServer(e)
	defer srv.Close()

	res, err := RequestGC(context.Background(), srv.Client(), srv.URL+"/")
	if err != nil {
		t.Fatal(err)
	}
	if res.BlobsRemoved != 1 || res.BytesFreed != 5 || res.Repositories != 1 {
		t.Fatalf("RequestGC = %+v, want 1 blob of 5 bytes from 1 repository", res)
	}
	for _, m := range []struct {
		name string
		got  float64
		want float64
	}{
		{"pkgserver_gc_runs_total", value(t, c.runs), 1},
		{"pkgserver_gc_blobs_removed_total", value(t, c.blobs), 1},
		{"pkgserver_gc_bytes_freed_total", value(t, c.bytes), 5},
	} {
		if m.got != m.want {
			t.Errorf("%s = %v, want %v", m.name, m.got, m.want)
		}
	}
	resp, err := http.Get(srv.URL + GCPath)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusMethodNotAllowed {
		t.Errorf("GET %s = %d, want 405", GCPath, resp.StatusCode)
	}
}

// TestOfflineGC: pkgserver gc --data-dir collects in a free directory, and
// refuses one a server holds (flock) or that does not exist.
func TestOfflineGC(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	s, err := layout.Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	garbage(t, s, "abc")
	if _, err := OfflineGC(ctx, dir, layout.GCOptions{}); !errors.Is(err, errdef.ErrLocked) {
		t.Fatalf("OfflineGC of a held directory = %v, want errdef.ErrLocked", err)
	}
	s.Close()
	res, err := OfflineGC(ctx, dir, layout.GCOptions{})
	if err != nil || res.BlobsRemoved != 1 || res.BytesFreed != 3 {
		t.Fatalf("OfflineGC = %+v, %v; want 1 blob of 3 bytes", res, err)
	}
	missing := filepath.Join(dir, "nope")
	if _, err := OfflineGC(ctx, missing, layout.GCOptions{}); err == nil {
		t.Fatal("OfflineGC of a missing directory succeeded")
	}
	if _, err := os.Stat(missing); !os.IsNotExist(err) {
		t.Fatalf("OfflineGC created %s", missing)
	}
}

func value(t *testing.T, c prometheus.Counter) float64 {
	t.Helper()
	var m dto.Metric
	if err := c.Write(&m); err != nil {
		t.Fatal(err)
	}
	return m.GetCounter().GetValue()
}
