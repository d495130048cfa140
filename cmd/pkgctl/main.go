// Command pkgctl is the command line of pkgserver. All of it lives in
// package pkg/cli; see docs/cli.md.
package main

import (
	"context"
	"os"
	"os/signal"
	"syscall"

	"pkgserver.dev/pkgserver/pkg/cli"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := cli.Run(ctx, os.Args[1:], os.Stdin, os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}
