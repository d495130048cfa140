package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"net/http"
	"os"
	"os/signal"
	"syscall"
	"time"

	"pkgserver.dev/pkgserver/pkg/server"
	"pkgserver.dev/pkgserver/pkg/store/layout"
)

// gcMain is "pkgserver gc": garbage collection of the embedded store, by the
// running server (--server) or in a data directory no server holds
// (--data-dir). It prints what was removed as JSON.
func gcMain(args []string) int {
	fs := flag.NewFlagSet("pkgserver gc", flag.ContinueOnError)
	serverURL := fs.String("server", "", "ask the pkgserver at this URL (http://host:port) to collect now")
	dataDir := fs.String("data-dir", "", "collect in this data directory, when no pkgserver holds it")
	grace := fs.Duration("grace-period", layout.DefaultGCGrace, "with --data-dir: keep unreferenced blobs younger than this (positive)")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	if (*serverURL == "") == (*dataDir == "") || fs.NArg() > 0 || *grace <= 0 {
		fmt.Fprintln(os.Stderr, "usage: pkgserver gc --server URL | --data-dir DIR [--grace-period D]")
		return 2
	}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer stop()
	var res layout.GCResult
	var err error
	if *serverURL != "" {
		res, err = server.RequestGC(ctx, &http.Client{Timeout: time.Hour}, *serverURL)
	} else {
		res, err = server.OfflineGC(ctx, *dataDir, layout.GCOptions{Grace: *grace})
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "pkgserver gc:", err)
		return 1
	}
	out, _ := json.Marshal(res)
	fmt.Println(string(out))
	return 0
}
