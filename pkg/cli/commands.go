package cli

import (
	"context"
	"flag"
	"fmt"
	"io"
	"strings"
)

// runFunc runs a command with its positional arguments.
type runFunc func(ctx context.Context, a *app, args []string) error

// command is one verb. setup registers its flags and returns how to run it.
type command struct {
	name    string
	args    string // synopsis of the arguments, after "pkgctl <group> <name>"
	summary string
	setup   func(fs *flag.FlagSet) runFunc
}

// group is a noun with verbs: repo, rpkg.
type group struct {
	name     string
	summary  string
	commands []*command
}

func (g *group) find(name string) *command {
	for _, c := range g.commands {
		if c.name == name {
			return c
		}
	}
	return nil
}

var groups = []*group{
	{
		name:    "repo",
		summary: "register, list and unregister repositories",
		commands: []*command{
			repoRegisterCmd,
			repoGetCmd,
			repoUnregisterCmd,
		},
	},
	{
		name:    "rpkg",
		summary: "create, read, change and publish package revisions",
		commands: []*command{
			rpkgGetCmd,
			rpkgInitCmd,
			rpkgCloneCmd,
			rpkgCopyCmd,
			rpkgUpgradeCmd,
			rpkgPullCmd,
			rpkgPushCmd,
			lifecycleCmd("propose", "propose draft revisions for publication"),
			lifecycleCmd("approve", "publish proposed revisions"),
			lifecycleCmd("reject", "send proposed revisions back to draft, or keep revisions proposed for deletion"),
			lifecycleCmd("propose-delete", "propose published revisions for deletion"),
			lifecycleCmd("del", "delete draft, proposed or deletion-proposed revisions"),
		},
	},
}

func findGroup(name string) *group {
	for _, g := range groups {
		if g.name == name {
			return g
		}
	}
	return nil
}

func (a *app) mainUsage(w io.Writer) {
	fmt.Fprint(w, `pkgctl drives a pkgserver: repositories of packages in OCI registries, and
package revisions through draft, proposed, published and deletionProposed.

Usage:
  pkgctl [global flags] <command> <verb> [arguments] [flags]

Commands:
`)
	for _, g := range groups {
		fmt.Fprintf(w, "  %-6s %s\n", g.name, g.summary)
	}
	fmt.Fprint(w, `
Global flags (accepted anywhere on the line):
  --server URL          pkgserver URL (env `+EnvServer+`, default `+DefaultServer+`)
  -n, --namespace NS    namespace of the objects (default "default")
  -o, --output FORMAT   table, yaml, json or name (default table)
  --user NAME           user name sent to the server (env `+EnvUser+`)

Run 'pkgctl <command> --help' for its verbs. Docs: docs/cli.md.
`)
}

func (a *app) groupUsage(w io.Writer, g *group) {
	fmt.Fprintf(w, "pkgctl %s: %s\n\nVerbs:\n", g.name, g.summary)
	for _, c := range g.commands {
		fmt.Fprintf(w, "  %-15s %s\n", c.name, c.summary)
	}
	fmt.Fprintf(w, "\nRun 'pkgctl %s <verb> --help' for the arguments and flags of a verb.\n", g.name)
}

func commandUsage(w io.Writer, full string, c *command, fs *flag.FlagSet) {
	fmt.Fprintf(w, "%s: %s\n\nUsage:\n  %s %s\n\nFlags:\n", full, c.summary, full, c.args)
	fs.SetOutput(w)
	fs.VisitAll(func(f *flag.Flag) {
		name, usage := flag.UnquoteUsage(f)
		dash := "--"
		if len(f.Name) == 1 {
			dash = "-"
		}
		line := "  " + dash + f.Name
		if name != "" {
			line += " " + name
		}
		if f.DefValue != "" && f.DefValue != "false" {
			usage += fmt.Sprintf(" (default %q)", f.DefValue)
		}
		fmt.Fprintf(w, "%-26s %s\n", line, strings.ReplaceAll(usage, "\n", "\n"+strings.Repeat(" ", 27)))
	})
}
