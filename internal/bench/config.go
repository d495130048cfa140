package bench

import (
	"fmt"
	"io"
	"slices"
	"time"
)

// Config says what to run. The zero value is not useful: start from
// DefaultConfig or QuickConfig.
type Config struct {
	// ServerBin is the pkgserver binary; empty builds ./cmd/pkgserver.
	ServerBin string `json:"-"`
	// RegistryBin is the CNCF distribution binary; empty means
	// $PKGSERVER_REGISTRY_BIN, then $(go env GOPATH)/bin/registry, then PATH.
	RegistryBin string `json:"-"`
	// WorkDir holds data directories; empty means a temporary directory,
	// removed at the end.
	WorkDir string `json:"-"`

	// Packages is the number of packages (of RevisionsPerPackage revisions
	// each) of the cold-start measurement.
	Packages int `json:"packages"`
	// ListSizes are the numbers of revisions listed.
	ListSizes []int `json:"listSizes"`
	// RemoteListMax is the largest list size also filled on the remote
	// registry; larger sizes are measured on the embedded store only.
	RemoteListMax int `json:"remoteListMax"`
	// Iterations is the number of create → resources → propose → approve
	// sequences per backend, and of oras-go pushes and pulls.
	Iterations int `json:"iterations"`
	// Reads is the number of timed warm gets of each kind.
	Reads int `json:"reads"`
	// ColdRuns is the number of cold gets of each kind (one restart each).
	ColdRuns int `json:"coldRuns"`
	// ListRuns is the number of timed warm lists per size.
	ListRuns int `json:"listRuns"`
	// ListBudget bounds the time of the warm lists of one size: after it,
	// no more runs start (at least 3 run). It keeps 100,000 revisions in budget.
	ListBudget time.Duration `json:"listBudget"`
	// Concurrency is the number of clients of the throughput run.
	Concurrency int `json:"concurrency"`

	// OnReport, when set, gets the report as soon as everything is measured,
	// before the work directory is removed (which takes minutes after a
	// 100,000-revision fill).
	OnReport func(*Report) error `json:"-"`
	// Log receives progress lines; nil discards them.
	Log io.Writer `json:"-"`
}

// DefaultConfig is the full run of `make bench` (under 15 minutes on 2 cores).
func DefaultConfig() Config {
	return Config{
		Packages:      1000,
		ListSizes:     []int{1000, 10000, 100000},
		RemoteListMax: 10000,
		Iterations:    50,
		Reads:         200,
		ColdRuns:      5,
		ListRuns:      10,
		ListBudget:    60 * time.Second,
		Concurrency:   4,
	}
}

// QuickConfig is a tiny run for CI: every row, small numbers, well under a minute.
func QuickConfig() Config {
	return Config{
		Packages:      20,
		ListSizes:     []int{30, 90},
		RemoteListMax: 90,
		Iterations:    4,
		Reads:         10,
		ColdRuns:      1,
		ListRuns:      3,
		ListBudget:    10 * time.Second,
		Concurrency:   2,
	}
}

func (c Config) validate() error {
	switch {
	case c.Packages < 1:
		return fmt.Errorf("packages must be at least 1")
	case len(c.ListSizes) == 0:
		return fmt.Errorf("at least one list size is needed")
	case c.Iterations < 1 || c.Reads < 1 || c.ColdRuns < 1 || c.ListRuns < 1 || c.Concurrency < 1:
		return fmt.Errorf("iterations, reads, cold runs, list runs and concurrency must be at least 1")
	}
	for _, n := range c.ListSizes {
		if n < 1 {
			return fmt.Errorf("list size %d: must be at least 1", n)
		}
	}
	return nil
}

// stages are the fill levels, in revisions: the list sizes and the cold-start
// size, in increasing order. Each is filled on top of the one before.
func (c Config) stages() []int {
	s := append(slices.Clone(c.ListSizes), c.Packages*RevisionsPerPackage)
	slices.Sort(s)
	return slices.Compact(s)
}

// String is a one-line summary of the settings.
func (c Config) String() string {
	return fmt.Sprintf("packages=%d list-sizes=%v remote-list-max=%d iterations=%d reads=%d cold-runs=%d list-runs=%d (at most %s each size) concurrency=%d",
		c.Packages, c.ListSizes, c.RemoteListMax, c.Iterations, c.Reads, c.ColdRuns, c.ListRuns, c.ListBudget, c.Concurrency)
}
