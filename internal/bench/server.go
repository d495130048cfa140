package bench

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"time"
)

// Server is a pkgserver process on a data directory. Restart keeps the
// directory, so what a restart costs is what an operator sees.
type Server struct {
	Bin     string
	DataDir string
	Args    []string // extra flags (etcd, config registry)
	Addr    string   // host:port of the running process
	// PprofAddr serves net/http/pprof (--pprof-listen): heap statistics and
	// profiles of the running process.
	PprofAddr string
	// StartTimeout bounds the wait for "listening": a start after a crash
	// reads every revision first, minutes at a million.
	StartTimeout time.Duration
	// StopGrace is how long a SIGTERM may take (the checkpoint is written
	// then) before the process is killed.
	StopGrace time.Duration
	// Launched, when set, is called with the pprof address as soon as the
	// process runs, before it serves (to profile its start).
	Launched func(pprofAddr string)

	proc *process
}

// listening matches the line pkgserver logs once it serves.
var listening = regexp.MustCompile(`pkgserver listening.*address=http://([^ ]+)`)

// StartServer starts pkgserver on dataDir and waits until it serves.
func StartServer(bin, dataDir string, args ...string) (*Server, error) {
	s := &Server{Bin: bin, DataDir: dataDir, Args: args}
	return s, s.Start()
}

// Start starts the process; it returns once pkgserver logged that it listens.
func (s *Server) Start() error {
	pprofAddr, err := freeAddr()
	if err != nil {
		return err
	}
	found := make(chan string, 1)
	tail := newTail()
	w := &lineWatcher{re: listening, found: found, tail: tail}
	args := append([]string{"--listen", "127.0.0.1:0", "--data-dir", s.DataDir, "--log-level", "info",
		"--pprof-listen", pprofAddr, "--shutdown-timeout", "2s"}, s.Args...)
	cmd := exec.Command(s.Bin, args...)
	cmd.Stderr = w
	cmd.Stdout = w
	p, err := startProcess(cmd, tail)
	if err != nil {
		return err
	}
	if s.Launched != nil {
		s.Launched(pprofAddr)
	}
	wait := s.StartTimeout
	if wait <= 0 {
		wait = 20 * time.Minute
	}
	select {
	case addr := <-found:
		s.Addr, s.PprofAddr, s.proc = addr, pprofAddr, p
		return nil
	case <-p.done:
		return fmt.Errorf("pkgserver exited before listening: %v; output:\n%s", p.err, p.output())
	case <-time.After(wait):
		p.kill()
		return fmt.Errorf("pkgserver did not start within %s; output:\n%s", wait, p.output())
	}
}

// Stop stops the process (SIGTERM, then kill after StopGrace).
func (s *Server) Stop() { _, _ = s.StopClean() }

// StopClean stops the process with SIGTERM and returns how long it took to
// exit; clean is false when it had to be killed.
func (s *Server) StopClean() (took time.Duration, clean bool) {
	if s.proc == nil {
		return 0, true
	}
	grace := s.StopGrace
	if grace <= 0 {
		grace = 5 * time.Minute
	}
	start := time.Now()
	clean = s.proc.stop(grace)
	s.proc = nil
	return time.Since(start), clean
}

// Kill kills the process (SIGKILL, as a crash or kill -9 would).
func (s *Server) Kill() {
	if s.proc != nil {
		s.proc.kill()
		s.proc = nil
	}
}

// Restart stops and starts the server again on the same directory.
func (s *Server) Restart() error {
	s.Stop()
	return s.Start()
}

// Running reports whether the process runs.
func (s *Server) Running() bool { return s.proc != nil }

// URL is the base URL of the API.
func (s *Server) URL() string { return "http://" + s.Addr }

// Memory is what the process holds: resident set now and at its peak, and
// the Go heap in use after a collection (runtime.MemStats.HeapInuse, from
// pprof).
type Memory struct {
	RSS, PeakRSS, HeapInuse int64
	Goroutines              int
}

// Memory reads /proc/<pid>/status and the pprof heap statistics.
func (s *Server) Memory() (Memory, error) {
	var m Memory
	if s.proc == nil {
		return m, fmt.Errorf("pkgserver is not running")
	}
	data, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", s.proc.pid()))
	if err != nil {
		return m, err
	}
	for _, f := range []struct {
		key string
		dst *int64
	}{{"VmRSS:", &m.RSS}, {"VmHWM:", &m.PeakRSS}} {
		if *f.dst, err = statusKB(data, f.key); err != nil {
			return m, err
		}
	}
	// The heap profile's debug text ends with runtime.MemStats, here after
	// a collection (gc=1), so HeapInuse is live memory; a failure leaves the
	// heap unknown (0), not the RSS.
	if text, err := s.pprofText("/debug/pprof/heap?gc=1&debug=1"); err == nil {
		m.HeapInuse = memStat(text, "# HeapInuse = ")
	}
	if text, err := s.pprofText("/debug/pprof/goroutine?debug=1"); err == nil {
		if _, rest, ok := strings.Cut(text, "goroutine profile: total "); ok {
			m.Goroutines, _ = strconv.Atoi(strings.Fields(rest)[0])
		}
	}
	return m, nil
}

// PeakRSS returns the peak resident set size of the process (VmHWM), in bytes.
func (s *Server) PeakRSS() (int64, error) {
	m, err := s.Memory()
	return m.PeakRSS, err
}

// Profile saves a pprof profile (path such as /debug/pprof/profile?seconds=20)
// to w.
func (s *Server) Profile(ctx context.Context, path string, w io.Writer) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, "http://"+s.PprofAddr+path, nil)
	if err != nil {
		return err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("GET %s: %s", path, resp.Status)
	}
	_, err = io.Copy(w, resp.Body)
	return err
}

func (s *Server) pprofText(path string) (string, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	var b strings.Builder
	err := s.Profile(ctx, path, &b)
	return b.String(), err
}

// Output is the end of what the process wrote.
func (s *Server) Output() string {
	if s.proc == nil {
		return ""
	}
	return s.proc.output()
}

func statusKB(status []byte, key string) (int64, error) {
	sc := bufio.NewScanner(bytes.NewReader(status))
	for sc.Scan() {
		if v, ok := strings.CutPrefix(sc.Text(), key); ok {
			kb, err := strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(v), " kB"), 10, 64)
			if err != nil {
				return 0, fmt.Errorf("parse %s %q: %w", key, v, err)
			}
			return kb << 10, nil
		}
	}
	return 0, fmt.Errorf("no %s in the process status", key)
}

func memStat(text, prefix string) int64 {
	_, rest, ok := strings.Cut(text, prefix)
	if !ok {
		return 0
	}
	n, _ := strconv.ParseInt(strings.Fields(rest)[0], 10, 64)
	return n
}

// freeAddr returns a 127.0.0.1 address with a port free right now.
func freeAddr() (string, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", err
	}
	defer ln.Close()
	return ln.Addr().String(), nil
}

// lineWatcher passes output to tail and reports the first submatch of re.
type lineWatcher struct {
	re    *regexp.Regexp
	found chan string
	tail  *tailBuffer

	mu      sync.Mutex
	partial []byte
	done    bool
}

func (w *lineWatcher) Write(b []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	_, _ = w.tail.Write(b)
	if w.done {
		return len(b), nil
	}
	w.partial = append(w.partial, b...)
	for {
		i := bytes.IndexByte(w.partial, '\n')
		if i < 0 {
			break
		}
		line := w.partial[:i]
		w.partial = w.partial[i+1:]
		if m := w.re.FindSubmatch(line); m != nil {
			w.done = true
			w.partial = nil
			w.found <- string(m[1])
			break
		}
	}
	return len(b), nil
}
