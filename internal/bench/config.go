package bench

import (
	"fmt"
	"io"
	"slices"
	"strings"
	"time"
)

// Phases of a run. The stage phases (lists, start, watch, informers) run at
// the fill sizes; the others on small dedicated repositories.
const (
	PhaseLifecycle = "lifecycle" // create → approve on both backends, oras-go side by side, reads
	PhaseLists     = "lists"     // full lists, pages, selective queries, the socket baseline, memory
	PhaseStart     = "start"     // first complete list after a clean restart and after kill -9
	PhaseWatch     = "watch"     // 1,000 watchers under 50 writes per second, a slow watcher
	PhaseInformers = "informers" // client-go informers under a steady write load (issue 11)
	PhaseReplicas  = "replicas"  // etcd coordination cost, 1/2/3 replicas (issue 12)
)

// AllPhases are the phases of `make bench`, in the order they run.
var AllPhases = []string{PhaseLifecycle, PhaseLists, PhaseStart, PhaseWatch, PhaseInformers, PhaseReplicas}

// Config says what to run. The zero value is not useful: start from
// DefaultConfig, ScaleConfig or QuickConfig.
type Config struct {
	// ServerBin is the pkgserver binary; empty builds ./cmd/pkgserver.
	ServerBin string `json:"-"`
	// RegistryBin is the CNCF distribution binary; empty means
	// $PKGSERVER_REGISTRY_BIN, then $(go env GOPATH)/bin/registry, then PATH.
	RegistryBin string `json:"-"`
	// EtcdBin is the etcd binary of the replicas phase; empty means
	// $PKGSERVER_ETCD_BIN, then .tools/bin/etcd, then PATH.
	EtcdBin string `json:"-"`
	// WorkDir holds data directories; empty means a temporary directory,
	// removed at the end.
	WorkDir string `json:"-"`
	// ProfileDir, when set, receives profiles of pkgserver: CPU and heap
	// during the lists of the largest size, CPU during its starts, CPU and
	// heap during the first watch run.
	ProfileDir string `json:"-"`

	// Phases are the phases to run (AllPhases when empty).
	Phases []string `json:"phases"`

	// ListSizes are the numbers of revisions filled, listed and restarted on.
	ListSizes []int `json:"listSizes"`
	// RemoteListMax is the largest list size also filled on the remote
	// registry; larger sizes are measured on the embedded store only.
	RemoteListMax int `json:"remoteListMax"`
	// Iterations is the number of create → resources → propose → approve
	// sequences per backend, and of oras-go pushes and pulls.
	Iterations int `json:"iterations"`
	// Reads is the number of timed warm gets of each kind.
	Reads int `json:"reads"`
	// ListRuns is the number of timed warm lists per size.
	ListRuns int `json:"listRuns"`
	// ListBudget bounds the time of the warm lists of one size: after it,
	// no more runs start (at least 3 run).
	ListBudget time.Duration `json:"listBudget"`
	// QueryRuns is the number of timed pages and selective queries of each kind.
	QueryRuns int `json:"queryRuns"`
	// PageSize is the limit of the paged lists.
	PageSize int `json:"pageSize"`
	// Concurrency is the number of clients of the throughput run.
	Concurrency int `json:"concurrency"`

	// WatchSize is the list size the watch phase runs at.
	WatchSize int `json:"watchSize"`
	// Watchers is the number of concurrent watches.
	Watchers int `json:"watchers"`
	// WatchWriteRate is the write load of the watch phase, operations per second.
	WatchWriteRate float64 `json:"watchWriteRate"`
	// WatchDuration is the length of each of the two loaded runs (without
	// and with the slow watcher).
	WatchDuration time.Duration `json:"watchDuration"`

	// InformerSize is the list size the informers phase runs at.
	InformerSize int `json:"informerSize"`
	// Informers is the number of client-go informers, each its own client.
	Informers int `json:"informers"`
	// InformerWriteRate is the steady write load, operations per second.
	InformerWriteRate float64 `json:"informerWriteRate"`
	// InformerDuration is the length of the steady write load.
	InformerDuration time.Duration `json:"informerDuration"`
	// InformerWatchTimeout, when set, shortens every informer watch to about
	// this long (the counting proxy rewrites timeoutSeconds), so that a run
	// of minutes resumes watches as often as hours of client-go's default
	// 5–10 minute watches would.
	InformerWatchTimeout time.Duration `json:"informerWatchTimeout"`

	// EtcdMembers is the size of the etcd cluster of the replicas phase.
	EtcdMembers int `json:"etcdMembers"`
	// ReplicaIterations is the number of sequences timed with and without
	// etcd (interleaved) for the per-operation cost.
	ReplicaIterations int `json:"replicaIterations"`
	// ReplicaCounts are the numbers of replicas of the throughput runs.
	ReplicaCounts []int `json:"replicaCounts"`
	// ReplicaClients is the number of clients of each throughput run,
	// spread over the replicas.
	ReplicaClients int `json:"replicaClients"`
	// ReplicaDuration is the length of each throughput run.
	ReplicaDuration time.Duration `json:"replicaDuration"`

	// Settle is how long the watch phase lets the server be idle before it
	// reads its memory, and how long a slow watcher must stay silent to
	// count as still open.
	Settle time.Duration `json:"settle"`

	// OnReport, when set, gets the report as soon as everything is measured,
	// before the work directory is removed (which takes minutes after a
	// large fill).
	OnReport func(*Report) error `json:"-"`
	// Log receives progress lines; nil discards them.
	Log io.Writer `json:"-"`
}

// DefaultConfig is the full run of `make bench`: everything at up to 100,000
// revisions (about 20 minutes on 2 cores).
func DefaultConfig() Config {
	return Config{
		Phases:               AllPhases,
		ListSizes:            []int{1000, 10000, 100000},
		RemoteListMax:        10000,
		Iterations:           50,
		Reads:                200,
		ListRuns:             10,
		ListBudget:           60 * time.Second,
		QueryRuns:            30,
		PageSize:             500,
		Concurrency:          4,
		WatchSize:            100000,
		Watchers:             1000,
		WatchWriteRate:       50,
		WatchDuration:        30 * time.Second,
		InformerSize:         10000,
		Informers:            100,
		InformerWriteRate:    20,
		InformerDuration:     90 * time.Second,
		InformerWatchTimeout: 15 * time.Second,
		EtcdMembers:          3,
		ReplicaIterations:    30,
		ReplicaCounts:        []int{1, 2, 3},
		ReplicaClients:       6,
		ReplicaDuration:      20 * time.Second,
		Settle:               3 * time.Second,
	}
}

// ScaleConfig is `make bench-scale`: the cost curve up to a million
// revisions on the embedded store (lists and starts only).
func ScaleConfig() Config {
	c := DefaultConfig()
	c.Phases = []string{PhaseLists, PhaseStart}
	// 300,000 puts a point past 100,000 on the curve even when a million
	// does not fit in the memory of the machine.
	c.ListSizes = []int{1000, 10000, 100000, 300000, 1000000}
	c.RemoteListMax = 0
	c.ListRuns = 5
	c.QueryRuns = 10 // a query that scans a million takes seconds
	return c
}

// QuickConfig is a tiny run for CI: every phase and row, small numbers.
func QuickConfig() Config {
	return Config{
		Phases:               AllPhases,
		ListSizes:            []int{30, 90},
		RemoteListMax:        90,
		Iterations:           4,
		Reads:                10,
		ListRuns:             3,
		ListBudget:           10 * time.Second,
		QueryRuns:            3,
		PageSize:             20,
		Concurrency:          2,
		WatchSize:            90,
		Watchers:             20,
		WatchWriteRate:       20,
		WatchDuration:        2 * time.Second,
		InformerSize:         30,
		Informers:            3,
		InformerWriteRate:    10,
		InformerDuration:     3 * time.Second,
		InformerWatchTimeout: time.Second,
		EtcdMembers:          1,
		ReplicaIterations:    2,
		ReplicaCounts:        []int{1, 2},
		ReplicaClients:       2,
		ReplicaDuration:      2 * time.Second,
		Settle:               300 * time.Millisecond,
	}
}

func (c Config) validate() error {
	switch {
	case len(c.ListSizes) == 0 && (c.has(PhaseLists) || c.has(PhaseStart) || c.has(PhaseWatch) || c.has(PhaseInformers)):
		return fmt.Errorf("at least one list size is needed")
	case c.Iterations < 1 || c.Reads < 1 || c.ListRuns < 1 || c.Concurrency < 1 || c.QueryRuns < 1 || c.PageSize < 1:
		return fmt.Errorf("iterations, reads, list runs, query runs, page size and concurrency must be at least 1")
	case c.has(PhaseWatch) && (c.Watchers < 4 || c.WatchWriteRate <= 0 || c.WatchDuration <= 0):
		return fmt.Errorf("the watch phase needs at least 4 watchers, a write rate and a duration")
	case c.has(PhaseInformers) && (c.Informers < 1 || c.InformerWriteRate <= 0 || c.InformerDuration <= 0):
		return fmt.Errorf("the informers phase needs informers, a write rate and a duration")
	case c.has(PhaseReplicas) && (c.ReplicaIterations < 1 || len(c.ReplicaCounts) == 0 || c.ReplicaClients < 1 || c.ReplicaDuration <= 0):
		return fmt.Errorf("the replicas phase needs iterations, replica counts, clients and a duration")
	}
	for _, p := range c.Phases {
		if !slices.Contains(AllPhases, p) {
			return fmt.Errorf("unknown phase %q (phases: %s)", p, strings.Join(AllPhases, ","))
		}
	}
	for _, n := range c.ListSizes {
		if n < 1 {
			return fmt.Errorf("list size %d: must be at least 1", n)
		}
	}
	return nil
}

// has reports whether phase p runs.
func (c Config) has(p string) bool { return len(c.Phases) == 0 || slices.Contains(c.Phases, p) }

// stagePhases reports whether any phase needs the fills.
func (c Config) stagePhases() bool {
	return c.has(PhaseLists) || c.has(PhaseStart) || c.has(PhaseWatch) || c.has(PhaseInformers)
}

// stages are the fill levels, in revisions: the list sizes plus the sizes of
// the watch and informer phases, in increasing order. Each is filled on top
// of the one before.
func (c Config) stages() []int {
	s := slices.Clone(c.ListSizes)
	if c.has(PhaseWatch) && c.WatchSize > 0 {
		s = append(s, c.WatchSize)
	}
	if c.has(PhaseInformers) && c.InformerSize > 0 {
		s = append(s, c.InformerSize)
	}
	slices.Sort(s)
	return slices.Compact(s)
}

// String is a one-line summary of the settings.
func (c Config) String() string {
	phases := c.Phases
	if len(phases) == 0 {
		phases = AllPhases
	}
	return fmt.Sprintf("phases=%s list-sizes=%v remote-list-max=%d iterations=%d reads=%d list-runs=%d (at most %s each size) query-runs=%d page=%d concurrency=%d "+
		"watchers=%d at %d revisions, %.0f writes/s, %s per run; informers=%d at %d revisions, %.0f writes/s for %s, watch timeout %s; "+
		"etcd members=%d, replica iterations=%d, replicas=%v, clients=%d, %s per run",
		strings.Join(phases, ","), c.ListSizes, c.RemoteListMax, c.Iterations, c.Reads, c.ListRuns, c.ListBudget, c.QueryRuns, c.PageSize, c.Concurrency,
		c.Watchers, c.WatchSize, c.WatchWriteRate, c.WatchDuration, c.Informers, c.InformerSize, c.InformerWriteRate, c.InformerDuration, c.InformerWatchTimeout,
		c.EtcdMembers, c.ReplicaIterations, c.ReplicaCounts, c.ReplicaClients, c.ReplicaDuration)
}
