package harness

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// EnvKubectlBin names the environment variable pointing at the kubectl binary.
const EnvKubectlBin = "PKGSERVER_KUBECTL_BIN"

// runTimeout bounds one command-line run.
const runTimeout = 60 * time.Second

// BuildCommand compiles ./cmd/<name> of the module at root into dir and
// returns the binary's path.
func BuildCommand(root, dir, name string) (string, error) {
	bin := filepath.Join(dir, name)
	cmd := exec.Command("go", "build", "-o", bin, "./cmd/"+name)
	cmd.Dir = root
	out, err := cmd.CombinedOutput()
	if err != nil {
		return "", fmt.Errorf("go build ./cmd/%s: %v\n%s", name, err, out)
	}
	return bin, nil
}

// KubectlBinary returns the kubectl CLI: $PKGSERVER_KUBECTL_BIN, else kubectl on PATH.
func KubectlBinary() (string, error) {
	if p := os.Getenv(EnvKubectlBin); p != "" {
		return p, nil
	}
	p, err := exec.LookPath("kubectl")
	if err != nil {
		return "", errors.New("kubectl binary not found ($" + EnvKubectlBin + " or PATH)")
	}
	return p, nil
}

// CLI runs one command-line program in a clean environment: only PATH, a
// HOME of its own (so no user configuration or cache is read) and Env.
type CLI struct {
	// Bin is the program.
	Bin string
	// Args come before the arguments of every run (global flags).
	Args []string
	// Env is added to the environment, as KEY=VALUE.
	Env []string
	// Dir is the working directory.
	Dir string
}

// NewCLI returns a CLI for bin with a fresh HOME and working directory under
// t.TempDir().
func NewCLI(t testing.TB, bin string, args ...string) *CLI {
	t.Helper()
	home := t.TempDir()
	return &CLI{Bin: bin, Args: args, Env: []string{"HOME=" + home}, Dir: home}
}

// Result is how one run ended.
type Result struct {
	Args           []string
	Stdout, Stderr string
	// Code is the exit code (-1 when killed).
	Code int
}

func (r *Result) String() string {
	return fmt.Sprintf("%s\nexit code %d\nstdout:\n%s\nstderr:\n%s", strings.Join(r.Args, " "), r.Code, tail(r.Stdout, 4000), tail(r.Stderr, 4000))
}

func (c *CLI) command(ctx context.Context, args []string) *exec.Cmd {
	all := append(append([]string{}, c.Args...), args...)
	cmd := exec.CommandContext(ctx, c.Bin, all...)
	cmd.Dir = c.Dir
	cmd.Env = append([]string{"PATH=" + os.Getenv("PATH")}, c.Env...)
	return cmd
}

// Run runs the program with args and stdin (may be empty) and returns how it
// ended. It fails t only when the program cannot be started or overruns.
func (c *CLI) Run(t testing.TB, stdin string, args ...string) *Result {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), runTimeout)
	defer cancel()
	cmd := c.command(ctx, args)
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	if stdin != "" {
		cmd.Stdin = strings.NewReader(stdin)
	}
	err := cmd.Run()
	r := &Result{Args: append([]string{filepath.Base(c.Bin)}, append(append([]string{}, c.Args...), args...)...), Stdout: out.String(), Stderr: errb.String()}
	var ee *exec.ExitError
	switch {
	case err == nil:
	case errors.As(err, &ee):
		r.Code = ee.ExitCode()
	default:
		t.Fatalf("%s: %v", strings.Join(r.Args, " "), err)
	}
	if ctx.Err() != nil {
		t.Fatalf("%s: still running after %s\n%s", strings.Join(r.Args, " "), runTimeout, r)
	}
	return r
}

// OK runs the program and fails t unless it exits 0 with nothing on stderr
// (no warning of any kind). It returns stdout.
func (c *CLI) OK(t testing.TB, stdin string, args ...string) string {
	t.Helper()
	r := c.Run(t, stdin, args...)
	if r.Code != 0 || r.Stderr != "" {
		t.Fatalf("want exit code 0 and an empty stderr:\n%s", r)
	}
	return r.Stdout
}

// Fail runs the program and fails t unless it exits with code. It returns
// the result for checks of the message.
func (c *CLI) Fail(t testing.TB, code int, stdin string, args ...string) *Result {
	t.Helper()
	r := c.Run(t, stdin, args...)
	if r.Code != code {
		t.Fatalf("want exit code %d:\n%s", code, r)
	}
	return r
}

// Stream is a program running in the background whose stdout is read line
// by line, for example `kubectl get -w`.
type Stream struct {
	args   string
	cmd    *exec.Cmd
	lines  chan string
	stderr *syncBuffer
	seen   []string
	done   chan struct{}
}

// Start runs the program in the background. It is killed in t.Cleanup.
func (c *CLI) Start(t testing.TB, args ...string) *Stream {
	t.Helper()
	cmd := c.command(context.Background(), args)
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	s := &Stream{
		args: strings.Join(append([]string{filepath.Base(c.Bin)}, append(append([]string{}, c.Args...), args...)...), " "),
		cmd:  cmd, lines: make(chan string, 1024), stderr: &syncBuffer{}, done: make(chan struct{}),
	}
	cmd.Stderr = s.stderr
	if err := cmd.Start(); err != nil {
		t.Fatalf("%s: %v", s.args, err)
	}
	go func() {
		defer close(s.lines)
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			s.lines <- sc.Text()
		}
	}()
	go func() {
		_ = cmd.Wait()
		close(s.done)
	}()
	t.Cleanup(s.Stop)
	return s
}

// Stop kills the program and waits for it.
func (s *Stream) Stop() {
	select {
	case <-s.done:
		return
	default:
	}
	_ = s.cmd.Process.Kill()
	<-s.done
}

// Stderr is what the program wrote to stderr so far.
func (s *Stream) Stderr() string { return s.stderr.String() }

// WaitFor reads lines until one satisfies match and returns it, failing t
// when none does within timeout or the program ends first.
func (s *Stream) WaitFor(t testing.TB, timeout time.Duration, what string, match func(line string) bool) string {
	t.Helper()
	deadline := time.After(timeout)
	for {
		select {
		case line, ok := <-s.lines:
			if !ok {
				t.Fatalf("%s ended before a line with %s; lines so far:\n%s\nstderr:\n%s", s.args, what, strings.Join(s.seen, "\n"), s.Stderr())
			}
			s.seen = append(s.seen, line)
			if match(line) {
				return line
			}
		case <-deadline:
			t.Fatalf("%s: no line with %s within %s; lines so far:\n%s\nstderr:\n%s", s.args, what, timeout, strings.Join(s.seen, "\n"), s.Stderr())
		}
	}
}
