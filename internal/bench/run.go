// Package bench is the pkgserver benchmark harness behind `make bench`
// (cmd/pkgbench). It runs pkgserver as a process on the embedded store and on
// a CNCF distribution registry behind a request-counting proxy, drives it
// through its HTTP API as clients do, pushes and pulls the same packages with
// oras-go for comparison, and reports latencies, throughput, memory and
// registry requests against the targets of issue 6.
package bench

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"time"

	configapi "pkgserver.dev/pkgserver/api/config/v1alpha1"
)

// Namespaces and repositories the run creates.
const (
	nsBench     = "bench"    // lifecycle, reads: repositories emb and reg
	nsListEmb   = "list-emb" // pre-filled embedded repository "fill"
	nsListReg   = "list-reg" // pre-filled remote repository "fill"
	fillRepo    = "fill"
	realmBench  = "bench"
	regPrefix   = "bench-reg" // OCI prefix of the remote lifecycle repository
	listPrefix  = "list-reg"  // OCI prefix of the pre-filled remote repository
	orasPrefix  = "oras"      // OCI prefix of the oras-go pushes
	embListPath = nsListEmb + "/" + fillRepo
)

// backend is one storage backend and what was measured on it.
type backend struct {
	name   string // embedded or remote
	repo   string // Repository in nsBench
	remote bool

	steps     [numSteps]Samples
	stepReqs  [numSteps][]Counts
	total     Samples
	seqRate   float64 // sequences per second, one client
	concRate  float64 // sequences per second, Concurrency clients
	published []string

	orasNA     string // why there is no oras-go comparison
	orasPush   Samples
	orasPull   Samples
	orasPushRq []Counts
	orasPullRq []Counts

	getWarm, resWarm, getCold, resCold         Samples
	getWarmRq, resWarmRq, getColdRq, resColdRq []Counts

	lists     map[int]*listResult
	coldStart time.Duration
	coldRq    Counts
	coldNA    string
}

// listResult is one list size on one backend.
type listResult struct {
	na       string
	items    int
	fill     time.Duration
	first    time.Duration
	firstRq  Counts
	warm     Samples
	warmRq   []Counts
	bytes    int
	peakRSS  int64
	packages int
}

type bench struct {
	cfg  Config
	log  io.Writer
	work string

	registry *Registry
	proxy    *Proxy
	server   *Server
	client   *Client
	pool     layerPool

	emb, reg *backend
	rep      *Report
}

// Run runs the whole benchmark and returns its report.
func Run(ctx context.Context, cfg Config) (*Report, error) {
	if err := cfg.validate(); err != nil {
		return nil, err
	}
	start := time.Now()
	b := &bench{cfg: cfg, log: cfg.Log, rep: &Report{Config: cfg, Machine: machine()}}
	if b.log == nil {
		b.log = io.Discard
	}
	defer b.close()
	if err := b.setup(ctx); err != nil {
		return nil, err
	}
	for _, phase := range []func(context.Context) error{b.lifecycle, b.orasSideBySide, b.reads, b.lists} {
		if err := phase(ctx); err != nil {
			if b.server != nil {
				return nil, fmt.Errorf("%w\npkgserver output (end):\n%s", err, lastLines(b.server.Output(), 20))
			}
			return nil, err
		}
	}
	b.report()
	b.rep.Duration = time.Since(start).Round(time.Second).String()
	if cfg.OnReport != nil {
		if err := cfg.OnReport(b.rep); err != nil {
			return nil, err
		}
	}
	return b.rep, nil
}

func (b *bench) logf(format string, args ...any) {
	fmt.Fprintf(b.log, "pkgbench: "+format+"\n", args...)
}

func (b *bench) setup(ctx context.Context) error {
	b.work = b.cfg.WorkDir
	if b.work == "" {
		dir, err := os.MkdirTemp("", "pkgbench-")
		if err != nil {
			return err
		}
		b.work = dir
	}
	serverBin := b.cfg.ServerBin
	if serverBin == "" {
		serverBin = filepath.Join(b.work, "pkgserver")
		b.logf("building pkgserver")
		out, err := exec.CommandContext(ctx, "go", "build", "-o", serverBin, "pkgserver.dev/pkgserver/cmd/pkgserver").CombinedOutput()
		if err != nil {
			return fmt.Errorf("build pkgserver: %v\n%s", err, out)
		}
	}
	regBin := b.cfg.RegistryBin
	if regBin == "" {
		var err error
		if regBin, err = registryBinary(); err != nil {
			return err
		}
	}
	regDir := filepath.Join(b.work, "registry")
	if err := os.MkdirAll(regDir, 0o755); err != nil {
		return err
	}
	var err error
	if b.registry, err = StartRegistry(regBin, regDir); err != nil {
		return err
	}
	if b.proxy, err = StartProxy(b.registry.Addr); err != nil {
		return err
	}
	if b.server, err = StartServer(serverBin, filepath.Join(b.work, "data")); err != nil {
		return err
	}
	b.client = NewClient(b.server.URL())
	b.logf("pkgserver on %s, registry on %s behind proxy %s, work dir %s", b.server.Addr, b.registry.Addr, b.proxy.Addr, b.work)

	remoteRepo := func(prefix string) *configapi.OCIRepository {
		return &configapi.OCIRepository{Registry: b.proxy.Addr + "/" + prefix, PlainHTTP: true}
	}
	for _, r := range []struct {
		ns, name string
		oci      *configapi.OCIRepository
	}{
		{nsBench, "emb", nil},
		{nsBench, "reg", remoteRepo(regPrefix)},
		{nsListEmb, fillRepo, nil},
		{nsListReg, fillRepo, remoteRepo(listPrefix)},
	} {
		if err := b.client.CreateRepository(ctx, r.ns, r.name, r.oci); err != nil {
			return err
		}
	}
	b.emb = &backend{name: "embedded", repo: "emb", lists: map[int]*listResult{}}
	b.reg = &backend{name: "remote", repo: "reg", remote: true, lists: map[int]*listResult{}}
	b.pool, err = newLayerPool(32)
	return err
}

func (b *bench) close() {
	if b.server != nil {
		b.server.Stop()
	}
	if b.proxy != nil {
		_ = b.proxy.Close()
	}
	if b.registry != nil {
		b.registry.Stop()
	}
	if b.cfg.WorkDir == "" && b.work != "" {
		b.logf("removing %s", b.work)
		_ = os.RemoveAll(b.work)
	}
}

// restart restarts pkgserver and points the client at its new address.
func (b *bench) restart() error {
	if err := b.server.Restart(); err != nil {
		return err
	}
	b.client = NewClient(b.server.URL())
	return nil
}

// counted runs fn and returns its duration and the registry requests it made.
func (b *bench) counted(fn func() error) (time.Duration, Counts, error) {
	before := b.proxy.Snapshot()
	d, err := timed(fn)
	return d, b.proxy.Snapshot().Sub(before), err
}

func machine() Machine {
	m := Machine{CPUs: runtime.NumCPU(), GoVersion: runtime.Version(), OS: runtime.GOOS + "/" + runtime.GOARCH, MemoryGiB: "?"}
	data, err := os.ReadFile("/proc/meminfo")
	if err != nil {
		return m
	}
	sc := bufio.NewScanner(bytes.NewReader(data))
	for sc.Scan() {
		var kb int64
		if _, err := fmt.Sscanf(sc.Text(), "MemTotal: %d kB", &kb); err == nil {
			m.MemoryGiB = fmt.Sprintf("%.1f", float64(kb)/(1<<20))
		}
	}
	return m
}

func lastLines(s string, n int) string {
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}
