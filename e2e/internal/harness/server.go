package harness

import (
	"bytes"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// ListeningLine is what pkgserver prints to stderr once it serves.
const ListeningLine = "pkgserver listening"

// startTimeout bounds how long Start waits for the server to be ready.
const startTimeout = 30 * time.Second

// Options say how to run one pkgserver process.
type Options struct {
	// Bin is the pkgserver binary.
	Bin string
	// DataDir is passed as --data-dir.
	DataDir string
	// Listen is passed as --listen; empty picks a free 127.0.0.1 port.
	Listen string
	// MaxBodyBytes, when positive, is passed as --max-body-bytes.
	MaxBodyBytes int64
	// Args are more flags.
	Args []string
	// Env is added to the process environment (KEY=VALUE).
	Env []string
	// CAFile, when set, says the server serves TLS with a certificate of
	// this CA (PEM): URL is https and readiness is checked over TLS.
	CAFile string
}

// Server is one running (or exited) pkgserver process.
type Server struct {
	Opts Options
	// Addr is host:port the server listens on.
	Addr string
	// URL is http://Addr, or https://Addr with Options.CAFile.
	URL string

	cmd  *exec.Cmd
	out  *syncBuffer
	done chan struct{}
	err  error // from cmd.Wait, valid once done is closed
}

// Start runs pkgserver and waits until it is ready, failing t otherwise. The
// process is killed in t.Cleanup if still running; its output is logged when
// t failed.
func Start(t testing.TB, opts Options) *Server {
	t.Helper()
	var lastErr error
	for range 3 { // a free port can be taken between probe and bind
		s, err := StartProcess(opts)
		if err == nil {
			t.Cleanup(func() {
				s.kill()
				if t.Failed() {
					t.Logf("pkgserver %s output:\n%s", s.Addr, tail(s.Output(), 8000))
				}
			})
			return s
		}
		lastErr = err
		if opts.Listen != "" && !strings.Contains(err.Error(), "address already in use") {
			break
		}
		time.Sleep(200 * time.Millisecond)
	}
	t.Fatalf("start pkgserver: %v", lastErr)
	return nil
}

// StartProcess runs pkgserver and waits until it answers /readyz, or exits,
// or startTimeout passes. On failure the process is gone.
func StartProcess(opts Options) (*Server, error) {
	s, err := Spawn(opts)
	if err != nil {
		return nil, err
	}
	if err := s.waitReady(); err != nil {
		s.kill()
		return nil, fmt.Errorf("%w; output:\n%s", err, tail(s.Output(), 4000))
	}
	return s, nil
}

// Spawn runs pkgserver without waiting for it to be ready.
func Spawn(opts Options) (*Server, error) {
	addr := opts.Listen
	if addr == "" {
		var err error
		if addr, err = FreeAddr(); err != nil {
			return nil, err
		}
	}
	args := []string{"--listen", addr, "--data-dir", opts.DataDir, "--log-level", "info"}
	if opts.MaxBodyBytes > 0 {
		args = append(args, "--max-body-bytes", strconv.FormatInt(opts.MaxBodyBytes, 10))
	}
	args = append(args, opts.Args...)
	s := &Server{Opts: opts, Addr: addr, URL: "http://" + addr, out: &syncBuffer{}, done: make(chan struct{})}
	if opts.CAFile != "" {
		s.URL = "https://" + addr
	}
	s.Opts.Listen = addr
	s.cmd = exec.Command(opts.Bin, args...)
	s.cmd.Stdout, s.cmd.Stderr = s.out, s.out
	if len(opts.Env) > 0 {
		s.cmd.Env = append(os.Environ(), opts.Env...)
	}
	if err := s.cmd.Start(); err != nil {
		return nil, fmt.Errorf("start %s: %w", opts.Bin, err)
	}
	go func() {
		s.err = s.cmd.Wait()
		close(s.done)
	}()
	return s, nil
}

func (s *Server) waitReady() error {
	client, err := HTTPClient(s.Opts.CAFile)
	if err != nil {
		return err
	}
	client.Timeout = 2 * time.Second
	deadline := time.Now().Add(startTimeout)
	for time.Now().Before(deadline) {
		select {
		case <-s.done:
			return fmt.Errorf("pkgserver exited before it was ready: %v", s.err)
		default:
		}
		if strings.Contains(s.Output(), ListeningLine) {
			resp, err := client.Get(s.URL + "/readyz")
			if err == nil {
				resp.Body.Close()
				if resp.StatusCode == http.StatusOK {
					return nil
				}
			}
		}
		time.Sleep(25 * time.Millisecond)
	}
	return fmt.Errorf("pkgserver on %s not ready within %s", s.Addr, startTimeout)
}

// Output is everything the process wrote so far.
func (s *Server) Output() string { return s.out.String() }

// Pid is the process id.
func (s *Server) Pid() int { return s.cmd.Process.Pid }

// Wait waits up to timeout for the process to exit and returns its exit code
// (-1 when killed by a signal).
func (s *Server) Wait(timeout time.Duration) (int, error) {
	select {
	case <-s.done:
	case <-time.After(timeout):
		return 0, fmt.Errorf("pkgserver (pid %d) still running after %s", s.Pid(), timeout)
	}
	if s.err == nil {
		return 0, nil
	}
	var ee *exec.ExitError
	if errors.As(s.err, &ee) {
		return ee.ExitCode(), nil
	}
	return 0, s.err
}

// Stop sends SIGTERM and fails t unless the process exits with code 0 in time.
func (s *Server) Stop(t testing.TB) {
	t.Helper()
	if err := s.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatalf("SIGTERM pkgserver: %v", err)
	}
	code, err := s.Wait(20 * time.Second)
	if err != nil {
		s.kill()
		t.Fatalf("after SIGTERM: %v; output:\n%s", err, tail(s.Output(), 4000))
	}
	if code != 0 {
		t.Fatalf("after SIGTERM pkgserver exited with code %d, want 0; output:\n%s", code, tail(s.Output(), 4000))
	}
}

// Kill sends SIGKILL and waits for the process to be gone.
func (s *Server) Kill(t testing.TB) {
	t.Helper()
	s.kill()
}

func (s *Server) kill() {
	select {
	case <-s.done:
		return
	default:
	}
	_ = s.cmd.Process.Signal(syscall.SIGKILL)
	<-s.done
}

// FreeAddr asks the kernel for a free port on 127.0.0.1.
func FreeAddr() (string, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", err
	}
	defer l.Close()
	return l.Addr().String(), nil
}

// syncBuffer is a bytes.Buffer safe for the process's writes and our reads.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.String()
}

// HTTPClient returns an HTTP client that trusts the CA in caFile (PEM), and
// presents the client certificates given; with an empty caFile, a plain one.
func HTTPClient(caFile string, certs ...tls.Certificate) (*http.Client, error) {
	if caFile == "" {
		return &http.Client{Timeout: 30 * time.Second}, nil
	}
	pem, err := os.ReadFile(caFile)
	if err != nil {
		return nil, err
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(pem) {
		return nil, fmt.Errorf("%s: no PEM certificate", caFile)
	}
	tr := http.DefaultTransport.(*http.Transport).Clone()
	tr.TLSClientConfig = &tls.Config{RootCAs: pool, Certificates: certs}
	return &http.Client{Timeout: 30 * time.Second, Transport: tr}, nil
}
