package harness

import (
	"archive/tar"
	"compress/gzip"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"os/exec"
	"path"
	"path/filepath"
	"strings"
	"testing"
)

// Oras runs the real oras CLI with an empty HOME, so no user credentials or
// configuration change what it does.
type Oras struct {
	// Bin is the oras binary.
	Bin string
	// Home is the HOME the CLI runs with.
	Home string
	// Env is added to its environment (KEY=VALUE), e.g. SSL_CERT_FILE.
	Env []string
}

// NewOras finds the oras binary (see OrasBinary) or fails t.
func NewOras(t testing.TB) *Oras {
	t.Helper()
	bin, err := OrasBinary()
	if err != nil {
		t.Fatal(err)
	}
	return &Oras{Bin: bin, Home: t.TempDir()}
}

// Try runs oras with args in dir ("" for the working directory) and returns
// its combined output and error; it never fails t.
func (o *Oras) Try(t testing.TB, dir string, args ...string) (string, error) {
	t.Helper()
	cmd := exec.CommandContext(t.Context(), o.Bin, args...)
	cmd.Dir = dir
	cmd.Env = append(append(os.Environ(), "HOME="+o.Home, "DOCKER_CONFIG="+filepath.Join(o.Home, ".docker")), o.Env...)
	out, err := cmd.CombinedOutput()
	return string(out), err
}

// Run runs oras like Try and fails t unless it exits 0.
func (o *Oras) Run(t testing.TB, dir string, args ...string) string {
	t.Helper()
	out, err := o.Try(t, dir, args...)
	if err != nil {
		t.Fatalf("oras %s: %v\n%s", strings.Join(args, " "), err, tail(out, 4000))
	}
	return out
}

// Tags lists the tags of an OCI repository (host/path, plain HTTP) with
// `oras repo tags`, in the registry's order.
func (o *Oras) Tags(t testing.TB, repo string) []string {
	t.Helper()
	return strings.Fields(o.Run(t, "", "repo", "tags", "--plain-http", repo))
}

// WriteFiles writes files (slash paths to contents) under dir.
func WriteFiles(t testing.TB, dir string, files map[string]string) {
	t.Helper()
	for p, text := range files {
		full := filepath.Join(dir, filepath.FromSlash(p))
		if err := os.MkdirAll(filepath.Dir(full), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(full, []byte(text), 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

// ReadFiles reads every regular file under dir into a map from slash path
// (relative to dir) to contents.
func ReadFiles(t testing.TB, dir string) map[string]string {
	t.Helper()
	got := map[string]string{}
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		if !d.Type().IsRegular() {
			return fmt.Errorf("%s is not a regular file", p)
		}
		data, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		rel, err := filepath.Rel(dir, p)
		if err != nil {
			return err
		}
		got[filepath.ToSlash(rel)] = string(data)
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return got
}

// maxUntar bounds what UntarGzip reads, as GitOps agents bound artifacts.
const maxUntar = 64 << 20

// UntarGzip reads a tar+gzip stream the way a GitOps agent unpacks an OCI
// layer (Flux's tar.Untar: gunzip, then every entry in turn): it returns
// the regular files by slash path and refuses entries that would escape the
// target directory, links and devices. Directory entries are skipped.
func UntarGzip(r io.Reader) (map[string]string, error) {
	zr, err := gzip.NewReader(r)
	if err != nil {
		return nil, fmt.Errorf("gzip: %w", err)
	}
	defer zr.Close()
	tr := tar.NewReader(io.LimitReader(zr, maxUntar))
	files := map[string]string{}
	for {
		h, err := tr.Next()
		if errors.Is(err, io.EOF) {
			return files, nil
		}
		if err != nil {
			return nil, fmt.Errorf("tar: %w", err)
		}
		name := h.Name
		if path.IsAbs(name) || strings.Contains(name, `\`) || !fs.ValidPath(strings.TrimSuffix(path.Clean(name), "/")) {
			return nil, fmt.Errorf("tar entry %q escapes the target directory", name)
		}
		switch h.Typeflag {
		case tar.TypeDir:
			continue
		case tar.TypeReg:
		default:
			return nil, fmt.Errorf("tar entry %q has type %q; only files and directories are expected", name, h.Typeflag)
		}
		data, err := io.ReadAll(tr)
		if err != nil {
			return nil, fmt.Errorf("tar entry %q: %w", name, err)
		}
		p := path.Clean(name)
		if _, dup := files[p]; dup {
			return nil, fmt.Errorf("tar entry %q appears twice", name)
		}
		files[p] = string(data)
	}
}
