// Command pkgserver serves Kubernetes configuration packages kept in OCI
// registries. "pkgserver gc" garbage collects the embedded store (gc.go).
package main

import (
	"context"
	"flag"
	"fmt"
	"log/slog"
	"net/http"
	_ "net/http/pprof"
	"os"
	"os/signal"
	"syscall"
	"time"

	"pkgserver.dev/pkgserver/pkg/server"
	"pkgserver.dev/pkgserver/pkg/store/layout"
)

func main() {
	if len(os.Args) > 1 && os.Args[1] == "gc" {
		os.Exit(gcMain(os.Args[2:]))
	}
	var cfg server.Config
	var level slog.Level
	flag.StringVar(&cfg.Listen, "listen", "127.0.0.1:8080", "address to serve the API and the embedded registry on")
	flag.StringVar(&cfg.DataDir, "data-dir", "./pkgserver-data", "directory of the embedded OCI image layout")
	flag.StringVar(&cfg.ExternalAddress, "external-address", "", "host:port clients use to reach this server (default: the listen address)")
	flag.Int64Var(&cfg.MaxBodyBytes, "max-body-bytes", 8<<20, "largest accepted request body; larger ones get 413")
	flag.DurationVar(&cfg.RescanInterval, "rescan-interval", 0, "how often to list registries again for packages pushed by others (0: only on restart)")
	flag.DurationVar(&cfg.ShutdownTimeout, "shutdown-timeout", 0, "how long requests in flight may finish after SIGTERM (default 30s)")
	flag.IntVar(&cfg.WatchWindow, "watch-window", 0, "how many recent events a watch can resume over; older resourceVersions get 410 (default 50000)")
	flag.DurationVar(&cfg.GCInterval, "gc-interval", time.Hour, "how often to garbage collect the embedded store (0: never; POST /admin/gc and pkgserver gc still work)")
	flag.DurationVar(&cfg.GCGracePeriod, "gc-grace-period", layout.DefaultGCGrace, "garbage collection keeps unreferenced blobs younger than this")
	flag.TextVar(&level, "log-level", slog.LevelInfo, "log level: debug, info, warn, error")
	pprofAddr := flag.String("pprof-listen", "", "serve Go's net/http/pprof on this address (off when empty)")
	securityFlags(flag.CommandLine, &cfg.Security)
	flag.Parse()
	if cfg.GCGracePeriod <= 0 {
		fmt.Fprintln(os.Stderr, "pkgserver: --gc-grace-period must be positive")
		os.Exit(2)
	}
	if *pprofAddr != "" {
		// A separate listener: profiles are for operators, never on the API port.
		go func() { fmt.Fprintln(os.Stderr, "pkgserver: pprof:", http.ListenAndServe(*pprofAddr, nil)) }()
	}

	cfg.Logger = slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: level}))
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer stop()
	if err := server.Run(ctx, cfg); err != nil {
		fmt.Fprintln(os.Stderr, "pkgserver:", err)
		os.Exit(1)
	}
}
