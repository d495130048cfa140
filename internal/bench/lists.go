package bench

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"time"

	configapi "pkgserver.dev/pkgserver/api/config/v1alpha1"
)

// stageServer is the pkgserver process that holds one backend's fill: a
// process of its own, so that its memory is the fill's and nothing else's.
type stageServer struct {
	be     *backend
	srv    *Server
	client *Client
	ns     string
	pkgs   int // packages filled so far
	// live counts the packages the write loads of the watch and informers
	// phases published into the live repository of ns.
	live int
	// nextLive numbers the live packages.
	nextLive atomic.Int64
}

// revisions is how many revisions a complete list of ns returns.
func (st *stageServer) revisions() int { return fillRevisions(st.pkgs) + st.live }

// listResult is one fill size on one backend.
type listResult struct {
	na       string
	items    int
	packages int
	fill     time.Duration

	// afterFill is the time from the start of the process until a list
	// returns every revision, on a data directory changed while it was
	// stopped (the fill): a full scan.
	afterFill   time.Duration
	afterFillRq Counts

	warm   Samples
	warmRq []Counts
	bytes  int
	socket Samples // the same bytes from a plain Go HTTP server

	pageFirst, pageMiddle Samples
	queries               []queryResult

	mem Memory

	stop        time.Duration // SIGTERM until exit (the checkpoint is written)
	stopKilled  bool          // the stop took longer than the grace
	startClean  time.Duration // after a clean stop: the checkpoint
	startKill   time.Duration // after kill -9: a full scan
	startCleanR Counts
	startKillR  Counts

	failed string // the error that ended this size, when one did
}

// newStageServer starts a server on an empty directory, registers the fill
// repository and the live one, and stops it again (the fill needs it stopped).
func (b *bench) newStageServer(ctx context.Context, be *backend, ns string, oci func(prefix string) *configapi.OCIRepository) (*stageServer, error) {
	dir := filepath.Join(b.work, "data-"+ns)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, err
	}
	srv, err := StartServer(b.serverBin, dir)
	if err != nil {
		return nil, err
	}
	st := &stageServer{be: be, srv: srv, client: NewClient(srv.URL()), ns: ns}
	for _, r := range []struct{ name, prefix string }{{fillRepo, ns}, {liveRepo, ns + "-live"}} {
		var repo *configapi.OCIRepository
		if oci != nil {
			repo = oci(r.prefix)
		}
		if err := st.client.CreateRepository(ctx, ns, r.name, repo); err != nil {
			srv.Stop()
			return nil, err
		}
	}
	srv.Stop()
	return st, nil
}

// stages fills the list namespaces stage by stage and, at each size, runs the
// stage phases: lists, starts, and at their sizes the informers and the
// watchers.
func (b *bench) stages(ctx context.Context) error {
	var err error
	if b.listEmb, err = b.newStageServer(ctx, b.emb, nsListEmb, nil); err != nil {
		return err
	}
	if b.cfg.RemoteListMax > 0 {
		remote := func(prefix string) *configapi.OCIRepository {
			return &configapi.OCIRepository{Registry: b.proxy.Addr + "/" + prefix, PlainHTTP: true}
		}
		if b.listReg, err = b.newStageServer(ctx, b.reg, nsListReg, remote); err != nil {
			return err
		}
	}
	sizes := b.cfg.stages()
	var kbPerRevision float64 // peak RSS per revision of the last size measured
	for _, size := range sizes {
		pkgs := packagesOf(size)
		onRemote := b.listReg != nil && size <= b.cfg.RemoteListMax
		// The machine is shared: a size whose server would not fit in the
		// memory available is reported as skipped, not attempted.
		if need, avail := int64(kbPerRevision*1024*1.1)*int64(fillRevisions(pkgs)), memAvailable(); need > 0 && avail > 0 && need > avail-2<<30 {
			why := fmt.Sprintf("skipped: at %.1f KB per revision the server would need about %.1f GiB; %.1f GiB of memory are available", kbPerRevision, float64(need)/(1<<30), float64(avail)/(1<<30))
			b.logf("stage %d: %s", size, why)
			b.listEmb.be.lists[size] = &listResult{na: why}
			b.rep.Notes = append(b.rep.Notes, fmt.Sprintf("%d revisions %s", size, why))
			break
		}
		b.logf("stage %d revisions (%d packages): filling", size, pkgs)
		embFill, err := timed(func() error {
			return FillLayout(ctx, b.listEmb.srv.DataDir, embListPath, b.listEmb.pkgs, pkgs, b.pool)
		})
		if err != nil {
			return fmt.Errorf("fill embedded store: %w", err)
		}
		b.listEmb.pkgs = pkgs
		var regFill time.Duration
		if onRemote {
			// Straight to the registry, not through the counting proxy.
			regFill, err = timed(func() error {
				return FillRegistry(ctx, b.registry.Addr, nsListReg, b.listReg.pkgs, pkgs, b.pool)
			})
			if err != nil {
				return fmt.Errorf("fill registry: %w", err)
			}
			b.listReg.pkgs = pkgs
		}
		b.logf("stage %d: filled in %s (embedded) and %s (remote)", size, embFill.Round(time.Millisecond), regFill.Round(time.Millisecond))

		for _, c := range []struct {
			st   *stageServer
			fill time.Duration
			on   bool
		}{{b.listEmb, embFill, true}, {b.listReg, regFill, onRemote}} {
			if c.st == nil {
				continue
			}
			if !c.on {
				c.st.be.lists[size] = &listResult{na: fmt.Sprintf("not filled: sizes over %d are measured on the embedded store only (-remote-list-max)", b.cfg.RemoteListMax)}
				continue
			}
			r := &listResult{fill: c.fill, packages: pkgs}
			c.st.be.lists[size] = r
			// Profiles of the sizes where the cost shows, and of the largest.
			profiled := b.cfg.ProfileDir != "" && !c.st.be.remote && (size >= 100000 || size == sizes[len(sizes)-1])
			if err := b.stage(ctx, c.st, size, r, profiled); err != nil {
				out := lastLines(c.st.srv.Output(), 20)
				c.st.srv.Stop()
				if ctx.Err() != nil {
					return err
				}
				// What was measured stays; the report says what failed.
				r.failed = err.Error()
				b.logf("stage %d on %s failed: %v\npkgserver output (end):\n%s", size, c.st.be.name, err, out)
				b.rep.Notes = append(b.rep.Notes, fmt.Sprintf("%d revisions on %s failed: %s", size, c.st.be.name, firstLine(err.Error())))
				return nil
			}
			c.st.srv.Stop()
			if !c.st.be.remote && r.mem.PeakRSS > 0 {
				kbPerRevision = perRevision(r.mem.PeakRSS, r.items)
			}
		}
	}
	return nil
}

// memAvailable is MemAvailable of /proc/meminfo in bytes, 0 if unknown.
func memAvailable() int64 {
	data, err := os.ReadFile("/proc/meminfo")
	if err != nil {
		return 0
	}
	n, err := statusKB(data, "MemAvailable:")
	if err != nil {
		return 0
	}
	return n
}

func firstLine(s string) string {
	line, _, _ := strings.Cut(s, "\n")
	return line
}

// stage measures one size on one backend; the server is stopped on entry.
func (b *bench) stage(ctx context.Context, st *stageServer, size int, r *listResult, profiled bool) error {
	want := st.revisions()
	var err error
	if r.afterFill, r.afterFillRq, err = b.startUntilListed(ctx, st, want); err != nil {
		return fmt.Errorf("start after the fill: %w", err)
	}
	b.logf("stage %d on %s: start after the fill (full scan) listed %d revisions in %s", size, st.be.name, want, r.afterFill.Round(time.Millisecond))
	r.items = want
	if b.cfg.has(PhaseLists) {
		stopProfile := func() error { return nil }
		if profiled {
			stopProfile = b.profile(ctx, st.srv, fmt.Sprintf("%s-%d-lists", st.be.name, size), max(5, int(b.cfg.ListBudget.Seconds()/2)))
		}
		if err := b.measureLists(ctx, st, r, want); err != nil {
			return err
		}
		if !st.be.remote {
			if err := b.measurePages(ctx, st, r, want); err != nil {
				return err
			}
			if err := b.measureQueries(ctx, st, r); err != nil {
				return err
			}
		}
		if err := stopProfile(); err != nil {
			return fmt.Errorf("profile: %w", err)
		}
		if r.mem, err = st.srv.Memory(); err != nil {
			return err
		}
		b.logf("stage %d on %s: list p50 %.1f ms (socket %.1f ms), peak RSS %d MiB (%.1f KB per revision)", size, st.be.name,
			r.warm.P50(), r.socket.P50(), r.mem.PeakRSS>>20, float64(r.mem.PeakRSS)/float64(want)/1024)
	}
	if b.cfg.has(PhaseStart) {
		var profile func(kind string, seconds int) func() error
		if profiled {
			profile = func(kind string, seconds int) func() error {
				name := fmt.Sprintf("%s-%d-start-%s.cpu.pprof", st.be.name, size, kind)
				done := make(chan error, 1)
				st.srv.Launched = func(addr string) {
					go func() {
						done <- b.saveProfile(ctx, addr, fmt.Sprintf("/debug/pprof/profile?seconds=%d", seconds), name)
					}()
				}
				return func() error { st.srv.Launched = nil; return <-done }
			}
		}
		if err := b.measureStarts(ctx, st, r, want, profile); err != nil {
			return err
		}
	}
	if st.be.remote {
		return nil
	}
	if b.cfg.has(PhaseInformers) && size == b.cfg.InformerSize {
		if err := b.informers(ctx, st); err != nil {
			return fmt.Errorf("informers: %w", err)
		}
	}
	if b.cfg.has(PhaseWatch) && size == b.cfg.WatchSize {
		if err := b.watchers(ctx, st); err != nil {
			return fmt.Errorf("watchers: %w", err)
		}
	}
	return nil
}

// startUntilListed starts the stopped server and returns the time from the
// start of the process until a list returns all want revisions (a restart
// may serve a checkpoint first and rescan behind it), and the registry
// requests meanwhile.
func (b *bench) startUntilListed(ctx context.Context, st *stageServer, want int) (time.Duration, Counts, error) {
	before := b.proxy.Snapshot()
	start := time.Now()
	if err := st.srv.Start(); err != nil {
		return 0, nil, err
	}
	st.client = NewClient(st.srv.URL())
	deadline := start.Add(30 * time.Minute)
	for {
		s, err := st.client.scanList(ctx, listPath(st.ns))
		if err == nil && s.items >= want {
			if s.items != want {
				return 0, nil, fmt.Errorf("listed %d revisions, want %d", s.items, want)
			}
			return time.Since(start), b.proxy.Snapshot().Sub(before), nil
		}
		if time.Now().After(deadline) || ctx.Err() != nil {
			return 0, nil, fmt.Errorf("%d of %d revisions listed %s after the start (last error: %v)", s.items, want, time.Since(start).Round(time.Second), err)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// measureLists times warm full lists, each followed by the same number of
// bytes from the socket baseline, so that both see the same machine.
func (b *bench) measureLists(ctx context.Context, st *stageServer, r *listResult, want int) error {
	s, err := st.client.scanList(ctx, listPath(st.ns))
	if err != nil {
		return err
	}
	if s.items != want {
		return fmt.Errorf("listed %d revisions, want %d", s.items, want)
	}
	r.bytes = s.bytes
	sock := NewClient(b.sock.URL)
	start := time.Now()
	for i := range b.cfg.ListRuns {
		if i >= 3 && b.cfg.ListBudget > 0 && time.Since(start) > b.cfg.ListBudget {
			break
		}
		d, rq, err := b.counted(func() error { _, err := st.client.fetch(ctx, listPath(st.ns)); return err })
		if err != nil {
			return err
		}
		r.warm = append(r.warm, d)
		r.warmRq = append(r.warmRq, rq)
		d, err = timed(func() error { _, err := sock.fetch(ctx, b.sock.path(r.bytes)); return err })
		if err != nil {
			return fmt.Errorf("socket baseline: %w", err)
		}
		r.socket = append(r.socket, d)
	}
	return nil
}

// measureStarts stops the server cleanly (it writes its checkpoint) and
// times the next start until a complete list; then kills it with SIGKILL and
// times the start after that (a full scan).
//
// profile, when set, profiles each start (the kind "clean" or "kill") for
// about as long as the start after the fill took, the clean one for at
// most maxCleanProfile seconds.
// maxCleanProfile bounds the profile of a start from the checkpoint, in
// seconds (the target is 10 s at a million).
const maxCleanProfile = 20

func (b *bench) measureStarts(ctx context.Context, st *stageServer, r *listResult, want int, profile func(kind string, seconds int) func() error) error {
	var clean bool
	r.stop, clean = st.srv.StopClean()
	r.stopKilled = !clean
	wait := func() error { return nil }
	// A full scan (the start after the fill, and after kill -9) takes about
	// as long as the start after the fill; a start from the checkpoint is
	// far shorter, and the profile's wait must not stretch the run.
	seconds := max(3, int(r.afterFill.Seconds())+1)
	if profile != nil {
		wait = profile("clean", min(seconds, maxCleanProfile))
	}
	var err error
	if r.startClean, r.startCleanR, err = b.startUntilListed(ctx, st, want); err != nil {
		return fmt.Errorf("start after a clean stop: %w", err)
	}
	if err := wait(); err != nil {
		return fmt.Errorf("profile: %w", err)
	}
	st.srv.Kill()
	if profile != nil {
		wait = profile("kill", seconds)
	}
	if r.startKill, r.startKillR, err = b.startUntilListed(ctx, st, want); err != nil {
		return fmt.Errorf("start after kill -9: %w", err)
	}
	if err := wait(); err != nil {
		return fmt.Errorf("profile: %w", err)
	}
	b.logf("starts on %s with %d revisions: clean stop %s, then complete list %s; after kill -9 %s", st.be.name, want,
		r.stop.Round(time.Millisecond), r.startClean.Round(time.Millisecond), r.startKill.Round(time.Millisecond))
	return nil
}

// profile starts a CPU profile of srv for seconds and returns a function
// that waits for it and saves a heap profile too, under ProfileDir as
// <name>.cpu.pprof and <name>.heap.pprof.
func (b *bench) profile(ctx context.Context, srv *Server, name string, seconds int) func() error {
	done := make(chan error, 1)
	go func() {
		done <- b.saveProfile(ctx, srv.PprofAddr, fmt.Sprintf("/debug/pprof/profile?seconds=%d", seconds), name+".cpu.pprof")
	}()
	return func() error {
		if err := <-done; err != nil {
			return err
		}
		b.logf("profiles of %s in %s", name, b.cfg.ProfileDir)
		return b.saveProfile(ctx, srv.PprofAddr, "/debug/pprof/heap", name+".heap.pprof")
	}
}

// saveProfile saves the pprof profile at path of the server whose pprof
// listens on addr; it waits for the listener (a process just started).
func (b *bench) saveProfile(ctx context.Context, addr, path, file string) error {
	if err := os.MkdirAll(b.cfg.ProfileDir, 0o755); err != nil {
		return err
	}
	f, err := os.Create(filepath.Join(b.cfg.ProfileDir, file))
	if err != nil {
		return err
	}
	s := &Server{PprofAddr: addr}
	for deadline := time.Now().Add(10 * time.Second); ; {
		err = s.Profile(ctx, path, f)
		if err == nil || time.Now().After(deadline) {
			break
		}
		time.Sleep(10 * time.Millisecond)
	}
	if err != nil {
		f.Close()
		return err
	}
	return f.Close()
}
