package bench

import (
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"time"
)

// EnvRegistryBinary names the environment variable that points at the CNCF
// distribution registry binary (`make tools` installs it in .tools/bin).
const EnvRegistryBinary = "PKGSERVER_REGISTRY_BIN"

// registryConfig is a minimal distribution configuration: filesystem storage,
// deletes enabled (pkgserver deletes tags and manifests), quiet logs.
const registryConfig = `version: 0.1
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

// Registry is a CNCF distribution registry process.
type Registry struct {
	Addr string // host:port

	proc *process
}

// StartRegistry runs bin on a free 127.0.0.1 port with its storage under dir
// and waits until it answers GET /v2/.
func StartRegistry(bin, dir string) (*Registry, error) {
	var lastErr error
	for range 3 { // the free port can be taken between probe and bind
		r, err := startRegistry(bin, dir)
		if err == nil {
			return r, nil
		}
		lastErr = err
	}
	return nil, fmt.Errorf("registry: %w", lastErr)
}

func startRegistry(bin, dir string) (*Registry, error) {
	addr, err := freeAddr()
	if err != nil {
		return nil, err
	}
	cfg := filepath.Join(dir, "config.yml")
	if err := os.WriteFile(cfg, fmt.Appendf(nil, registryConfig, filepath.Join(dir, "data"), addr), 0o644); err != nil {
		return nil, err
	}
	cmd := exec.Command(bin, "serve", cfg)
	cmd.Env = append(os.Environ(), "OTEL_TRACES_EXPORTER=none")
	p, err := startProcess(cmd, nil)
	if err != nil {
		return nil, err
	}
	if err := waitHTTP("http://"+addr+"/v2/", p.done, 30*time.Second); err != nil {
		p.kill()
		return nil, fmt.Errorf("%w; output:\n%s", err, p.output())
	}
	return &Registry{Addr: addr, proc: p}, nil
}

// registryBinary finds the registry binary: $PKGSERVER_REGISTRY_BIN, else
// $(go env GOPATH)/bin/registry, else registry on PATH.
func registryBinary() (string, error) {
	if p := os.Getenv(EnvRegistryBinary); p != "" {
		return p, nil
	}
	if out, err := exec.Command("go", "env", "GOPATH").Output(); err == nil {
		p := filepath.Join(strings.TrimSpace(string(out)), "bin", "registry")
		if _, err := os.Stat(p); err == nil {
			return p, nil
		}
	}
	p, err := exec.LookPath("registry")
	if err != nil {
		return "", fmt.Errorf("registry binary not found ($%s, $(go env GOPATH)/bin/registry, PATH); run `make tools` to install it", EnvRegistryBinary)
	}
	return p, nil
}

// Stop kills the registry and waits for it to exit.
func (r *Registry) Stop() { r.proc.kill() }

// freeAddr asks the kernel for a free port on 127.0.0.1.
func freeAddr() (string, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", err
	}
	defer l.Close()
	return l.Addr().String(), nil
}

// waitHTTP polls url until it answers 200, the process exits or time runs out.
func waitHTTP(url string, exited <-chan struct{}, timeout time.Duration) error {
	client := &http.Client{Timeout: time.Second}
	deadline := time.Now().Add(timeout)
	for time.Now().Before(deadline) {
		select {
		case <-exited:
			return fmt.Errorf("process exited before answering %s", url)
		default:
		}
		resp, err := client.Get(url)
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return nil
			}
		}
		time.Sleep(20 * time.Millisecond)
	}
	return fmt.Errorf("%s did not answer within %s", url, timeout)
}
