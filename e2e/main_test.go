// Package e2e holds the end-to-end tests: they build the pkgserver binary,
// run it as a real process (against its embedded store and against a real
// CNCF distribution registry) and drive it over HTTP like any client would.
package e2e

import (
	"fmt"
	"os"
	"testing"

	"pkgserver.dev/pkgserver/e2e/internal/harness"
)

// serverBin and pkgctlBin are the pkgserver and pkgctl binaries built once
// for the whole run.
var serverBin, pkgctlBin string

func TestMain(m *testing.M) {
	os.Exit(run(m))
}

func run(m *testing.M) int {
	root, err := harness.ModuleRoot()
	if err != nil {
		fmt.Fprintln(os.Stderr, "e2e:", err)
		return 1
	}
	harness.DefaultTool(root, harness.EnvRegistryBin, "registry")
	harness.DefaultTool(root, harness.EnvOrasBin, "oras")
	harness.DefaultTool(root, harness.EnvCraneBin, "crane")
	harness.DefaultTool(root, harness.EnvSkopeoBin, "skopeo")
	harness.DefaultTool(root, harness.EnvChromiumBin, "chromium")
	dir, err := os.MkdirTemp("", "pkgserver-e2e-")
	if err != nil {
		fmt.Fprintln(os.Stderr, "e2e:", err)
		return 1
	}
	defer os.RemoveAll(dir)
	if serverBin, err = harness.Build(root, dir); err != nil {
		fmt.Fprintln(os.Stderr, "e2e:", err)
		return 1
	}
	if pkgctlBin, err = harness.BuildCommand(root, dir, "pkgctl"); err != nil {
		fmt.Fprintln(os.Stderr, "e2e:", err)
		return 1
	}
	return m.Run()
}
