package e2e

import (
	"encoding/json"
	"io"
	"net/http"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"pkgserver.dev/pkgserver/e2e/internal/harness"
)

// gcResult is the JSON that pkgserver gc prints.
type gcResult struct {
	BlobsRemoved int   `json:"blobsRemoved"`
	BytesFreed   int64 `json:"bytesFreed"`
}

// TestGarbageCollection: the layer a draft no longer uses is collected on
// demand (pkgserver gc --server), the run shows on /metrics, every revision
// still reads after a restart, and pkgserver gc --data-dir refuses the
// directory while the server holds it and collects once it stopped.
func TestGarbageCollection(t *testing.T) {
	dir := t.TempDir()
	srv := harness.Start(t, harness.Options{Bin: serverBin, DataDir: dir, MaxBodyBytes: maxBody,
		Args: []string{"--gc-interval", "0", "--gc-grace-period", "1ms"}})
	c := harness.NewClient(srv.URL, namespace)
	c.User = approver
	e := &env{b: backends[0], srv: srv, c: c}
	e.createRepo(t, "gc", false)
	pr := createDraft(t, c, catalogID("gc", "", "app", "main"), initTask("app"), nil)
	putFiles(t, c, pr.Name, map[string]string{"cm.yaml": configMapYAML("app", "first")})
	files := map[string]string{"cm.yaml": configMapYAML("app", "second")}
	putFiles(t, c, pr.Name, files) // the first layer is garbage now
	published := publish(t, c, pr.Name)
	time.Sleep(10 * time.Millisecond) // past the grace period

	cli := harness.NewCLI(t, serverBin)
	var res gcResult
	if err := json.Unmarshal([]byte(cli.OK(t, "", "gc", "--server", srv.URL)), &res); err != nil {
		t.Fatal(err)
	}
	if res.BlobsRemoved == 0 || res.BytesFreed == 0 {
		t.Fatalf("pkgserver gc --server = %+v, want the unused layer removed", res)
	}
	t.Logf("pkgserver gc --server: %+v", res)
	if got := metric(t, srv.URL, "pkgserver_gc_blobs_removed_total"); got != float64(res.BlobsRemoved) {
		t.Errorf("pkgserver_gc_blobs_removed_total = %v, want %d", got, res.BlobsRemoved)
	}
	if r := cli.Fail(t, 1, "", "gc", "--data-dir", dir); !strings.Contains(r.Stderr, "in use") {
		t.Errorf("pkgserver gc --data-dir on a held directory:\n%s", r)
	}

	e.srv.Stop(t)
	if err := json.Unmarshal([]byte(cli.OK(t, "", "gc", "--data-dir", dir)), &res); err != nil {
		t.Fatal(err)
	}
	e.startAgain(t) // nothing cached: files are read from the store
	assertFiles(t, "after garbage collection", e.c.GetResources(t, published.Name).Spec.Resources, files)
}

// metric reads one unlabelled value from /metrics.
func metric(t *testing.T, base, name string) float64 {
	t.Helper()
	resp, err := http.Get(base + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	m := regexp.MustCompile(`(?m)^` + name + ` (\S+)$`).FindSubmatch(body)
	if m == nil {
		t.Fatalf("/metrics has no %s", name)
	}
	v, err := strconv.ParseFloat(string(m[1]), 64)
	if err != nil {
		t.Fatal(err)
	}
	return v
}
