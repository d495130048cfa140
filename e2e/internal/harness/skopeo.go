package harness

import (
	"bytes"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// Skopeo runs the real skopeo CLI isolated from the machine's containers
// configuration: its own trust policy (accept anything: these are unsigned
// test artifacts), an empty registries.conf, no credentials, its own
// temporary directory.
type Skopeo struct {
	// Bin is the skopeo binary.
	Bin string
	// Home is the HOME (and configuration directory) the CLI runs with.
	Home string
}

// SkopeoBinary returns skopeo: $PKGSERVER_SKOPEO_BIN, else skopeo on PATH.
func SkopeoBinary() (string, error) {
	if p := os.Getenv(EnvSkopeoBin); p != "" {
		return p, nil
	}
	p, err := exec.LookPath("skopeo")
	if err != nil {
		return "", errors.New("skopeo binary not found ($" + EnvSkopeoBin + " or PATH); run `make tools`")
	}
	return p, nil
}

// NewSkopeo finds the skopeo binary (see SkopeoBinary) and writes its
// configuration, or fails t.
func NewSkopeo(t testing.TB) *Skopeo {
	t.Helper()
	bin, err := SkopeoBinary()
	if err != nil {
		t.Fatal(err)
	}
	s := &Skopeo{Bin: bin, Home: t.TempDir()}
	for _, d := range []string{"registries.d", "tmp", "run"} {
		if err := os.Mkdir(filepath.Join(s.Home, d), 0o700); err != nil {
			t.Fatal(err)
		}
	}
	WriteFiles(t, s.Home, map[string]string{
		"policy.json":     `{"default": [{"type": "insecureAcceptAnything"}]}`,
		"registries.conf": "",
	})
	return s
}

// Try runs skopeo with args and returns its standard output, standard
// error and error; it never fails t.
func (s *Skopeo) Try(t testing.TB, args ...string) (stdout, stderr string, err error) {
	t.Helper()
	global := []string{
		"--policy", filepath.Join(s.Home, "policy.json"),
		"--registries.d", filepath.Join(s.Home, "registries.d"),
		"--tmpdir", filepath.Join(s.Home, "tmp"),
	}
	cmd := exec.CommandContext(t.Context(), s.Bin, append(global, args...)...)
	cmd.Env = append(os.Environ(),
		"HOME="+s.Home,
		"XDG_RUNTIME_DIR="+filepath.Join(s.Home, "run"),
		"XDG_CONFIG_HOME="+s.Home,
		"DOCKER_CONFIG="+filepath.Join(s.Home, ".docker"),
		"REGISTRY_AUTH_FILE="+filepath.Join(s.Home, "auth.json"),
		"CONTAINERS_REGISTRIES_CONF="+filepath.Join(s.Home, "registries.conf"),
	)
	var out, errOut bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errOut
	err = cmd.Run()
	return out.String(), errOut.String(), err
}

// Run runs skopeo like Try and fails t unless it exits 0; it returns the
// standard output (exactly: `inspect --raw` prints the manifest's bytes).
func (s *Skopeo) Run(t testing.TB, args ...string) string {
	t.Helper()
	out, errOut, err := s.Try(t, args...)
	if err != nil {
		t.Fatalf("skopeo %s: %v\n%s%s", strings.Join(args, " "), err, tail(out, 2000), tail(errOut, 2000))
	}
	return out
}
