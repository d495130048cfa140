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
	"strings"
	"syscall"
	"time"

	"pkgserver.dev/pkgserver/pkg/server"
	"pkgserver.dev/pkgserver/pkg/store/layout"
)

// limitFlags registers the flags of the input limits (docs/operations.md, "Limits").
func limitFlags(l *server.Limits) {
	d := server.DefaultLimits()
	flag.IntVar(&l.MaxPatchOperations, "max-patch-operations", d.MaxPatchOperations, "most operations in a JSON patch (413)")
	flag.Int64Var(&l.MaxPatchCopyBytes, "max-patch-copy-bytes", d.MaxPatchCopyBytes, "most bytes the copy operations of a JSON patch may add (413)")
	flag.IntVar(&l.MaxPackageFiles, "max-package-files", d.MaxPackageFiles, "most files in a package (422)")
	flag.Int64Var(&l.MaxPackageBytes, "max-package-bytes", d.MaxPackageBytes, "most bytes of all files of a package (422)")
	flag.IntVar(&l.MaxYAMLDocuments, "max-yaml-documents", d.MaxYAMLDocuments, "most YAML documents in one file (422)")
	flag.IntVar(&l.MaxYAMLDocumentBytes, "max-yaml-document-bytes", d.MaxYAMLDocumentBytes, "largest YAML document, checked before parsing (422)")
	flag.IntVar(&l.MaxYAMLDepth, "max-yaml-depth", d.MaxYAMLDepth, "deepest nesting of YAML mappings and sequences, aliases followed (422)")
	flag.IntVar(&l.MaxYAMLNodes, "max-yaml-nodes", d.MaxYAMLNodes, "most YAML nodes of a package, each alias counted as a copy (422)")
	flag.Int64Var(&l.MaxBlobBytes, "max-blob-bytes", d.MaxBlobBytes, "largest blob pushed to /v2/ (SIZE_INVALID)")
	flag.Int64Var(&l.MaxManifestBytes, "max-manifest-bytes", d.MaxManifestBytes, "largest manifest pushed to /v2/ (MANIFEST_INVALID)")
	flag.IntVar(&l.MaxUploadSessions, "max-upload-sessions", d.MaxUploadSessions, "most /v2/ upload sessions open at once (TOOMANYREQUESTS)")
	flag.IntVar(&l.MaxUploadSessionsPerClient, "max-upload-sessions-per-client", d.MaxUploadSessionsPerClient, "most /v2/ upload sessions of one client address (TOOMANYREQUESTS)")
	flag.DurationVar(&l.UploadSessionTTL, "upload-session-ttl", d.UploadSessionTTL, "how long an idle /v2/ upload session is kept (BLOB_UPLOAD_UNKNOWN after)")
	flag.IntVar(&l.MaxTagsPerPush, "max-tags-per-push", d.MaxTagsPerPush, "most ?tag= parameters of a /v2/ manifest PUT (MANIFEST_INVALID)")
}

// replicaFlags registers how replicas coordinate (docs/operations.md,
// "Running several replicas"); etcd flags are kube-apiserver's.
func replicaFlags(fs *flag.FlagSet, r *server.Replicas) {
	fs.Func("etcd-servers", "comma-separated etcd client URLs; several replicas coordinate through them (default: one replica, no etcd)", func(v string) error {
		for _, s := range strings.Split(v, ",") {
			if s = strings.TrimSpace(s); s != "" {
				r.EtcdServers = append(r.EtcdServers, s)
			}
		}
		return nil
	})
	fs.StringVar(&r.EtcdPrefix, "etcd-prefix", "/pkgserver", "prefix of every key pkgserver keeps in etcd")
	fs.StringVar(&r.EtcdCAFile, "etcd-cafile", "", "CA bundle to verify etcd's certificate")
	fs.StringVar(&r.EtcdCertFile, "etcd-certfile", "", "client certificate for etcd")
	fs.StringVar(&r.EtcdKeyFile, "etcd-keyfile", "", "key of --etcd-certfile")
	fs.StringVar(&r.ConfigRegistry, "config-registry", "", "host[:port]/path of a registry that keeps the Repository objects (default: the embedded store); required with --etcd-servers")
	fs.BoolVar(&r.ConfigRegistryPlainHTTP, "config-registry-plain-http", false, "reach --config-registry over HTTP")
}

func main() {
	if len(os.Args) > 1 && os.Args[1] == "gc" {
		os.Exit(gcMain(os.Args[2:]))
	}
	var cfg server.Config
	var level slog.Level
	flag.StringVar(&cfg.Listen, "listen", "127.0.0.1:8080", "address to serve the API and the embedded registry on")
	flag.StringVar(&cfg.DataDir, "data-dir", "./pkgserver-data", "directory of the embedded OCI image layout")
	flag.StringVar(&cfg.ExternalAddress, "external-address", "", "host:port clients use to reach this server (default: the listen address)")
	flag.Int64Var(&cfg.MaxBodyBytes, "max-body-bytes", 8<<20, "largest accepted request body, and largest object a PATCH may make; larger ones get 413")
	limitFlags(&cfg.Limits)
	flag.DurationVar(&cfg.RescanInterval, "rescan-interval", 0, "how often to list registries again for packages pushed by others (0: only on restart)")
	flag.DurationVar(&cfg.ShutdownTimeout, "shutdown-timeout", 0, "how long requests in flight may finish after SIGTERM (default 30s)")
	flag.IntVar(&cfg.WatchWindow, "watch-window", 0, "how many recent events a watch can resume over; older resourceVersions get 410 (default 10000)")
	flag.DurationVar(&cfg.GCInterval, "gc-interval", time.Hour, "how often to garbage collect the embedded store (0: never; POST /admin/gc and pkgserver gc still work)")
	flag.DurationVar(&cfg.GCGracePeriod, "gc-grace-period", layout.DefaultGCGrace, "garbage collection keeps unreferenced blobs younger than this")
	flag.TextVar(&level, "log-level", slog.LevelInfo, "log level: debug, info, warn, error")
	pprofAddr := flag.String("pprof-listen", "", "serve Go's net/http/pprof on this address (off when empty)")
	securityFlags(flag.CommandLine, &cfg.Security)
	consoleFlags(flag.CommandLine, &cfg.Console)
	replicaFlags(flag.CommandLine, &cfg.Replicas)
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
