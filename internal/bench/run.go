// Package bench is the pkgserver benchmark harness behind `make bench` and
// `make bench-scale` (cmd/pkgbench). It runs pkgserver as a process on the
// embedded store and on a CNCF distribution registry behind a
// request-counting proxy, drives it through its HTTP API as clients do,
// pushes and pulls the same packages with oras-go for comparison, and
// reports every target of issues 6, 11, 12 and 13 with its measured value
// and the ratio to a baseline measured in the same run: lists, pages and
// selective queries up to a million revisions against a plain socket, starts
// after a clean stop and after kill -9, a thousand watchers, client-go
// informers, and the cost of etcd coordination with 1, 2 and 3 replicas.
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

	getWarm, resWarm     Samples
	getWarmRq, resWarmRq []Counts

	lists map[int]*listResult
}

type bench struct {
	cfg       Config
	log       io.Writer
	work      string
	serverBin string

	registry *Registry
	proxy    *Proxy
	server   *Server // lifecycle and reads; the baseline of the replicas phase
	client   *Client
	sock     *socketServer
	pool     layerPool

	emb, reg         *backend
	listEmb, listReg *stageServer
	watch            *watchResult
	informer         *informerResult
	replica          *replicaResult
	rep              *Report
	start            time.Time
}

// Run runs the benchmark and returns its report.
func Run(ctx context.Context, cfg Config) (*Report, error) {
	if err := cfg.validate(); err != nil {
		return nil, err
	}
	start := time.Now()
	b := &bench{cfg: cfg, log: cfg.Log, rep: &Report{Config: cfg, Machine: machine()}, start: start}
	if b.log == nil {
		b.log = io.Discard
	}
	defer b.close()
	if err := b.setup(ctx); err != nil {
		return nil, err
	}
	type phase struct {
		on bool
		fn func(context.Context) error
	}
	for _, p := range []phase{
		{cfg.has(PhaseLifecycle), b.lifecycle},
		{cfg.has(PhaseLifecycle), b.orasSideBySide},
		{cfg.has(PhaseLifecycle), b.reads},
		{cfg.stagePhases(), b.stages},
		{cfg.has(PhaseReplicas), b.replicas},
	} {
		if !p.on {
			continue
		}
		if err := p.fn(ctx); err != nil {
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
	e := time.Since(b.start).Round(time.Second)
	fmt.Fprintf(b.log, "pkgbench %02d:%02d: "+format+"\n", append([]any{int(e.Minutes()), int(e.Seconds()) % 60}, args...)...)
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
	b.serverBin = b.cfg.ServerBin
	if b.serverBin == "" {
		b.serverBin = filepath.Join(b.work, "pkgserver")
		b.logf("building pkgserver")
		out, err := exec.CommandContext(ctx, "go", "build", "-o", b.serverBin, "pkgserver.dev/pkgserver/cmd/pkgserver").CombinedOutput()
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
	if b.sock, err = startSocketServer(); err != nil {
		return err
	}
	if b.server, err = StartServer(b.serverBin, filepath.Join(b.work, "data")); err != nil {
		return err
	}
	b.client = NewClient(b.server.URL())
	b.logf("pkgserver on %s, registry on %s behind proxy %s, work dir %s", b.server.Addr, b.registry.Addr, b.proxy.Addr, b.work)
	for _, r := range []struct {
		name string
		oci  *configapi.OCIRepository
	}{
		{"emb", nil},
		{"reg", &configapi.OCIRepository{Registry: b.proxy.Addr + "/" + regPrefix, PlainHTTP: true}},
	} {
		if err := b.client.CreateRepository(ctx, nsBench, r.name, r.oci); err != nil {
			return err
		}
	}
	b.emb = &backend{name: "embedded", repo: "emb", lists: map[int]*listResult{}}
	b.reg = &backend{name: "remote", repo: "reg", remote: true, lists: map[int]*listResult{}}
	b.pool, err = newLayerPool(32)
	return err
}

func (b *bench) close() {
	for _, st := range []*stageServer{b.listEmb, b.listReg} {
		if st != nil {
			st.srv.Stop()
		}
	}
	if b.server != nil {
		b.server.Stop()
	}
	if b.sock != nil {
		_ = b.sock.Close()
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
