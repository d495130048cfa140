package server

import (
	"bufio"
	"context"
	"log/slog"
	"net/http"
	"testing"
	"time"
)

// Shutting the server down ends open watches at once, with the end of the
// stream (the client watches again): an open watch held a SIGTERM for the
// whole shutdown timeout, then the server exited with an error.
func TestShutdownEndsWatches(t *testing.T) {
	base, stop := startServer(t)
	resp, err := http.Get(base + "/apis/pkg.pkgserver.dev/v1alpha1/namespaces/default/packagerevisions?watch=true")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("watch: %s", resp.Status)
	}
	ended := make(chan error, 1)
	go func() {
		sc := bufio.NewScanner(resp.Body)
		for sc.Scan() {
		}
		ended <- sc.Err()
	}()
	time.Sleep(300 * time.Millisecond)
	if d := stop(); d > 5*time.Second {
		t.Errorf("stopped after %s", d)
	}
	select {
	case err := <-ended:
		if err != nil {
			t.Errorf("the watch ended with %v, want the end of its stream", err)
		}
	case <-time.After(5 * time.Second):
		t.Error("the watch is still open")
	}
}

// startServer runs the default server on a free port. stop cancels it,
// waits for Run to return (failing the test on an error or after 10 s) and
// says how long that took.
func startServer(t *testing.T) (base string, stop func() time.Duration) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	addrc := make(chan string, 1)
	done := make(chan error, 1)
	go func() {
		done <- Run(ctx, Config{Listen: "127.0.0.1:0", DataDir: t.TempDir(), Logger: slog.New(slog.DiscardHandler),
			ShutdownTimeout: 20 * time.Second, Started: func(a string) { addrc <- a }})
	}()
	select {
	case a := <-addrc:
		base = "http://" + a
	case err := <-done:
		t.Fatal(err)
	}
	return base, func() time.Duration {
		start := time.Now()
		cancel()
		select {
		case err := <-done:
			if err != nil {
				t.Fatalf("Run: %v", err)
			}
		case <-time.After(10 * time.Second):
			t.Fatal("the server did not stop within 10s")
		}
		return time.Since(start)
	}
}
