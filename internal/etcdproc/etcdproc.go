// Package etcdproc runs a real etcd cluster as processes on loopback: for
// the tests and the benchmark of several pkgserver replicas coordinated by
// etcd, which must meet the etcd operators run, failures included (a member
// stopped, killed, restarted).
package etcdproc

import (
	"bytes"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"time"
)

// EnvBinary names the environment variable that points at the etcd binary.
const EnvBinary = "PKGSERVER_ETCD_BIN"

// Timeouts: startTimeout bounds the wait for a member to report healthy,
// stopTimeout the wait for a graceful stop before the member is killed.
const (
	startTimeout = 30 * time.Second
	stopTimeout  = 10 * time.Second
)

// ErrRunning is returned by Restart of a member that has not stopped.
var ErrRunning = errors.New("etcd member is running")

// Binary returns the path of the etcd binary: $PKGSERVER_ETCD_BIN, else
// .tools/bin/etcd of the enclosing checkout (where `make tools` puts it),
// else etcd on PATH.
func Binary() (string, error) {
	if p := os.Getenv(EnvBinary); p != "" {
		return p, nil
	}
	if dir, err := os.Getwd(); err == nil {
		for {
			p := filepath.Join(dir, ".tools", "bin", "etcd")
			if _, err := os.Stat(p); err == nil {
				return p, nil
			}
			parent := filepath.Dir(dir)
			if parent == dir {
				break
			}
			dir = parent
		}
	}
	p, err := exec.LookPath("etcd")
	if err != nil {
		return "", fmt.Errorf("etcd binary not found ($%s, .tools/bin/etcd, PATH); run `make tools` to install it", EnvBinary)
	}
	return p, nil
}

// Options shape a cluster.
type Options struct {
	// Members is the number of members; 0 means 1. Use an odd number (3
	// tolerates the loss of one member).
	Members int
	// Fsync keeps etcd's fsync of its log and database. Off by default: tests
	// kill processes, not machines, and a killed process loses nothing that
	// reached the page cache; fsync on a shared test disk only adds latency.
	// Benchmarks that measure etcd's cost turn it on.
	Fsync bool
}

// Cluster is a running etcd cluster.
type Cluster struct {
	members []*Member
}

// Member is one etcd process of a cluster. Its ports and data directory stay
// the same across Stop, Kill and Restart.
type Member struct {
	// Name is the member's etcd name (m0, m1, …).
	Name string
	// ClientURL is the URL clients use (http://127.0.0.1:port).
	ClientURL string
	// PeerURL is the URL the other members use.
	PeerURL string

	bin  string
	args []string
	out  *syncBuffer

	mu     sync.Mutex
	cmd    *exec.Cmd
	exited chan struct{} // closed when cmd has exited
	err    error         // cmd's exit error, once exited is closed
}

// Start runs a cluster of opts.Members members on free 127.0.0.1 ports with
// their data under dir, and waits until every member reports healthy.
func Start(bin, dir string, opts Options) (*Cluster, error) {
	if opts.Members <= 0 {
		opts.Members = 1
	}
	var lastErr error
	for attempt := range 3 { // a free port can be taken between probe and bind
		c, err := start(bin, filepath.Join(dir, fmt.Sprintf("cluster-%d", attempt)), opts)
		if err == nil {
			return c, nil
		}
		lastErr = err
	}
	return nil, fmt.Errorf("etcd: %w", lastErr)
}

func start(bin, dir string, opts Options) (*Cluster, error) {
	ports, err := freePorts(2 * opts.Members)
	if err != nil {
		return nil, err
	}
	token, err := randomToken()
	if err != nil {
		return nil, err
	}
	c := &Cluster{}
	var initial []string
	for i := range opts.Members {
		m := &Member{
			Name:      fmt.Sprintf("m%d", i),
			ClientURL: fmt.Sprintf("http://127.0.0.1:%d", ports[2*i]),
			PeerURL:   fmt.Sprintf("http://127.0.0.1:%d", ports[2*i+1]),
			bin:       bin,
			out:       &syncBuffer{},
		}
		c.members = append(c.members, m)
		initial = append(initial, m.Name+"="+m.PeerURL)
	}
	for _, m := range c.members {
		m.args = []string{
			"--name", m.Name,
			"--data-dir", filepath.Join(dir, m.Name),
			"--listen-client-urls", m.ClientURL,
			"--advertise-client-urls", m.ClientURL,
			"--listen-peer-urls", m.PeerURL,
			"--initial-advertise-peer-urls", m.PeerURL,
			"--initial-cluster", strings.Join(initial, ","),
			"--initial-cluster-state", "new",
			// A token of its own: a member of another test's cluster that
			// reuses a port can never join this one.
			"--initial-cluster-token", token,
			"--log-level", "warn",
			"--log-outputs", "stderr",
		}
		if !opts.Fsync {
			m.args = append(m.args, "--unsafe-no-fsync")
		}
		if err := m.launch(); err != nil {
			c.Stop()
			return nil, err
		}
	}
	for _, m := range c.members {
		if err := m.waitHealthy(); err != nil {
			c.Stop()
			return nil, err
		}
	}
	return c, nil
}

// Members returns the members in the order of their names.
func (c *Cluster) Members() []*Member { return c.members }

// Member returns member i.
func (c *Cluster) Member(i int) *Member { return c.members[i] }

// Endpoints returns the client URLs of every member, stopped ones included
// (clients are expected to fail over).
func (c *Cluster) Endpoints() []string {
	out := make([]string, len(c.members))
	for i, m := range c.members {
		out[i] = m.ClientURL
	}
	return out
}

// Stop kills every member that still runs and waits for them to exit.
func (c *Cluster) Stop() {
	for _, m := range c.members {
		_ = m.Kill()
	}
}

// Output returns what every member printed, each under its name.
func (c *Cluster) Output() string {
	var b strings.Builder
	for _, m := range c.members {
		fmt.Fprintf(&b, "== etcd %s\n%s", m.Name, m.Output())
	}
	return b.String()
}

// launch starts the member's process.
func (m *Member) launch() error {
	cmd := exec.Command(m.bin, m.args...)
	cmd.Stdout, cmd.Stderr = m.out, m.out
	cmd.Env = cleanEnv()
	cmd.SysProcAttr = procAttr()
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("start %s: %w", m.bin, err)
	}
	exited := make(chan struct{})
	m.mu.Lock()
	m.cmd, m.exited = cmd, exited
	m.mu.Unlock()
	go func() {
		err := cmd.Wait()
		m.mu.Lock()
		m.err = err
		m.mu.Unlock()
		close(exited)
	}()
	return nil
}

// cleanEnv is the environment without ETCD_* variables, which etcd reads as
// flags.
func cleanEnv() []string {
	var env []string
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "ETCD_") {
			env = append(env, kv)
		}
	}
	return env
}

// Running reports whether the member's process is running.
func (m *Member) Running() bool {
	m.mu.Lock()
	exited := m.exited
	m.mu.Unlock()
	if exited == nil {
		return false
	}
	select {
	case <-exited:
		return false
	default:
		return true
	}
}

// Stop asks the member to stop (SIGTERM: a leader hands its leadership on
// first) and waits; after stopTimeout it is killed. Stopping a stopped
// member does nothing.
func (m *Member) Stop() error { return m.signal(syscall.SIGTERM) }

// Kill kills the member at once (SIGKILL), as a crash would, and waits for
// it to exit.
func (m *Member) Kill() error { return m.signal(syscall.SIGKILL) }

func (m *Member) signal(sig syscall.Signal) error {
	m.mu.Lock()
	cmd, exited := m.cmd, m.exited
	m.mu.Unlock()
	if cmd == nil {
		return nil
	}
	select {
	case <-exited:
		return nil
	default:
	}
	if err := cmd.Process.Signal(sig); err != nil && !errors.Is(err, os.ErrProcessDone) {
		return fmt.Errorf("etcd %s: %w", m.Name, err)
	}
	select {
	case <-exited:
	case <-time.After(stopTimeout):
		_ = cmd.Process.Kill()
		<-exited
		return fmt.Errorf("etcd %s did not stop within %s after %s; killed", m.Name, stopTimeout, sig)
	}
	return nil
}

// Restart starts a stopped or killed member again with its data and ports,
// and waits until it reports healthy (it has rejoined the cluster and has a
// leader).
func (m *Member) Restart() error {
	if m.Running() {
		return fmt.Errorf("restart %s: %w", m.Name, ErrRunning)
	}
	if err := m.launch(); err != nil {
		return err
	}
	return m.waitHealthy()
}

// Output is what the member printed, in all its runs.
func (m *Member) Output() string { return m.out.String() }

// waitHealthy polls the member's /health until it says true (it has a
// leader and served a read through the cluster), the process exits, or
// time runs out.
func (m *Member) waitHealthy() error {
	client := &http.Client{Timeout: time.Second}
	m.mu.Lock()
	exited := m.exited
	m.mu.Unlock()
	deadline := time.Now().Add(startTimeout)
	for time.Now().Before(deadline) {
		select {
		case <-exited:
			m.mu.Lock()
			err := m.err
			m.mu.Unlock()
			return fmt.Errorf("etcd %s exited before it was healthy: %v; output:\n%s", m.Name, err, m.Output())
		default:
		}
		if healthy(client, m.ClientURL) {
			return nil
		}
		time.Sleep(50 * time.Millisecond)
	}
	return fmt.Errorf("etcd %s on %s not healthy within %s; output:\n%s", m.Name, m.ClientURL, startTimeout, m.Output())
}

func healthy(client *http.Client, url string) bool {
	resp, err := client.Get(url + "/health")
	if err != nil {
		return false
	}
	defer resp.Body.Close()
	var h struct {
		Health string `json:"health"`
	}
	return resp.StatusCode == http.StatusOK && json.NewDecoder(resp.Body).Decode(&h) == nil && h.Health == "true"
}

// freePorts asks the kernel for n distinct free ports on 127.0.0.1; the
// listeners are held until all are chosen so none is handed out twice.
func freePorts(n int) ([]int, error) {
	var ports []int
	var ls []net.Listener
	defer func() {
		for _, l := range ls {
			l.Close()
		}
	}()
	for range n {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return nil, err
		}
		ls = append(ls, l)
		ports = append(ports, l.Addr().(*net.TCPAddr).Port)
	}
	return ports, nil
}

func randomToken() (string, error) {
	b := make([]byte, 8)
	if _, err := rand.Read(b); err != nil {
		return "", err
	}
	return "pkgserver-test-" + hex.EncodeToString(b), nil
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
