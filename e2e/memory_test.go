package e2e

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/opencontainers/go-digest"

	"pkgserver.dev/pkgserver/e2e/internal/harness"
	"pkgserver.dev/pkgserver/internal/hostile"
)

// memoryBound is what one hostile request may add to the server's memory
// (issue 9).
const memoryBound = 256 << 20

// hostileBlobLimit is the --max-blob-bytes of TestHostileInputs: lower than
// the default so the oversized upload stays quick; uploads stream to disk
// whatever the limit.
const hostileBlobLimit = 16 << 20

// hostileEnv is a fresh server with one draft, for one hostile request.
type hostileEnv struct {
	*env
	name  string            // the draft
	rv    string            // its resourceVersion before the request
	files map[string]string // its files before the request
}

// raw sends a request with any content type and returns code and body.
func (h *hostileEnv) raw(t *testing.T, method, path, contentType string, body []byte) (int, []byte) {
	t.Helper()
	var rd io.Reader
	if body != nil {
		rd = bytes.NewReader(body)
	}
	req, err := http.NewRequestWithContext(t.Context(), method, h.srv.URL+path, rd)
	if err != nil {
		t.Fatal(err)
	}
	if contentType != "" {
		req.Header.Set("Content-Type", contentType)
	}
	resp, err := h.c.HTTP.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, path, err)
	}
	defer resp.Body.Close()
	data, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, data
}

// refused checks a refusal: the code, and a message naming the flag.
func refused(t *testing.T, code int, body []byte, wantCode int, flag string) {
	t.Helper()
	if code != wantCode {
		t.Fatalf("code %d, want %d: %.2000s", code, wantCode, body)
	}
	if !bytes.Contains(body, []byte("(--"+flag+")")) {
		t.Fatalf("the refusal does not name --%s: %.2000s", flag, body)
	}
}

// prr is the PackageRevisionResources JSON of the draft with files added.
func (h *hostileEnv) prr(t *testing.T, add map[string]string) []byte {
	t.Helper()
	prr := h.c.GetResources(t, h.name)
	for p, text := range add {
		prr.Spec.Resources[p] = text
	}
	data, err := json.Marshal(prr)
	if err != nil {
		t.Fatal(err)
	}
	return data
}

// putFile sends the draft with one more file and expects a 422 naming flag.
func (h *hostileEnv) putFile(t *testing.T, file, text, flag string) {
	t.Helper()
	code, body := h.raw(t, "PUT", h.c.ResourcesPath(h.name), "application/json", h.prr(t, map[string]string{file: text}))
	refused(t, code, body, http.StatusUnprocessableEntity, flag)
	if !bytes.Contains(body, []byte(`spec.resources[\"`+file+`\"]`)) {
		t.Errorf("the refusal does not name the file %s: %.1000s", file, body)
	}
}

// hostileCases are the hostile inputs of issue 9, each just over its limit
// (or, for the densest YAML, at it), with the refusal each must get.
var hostileCases = []struct {
	name string
	send func(t *testing.T, h *hostileEnv)
}{
	{"alias bomb", func(t *testing.T, h *hostileEnv) {
		h.putFile(t, "bomb.yaml", hostile.AliasBomb(9, 10), "max-yaml-nodes")
	}},
	{"aliases across documents", func(t *testing.T, h *hostileEnv) {
		// Every document stays under yaml.v3's own alias ratio.
		doc := hostile.AliasFanout(3000, 100)
		h.putFile(t, "fanout.yaml", strings.Repeat(doc+"---\n", 40)+doc, "max-yaml-nodes")
	}},
	{"deep nesting", func(t *testing.T, h *hostileEnv) {
		h.putFile(t, "deep.yaml", hostile.Nested(101), "max-yaml-depth")
	}},
	{"document count", func(t *testing.T, h *hostileEnv) {
		h.putFile(t, "many.yaml", strings.Repeat("---\n", 1_500_000), "max-yaml-documents")
	}},
	{"document over the byte limit", func(t *testing.T, h *hostileEnv) {
		h.putFile(t, "dense.yaml", hostile.Dense(1<<20+1), "max-yaml-document-bytes")
	}},
	{"densest document at the byte limit", func(t *testing.T, h *hostileEnv) {
		// Parsed in full (it is within the byte limit), then over the node budget.
		h.putFile(t, "dense.yaml", hostile.Dense(1<<20), "max-yaml-nodes")
	}},
	{"densest mapping at the byte limit", func(t *testing.T, h *hostileEnv) {
		h.putFile(t, "densemap.yaml", hostile.DenseMap(1<<20), "max-yaml-nodes")
	}},
	{"files per package", func(t *testing.T, h *hostileEnv) {
		add := map[string]string{}
		for i := range 1001 {
			add[fmt.Sprintf("f%d.txt", i)] = ""
		}
		code, body := h.raw(t, "PUT", h.c.ResourcesPath(h.name), "application/json", h.prr(t, add))
		refused(t, code, body, http.StatusUnprocessableEntity, "max-package-files")
	}},
	{"copy patch bomb", func(t *testing.T, h *hostileEnv) {
		// 1.5 KB that would copy 2^30 values of 24 bytes.
		code, body := h.raw(t, "PATCH", h.c.ResourcesPath(h.name), "application/json-patch+json", []byte(hostile.CopyPatch("/spec/x", 30)))
		refused(t, code, body, http.StatusRequestEntityTooLarge, "max-patch-copy-bytes")
	}},
	{"patch operation count", func(t *testing.T, h *hostileEnv) {
		ops := strings.Repeat(`{"op":"test","path":"/kind","value":"PackageRevisionResources"},`, 10_001)
		code, body := h.raw(t, "PATCH", h.c.ResourcesPath(h.name), "application/json-patch+json", []byte("["+strings.TrimSuffix(ops, ",")+"]"))
		refused(t, code, body, http.StatusRequestEntityTooLarge, "max-patch-operations")
	}},
	{"apply patch alias bomb", func(t *testing.T, h *hostileEnv) {
		code, body := h.raw(t, "PATCH", h.c.ResourcesPath(h.name)+"?fieldManager=test", "application/apply-patch+yaml", []byte(hostile.AliasBomb(9, 10)))
		refused(t, code, body, http.StatusRequestEntityTooLarge, "max-yaml-nodes")
	}},
	{"YAML body too deep", func(t *testing.T, h *hostileEnv) {
		code, body := h.raw(t, "PUT", h.c.ResourcesPath(h.name), "application/yaml", []byte("metadata: {name: "+h.name+"}\nspec: "+strings.Repeat("[", 200)+strings.Repeat("]", 200)+"\n"))
		refused(t, code, body, http.StatusRequestEntityTooLarge, "max-yaml-depth")
	}},
	{"duplicate keys, then a diff", func(t *testing.T, h *hostileEnv) {
		// Valid KRM, so it is stored; comparing it once cost an error per
		// pair of keys (18 million here).
		prr := h.c.GetResources(t, h.name)
		prr.Spec.Resources["dup.yaml"] = hostile.DuplicateKeys(6000)
		h.c.UpdateResources(t, prr)
		h.rv, h.files = h.c.GetRevision(t, h.name).ResourceVersion, h.c.GetResources(t, h.name).Spec.Resources
		code, body := h.raw(t, "GET", h.c.RevisionsPath(h.name)+"/diff", "", nil)
		if code != http.StatusUnprocessableEntity || !bytes.Contains(body, []byte("already defined")) {
			t.Fatalf("diff: %d %.1000s", code, body)
		}
	}},
	{"blob over the limit", func(t *testing.T, h *hostileEnv) {
		data := bytes.Repeat([]byte{'x'}, hostileBlobLimit+1)
		d := digest.FromBytes(data)
		code, body := h.raw(t, "POST", "/v2/plain/repo/blobs/uploads/?digest="+d.String(), "application/octet-stream", data)
		refused(t, code, body, http.StatusBadRequest, "max-blob-bytes")
		if !bytes.Contains(body, []byte("SIZE_INVALID")) {
			t.Errorf("code is not SIZE_INVALID: %s", body)
		}
		if code, _ := h.raw(t, "HEAD", "/v2/plain/repo/blobs/"+d.String(), "", nil); code != http.StatusNotFound {
			t.Errorf("the refused blob is there: %d", code)
		}
	}},
	{"upload sessions", func(t *testing.T, h *hostileEnv) {
		var open []string
		for range 16 {
			req, _ := http.NewRequestWithContext(t.Context(), "POST", h.srv.URL+"/v2/plain/repo/blobs/uploads/", nil)
			resp, err := h.c.HTTP.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			if resp.StatusCode != http.StatusAccepted {
				t.Fatalf("session %d: %d", len(open)+1, resp.StatusCode)
			}
			open = append(open, resp.Header.Get("Location"))
		}
		code, body := h.raw(t, "POST", "/v2/plain/repo/blobs/uploads/", "", nil)
		refused(t, code, body, http.StatusTooManyRequests, "max-upload-sessions-per-client")
		if !bytes.Contains(body, []byte("TOOMANYREQUESTS")) {
			t.Errorf("code is not TOOMANYREQUESTS: %s", body)
		}
		for _, loc := range open {
			if code, _ := h.raw(t, "DELETE", loc, "", nil); code != http.StatusNoContent {
				t.Errorf("cancel %s: %d", loc, code)
			}
		}
	}},
	{"tags per push", func(t *testing.T, h *hostileEnv) {
		cfg := []byte("{}")
		if code, body := h.raw(t, "POST", "/v2/plain/repo/blobs/uploads/?digest="+digest.FromBytes(cfg).String(), "application/octet-stream", cfg); code != http.StatusCreated {
			t.Fatalf("config blob: %d %s", code, body)
		}
		m := fmt.Sprintf(`{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json","config":{"mediaType":"application/vnd.oci.empty.v1+json","digest":%q,"size":2},"layers":[]}`, digest.FromBytes(cfg))
		q := ""
		for i := range 17 {
			q += fmt.Sprintf("&tag=t%d", i)
		}
		code, body := h.raw(t, "PUT", "/v2/plain/repo/manifests/"+digest.FromString(m).String()+"?"+q[1:], "application/vnd.oci.image.manifest.v1+json", []byte(m))
		refused(t, code, body, http.StatusBadRequest, "max-tags-per-push")
		if code, body := h.raw(t, "GET", "/v2/plain/repo/tags/list", "", nil); bytes.Contains(body, []byte(`"t0"`)) {
			t.Errorf("tags after a refused push: %d %s", code, body)
		}
	}},
}

// TestHostileInputs sends each hostile input to a fresh server and checks
// that it is refused with its limit named, that nothing changed, and that
// the server's peak memory rose by at most memoryBound.
func TestHostileInputs(t *testing.T) {
	var mu sync.Mutex
	peaks := map[string]int64{}
	t.Cleanup(func() {
		var b strings.Builder
		for _, c := range hostileCases {
			if p, ok := peaks[c.name]; ok {
				fmt.Fprintf(&b, "\n  %-36s +%4d MiB", c.name, p>>20)
			}
		}
		t.Logf("peak RSS above the baseline, per hostile request:%s", b.String())
	})
	for _, tc := range hostileCases {
		t.Run(tc.name, func(t *testing.T) {
			h := newHostileEnv(t, "--max-blob-bytes", strconv.Itoa(hostileBlobLimit))
			peak := measurePeak(t, h.srv.Pid(), func() { tc.send(t, h) })
			mu.Lock()
			peaks[tc.name] = peak
			mu.Unlock()
			if peak > memoryBound {
				t.Errorf("peak RSS rose by %d MiB, over %d MiB", peak>>20, memoryBound>>20)
			}
			if pr := h.c.GetRevision(t, h.name); pr.ResourceVersion != h.rv {
				t.Errorf("resourceVersion %s → %s: a refused request changed the draft", h.rv, pr.ResourceVersion)
			}
			assertFiles(t, "after the refusal", h.c.GetResources(t, h.name).Spec.Resources, h.files)
		})
	}
}

// newHostileEnv starts a server with args, a repository and a draft.
func newHostileEnv(t *testing.T, args ...string) *hostileEnv {
	t.Helper()
	srv := harness.Start(t, harness.Options{Bin: serverBin, DataDir: t.TempDir(), Args: args})
	e := &env{b: backends[0], srv: srv, c: harness.NewClient(srv.URL, namespace)}
	e.createRepo(t, "blueprints", false)
	id := catalogID("blueprints", "", "target", "ws")
	h := &hostileEnv{env: e, name: harness.RevisionName(id)}
	createDraft(t, e.c, id, initTask("a target"), nil)
	h.rv, h.files = e.c.GetRevision(t, h.name).ResourceVersion, e.c.GetResources(t, h.name).Spec.Resources
	return h
}

// measurePeak runs f and returns how far the resident memory of process pid
// rose above what it was before: from the kernel's peak (VmHWM, reset first
// through clear_refs) where it can be reset, and from samples every few
// milliseconds in any case.
func measurePeak(t *testing.T, pid int, f func()) int64 {
	t.Helper()
	base := procStatus(t, pid, "VmRSS")
	reset := os.WriteFile(fmt.Sprintf("/proc/%d/clear_refs", pid), []byte("5"), 0) == nil
	if !reset {
		t.Log("cannot reset the peak RSS (clear_refs): sampling only")
	}
	stop, sampled := make(chan struct{}), make(chan int64)
	go func() {
		high := base
		tick := time.NewTicker(2 * time.Millisecond)
		defer tick.Stop()
		for {
			select {
			case <-stop:
				sampled <- high
				return
			case <-tick.C:
				if rss, err := readStatus(pid, "VmRSS"); err == nil {
					high = max(high, rss)
				}
			}
		}
	}()
	f()
	close(stop)
	high := <-sampled
	if reset {
		high = max(high, procStatus(t, pid, "VmHWM"))
	}
	return max(high-base, 0)
}

func procStatus(t *testing.T, pid int, field string) int64 {
	t.Helper()
	v, err := readStatus(pid, field)
	if err != nil {
		t.Fatal(err)
	}
	return v
}

// readStatus reads a "kB" field of /proc/<pid>/status, in bytes.
func readStatus(pid int, field string) (int64, error) {
	f, err := os.Open(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0, err
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if v, ok := strings.CutPrefix(sc.Text(), field+":"); ok {
			kb, err := strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(v), " kB"), 10, 64)
			return kb << 10, err
		}
	}
	return 0, fmt.Errorf("no %s in /proc/%d/status", field, pid)
}
