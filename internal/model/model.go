// Package model is a model-based test of pkgserver's integrity promise
// (product.md, "One rule for every door"; issue 9): seeded, reproducible
// random sequences of API operations, /v2/ operations (hostile ones
// included), rescans, restarts, crashes in the middle of writes and garbage
// collection, run against a pkgserver behind a Host: the real binary in e2e,
// an in-process server in this package's tests. The model keeps its own
// expectation of every revision, so it knows which answers are right, and
// after every step it checks the invariants (check.go).
//
// Only tests import this package.
package model

import (
	"flag"
	"fmt"
	"math/rand/v2"
	"os"
	"strings"
	"testing"
	"time"

	pkgapi "pkgserver.dev/pkgserver/api/pkg/v1alpha1"
)

var (
	flagSteps = flag.Int("model.steps", 0, "steps of each model-based run (0: the test's default)")
	flagSeed  = flag.Uint64("model.seed", 0, "seed of the model-based runs (0: a new one, printed)")
)

// Namespace is where the model keeps its objects.
const Namespace = "model"

// Host runs the pkgserver under test.
type Host interface {
	// API is pkgserver's base URL (http://host:port); its /v2/ serves the
	// embedded store.
	API() string
	// Registry is the base URL of the registry that holds the packages:
	// pkgserver's own for the embedded store, the remote registry otherwise
	// (then /v2/ operations go to it behind pkgserver's back).
	Registry() string
	// RemoteRegistry is host:port of the remote registry, "" for the
	// embedded store.
	RemoteRegistry() string
	// Restart stops pkgserver cleanly and starts it again.
	Restart(t testing.TB)
	// Crash runs write and kills pkgserver in the middle of it (or, if it
	// is faster, right after), then starts it again. rnd chooses the moment.
	Crash(t testing.TB, rnd *rand.Rand, write func())
	// GC collects the garbage of the embedded store with no grace period;
	// false when the host cannot.
	GC(t testing.TB) bool
	// Fresh returns the objects a fresh, read-only scan of the registries
	// shows (name -> "lifecycle revision digest latest"), to compare with
	// what pkgserver serves; nil when the host cannot do one now.
	Fresh(t testing.TB) map[string]string
}

// Config sizes a run.
type Config struct {
	// Steps is the default number of steps (-model.steps overrides it).
	Steps int
	// FreshEvery compares with a fresh scan every this many steps (0: at
	// the end only).
	FreshEvery int
	// CrashWeight scales how often a step kills the server (0: never).
	CrashWeight int
}

// Seed returns the seed of a run: -model.seed, or a new one.
func Seed() uint64 {
	if *flagSeed != 0 {
		return *flagSeed
	}
	return uint64(time.Now().UnixNano())
}

// repoM is a Repository as the model expects it.
type repoM struct {
	name        string
	deployment  bool
	registered  bool
	description string
}

// pkgM is a package: its revisions by workspace.
type pkgM struct {
	repo                *repoM
	target, realm, name string
	revs                map[string]*revM
	tombs               map[int]bool
	maxN                int // highest N ever taken, by a vN or a tombstone
	// foreign: changed behind pkgserver (remote /v2/) since the last
	// rescan; until then only what was acknowledged and left alone is checked.
	foreign bool
	// latestOff: latest was moved behind pkgserver.
	latestOff bool
	// extra are tags others left that show as no revision (for example a
	// draft behind a published revision of its workspace): they must stay.
	extra map[string]string
}

// revM is a revision as the model expects it.
type revM struct {
	ws     string
	life   pkgapi.Lifecycle
	n      int
	digest string            // "?" until learned after a change
	files  map[string]string // nil: not known
	gate   bool              // has readiness gate "ready"
	ready  bool              // its condition "ready" is True
	// upstream is the object name of its clone source, "" if none.
	upstream string
	// tampered: its tag or content was changed behind pkgserver; nothing
	// is promised about it any more.
	tampered bool
}

const unknown = "?"

func (p *pkgM) path() string {
	parts := []string{Namespace, p.repo.name}
	if p.repo.deployment {
		parts = append(parts, p.target)
	}
	if p.realm != "" {
		parts = append(parts, p.realm)
	}
	return strings.Join(append(parts, p.name), "/")
}

func (p *pkgM) objName(ws string) string {
	return strings.Join([]string{p.target, p.repo.name, strings.ReplaceAll(p.realm, "/", ":"), p.name, ws}, ".")
}

func (p *pkgM) id(ws string) pkgapi.PackageRevID {
	return pkgapi.PackageRevID{Target: p.target, Repository: p.repo.name, Realm: p.realm, Package: p.name, Workspace: ws}
}

// newest is the revision with the highest number, nil if none.
func (p *pkgM) newest() *revM {
	var out *revM
	for _, r := range p.revs {
		if r.n > 0 && (out == nil || r.n > out.n) {
			out = r
		}
	}
	return out
}

// Model is one run: the expectation and the server under test.
type Model struct {
	t     testing.TB
	cfg   Config
	host  Host
	c     *client
	rnd   *rand.Rand
	seed  uint64
	steps int
	repos []*repoM
	pkgs  []*pkgM
	log   []string
	step  int
	uniq  int

	snap   map[string]string // registry tags after the previous step
	rvs    map[string]uint64 // resourceVersion last seen per object
	listRV uint64
}

// New returns a run of cfg against host with a seed.
func New(t testing.TB, host Host, cfg Config, seed uint64) *Model {
	steps := cfg.Steps
	if *flagSteps > 0 {
		steps = *flagSteps
	}
	m := &Model{t: t, cfg: cfg, host: host, c: newClient(Namespace), rnd: rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15)),
		seed: seed, steps: steps, rvs: map[string]uint64{}}
	cat := &repoM{name: "cat"}
	dep := &repoM{name: "dep", deployment: true}
	m.repos = []*repoM{cat, dep}
	for _, p := range []*pkgM{
		{repo: cat, target: pkgapi.CatalogTarget, name: "app"},
		{repo: cat, target: pkgapi.CatalogTarget, realm: "r1/r2", name: "web"},
		{repo: dep, target: "prod", name: "app"},
	} {
		p.revs, p.tombs, p.extra = map[string]*revM{}, map[int]bool{}, map[string]string{}
		m.pkgs = append(m.pkgs, p)
	}
	return m
}

// Run registers the repositories and runs the steps, checking after each.
func (m *Model) Run() {
	m.t.Logf("model run: seed %d, %d steps (reproduce with -model.seed=%d -model.steps=%d)", m.seed, m.steps, m.seed, m.steps)
	m.snap = m.registrySnapshot()
	for _, r := range m.repos {
		m.record("register repository %s", r.name)
		if res := m.createRepo(r); res.code != 201 {
			m.fail("register %s: %s", r.name, res)
		}
		r.registered = true
		m.check([]string{configScope})
	}
	for m.step = 1; m.step <= m.steps; m.step++ {
		m.next()
		if m.cfg.FreshEvery > 0 && m.step%m.cfg.FreshEvery == 0 {
			m.checkFresh()
		}
	}
	m.step = m.steps + 1
	m.record("final clean restart")
	m.host.Restart(m.t)
	m.check(nil)
	m.checkFresh()
	m.writeLog(strings.Join(m.log, "\n") + "\n")
}

// writeLog keeps the steps in $PKGSERVER_MODEL_LOG.<test name>, if set.
func (m *Model) writeLog(s string) {
	if path := os.Getenv("PKGSERVER_MODEL_LOG"); path != "" {
		_ = os.WriteFile(path+"."+strings.ReplaceAll(m.t.Name(), "/", "_"), []byte(s), 0o644)
	}
}

// record adds a step to the log.
func (m *Model) record(format string, args ...any) {
	m.log = append(m.log, fmt.Sprintf("%d: ", m.step)+fmt.Sprintf(format, args...))
}

// fail stops the run with the seed and every step so far.
func (m *Model) fail(format string, args ...any) {
	m.t.Helper()
	msg := fmt.Sprintf(format, args...)
	var b strings.Builder
	fmt.Fprintf(&b, "model step %d: %s\n\nseed %d; reproduce with -model.seed=%d -model.steps=%d\nsteps:\n", m.step, msg, m.seed, m.seed, m.step)
	for _, l := range m.log {
		b.WriteString("  " + l + "\n")
	}
	m.writeLog(b.String())
	m.t.Fatal(b.String())
}

// clonePkgs copies the expectation of the packages, for a write whose outcome
// is not known yet.
func (m *Model) clonePkgs() []pkgM {
	out := make([]pkgM, len(m.pkgs))
	for i, p := range m.pkgs {
		q := *p
		q.revs = map[string]*revM{}
		for ws, r := range p.revs {
			rr := *r
			q.revs[ws] = &rr
		}
		q.tombs = map[int]bool{}
		for n := range p.tombs {
			q.tombs[n] = true
		}
		q.extra = map[string]string{}
		for k, v := range p.extra {
			q.extra[k] = v
		}
		out[i] = q
	}
	return out
}

func (m *Model) restorePkgs(saved []pkgM) {
	for i := range m.pkgs {
		*m.pkgs[i] = saved[i]
	}
}
