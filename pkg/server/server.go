// Package server wires pkgserver together: the embedded store, remote
// registries, the engine and the HTTP API, and runs them until asked to stop.
package server

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"time"

	"github.com/labstack/echo/v4"

	"pkgserver.dev/pkgserver/pkg/apiserver"
	"pkgserver.dev/pkgserver/pkg/engine"
	"pkgserver.dev/pkgserver/pkg/registry"
	"pkgserver.dev/pkgserver/pkg/store"
	"pkgserver.dev/pkgserver/pkg/store/layout"
	"pkgserver.dev/pkgserver/pkg/store/remote"
)

// Config is what the pkgserver command configures.
type Config struct {
	// Listen is the address to serve on, host:port.
	Listen string
	// DataDir holds the embedded OCI image layout.
	DataDir string
	// ExternalAddress is how clients reach this server (host:port); empty means
	// the listening address.
	ExternalAddress string
	// MaxBodyBytes caps request bodies of the API.
	MaxBodyBytes int64
	// Limits bound every other input.
	Limits Limits
	// RescanInterval is how often registries are listed again for packages
	// pushed by others; zero disables it.
	RescanInterval time.Duration
	// ShutdownTimeout bounds how long requests in flight may take on SIGTERM.
	ShutdownTimeout time.Duration
	Logger          *slog.Logger
	// Started, if set, is called with the bound address once serving.
	Started func(addr string)
}

// Run serves until ctx is done, then finishes requests in flight and returns.
func Run(ctx context.Context, cfg Config) error {
	log := cfg.Logger
	if log == nil {
		log = slog.Default()
	}
	embedded, err := layout.Open(cfg.DataDir)
	if err != nil {
		return err
	}
	defer embedded.Close()

	ln, err := net.Listen("tcp", cfg.Listen)
	if err != nil {
		return fmt.Errorf("listen on %s: %w", cfg.Listen, err)
	}
	addr := ln.Addr().String()
	external := cfg.ExternalAddress
	if external == "" {
		external = addr
	}
	eng, err := engine.New(engine.Options{
		Embedded:        embedded,
		EmbeddedAddress: external,
		Remote: func(host string, plainHTTP bool) (store.Store, error) {
			return remote.New(host, remote.WithPlainHTTP(plainHTTP))
		},
		Logger: log,
	})
	if err != nil {
		ln.Close()
		return err
	}
	// Upload sessions do not survive a restart: start with an empty spool.
	uploads := filepath.Join(embedded.Dir(), "uploads")
	if err := os.RemoveAll(uploads); err != nil {
		return err
	}
	if err := os.MkdirAll(uploads, 0o755); err != nil {
		return err
	}
	lim := cfg.Limits
	reg := registry.New(embedded, registry.Options{
		Guard:                      registry.GuardFrom(eng.CheckRegistryWrite),
		Lock:                       eng.LockEmbedded,
		TempDir:                    uploads,
		Logger:                     log,
		MaxManifestBytes:           lim.MaxManifestBytes,
		UploadTTL:                  lim.UploadSessionTTL,
		MaxBlobBytes:               lim.MaxBlobBytes,
		MaxUploadSessions:          lim.MaxUploadSessions,
		MaxUploadSessionsPerClient: lim.MaxUploadSessionsPerClient,
		MaxTagsPerPush:             lim.MaxTagsPerPush,
	})
	defer reg.Close()
	e := apiserver.New(eng, apiserver.Options{
		MaxBodyBytes:       cfg.MaxBodyBytes,
		MaxPatchOperations: lim.MaxPatchOperations,
		MaxPatchCopyBytes:  lim.MaxPatchCopyBytes,
		Package:            lim.Package(),
		Logger:             log,
		Ready:              func() error { return eng.Ready(context.Background()) },
		Mount:              func(e *echo.Echo) { registry.Mount(e, reg) },
	})
	srv := &http.Server{Handler: e, ReadHeaderTimeout: 30 * time.Second}

	log.Info("pkgserver listening", "address", "http://"+addr, "external", external, "data", embedded.Dir())
	if cfg.Started != nil {
		cfg.Started(addr)
	}
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(ln) }()
	if cfg.RescanInterval > 0 {
		go rescanLoop(ctx, eng, cfg.RescanInterval, log)
	}
	select {
	case err := <-errc:
		return err
	case <-ctx.Done():
	}
	timeout := cfg.ShutdownTimeout
	if timeout <= 0 {
		timeout = 30 * time.Second
	}
	sctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	log.Info("shutting down: finishing requests in flight")
	if err := srv.Shutdown(sctx); err != nil && !errors.Is(err, http.ErrServerClosed) {
		return fmt.Errorf("shutdown: %w", err)
	}
	log.Info("stopped")
	return nil
}

func rescanLoop(ctx context.Context, eng *engine.Engine, every time.Duration, log *slog.Logger) {
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			if err := eng.Rescan(ctx); err != nil {
				log.Warn("rescan failed", "err", err)
			}
		}
	}
}
