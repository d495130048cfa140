package layout_test

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"

	"pkgserver.dev/pkgserver/pkg/store/layout"
)

// TestOpenCleansTemps simulates writes interrupted by a crash: a torn temp
// index.json and a half-written temp blob. Open removes both and the
// repository still reads as it was before.
func TestOpenCleansTemps(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	s := open(t, dir)
	repo, _ := s.Repository(ctx, "a/b")
	desc := pushManifest(t, repo, "x", nil)
	if err := repo.Tag(ctx, desc, "v1"); err != nil {
		t.Fatal(err)
	}
	s.Close()
	// A clean stop leaves a marker that spares the next Open its walk; a
	// crash leaves none.
	if err := os.Remove(filepath.Join(dir, ".clean")); err != nil {
		t.Fatalf("no clean-stop marker after Close: %v", err)
	}

	repoDir := layout.RepositoryDir(dir, "a/b")
	leftovers := []string{
		filepath.Join(repoDir, ".tmp-index.json-123"),
		filepath.Join(repoDir, "blobs", "sha256", ".tmp-blob-456"),
	}
	for _, p := range leftovers {
		if err := os.WriteFile(p, []byte(`{"schemaVersion":2,"manif`), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	s = open(t, dir)
	if _, err := os.Stat(filepath.Join(dir, ".clean")); !os.IsNotExist(err) {
		t.Errorf("a clean-stop marker while open: %v", err)
	}
	for _, p := range leftovers {
		if _, err := os.Stat(p); !os.IsNotExist(err) {
			t.Errorf("%s survived Open: %v", p, err)
		}
	}
	repo, _ = s.Repository(ctx, "a/b")
	if got, err := repo.Resolve(ctx, "v1"); err != nil || got.Digest != desc.Digest {
		t.Fatalf("Resolve after cleanup = %v, %v", got, err)
	}
	// Open takes the marker away, so a crash after it is walked again.
	s.Close()
	s = open(t, dir)
	if _, err := os.Stat(filepath.Join(dir, ".clean")); !os.IsNotExist(err) {
		t.Errorf("the clean-stop marker is still there after Open: %v", err)
	}
}

// envCrashDir makes the test binary act as the writer that TestKill9 kills.
const envCrashDir = "PKGSERVER_LAYOUT_CRASH_DIR"

// TestKill9 runs a child process that pushes and tags in a loop, printing each
// tag once written, kills it with SIGKILL at a random moment, reopens the
// directory and checks every reported tag resolves and every index.json parses.
func TestKill9(t *testing.T) {
	if dir := os.Getenv(envCrashDir); dir != "" {
		crashWriter(t, dir)
		return
	}
	if testing.Short() {
		t.Skip("starts child processes; skipped in -short mode")
	}
	dir := t.TempDir()
	written := map[string]bool{}
	for round := range 3 {
		for _, tag := range runAndKill(t, dir, round, time.Duration(100+150*round)*time.Millisecond) {
			written[tag] = true
		}
	}
	if len(written) == 0 {
		t.Fatal("child reported no writes before being killed")
	}
	s := open(t, dir)
	ctx := context.Background()
	for tag := range written {
		repoName, ref, _ := strings.Cut(tag, ":")
		repo, err := s.Repository(ctx, repoName)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := repo.Resolve(ctx, ref); err != nil {
			t.Errorf("reported tag %s lost after kill -9: %v", tag, err)
		}
	}
	err := filepath.WalkDir(filepath.Join(dir, "repositories"), func(p string, d fs.DirEntry, err error) error {
		if err == nil && d.Name() == "index.json" {
			readIndex(t, p)
		}
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("%d tags written across 3 kills", len(written))
}

// runAndKill starts the writer on dir, kills it after d and returns the tags it reported.
func runAndKill(t *testing.T, dir string, round int, d time.Duration) []string {
	t.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^TestKill9$", "-test.count=1")
	cmd.Env = append(os.Environ(), envCrashDir+"="+dir, fmt.Sprintf("PKGSERVER_LAYOUT_CRASH_ROUND=%d", round))
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	var tags []string
	done := make(chan struct{})
	go func() {
		defer close(done)
		sc := bufio.NewScanner(out)
		for sc.Scan() {
			if tag, ok := strings.CutPrefix(sc.Text(), "written "); ok {
				tags = append(tags, tag)
			}
		}
	}()
	time.Sleep(d)
	if err := cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	<-done // the pipe holds every line printed before the kill
	_ = cmd.Wait()
	return tags
}

// crashWriter is the child: it writes until killed, announcing each tag after
// Tag returned, so that the parent knows it must survive.
func crashWriter(t *testing.T, dir string) {
	s, err := layout.Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	round := os.Getenv("PKGSERVER_LAYOUT_CRASH_ROUND")
	for i := 0; ; i++ {
		name := fmt.Sprintf("crash/repo%d", i%3)
		repo, err := s.Repository(ctx, name)
		if err != nil {
			t.Fatal(err)
		}
		desc := pushManifest(t, repo, fmt.Sprintf("r%s-%d", round, i), nil)
		tag := fmt.Sprintf("r%s-%d", round, i)
		if err := repo.Tag(ctx, desc, tag); err != nil {
			t.Fatal(err)
		}
		fmt.Printf("written %s:%s\n", name, tag)
	}
}

// TestCloseDuringWrite: a stop that comes while a blob is still being
// written (a slow upload when the shutdown timeout ran out) is no clean
// stop: the process ends with the temp file there, and the next Open must
// walk for it. Writes after Close fail instead of writing behind a marker.
func TestCloseDuringWrite(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	s := open(t, dir)
	repo, _ := s.Repository(ctx, "a/b")
	pushManifest(t, repo, "x", nil) // the repository exists
	data := []byte("a blob that arrives slowly")
	desc := ocispec.Descriptor{MediaType: "application/octet-stream", Digest: digest.FromBytes(data), Size: int64(len(data))}
	pr, pw := io.Pipe()
	done := make(chan error, 1)
	go func() { done <- repo.Push(ctx, desc, pr) }()
	if _, err := pw.Write(data[:5]); err != nil { // the temp file exists now
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	temps := func() []string {
		var out []string
		filepath.WalkDir(filepath.Join(dir, "repositories"), func(p string, d fs.DirEntry, err error) error {
			if err == nil && strings.HasPrefix(d.Name(), ".tmp-") {
				out = append(out, p)
			}
			return nil
		})
		return out
	}
	if len(temps()) == 0 {
		t.Fatal("no temp file while the blob is written")
	}
	late := []byte("written after Close")
	lateDesc := ocispec.Descriptor{MediaType: "application/octet-stream", Digest: digest.FromBytes(late), Size: int64(len(late))}
	if err := repo.Push(ctx, lateDesc, bytes.NewReader(late)); !errors.Is(err, os.ErrClosed) {
		t.Errorf("a write after Close: %v; want os.ErrClosed", err)
	}
	// The process ends here with the write cut off; the next one opens.
	s2 := open(t, dir)
	defer s2.Close()
	if left := temps(); len(left) > 0 {
		t.Errorf("temp files of a write cut off by the stop survived Open: %v", left)
	}
	pw.CloseWithError(errors.New("cut off"))
	<-done
}
