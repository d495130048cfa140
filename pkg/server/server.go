// Package server wires pkgserver together: the embedded store, remote
// registries, the engine and the HTTP API, and runs them until asked to stop.
package server

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/labstack/echo/v4"

	"pkgserver.dev/pkgserver/pkg/apiserver"
	"pkgserver.dev/pkgserver/pkg/auth/registryauth"
	"pkgserver.dev/pkgserver/pkg/engine"
	"pkgserver.dev/pkgserver/pkg/registry"
	"pkgserver.dev/pkgserver/pkg/store"
	"pkgserver.dev/pkgserver/pkg/store/layout"
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
	// WatchWindow is how many events a watch can resume over (0: the default).
	WatchWindow int
	// GCInterval is how often the embedded store is garbage collected;
	// zero disables the periodic run (POST /admin/gc still works).
	GCInterval time.Duration
	// GCGracePeriod keeps unreferenced blobs younger than this; zero means
	// layout.DefaultGCGrace.
	GCGracePeriod time.Duration
	Logger        *slog.Logger
	// Started, if set, is called with the bound address once serving.
	Started func(addr string)
	// Security is TLS, authentication, authorization, audit and the
	// outbound policy (security.go).
	Security Security
	// Console configures the web console on /ui/ (console.go).
	Console ConsoleConfig
	// Replicas is how this process coordinates with others (replicas.go).
	Replicas Replicas
}

// Run serves until ctx is done, then finishes requests in flight and returns.
func Run(ctx context.Context, cfg Config) error {
	log := cfg.Logger
	if log == nil {
		log = slog.Default()
	}
	if err := cfg.Replicas.check(); err != nil {
		return err
	}
	sec, err := cfg.Security.build(cfg.Listen, log)
	if err != nil {
		return err
	}
	defer sec.close()
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
	// The sequence of resourceVersions and the intents of writes in
	// flight live beside the embedded store, so they survive a restart.
	coordinator, err := cfg.Replicas.coordinator(ctx, embedded.Dir(), log)
	if err != nil {
		ln.Close()
		return err
	}
	defer coordinator.Close()
	var config store.Store
	configRepo := ""
	if r := cfg.Replicas.ConfigRegistry; r != "" {
		host, path, _ := strings.Cut(r, "/")
		if config, err = sec.remoteStores(host, cfg.Replicas.ConfigRegistryPlainHTTP, "", ""); err != nil {
			ln.Close()
			return fmt.Errorf("--config-registry: %w", err)
		}
		configRepo = path + "/repositories"
	}
	id, err := replicaID(embedded.Dir())
	if err != nil {
		ln.Close()
		return fmt.Errorf("replica name: %w", err)
	}
	stateDir := filepath.Join(embedded.Dir(), "state")
	if cfg.Replicas.shared() {
		stateDir = "" // replicas are stateless: the feed is the state
	}
	eng, err := engine.New(engine.Options{
		Embedded:           embedded,
		EmbeddedAddress:    external,
		Remote:             sec.remoteStores,
		ValidateRepository: sec.outbound.ValidateRepository,
		Coordinator:        coordinator,
		Shared:             cfg.Replicas.shared(),
		ReplicaID:          id,
		Config:             config,
		ConfigRepository:   configRepo,
		WatchWindow:        cfg.WatchWindow,
		StateDir:           stateDir,
		Package:            cfg.Limits.Package(),
		Logger:             log,
	})
	if err != nil {
		ln.Close()
		return err
	}
	if err := eng.Start(ctx); err != nil {
		ln.Close()
		return fmt.Errorf("start: %w", err)
	}
	defer eng.Close()
	// Upload sessions do not survive a restart: start with an empty spool.
	uploads := filepath.Join(embedded.Dir(), layout.UploadsDir)
	if err := os.RemoveAll(uploads); err != nil {
		return err
	}
	if err := os.MkdirAll(uploads, 0o755); err != nil {
		return err
	}
	lim := cfg.Limits
	reg := registry.New(embedded, registry.Options{
		Guard:                      guardFrom(eng),
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
	stopWatches := make(chan struct{})
	gc := newCollector(embedded, layout.GCOptions{Grace: cfg.GCGracePeriod}, log)
	var api http.Handler
	cons, err := newConsole(cfg.Console, sec, external, cfg.MaxBodyBytes, &api, log)
	if err != nil {
		return err
	}
	defer cons.Close()
	e := apiserver.New(eng, apiserver.Options{
		MaxBodyBytes:       cfg.MaxBodyBytes,
		MaxPatchOperations: lim.MaxPatchOperations,
		MaxPatchCopyBytes:  lim.MaxPatchCopyBytes,
		Package:            cfg.Limits.Package(),
		Logger:             log,
		Ready:              func() error { return eng.Ready(context.Background()) },
		Mount: func(e *echo.Echo) {
			var v2 http.Handler = reg
			if sec.guardsRegistry() {
				v2 = registryauth.Authorize(reg, registryauth.Options{
					Authorizer: sec.authorizer, Owner: eng.OwnerOf, TagExists: tagExists(embedded),
					Challenge: sec.chain.Configured(), Service: tokenService, RealmPath: tokenRealm,
				})
			}
			registry.Mount(e, v2)
			gc.mount(e)
			e.Any(tokenRealm, echo.WrapHandler(sec.issuer.TokenHandler(sec.tokens, sec.chain.Anonymous || !sec.chain.Configured())))
			mountConsole(e, cons)
		},
		Collectors: gc.collectors(),
		Auth:       sec.apiAuth(),
		Stop:       stopWatches,
	})
	api = e
	srv := &http.Server{Handler: e, ReadHeaderTimeout: 30 * time.Second}
	// Pages waiting for changes answer at once, so they do not hold the
	// shutdown; then open watches end (their clients watch again). In this
	// order: a page whose watch ended first would take it for "no change".
	srv.RegisterOnShutdown(func() {
		cons.Close()
		close(stopWatches)
	})
	scheme := "http://"
	if sec.tls != nil {
		srv.TLSConfig = sec.tls
		ln = tls.NewListener(ln, sec.tls)
		scheme = "https://"
	}

	log.Info("pkgserver listening", "address", scheme+addr, "external", external, "data", embedded.Dir(),
		"authentication", sec.chain.Configured(), "authorization", fmt.Sprintf("%T", sec.authorizer))
	if cfg.Started != nil {
		cfg.Started(addr)
	}
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(ln) }()
	if cfg.RescanInterval > 0 {
		go rescanLoop(ctx, eng, cfg.RescanInterval, log)
	}
	if cfg.GCInterval > 0 {
		// Stopped and waited for before the store closes (defers run last first).
		gcCtx, stopGC := context.WithCancel(ctx)
		gcDone := make(chan struct{})
		go func() { defer close(gcDone); gc.loop(gcCtx, cfg.GCInterval) }()
		defer func() { stopGC(); <-gcDone }()
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

// guardFrom applies the engine's lifecycle rules to the /v2/ API.
func guardFrom(eng *engine.Engine) registry.Guard {
	ops := map[registry.Op]engine.RegistryOp{
		registry.OpPutTag: engine.PutTag, registry.OpDeleteTag: engine.DeleteTag,
		registry.OpDeleteManifest: engine.DeleteManifest, registry.OpDeleteBlob: engine.DeleteBlob,
	}
	return func(ctx context.Context, req registry.Request) error {
		return eng.CheckRegistryWrite(ctx, engine.RegistryWrite{
			Path: req.Repo, Op: ops[req.Op], Tag: req.Tag, Tags: req.Tags, Digest: req.Digest, Manifest: req.Manifest,
		})
	}
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
