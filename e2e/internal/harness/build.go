// Package harness runs the real pkgserver binary for the end-to-end tests:
// it builds it, starts and stops it as a process, and talks to it over plain
// HTTP and JSON with a small typed client.
package harness

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
)

// Module is the module path of the project the harness builds.
const Module = "pkgserver.dev/pkgserver"

// Environment variables naming the tool binaries (set by `make tools`).
const (
	EnvRegistryBin = "PKGSERVER_REGISTRY_BIN"
	EnvOrasBin     = "PKGSERVER_ORAS_BIN"
	EnvCraneBin    = "PKGSERVER_CRANE_BIN"
	EnvSkopeoBin   = "PKGSERVER_SKOPEO_BIN"
)

// ModuleRoot walks up from the working directory to the directory whose
// go.mod declares Module.
func ModuleRoot() (string, error) {
	dir, err := os.Getwd()
	if err != nil {
		return "", err
	}
	for {
		data, err := os.ReadFile(filepath.Join(dir, "go.mod"))
		if err == nil && bytes.Contains(data, []byte("module "+Module+"\n")) {
			return dir, nil
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", fmt.Errorf("no go.mod of module %s above the working directory", Module)
		}
		dir = parent
	}
}

// Build compiles ./cmd/pkgserver of the module at root into dir and returns
// the binary's path.
func Build(root, dir string) (string, error) {
	bin := filepath.Join(dir, "pkgserver")
	cmd := exec.Command("go", "build", "-o", bin, "./cmd/pkgserver")
	cmd.Dir = root
	out, err := cmd.CombinedOutput()
	if err != nil {
		return "", fmt.Errorf("go build ./cmd/pkgserver: %v\n%s", err, out)
	}
	return bin, nil
}

// DefaultTool sets the environment variable env to root/.tools/bin/name when
// it is unset and that file exists, so `go test ./e2e/...` works after
// `make tools` without the Makefile's exports.
func DefaultTool(root, env, name string) {
	if os.Getenv(env) != "" {
		return
	}
	p := filepath.Join(root, ".tools", "bin", name)
	if _, err := os.Stat(p); err == nil {
		os.Setenv(env, p)
	}
}

// OrasBinary returns the oras CLI: $PKGSERVER_ORAS_BIN, else oras on PATH.
func OrasBinary() (string, error) {
	if p := os.Getenv(EnvOrasBin); p != "" {
		return p, nil
	}
	p, err := exec.LookPath("oras")
	if err != nil {
		return "", errors.New("oras binary not found ($" + EnvOrasBin + " or PATH); run `make tools`")
	}
	return p, nil
}

// CraneBinary returns go-containerregistry's crane: $PKGSERVER_CRANE_BIN or PATH.
func CraneBinary() (string, error) {
	if p := os.Getenv(EnvCraneBin); p != "" {
		return p, nil
	}
	p, err := exec.LookPath("crane")
	if err != nil {
		return "", errors.New("crane binary not found ($" + EnvCraneBin + " or PATH); run `make tools`")
	}
	return p, nil
}

// tail returns the last n bytes of s, for error messages.
func tail(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return "…" + s[len(s)-n:]
}

// BuildExample compiles examples/<name> of the module at root, a Go module
// of its own, into dir and returns the binary's path.
func BuildExample(root, dir, name string) (string, error) {
	bin := filepath.Join(dir, name)
	cmd := exec.Command("go", "build", "-o", bin, ".")
	cmd.Dir = filepath.Join(root, "examples", name)
	out, err := cmd.CombinedOutput()
	if err != nil {
		return "", fmt.Errorf("go build examples/%s: %v\n%s", name, err, out)
	}
	return bin, nil
}
