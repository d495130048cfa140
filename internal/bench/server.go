package bench

import (
	"bufio"
	"bytes"
	"fmt"
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
	Addr    string // host:port of the running process

	proc *process
}

// listening matches the line pkgserver logs once it serves.
var listening = regexp.MustCompile(`pkgserver listening.*address=http://([^ ]+)`)

// StartServer starts pkgserver on dataDir and waits until it serves.
func StartServer(bin, dataDir string) (*Server, error) {
	s := &Server{Bin: bin, DataDir: dataDir}
	return s, s.Start()
}

// Start starts the process; it returns once pkgserver logged that it listens.
func (s *Server) Start() error {
	found := make(chan string, 1)
	tail := newTail()
	w := &lineWatcher{re: listening, found: found, tail: tail}
	cmd := exec.Command(s.Bin, "--listen", "127.0.0.1:0", "--data-dir", s.DataDir, "--log-level", "info")
	cmd.Stderr = w
	cmd.Stdout = w
	p, err := startProcess(cmd, tail)
	if err != nil {
		return err
	}
	select {
	case addr := <-found:
		s.Addr, s.proc = addr, p
		return nil
	case <-p.done:
		return fmt.Errorf("pkgserver exited before listening: %v; output:\n%s", p.err, p.output())
	case <-time.After(60 * time.Second):
		p.kill()
		return fmt.Errorf("pkgserver did not start within 60s; output:\n%s", p.output())
	}
}

// Stop stops the process (SIGTERM, then kill).
func (s *Server) Stop() {
	if s.proc != nil {
		s.proc.stop(10 * time.Second)
		s.proc = nil
	}
}

// Restart stops and starts the server again on the same directory.
func (s *Server) Restart() error {
	s.Stop()
	return s.Start()
}

// URL is the base URL of the API.
func (s *Server) URL() string { return "http://" + s.Addr }

// PeakRSS returns the peak resident set size of the process (VmHWM), in bytes.
func (s *Server) PeakRSS() (int64, error) {
	if s.proc == nil {
		return 0, fmt.Errorf("pkgserver is not running")
	}
	return peakRSS(s.proc.pid())
}

// Output is the end of what the process wrote.
func (s *Server) Output() string {
	if s.proc == nil {
		return ""
	}
	return s.proc.output()
}

func peakRSS(pid int) (int64, error) {
	data, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0, err
	}
	sc := bufio.NewScanner(bytes.NewReader(data))
	for sc.Scan() {
		if v, ok := strings.CutPrefix(sc.Text(), "VmHWM:"); ok {
			kb, err := strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(v), " kB"), 10, 64)
			if err != nil {
				return 0, fmt.Errorf("parse VmHWM %q: %w", v, err)
			}
			return kb << 10, nil
		}
	}
	return 0, fmt.Errorf("no VmHWM in /proc/%d/status", pid)
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
