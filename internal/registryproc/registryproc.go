// Package registryproc runs a real CNCF distribution registry process on
// loopback: for integration tests (through internal/testregistry) and for the
// benchmark, which both need the registry operators actually run.
package registryproc

import (
	"bytes"
	"crypto/tls"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"time"
)

// EnvBinary names the environment variable that points at the registry binary.
const EnvBinary = "PKGSERVER_REGISTRY_BIN"

// startTimeout bounds how long Start waits for GET /v2/ to answer.
const startTimeout = 30 * time.Second

// config is a minimal distribution configuration: filesystem storage, deletes
// enabled (pkgserver deletes tags and manifests), quiet logs.
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

// Process is a running registry.
type Process struct {
	// Addr is host:port.
	Addr   string
	tls    bool
	cmd    *exec.Cmd
	out    *syncBuffer
	exited chan error
	once   sync.Once
}

// Options change the registry's configuration.
type Options struct {
	// HTPasswd, when set, is an htpasswd file: the registry then asks for
	// basic authentication (distribution's htpasswd auth).
	HTPasswd string
	// TLSCert and TLSKey, when set, make the registry serve HTTPS.
	TLSCert, TLSKey string
}

// Start runs bin on a free 127.0.0.1 port with its storage under dir and
// waits until it answers GET /v2/.
func Start(bin, dir string) (*Process, error) { return StartWith(bin, dir, Options{}) }

// StartWith is Start with options.
func StartWith(bin, dir string, opts Options) (*Process, error) {
	var lastErr error
	for range 3 { // the free port can be taken between probe and bind
		p, err := start(bin, dir, opts)
		if err == nil {
			return p, nil
		}
		lastErr = err
	}
	return nil, fmt.Errorf("registry: %w", lastErr)
}

func start(bin, dir string, opts Options) (*Process, error) {
	addr, err := freeAddr()
	if err != nil {
		return nil, err
	}
	cfg := filepath.Join(dir, "config.yml")
	text := fmt.Sprintf(config, filepath.Join(dir, "data"), addr)
	if opts.TLSCert != "" {
		text += fmt.Sprintf("  tls:\n    certificate: %s\n    key: %s\n", opts.TLSCert, opts.TLSKey)
	}
	if opts.HTPasswd != "" {
		text += fmt.Sprintf("auth:\n  htpasswd:\n    realm: pkgserver-test\n    path: %s\n", opts.HTPasswd)
	}
	if err := os.WriteFile(cfg, []byte(text), 0o644); err != nil {
		return nil, err
	}
	p := &Process{Addr: addr, out: &syncBuffer{}, exited: make(chan error, 1), tls: opts.TLSCert != ""}
	p.cmd = exec.Command(bin, "serve", cfg)
	p.cmd.Stdout, p.cmd.Stderr = p.out, p.out
	p.cmd.Env = append(os.Environ(), "OTEL_TRACES_EXPORTER=none")
	if err := p.cmd.Start(); err != nil {
		return nil, fmt.Errorf("start %s: %w", bin, err)
	}
	go func() { p.exited <- p.cmd.Wait() }()
	if err := p.waitReady(); err != nil {
		p.Stop()
		return nil, fmt.Errorf("%w; output:\n%s", err, p.Output())
	}
	return p, nil
}

// Stop kills the registry and waits for it to exit.
func (p *Process) Stop() {
	p.once.Do(func() {
		_ = p.cmd.Process.Kill()
		<-p.exited
	})
}

// Output is what the registry printed.
func (p *Process) Output() string { return p.out.String() }

// waitReady polls GET /v2/ until it answers 200, the process exits, or time runs out.
func (p *Process) waitReady() error {
	client := &http.Client{Timeout: time.Second}
	scheme := "http"
	if p.tls {
		// Readiness only: the caller's clients verify the certificate.
		scheme = "https"
		client.Transport = &http.Transport{TLSClientConfig: &tls.Config{InsecureSkipVerify: true}} //nolint:gosec
	}
	deadline := time.Now().Add(startTimeout)
	for time.Now().Before(deadline) {
		select {
		case err := <-p.exited:
			p.exited <- err // Stop waits on it too
			return fmt.Errorf("registry exited before answering: %v", err)
		default:
		}
		resp, err := client.Get(scheme + "://" + p.Addr + "/v2/")
		if err == nil {
			resp.Body.Close()
			// 401: up, and asking for the credentials it was configured with.
			if resp.StatusCode == http.StatusOK || resp.StatusCode == http.StatusUnauthorized {
				return nil
			}
		}
		time.Sleep(20 * time.Millisecond)
	}
	return fmt.Errorf("registry on %s did not answer GET /v2/ within %s", p.Addr, startTimeout)
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

// syncBuffer is a bytes.Buffer safe for the process's writers and a reader.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}
