// Package testregistry starts a real CNCF distribution registry process for
// integration tests, so that the remote store is tested against the registry
// operators actually run rather than a fake.
package testregistry

import (
	"bytes"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"
)

// EnvBinary names the environment variable that points at the registry binary.
const EnvBinary = "PKGSERVER_REGISTRY_BIN"

// startTimeout bounds how long Start waits for GET /v2/ to answer.
const startTimeout = 30 * time.Second

// config is a minimal distribution configuration: filesystem storage, deletes
// enabled (needed for manifest and tag deletion), quiet logs.
const config = `version: 0.1
log:
  level: error
  accesslog:
    disabled: true
storage:
  filesystem:
    rootdirectory: %s
  delete:
    enabled: true
  maintenance:
    uploadpurging:
      enabled: false
http:
  addr: %s
`

// Binary returns the path of the registry binary: $PKGSERVER_REGISTRY_BIN,
// else $(go env GOPATH)/bin/registry, else registry on PATH.
func Binary() (string, error) {
	if p := os.Getenv(EnvBinary); p != "" {
		return p, nil
	}
	if gopath := goPath(); gopath != "" {
		p := filepath.Join(gopath, "bin", "registry")
		if _, err := os.Stat(p); err == nil {
			return p, nil
		}
	}
	p, err := exec.LookPath("registry")
	if err != nil {
		return "", fmt.Errorf("registry binary not found ($%s, $(go env GOPATH)/bin/registry, PATH); run `make tools` to install it", EnvBinary)
	}
	return p, nil
}

var (
	goPathOnce sync.Once
	goPathVal  string
)

func goPath() string {
	goPathOnce.Do(func() {
		if out, err := exec.Command("go", "env", "GOPATH").Output(); err == nil {
			goPathVal = strings.TrimSpace(string(out))
		}
	})
	return goPathVal
}

// Start runs a registry on a free 127.0.0.1 port with storage in t.TempDir(),
// waits until it answers GET /v2/, and stops it in t.Cleanup. It returns host:port.
func Start(t testing.TB) string {
	t.Helper()
	bin, err := Binary()
	if err != nil {
		t.Fatal(err)
	}
	var lastErr error
	// The free port can be taken between probe and bind; try again then.
	for range 3 {
		addr, err := start(t, bin)
		if err == nil {
			return addr
		}
		lastErr = err
	}
	t.Fatalf("testregistry: %v", lastErr)
	return ""
}

func start(t testing.TB, bin string) (string, error) {
	addr, err := freeAddr()
	if err != nil {
		return "", err
	}
	dir := t.TempDir()
	cfg := filepath.Join(dir, "config.yml")
	data := filepath.Join(dir, "data")
	if err := os.WriteFile(cfg, fmt.Appendf(nil, config, data, addr), 0o644); err != nil {
		return "", err
	}
	var out bytes.Buffer
	cmd := exec.Command(bin, "serve", cfg)
	cmd.Stdout, cmd.Stderr = &out, &out
	cmd.Env = append(os.Environ(), "OTEL_TRACES_EXPORTER=none")
	if err := cmd.Start(); err != nil {
		return "", fmt.Errorf("start %s: %w", bin, err)
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	stop := func() {
		_ = cmd.Process.Kill()
		<-exited
	}
	if err := waitReady(addr, exited); err != nil {
		stop()
		return "", fmt.Errorf("%w; output:\n%s", err, out.String())
	}
	t.Cleanup(stop)
	return addr, nil
}

// freeAddr asks the kernel for a free port on 127.0.0.1.
func freeAddr() (string, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", err
	}
	defer l.Close()
	return l.Addr().String(), nil
}

// waitReady polls GET /v2/ until it answers 200, the process exits, or time runs out.
func waitReady(addr string, exited <-chan error) error {
	client := &http.Client{Timeout: time.Second}
	deadline := time.Now().Add(startTimeout)
	for time.Now().Before(deadline) {
		select {
		case err := <-exited:
			return fmt.Errorf("registry exited before answering: %v", err)
		default:
		}
		resp, err := client.Get("http://" + addr + "/v2/")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return nil
			}
		}
		time.Sleep(50 * time.Millisecond)
	}
	return fmt.Errorf("registry on %s did not answer GET /v2/ within %s", addr, startTimeout)
}
