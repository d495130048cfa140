// Package cli is pkgctl, the command line of pkgserver: it registers
// repositories and drives package revisions through their lifecycle over
// package client. cmd/pkgctl is a thin main around Run.
//
//	pkgctl [global flags] repo register|get|unregister ...
//	pkgctl [global flags] rpkg get|init|clone|copy|pull|push|propose|approve|reject|propose-delete|del ...
//
// The verbs, flags and outputs are documented in docs/cli.md.
package cli

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"strings"

	"pkgserver.dev/pkgserver/pkg/client"
)

// Exit codes of Run.
const (
	ExitOK    = 0 // success
	ExitError = 1 // the operation failed
	ExitUsage = 2 // the command line is wrong
)

// Environment variables read by Run.
const (
	EnvServer = "PKGSERVER_SERVER" // default of --server
	EnvUser   = "PKGSERVER_USER"   // default of --user
)

// DefaultServer is the server used when neither --server nor PKGSERVER_SERVER is set.
const DefaultServer = "http://127.0.0.1:8080"

// Run runs pkgctl with args (without the program name) and returns the exit code.
func Run(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	return run(ctx, os.Getenv, args, stdin, stdout, stderr)
}

// globals are the flags every command takes.
type globals struct {
	server    string
	namespace string
	output    string
	user      string
}

// app is one invocation of pkgctl.
type app struct {
	globals
	stdin          io.Reader
	stdout, stderr io.Writer
	c              *client.Client
}

func run(ctx context.Context, getenv func(string) string, args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	a := &app{stdin: stdin, stdout: stdout, stderr: stderr}
	a.server = getenv(EnvServer)
	if a.server == "" {
		a.server = DefaultServer
	}
	a.namespace = "default"
	a.output = "table"
	a.user = getenv(EnvUser)

	top := newFlagSet("pkgctl")
	a.addGlobals(top)
	if err := top.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			a.mainUsage(stdout)
			return ExitOK
		}
		return a.usageFailed(err, "pkgctl --help")
	}
	rest := top.Args()
	if len(rest) == 0 {
		a.mainUsage(stderr)
		return ExitUsage
	}
	if rest[0] == "help" {
		a.mainUsage(stdout)
		return ExitOK
	}
	g := findGroup(rest[0])
	if g == nil {
		return a.usageFailed(fmt.Errorf("unknown command %q", rest[0]), "pkgctl --help")
	}
	if len(rest) == 1 || rest[1] == "help" || rest[1] == "-h" || rest[1] == "--help" {
		w, code := stdout, ExitOK
		if len(rest) == 1 {
			w, code = stderr, ExitUsage
		}
		a.groupUsage(w, g)
		return code
	}
	cmd := g.find(rest[1])
	if cmd == nil {
		return a.usageFailed(fmt.Errorf("unknown command %q for %q", rest[1], "pkgctl "+g.name), "pkgctl "+g.name+" --help")
	}
	full := "pkgctl " + g.name + " " + cmd.name
	fs := newFlagSet(full)
	a.addGlobals(fs)
	exec := cmd.setup(fs)
	pos, err := parseInterspersed(fs, rest[2:])
	if err == nil {
		err = a.checkGlobals()
	}
	if err != nil {
		if errors.Is(err, flag.ErrHelp) {
			commandUsage(stdout, full, cmd, fs)
			return ExitOK
		}
		return a.usageFailed(err, full+" --help")
	}
	if err := exec(ctx, a, pos); err != nil {
		var ue usageError
		switch {
		case errors.As(err, &ue):
			return a.usageFailed(err, full+" --help")
		case errors.Is(err, errReported):
		default:
			fmt.Fprintf(stderr, "pkgctl: %s\n", a.describe(err))
		}
		return ExitError
	}
	return ExitOK
}

func (a *app) addGlobals(fs *flag.FlagSet) {
	// The defaults are the current values, so a flag given before the
	// command is kept when the command's flag set registers it again.
	fs.StringVar(&a.server, "server", a.server, "URL of the pkgserver (env "+EnvServer+")")
	fs.StringVar(&a.namespace, "namespace", a.namespace, "namespace of the objects")
	fs.StringVar(&a.namespace, "n", a.namespace, "shorthand for --namespace")
	fs.StringVar(&a.output, "output", a.output, "output format: table, yaml, json or name")
	fs.StringVar(&a.output, "o", a.output, "shorthand for --output")
	fs.StringVar(&a.user, "user", a.user, "user name sent to the server, recorded as publishedBy (env "+EnvUser+")")
}

func (a *app) checkGlobals() error {
	switch a.output {
	case "table", "yaml", "json", "name":
	default:
		return usageErrorf("unknown output format %q: use table, yaml, json or name", a.output)
	}
	if a.namespace == "" {
		return usageErrorf("the namespace must not be empty")
	}
	return nil
}

// client returns the API client, made on first use.
func (a *app) client() (*client.Client, error) {
	if a.c != nil {
		return a.c, nil
	}
	opts := []client.Option{client.WithUserAgent("pkgctl")}
	if a.user != "" {
		opts = append(opts, client.WithUser(a.user))
	}
	c, err := client.New(a.server, opts...)
	if err != nil {
		return nil, usageErrorf("--server: %s", strings.TrimPrefix(err.Error(), "client: "))
	}
	a.c = c
	return c, nil
}

func (a *app) usageFailed(err error, help string) int {
	msg := err.Error()
	if f, ok := strings.CutPrefix(msg, "flag provided but not defined: -"); ok {
		msg = "unknown flag -" + f
		if len(f) > 1 {
			msg = "unknown flag --" + f
		}
	}
	fmt.Fprintf(a.stderr, "pkgctl: %s\nRun '%s' for usage.\n", msg, help)
	return ExitUsage
}
