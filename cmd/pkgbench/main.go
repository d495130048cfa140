// Command pkgbench benchmarks pkgserver against the targets of its issues
// (docs/performance.md) and prints every target with its measured value and
// its ratio to a baseline of the same run. `make bench` and `make
// bench-scale` run it.
package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"strconv"
	"strings"
	"syscall"
	"time"

	"pkgserver.dev/pkgserver/internal/bench"
	"pkgserver.dev/pkgserver/internal/registryproc"
)

func main() {
	d := bench.DefaultConfig()
	quick := flag.Bool("quick", false, "tiny sizes for CI (well under a minute); other flags override it")
	scale := flag.Bool("scale", false, "the million-revision run of make bench-scale (lists and starts up to 1,000,000); other flags override it")
	// Each flag overrides the chosen configuration only when it is given.
	var overrides []func(*bench.Config) error
	intFlag := func(name string, def int, usage string, set func(*bench.Config, int)) {
		v := flag.Int(name, def, usage)
		overrides = append(overrides, func(c *bench.Config) error {
			if given(name) {
				set(c, *v)
			}
			return nil
		})
	}
	durFlag := func(name string, def time.Duration, usage string, set func(*bench.Config, time.Duration)) {
		v := flag.Duration(name, def, usage)
		overrides = append(overrides, func(c *bench.Config) error {
			if given(name) {
				set(c, *v)
			}
			return nil
		})
	}
	floatFlag := func(name string, def float64, usage string, set func(*bench.Config, float64)) {
		v := flag.Float64(name, def, usage)
		overrides = append(overrides, func(c *bench.Config) error {
			if given(name) {
				set(c, *v)
			}
			return nil
		})
	}
	intsFlag := func(name string, def []int, usage string, set func(*bench.Config, []int)) {
		v := flag.String(name, joinInts(def), usage)
		overrides = append(overrides, func(c *bench.Config) error {
			if !given(name) {
				return nil
			}
			n, err := parseInts(*v)
			if err != nil {
				return fmt.Errorf("-%s: %w", name, err)
			}
			set(c, n)
			return nil
		})
	}
	phases := flag.String("phases", strings.Join(bench.AllPhases, ","), "comma-separated phases to run")
	overrides = append(overrides, func(c *bench.Config) error {
		if given("phases") {
			c.Phases = strings.Split(*phases, ",")
		}
		return nil
	})
	intsFlag("list-sizes", d.ListSizes, "comma-separated numbers of revisions to fill, list and restart on", func(c *bench.Config, v []int) { c.ListSizes = v })
	intFlag("remote-list-max", d.RemoteListMax, "largest list size also filled on the remote registry", func(c *bench.Config, v int) { c.RemoteListMax = v })
	intFlag("iterations", d.Iterations, "create → approve sequences per backend, and oras-go pushes and pulls", func(c *bench.Config, v int) { c.Iterations = v })
	intFlag("reads", d.Reads, "timed warm gets of each kind", func(c *bench.Config, v int) { c.Reads = v })
	intFlag("list-runs", d.ListRuns, "timed warm lists per size", func(c *bench.Config, v int) { c.ListRuns = v })
	durFlag("list-budget", d.ListBudget, "most time for the warm lists of one size", func(c *bench.Config, v time.Duration) { c.ListBudget = v })
	intFlag("query-runs", d.QueryRuns, "timed pages and selective queries of each kind", func(c *bench.Config, v int) { c.QueryRuns = v })
	intFlag("page-size", d.PageSize, "limit of the paged lists", func(c *bench.Config, v int) { c.PageSize = v })
	intFlag("concurrency", d.Concurrency, "clients of the lifecycle throughput run", func(c *bench.Config, v int) { c.Concurrency = v })
	intFlag("watch-size", d.WatchSize, "list size the watch phase runs at", func(c *bench.Config, v int) { c.WatchSize = v })
	intFlag("watchers", d.Watchers, "concurrent watches of the watch phase", func(c *bench.Config, v int) { c.Watchers = v })
	floatFlag("watch-write-rate", d.WatchWriteRate, "writes per second during the watch phase", func(c *bench.Config, v float64) { c.WatchWriteRate = v })
	durFlag("watch-duration", d.WatchDuration, "length of each loaded run of the watch phase", func(c *bench.Config, v time.Duration) { c.WatchDuration = v })
	intFlag("informer-size", d.InformerSize, "list size the informers phase runs at", func(c *bench.Config, v int) { c.InformerSize = v })
	intFlag("informers", d.Informers, "client-go informers of the informers phase", func(c *bench.Config, v int) { c.Informers = v })
	floatFlag("informer-write-rate", d.InformerWriteRate, "writes per second during the informers phase", func(c *bench.Config, v float64) { c.InformerWriteRate = v })
	durFlag("informer-duration", d.InformerDuration, "length of the steady write load of the informers phase", func(c *bench.Config, v time.Duration) { c.InformerDuration = v })
	durFlag("informer-watch-timeout", d.InformerWatchTimeout, "shorten informer watches to about this (0: client-go's own 5–10 minutes)", func(c *bench.Config, v time.Duration) { c.InformerWatchTimeout = v })
	intFlag("etcd-members", d.EtcdMembers, "members of the etcd cluster of the replicas phase", func(c *bench.Config, v int) { c.EtcdMembers = v })
	intFlag("replica-iterations", d.ReplicaIterations, "sequences timed with and without etcd", func(c *bench.Config, v int) { c.ReplicaIterations = v })
	intsFlag("replica-counts", d.ReplicaCounts, "numbers of replicas of the throughput runs", func(c *bench.Config, v []int) { c.ReplicaCounts = v })
	intFlag("replica-clients", d.ReplicaClients, "clients of each throughput run, spread over the replicas", func(c *bench.Config, v int) { c.ReplicaClients = v })
	durFlag("replica-duration", d.ReplicaDuration, "length of each throughput run", func(c *bench.Config, v time.Duration) { c.ReplicaDuration = v })
	serverBin := flag.String("server-bin", "", "pkgserver binary (default: go build ./cmd/pkgserver)")
	registryBin := flag.String("registry-bin", "", "CNCF distribution registry binary (default: $"+registryproc.EnvBinary+")")
	etcdBin := flag.String("etcd-bin", "", "etcd binary (default: $PKGSERVER_ETCD_BIN, .tools/bin/etcd, PATH)")
	workDir := flag.String("work-dir", "", "directory for data (default: a temporary directory, removed afterwards)")
	profileDir := flag.String("profile-dir", "", "save profiles of pkgserver here: the lists and the starts of the largest size, the first watch run")
	jsonOut := flag.String("json", "", "also write the results as JSON to this file")
	doc := flag.String("doc", "", "also write the results into this markdown file, between its pkgbench markers (see -doc-section)")
	docSection := flag.String("doc-section", "bench", "the name in the markers <!-- pkgbench:NAME:begin --> … <!-- pkgbench:NAME:end --> of -doc")
	render := flag.String("render", "", "run nothing: print (and -doc) the report of this -json file of an earlier run")
	flag.Parse()

	if *render != "" {
		rep, err := readReport(*render)
		if err == nil {
			err = write(rep, "", *doc, *docSection)
		}
		if err != nil {
			fatal(err)
		}
		return
	}

	cfg := d
	switch {
	case *quick && *scale:
		fatal(fmt.Errorf("-quick and -scale exclude each other"))
	case *quick:
		cfg = bench.QuickConfig()
	case *scale:
		cfg = bench.ScaleConfig()
	}
	for _, o := range overrides {
		if err := o(&cfg); err != nil {
			fatal(err)
		}
	}
	cfg.ServerBin, cfg.RegistryBin, cfg.EtcdBin, cfg.WorkDir, cfg.ProfileDir = *serverBin, *registryBin, *etcdBin, *workDir, *profileDir
	cfg.Log = os.Stderr

	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer stop()
	cfg.OnReport = func(rep *bench.Report) error { return write(rep, *jsonOut, *doc, *docSection) }
	if _, err := bench.Run(ctx, cfg); err != nil {
		fatal(err)
	}
}

// given reports whether the flag was set on the command line.
func given(name string) bool {
	set := false
	flag.Visit(func(f *flag.Flag) { set = set || f.Name == name })
	return set
}

// write prints the report as markdown and, when asked, writes it as JSON
// and into the document.
func write(rep *bench.Report, jsonPath, doc, section string) error {
	if err := rep.WriteMarkdown(os.Stdout); err != nil {
		return err
	}
	if doc != "" {
		if err := rep.UpdateDoc(doc, section); err != nil {
			return err
		}
	}
	if jsonPath == "" {
		return nil
	}
	f, err := os.Create(jsonPath)
	if err != nil {
		return err
	}
	if err := rep.WriteJSON(f); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}

func readReport(path string) (*bench.Report, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	var rep bench.Report
	if err := json.Unmarshal(data, &rep); err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return &rep, nil
}

func parseInts(s string) ([]int, error) {
	var out []int
	for _, part := range strings.Split(s, ",") {
		n, err := strconv.Atoi(strings.TrimSpace(part))
		if err != nil {
			return nil, err
		}
		out = append(out, n)
	}
	return out, nil
}

func joinInts(v []int) string {
	parts := make([]string, len(v))
	for i, n := range v {
		parts[i] = strconv.Itoa(n)
	}
	return strings.Join(parts, ",")
}

func fatal(err error) {
	fmt.Fprintln(os.Stderr, "pkgbench:", err)
	os.Exit(1)
}
