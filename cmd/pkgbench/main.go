// Command pkgbench benchmarks pkgserver on the embedded store and on a CNCF
// distribution registry, side by side with oras-go, and prints a markdown
// table of the results (see docs/performance.md). `make bench` runs it.
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"strconv"
	"strings"
	"syscall"

	"pkgserver.dev/pkgserver/internal/bench"
	"pkgserver.dev/pkgserver/internal/registryproc"
)

func main() {
	cfg := bench.DefaultConfig()
	quick := flag.Bool("quick", false, "tiny sizes for CI (under a minute); other size flags override it")
	packages := flag.Int("packages", cfg.Packages, "packages of the cold-start measurement (3 revisions each)")
	sizes := flag.String("list-sizes", joinInts(cfg.ListSizes), "comma-separated numbers of revisions to list")
	remoteMax := flag.Int("remote-list-max", cfg.RemoteListMax, "largest list size also filled on the remote registry")
	iterations := flag.Int("iterations", cfg.Iterations, "create → approve sequences per backend, and oras-go pushes and pulls")
	reads := flag.Int("reads", cfg.Reads, "timed warm gets of each kind")
	coldRuns := flag.Int("cold-runs", cfg.ColdRuns, "cold gets of each kind (one server restart each)")
	listRuns := flag.Int("list-runs", cfg.ListRuns, "timed warm lists per size")
	concurrency := flag.Int("concurrency", cfg.Concurrency, "clients of the throughput run")
	serverBin := flag.String("server-bin", "", "pkgserver binary (default: go build ./cmd/pkgserver)")
	registryBin := flag.String("registry-bin", "", "CNCF distribution registry binary (default: $"+registryproc.EnvBinary+")")
	workDir := flag.String("work-dir", "", "directory for data (default: a temporary directory, removed afterwards)")
	jsonOut := flag.String("json", "", "also write the results as JSON to this file")
	flag.Parse()

	if *quick {
		cfg = bench.QuickConfig()
	}
	set := map[string]bool{}
	flag.Visit(func(f *flag.Flag) { set[f.Name] = true })
	ints := map[string]struct {
		dst *int
		v   int
	}{
		"packages": {&cfg.Packages, *packages}, "remote-list-max": {&cfg.RemoteListMax, *remoteMax},
		"iterations": {&cfg.Iterations, *iterations}, "reads": {&cfg.Reads, *reads},
		"cold-runs": {&cfg.ColdRuns, *coldRuns}, "list-runs": {&cfg.ListRuns, *listRuns},
		"concurrency": {&cfg.Concurrency, *concurrency},
	}
	for name, f := range ints {
		if set[name] {
			*f.dst = f.v
		}
	}
	if set["list-sizes"] {
		s, err := parseInts(*sizes)
		if err != nil {
			fatal(fmt.Errorf("-list-sizes: %w", err))
		}
		cfg.ListSizes = s
	}
	cfg.ServerBin, cfg.RegistryBin, cfg.WorkDir = *serverBin, *registryBin, *workDir
	cfg.Log = os.Stderr

	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer stop()
	cfg.OnReport = func(rep *bench.Report) error { return write(rep, *jsonOut) }
	if _, err := bench.Run(ctx, cfg); err != nil {
		fatal(err)
	}
}

// write prints the report as markdown and, when path is set, writes it as JSON.
func write(rep *bench.Report, path string) error {
	if err := rep.WriteMarkdown(os.Stdout); err != nil {
		return err
	}
	if path == "" {
		return nil
	}
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	if err := rep.WriteJSON(f); err != nil {
		f.Close()
		return err
	}
	return f.Close()
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
