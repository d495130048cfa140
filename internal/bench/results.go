package bench

import (
	"fmt"
	"slices"
	"strings"
	"time"
)

const (
	noRegistry = "embedded store: no registry requests to count"
	million    = 1000000
)

// report turns the measurements into targets, tables and notes.
func (b *bench) report() {
	if b.cfg.has(PhaseLifecycle) {
		b.lifecycleTables()
	}
	if b.cfg.stagePhases() {
		b.curveTables()
		for _, size := range b.cfg.stages() {
			b.sizeTable(size)
		}
	}
	if b.watch != nil {
		b.watchTable()
	}
	if b.informer != nil {
		b.informerTable()
	}
	if b.replica != nil {
		b.replicaTables()
	}
	b.targets13()
	b.targets11()
	b.targets12()
	b.targets6()
	b.notes()
}

func (b *bench) lifecycleTables() {
	r := b.rep
	emb, reg := b.emb, b.reg
	both := func(f func(be *backend) Cell) []Cell { return []Cell{f(emb), f(reg)} }
	t := r.table(fmt.Sprintf("Lifecycle: create → put resources → propose → approve (ms p50 / p99, %d packages of %d files, one client)", b.cfg.Iterations, filesPerPackage),
		"measure", "embedded", "remote (distribution)")
	for s := range numSteps {
		t.add(stepNames[s], "", both(func(be *backend) Cell { return latency(be.steps[s]) })...)
	}
	t.add("total", "", both(func(be *backend) Cell { return latency(be.total) })...)
	t.add("throughput, 1 client (packages/s)", "whole sequences per second", both(func(be *backend) Cell { return numbers("%.1f", be.seqRate) })...)
	t.add(fmt.Sprintf("throughput, %d clients (packages/s)", b.cfg.Concurrency), "whole sequences per second", both(func(be *backend) Cell { return numbers("%.1f", be.concRate) })...)
	oras := func(f func(be *backend) Cell) func(be *backend) Cell {
		return func(be *backend) Cell {
			if be.orasNA != "" {
				return na(be.orasNA)
			}
			return f(be)
		}
	}
	t.add("oras-go push of the same package", "in process, same registry, same layer bytes", both(oras(func(be *backend) Cell { return latency(be.orasPush) }))...)
	for s := range numSteps {
		t.add(stepNames[s]+" p50 ÷ oras-go push p50", "target ≤ 1.0× (issue 13)", both(oras(func(be *backend) Cell {
			return numbers("%.2f×", be.steps[s].P50()/be.orasPush.P50())
		}))...)
	}
	t.add("total p50 ÷ oras-go push p50", "target ≤ 1.5×", both(oras(func(be *backend) Cell { return numbers("%.2f×", be.total.P50()/be.orasPush.P50()) }))...)

	t = r.table("Registry requests per operation (mean, counted by the proxy; remote backend)", "measure", "remote (distribution)")
	var lcTotal float64
	for s := range numSteps {
		mean := meanTotal(reg.stepReqs[s])
		lcTotal += mean
		t.add(stepNames[s], fmt.Sprintf("min %d: %s", stepMinimum[s].n, stepMinimum[s].why), numbers("%.1f", mean))
	}
	minTotal := 0
	for _, m := range stepMinimum {
		minTotal += m.n
	}
	t.add("whole sequence", fmt.Sprintf("min %d", minTotal), numbers("%.1f", lcTotal))
	pushRq := meanTotal(reg.orasPushRq)
	t.add("oras-go push of the same package", "oras.Copy: HEAD + POST + PUT per blob, PUT manifest", numbers("%.1f", pushRq))
	t.add("sequence beyond the oras-go push, per operation", "target ≤ 2", numbers("%.2f", (lcTotal-pushRq)/numSteps))
	t.add("get PackageRevision, warm (max)", "min 0 (cached index); ≤ 1 to revalidate", numbers("%.0f", float64(maxTotal(reg.getWarmRq))))
	t.add("get PackageRevisionResources, warm (max)", "min 0 (blobs cached by digest); ≤ 1 to revalidate", numbers("%.0f", float64(maxTotal(reg.resWarmRq))))
	t.add("oras-go pull of the same package", "GET manifest + GET config + GET layer (+ HEAD to resolve)", numbers("%.1f", meanTotal(reg.orasPullRq)))

	t = r.table(fmt.Sprintf("Reads of published revisions (ms p50 / p99, %d warm reads)", b.cfg.Reads), "measure", "embedded", "remote (distribution)")
	t.add("get PackageRevision, warm", "target p50 ≤ 2 ms", both(func(be *backend) Cell { return latency(be.getWarm) })...)
	t.add("get PackageRevisionResources, warm", "target p50 ≤ 2 ms", both(func(be *backend) Cell { return latency(be.resWarm) })...)
	t.add("oras-go pull of the same package", "resolve, fetch, gunzip + untar", both(oras(func(be *backend) Cell { return latency(be.orasPull) }))...)
	t.add("resources warm p50 ÷ oras-go pull p50", "", both(oras(func(be *backend) Cell { return numbers("%.2f×", be.resWarm.P50()/be.orasPull.P50()) }))...)
}

// perRevision is bytes per revision in KB.
func perRevision(bytes int64, revisions int) float64 {
	return float64(bytes) / float64(revisions) / 1024
}

func sec(d time.Duration) Cell {
	if d == 0 {
		return na("not measured")
	}
	return numbers("%.2f", d.Seconds())
}

// curveTables show how cost grows with the number of revisions, embedded store.
func (b *bench) curveTables() {
	r := b.rep
	sizes := b.cfg.stages()
	mem := r.table("Cost curve, embedded store: memory and start", "revisions", "peak RSS (MiB)", "KB per revision", "heap in use, KB per revision",
		"start after kill -9, full scan (s)", "µs per revision", "start after a clean stop, checkpoint (s)", "clean stop (s)", "fill (s)")
	lists := r.table("Cost curve, embedded store: lists and queries (ms p50)", "revisions", "full list", "same bytes, plain socket", "ratio", "response (MiB)",
		fmt.Sprintf("page of %d, first", b.cfg.PageSize), fmt.Sprintf("page of %d, middle", b.cfg.PageSize))
	var qnames []string
	for _, size := range sizes {
		l := b.emb.lists[size]
		if l == nil || l.na != "" {
			continue
		}
		for _, q := range l.queries {
			if !slices.Contains(qnames, q.name) {
				qnames = append(qnames, q.name)
			}
		}
	}
	lists.Columns = append(lists.Columns, qnames...)
	for _, size := range sizes {
		l := b.emb.lists[size]
		if l == nil || l.na != "" {
			continue
		}
		name := fmt.Sprintf("%d", l.items)
		memCells := []Cell{na("lists not run"), na(""), na("")}
		if l.mem.PeakRSS > 0 {
			memCells = []Cell{numbers("%.0f", float64(l.mem.PeakRSS>>20)), numbers("%.2f", perRevision(l.mem.PeakRSS, l.items)), numbers("%.2f", perRevision(l.mem.HeapInuse, l.items))}
		}
		startCells := []Cell{na("start not run"), na(""), na(""), na("")}
		if l.startKill > 0 {
			startCells = []Cell{sec(l.startKill), numbers("%.1f", float64(l.startKill.Microseconds())/float64(l.items)), sec(l.startClean), sec(l.stop)}
		}
		mem.add(name, "", append(append(memCells, startCells...), sec(l.fill))...)
		if len(l.warm) == 0 {
			continue
		}
		cells := []Cell{numbers("%.1f", l.warm.P50()), numbers("%.1f", l.socket.P50()), numbers("%.2f×", l.warm.P50()/l.socket.P50()),
			numbers("%.1f", float64(l.bytes)/(1<<20)), numbers("%.2f", l.pageFirst.P50()), numbers("%.2f", l.pageMiddle.P50())}
		for _, qn := range qnames {
			c := na("not run")
			for _, q := range l.queries {
				if q.name == qn {
					c = numbers("%.2f", q.samples.P50())
				}
			}
			cells = append(cells, c)
		}
		lists.add(name, "", cells...)
	}
	mem.Note = "Peak RSS is VmHWM of the pkgserver process after the lists, pages and queries of that size; the process holds that fill only. " +
		"Heap in use is runtime.MemStats.HeapInuse after a forced collection at the same moment (live memory; from --pprof-listen). Starts are from the start of the process until a list returns every revision."
	lists.Note = "Full lists are streamed to the last byte; the plain socket is a Go HTTP server in the harness writing the same number of bytes, chunked, to the same kind of client, each run right after the list. " +
		"Pages walk on with the continue tokens the server gives, from the start and from the middle of the list. Queries are selective (see the size tables for how many revisions each returns)."
}

// sizeTable is everything measured at one size, both backends.
func (b *bench) sizeTable(size int) {
	emb, reg := b.emb.lists[size], b.reg.lists[size]
	if emb == nil && reg == nil {
		return
	}
	t := b.rep.table(fmt.Sprintf("Fill of %d revisions (%d per package, plus a proposed one in %d packages)", size, RevisionsPerPackage, proposedEvery),
		"measure", "embedded", "remote (distribution)")
	cell := func(l *listResult, f func(l *listResult) Cell) Cell {
		switch {
		case l == nil:
			return na("not measured")
		case l.na != "":
			return na(l.na)
		}
		return f(l)
	}
	row := func(name, note string, f func(l *listResult) Cell) {
		t.add(name, note, cell(emb, f), cell(reg, f))
	}
	lists := func(f func(l *listResult) Cell) func(l *listResult) Cell {
		return func(l *listResult) Cell {
			if len(l.warm) == 0 {
				return na("lists not run")
			}
			return f(l)
		}
	}
	starts := func(f func(l *listResult) Cell) func(l *listResult) Cell {
		return func(l *listResult) Cell {
			if l.startKill == 0 {
				return na("start not run")
			}
			return f(l)
		}
	}
	row("revisions listed", fmt.Sprintf("checked: %d filled, the rest published by the write loads of earlier stages", fillRevisions(packagesOf(size))),
		func(l *listResult) Cell { return numbers("%.0f", float64(l.items)) })
	row("pre-fill time (s)", "written straight to the store; not a pkgserver cost", func(l *listResult) Cell { return sec(l.fill) })
	row("start after the fill → complete list (s)", "the data changed while stopped: embedded rescans before serving; remote serves the checkpoint and rescans behind it",
		func(l *listResult) Cell { return sec(l.afterFill) })
	row("full list, warm (ms p50 / p99)", "", lists(func(l *listResult) Cell { return latency(l.warm) }))
	row("same bytes from a plain Go HTTP server (ms p50 / p99)", "socket baseline, same run", lists(func(l *listResult) Cell { return latency(l.socket) }))
	row("full list ÷ socket (p50)", "target ≤ 2× (issue 13)", lists(func(l *listResult) Cell { return numbers("%.2f×", l.warm.P50()/l.socket.P50()) }))
	row("response size (MiB)", "", lists(func(l *listResult) Cell { return numbers("%.1f", float64(l.bytes)/(1<<20)) }))
	pages := func(f func(l *listResult) Cell) func(l *listResult) Cell {
		return lists(func(l *listResult) Cell {
			if len(l.pageFirst) == 0 {
				return na("embedded store only")
			}
			return f(l)
		})
	}
	row(fmt.Sprintf("page of %d from the start (ms p50 / p99)", b.cfg.PageSize), "target p50 ≤ 5 ms at a million", pages(func(l *listResult) Cell { return latency(l.pageFirst) }))
	row(fmt.Sprintf("page of %d from the middle (ms p50 / p99)", b.cfg.PageSize), "walking on with continue tokens", pages(func(l *listResult) Cell { return latency(l.pageMiddle) }))
	var qs []queryResult
	if emb != nil {
		qs = emb.queries
	}
	for i, q := range qs {
		row(fmt.Sprintf("query: %s (ms p50 / p99)", q.name), fmt.Sprintf("%d revisions answered (last run); target p50 ≤ 5 ms", q.results), pages(func(l *listResult) Cell {
			if i >= len(l.queries) {
				return na("not run")
			}
			return latency(l.queries[i].samples)
		}))
	}
	memory := func(f func(l *listResult) Cell) func(l *listResult) Cell {
		return lists(func(l *listResult) Cell {
			if l.mem.PeakRSS == 0 {
				return na("not measured")
			}
			return f(l)
		})
	}
	row("server peak RSS (MiB)", "VmHWM after the lists; the process holds this fill only", memory(func(l *listResult) Cell { return numbers("%.0f", float64(l.mem.PeakRSS>>20)) }))
	row("server peak RSS per revision (KB)", "target ≤ 2 KB at a million", memory(func(l *listResult) Cell { return numbers("%.2f", perRevision(l.mem.PeakRSS, l.items)) }))
	row("server RSS now / Go heap in use (MiB)", "", memory(func(l *listResult) Cell {
		return numbers("%.0f / %.0f", float64(l.mem.RSS>>20), float64(l.mem.HeapInuse>>20))
	}))
	row("clean stop (s)", "SIGTERM until exit: the checkpoint is written", starts(func(l *listResult) Cell {
		if l.stopKilled {
			return na("killed after the stop grace")
		}
		return sec(l.stop)
	}))
	row("start after a clean stop → complete list (s)", "the checkpoint", starts(func(l *listResult) Cell { return sec(l.startClean) }))
	row("start after kill -9 → complete list (s)", "a full scan", starts(func(l *listResult) Cell { return sec(l.startKill) }))
	t.add("registry requests: start after fill / clean / kill -9", "", na(noRegistry), cell(reg, starts(func(l *listResult) Cell {
		return numbers("%.0f / %.0f / %.0f", float64(l.afterFillRq.Total()), float64(l.startCleanR.Total()), float64(l.startKillR.Total()))
	})))
	t.add("registry requests of a warm list (max)", "min 0", na(noRegistry), cell(reg, lists(func(l *listResult) Cell { return numbers("%.0f", float64(maxTotal(l.warmRq))) })))
	for _, l := range []*listResult{emb, reg} {
		if l != nil && l.failed != "" {
			row("failed", "the rest of this size was not measured", func(l *listResult) Cell {
				if l.failed == "" {
					return text("")
				}
				return text(firstLine(l.failed))
			})
			break
		}
	}
}

func (b *bench) watchTable() {
	w := b.watch
	t := b.rep.table(fmt.Sprintf("Watchers: %d watches on %d revisions under %.0f writes per second", w.watchers, w.revisions, b.cfg.WatchWriteRate),
		"measure", "run 1: without the slow watchers", "run 2: with them", "run 3: without them again")
	one := func(c Cell) []Cell { return []Cell{c, text(""), text("")} }
	t.add("time until every watch answered (s)", "", one(numbers("%.2f", w.open.Seconds()))...)
	t.add("server RSS without / with the idle watches (MiB)", "", one(numbers("%.0f / %.0f", float64(w.memBefore.RSS>>20), float64(w.memIdle.RSS>>20)))...)
	t.add("RSS per idle watcher (KB)", "target ≤ 16 KB", one(numbers("%.1f", float64(w.memIdle.RSS-w.memBefore.RSS)/float64(w.watchers)/1024))...)
	t.add("Go heap in use after a GC, per idle watcher (KB)", "live memory: RSS moves little while the heap has room", one(numbers("%.1f", float64(w.memIdle.HeapInuse-w.memBefore.HeapInuse)/float64(w.watchers)/1024))...)
	t.add("goroutines per idle watcher", "", one(numbers("%.1f", float64(w.memIdle.Goroutines-w.memBefore.Goroutines)/float64(w.watchers)))...)
	runs := func(f func(r *watchRun) Cell) []Cell { return []Cell{f(&w.runs[0]), f(&w.runs[1]), f(&w.runs[2])} }
	t.add("writes (per second)", fmt.Sprintf("offered %.0f/s for %s", b.cfg.WatchWriteRate, b.cfg.WatchDuration), runs(func(r *watchRun) Cell {
		return numbers("%.0f (%.1f/s)", float64(r.writes), float64(r.writes)/r.duration.Seconds())
	})...)
	t.add("write latency (ms p50 / p99)", "", runs(func(r *watchRun) Cell { return latency(r.writeLat) })...)
	t.add("delivery: write acknowledged → event received (ms p50 / p99)", "target p99 ≤ 100 ms", runs(func(r *watchRun) Cell { return latency(r.delivery) })...)
	t.add("delivery, slowest (ms)", "", runs(func(r *watchRun) Cell { return numbers("%.1f", r.delivery.Percentile(100)) })...)
	t.add("events delivered / called for by the selectors", "", runs(func(r *watchRun) Cell { return numbers("%.0f / %.0f", float64(r.delivered), float64(r.expected)) })...)
	t.add("events received before the write's answer", "counted as 0 ms", runs(func(r *watchRun) Cell { return numbers("%.0f", float64(r.early)) })...)
	t.add("watches ended during the run", "", runs(func(r *watchRun) Cell {
		if r.ended == 0 {
			return numbers("0")
		}
		return Cell{Values: []float64{float64(r.ended)}, Text: fmt.Sprintf("%d (%s)", r.ended, r.endedFirst)}
	})...)
	t.add("server RSS / Go heap after a GC, at the end of the run (MiB)", "what the slow watchers cost the server shows in run 2", numbers("%.0f / %.0f", float64(w.memRun1.RSS>>20), float64(w.memRun1.HeapInuse>>20)),
		numbers("%.0f / %.0f", float64(w.memSlow.RSS>>20), float64(w.memSlow.HeapInuse>>20)), text(""))
	for _, s := range w.slow {
		t.add("slow watcher: "+s.name, "drained after run 2", text(""), text(fmt.Sprintf("%s; %s were queued for it; 410 Expired: %s", s.detail, sizeOf(s.pending), yesNo(s.expired))), text(""))
	}
	t.Note = fmt.Sprintf("Groups of a quarter each: %s. Every watcher starts from the resourceVersion of a list (no initial events). "+
		"The slow watchers are raw connections with a 4 KiB receive buffer that never read.", strings.Join(groupNames[:], "; "))
}

// sizeOf shows a byte count in KiB or MiB.
func sizeOf(n int64) string {
	if n < 1<<20 {
		return fmt.Sprintf("%.1f KiB", float64(n)/1024)
	}
	return fmt.Sprintf("%.1f MiB", float64(n)/(1<<20))
}

func yesNo(b bool) string {
	if b {
		return "yes"
	}
	return "no"
}

func (b *bench) informerTable() {
	in := b.informer
	t := b.rep.table(fmt.Sprintf("Informers: %d client-go informers on %d revisions under %.0f writes per second", in.informers, in.revisions, b.cfg.InformerWriteRate), "measure", "value")
	t.add("initial sync of every informer (s)", "how: "+in.syncVia, numbers("%.1f", in.sync.Seconds()))
	t.add("writes during the steady load", fmt.Sprintf("%s", in.duration.Round(time.Second)), numbers("%.0f (%.1f/s)", float64(in.writes), float64(in.writes)/in.duration.Seconds()))
	t.add("events delivered to the handlers (per second, all informers)", "", numbers("%.0f (%.0f/s)", float64(in.events), float64(in.events)/in.duration.Seconds()))
	t.add("events called for (writes × informers)", "", numbers("%.0f", float64(in.expected)))
	t.add("caches equal to the server's list afterwards", fmt.Sprintf("checked within %s", in.catchUp.Round(time.Millisecond)), numbers("%.0f of %.0f", float64(in.caughtUp), float64(in.informers)))
	t.add("relists (lists and WatchLists beyond the first per client)", "counted by a proxy in front of pkgserver", numbers("%.0f", float64(in.relists)))
	t.add("relists per hour, all informers", fmt.Sprintf("over %s", in.total.Round(time.Second)), numbers("%.1f", float64(in.relists)/in.total.Hours()))
	t.add("watch resumes (from a resourceVersion)", "", numbers("%.0f", float64(in.resumes)))
	t.add("list pages fetched, all informers", fmt.Sprintf("client-go lists in pages of 500; %d revisions", in.revisions), numbers("%.0f", float64(in.pages)))
	t.add("410 Gone answers", "", numbers("%.0f", float64(in.gone)))
	t.add("server RSS before / with the informers (MiB)", "", numbers("%.0f / %.0f", float64(in.memBefore.RSS>>20), float64(in.memAfter.RSS>>20)))
	for _, rj := range in.rejected {
		t.add("refused by pkgserver", "first of its kind", text(rj))
	}
	if b.cfg.InformerWatchTimeout > 0 {
		t.Note = fmt.Sprintf("The proxy shortens every watch to %s–%s (timeoutSeconds), so each informer resumes its watch about every %s instead of every 5–10 minutes: "+
			"a run of minutes exercises as many resumes as hours of client-go's defaults.", b.cfg.InformerWatchTimeout, 2*b.cfg.InformerWatchTimeout, b.cfg.InformerWatchTimeout*3/2)
	}
}

func (b *bench) replicaTables() {
	rp := b.replica
	t := b.rep.table(fmt.Sprintf("etcd coordination: the same sequence on one server without etcd and on one replica with a %d-member etcd (fsync on), %d interleaved runs, remote registry",
		rp.members, b.cfg.ReplicaIterations), "operation", "without etcd (ms p50 / p99)", "with etcd (ms p50 / p99)", "added p50 (ms)", "ratio p50",
		"etcd round trips (mean)", "etcd calls, one example", "registry requests without / with")
	for s := range numSteps {
		t.add(stepNames[s], "", latency(rp.base[s]), latency(rp.etcd[s]), numbers("%.2f", rp.etcd[s].P50()-rp.base[s].P50()),
			numbers("%.2f×", rp.etcd[s].P50()/rp.base[s].P50()), numbers("%.1f", meanTotal(rp.rpcs[s])), text(typical(rp.rpcs[s])),
			numbers("%.1f / %.1f", meanTotal(rp.baseRq[s]), meanTotal(rp.regRq[s])))
	}
	var rt float64
	for s := range numSteps {
		rt += meanTotal(rp.rpcs[s])
	}
	t.add("whole sequence", "", latency(rp.baseTotal), latency(rp.etcdTotal), numbers("%.2f", rp.etcdTotal.P50()-rp.baseTotal.P50()),
		numbers("%.2f×", rp.etcdTotal.P50()/rp.baseTotal.P50()), numbers("%.1f", rt), text(""), text(""))
	t.Note = "Round trips are the unary gRPC calls the etcd members started during the operation (grpc_server_started_total of their /metrics), lease keep-alives and watches aside."

	t = b.rep.table(fmt.Sprintf("Throughput with several replicas over one distribution registry (%d clients spread over the replicas, %s each)", b.cfg.ReplicaClients, b.cfg.ReplicaDuration),
		"servers", "sequences", "sequences/s", "÷ 1 replica", "÷ without etcd")
	t.add("1 server without etcd", "", text(""), numbers("%.1f", rp.baseRate), text(""), numbers("1.00×"))
	var one float64
	for _, x := range rp.rates {
		if x.replicas == 1 {
			one = x.rate
		}
	}
	for _, x := range rp.rates {
		ratio := na("no 1-replica run")
		if one > 0 {
			ratio = numbers("%.2f×", x.rate/one)
		}
		t.add(fmt.Sprintf("%d replica(s) with etcd", x.replicas), "", numbers("%.0f", float64(x.sequences)), numbers("%.1f", x.rate), ratio, numbers("%.2f×", x.rate/rp.baseRate))
	}
	t.Note = "Afterwards: " + rp.agreeDetail + ". All processes (replicas, etcd members, registry, harness) share the machine's cores."
}

// largestWith returns the largest size whose embedded result has f, with it.
func (b *bench) largestWith(f func(l *listResult) bool) (int, *listResult) {
	sizes := b.cfg.stages()
	for i := len(sizes) - 1; i >= 0; i-- {
		if l := b.emb.lists[sizes[i]]; l != nil && l.na == "" && f(l) {
			return sizes[i], l
		}
	}
	return 0, nil
}

// atSize judges a target set at a million on the largest size measured, and
// says so when that is not a million.
func (b *bench) atSize(size int, met bool) string {
	if size >= million {
		return status(met)
	}
	why := "make bench-scale runs a million"
	if l := b.emb.lists[million]; l != nil && l.na != "" {
		why = "a million was " + l.na
	}
	return fmt.Sprintf("%s at %d (%s)", strings.Trim(status(met), "*"), size, why)
}

func (b *bench) targets13() {
	r := b.rep
	const is = "13"
	if size, l := b.largestWith(func(l *listResult) bool { return l.mem.PeakRSS > 0 }); l != nil {
		kb := perRevision(l.mem.PeakRSS, l.items)
		r.target(is, "memory: RSS per revision at 1,000,000 revisions ≤ 2 KB (≤ 2 GiB)",
			fmt.Sprintf("%.2f KB at %d (peak RSS %d MiB)", kb, l.items, l.mem.PeakRSS>>20), "2 KB", fmt.Sprintf("%.2f×", kb/2), b.atSize(size, kb <= 2))
	} else {
		r.target(is, "memory: RSS per revision at 1,000,000 revisions ≤ 2 KB (≤ 2 GiB)", "lists not run", "", "", statusNotRun)
	}
	if size, l := b.largestWith(func(l *listResult) bool { return len(l.pageFirst) > 0 }); l != nil {
		worst := max(l.pageFirst.P50(), l.pageMiddle.P50())
		r.target(is, fmt.Sprintf("lists at 1,000,000: a page of %d p50 ≤ 5 ms", b.cfg.PageSize),
			fmt.Sprintf("from the start %.2f ms, from the middle %.2f ms (at %d)", l.pageFirst.P50(), l.pageMiddle.P50(), l.items), "5 ms", fmt.Sprintf("%.2f×", worst/5), b.atSize(size, worst <= 5))
	}
	if size, l := b.largestWith(func(l *listResult) bool { return len(l.warm) > 0 }); l != nil {
		s := l.warm.P50() / 1000
		r.target(is, "lists at 1,000,000: a full streamed list ≤ 3 s", fmt.Sprintf("%.2f s at %d (%.0f MiB)", s, l.items, float64(l.bytes)/(1<<20)), "3 s", fmt.Sprintf("%.2f×", s/3), b.atSize(size, s <= 3))
		ratio := l.warm.P50() / l.socket.P50()
		r.target(is, "lists at 1,000,000: a full list within 2× of writing the same bytes to a socket",
			fmt.Sprintf("%.0f ms", l.warm.P50()), fmt.Sprintf("%.0f ms (plain Go HTTP server, same bytes)", l.socket.P50()), fmt.Sprintf("%.2f×", ratio), b.atSize(size, ratio <= 2))
	}
	if size, l := b.largestWith(func(l *listResult) bool { return len(l.queries) > 0 }); l != nil {
		for _, q := range l.queries {
			p := q.samples.P50()
			r.target(is, fmt.Sprintf("selective query at 1,000,000 p50 ≤ 5 ms: %s", q.name), fmt.Sprintf("%.2f ms at %d (%d answered)", p, l.items, q.results),
				"5 ms", fmt.Sprintf("%.2f×", p/5), b.atSize(size, p <= 5))
		}
	}
	for _, st := range []struct {
		size  int
		limit float64
	}{{100000, 2}, {million, 10}} {
		l := b.emb.lists[st.size]
		for _, kind := range []string{"clean stop (checkpoint)", "kill -9 (full scan)"} {
			name := fmt.Sprintf("start: complete list of %d revisions after a %s ≤ %.0f s", st.size, kind, st.limit)
			switch {
			case l == nil:
				r.target(is, name, "not run: no fill of that size in this run", "", "", statusNotRun)
				continue
			case l.na != "":
				r.target(is, name, l.na, "", "", statusNotRun)
				continue
			case l.startKill == 0:
				r.target(is, name, "not run: the start phase is off", "", "", statusNotRun)
				continue
			}
			d := l.startClean
			base := fmt.Sprintf("clean stop took %.2f s", l.stop.Seconds())
			if strings.HasPrefix(kind, "kill") {
				d, base = l.startKill, fmt.Sprintf("after a clean stop: %.2f s", l.startClean.Seconds())
			}
			r.target(is, name, fmt.Sprintf("%.2f s", d.Seconds()), base, fmt.Sprintf("%.2f×", d.Seconds()/st.limit), status(d.Seconds() <= st.limit))
		}
	}
	if w := b.watch; w != nil {
		a, s := &w.runs[0], &w.runs[1]
		r.target(is, fmt.Sprintf("watchers: %d watches on %d revisions under %.0f writes/s, p99 delivery ≤ 100 ms", w.watchers, w.revisions, b.cfg.WatchWriteRate),
			fmt.Sprintf("%.1f ms (p50 %.1f ms; %d of %d events; %.1f writes/s)", a.delivery.P99(), a.delivery.P50(), a.delivered, a.expected, float64(a.writes)/a.duration.Seconds()),
			"100 ms", fmt.Sprintf("%.2f×", a.delivery.P99()/100), status(a.delivery.P99() <= 100 && a.delivered == a.expected))
		rss := float64(w.memIdle.RSS-w.memBefore.RSS) / float64(w.watchers) / 1024
		heap := float64(w.memIdle.HeapInuse-w.memBefore.HeapInuse) / float64(w.watchers) / 1024
		per := max(rss, heap)
		r.target(is, "watchers: memory per idle watcher ≤ 16 KB (the larger of RSS and live heap growth)", fmt.Sprintf("%.1f KB RSS, %.1f KB Go heap after a GC", rss, heap),
			"16 KB", fmt.Sprintf("%.2f×", per/16), status(per <= 16))
		baseDelivery, baseWrites := w.without()
		ratio := s.delivery.P99() / baseDelivery.P99()
		r.target(is, "watchers: a slow watcher does not delay the other watchers (p99 delivery with it ÷ without, within 1.5× for noise)",
			fmt.Sprintf("%.1f ms", s.delivery.P99()), fmt.Sprintf("%.1f ms in runs 1 and 3 without it", baseDelivery.P99()), fmt.Sprintf("%.2f×", ratio),
			status(ratio <= 1.5 && s.delivered == s.expected))
		wr := s.writeLat.P99() / baseWrites.P99()
		r.target(is, "watchers: a slow watcher does not delay writers (write p99 with it ÷ without, within 1.5× for noise)",
			fmt.Sprintf("%.1f ms", s.writeLat.P99()), fmt.Sprintf("%.1f ms in runs 1 and 3 without it", baseWrites.P99()), fmt.Sprintf("%.2f×", wr), status(wr <= 1.5))
		// A stream the window left behind ends with a 410 event; one blocked
		// on a client that reads nothing can only be closed, as Kubernetes
		// closes unresponsive watchers (the client's next watch decides).
		dropped := true
		var how []string
		for _, sw := range w.slow {
			dropped = dropped && sw.closed
			detail := sw.detail
			if sw.closed && sw.expired {
				detail += ", after a 410 Expired event"
			} else if sw.closed {
				detail += ", no 410 event (it could not be written)"
			}
			how = append(how, fmt.Sprintf("%s: %s", sw.name, detail))
		}
		r.target(is, "watchers: a slow watcher is dropped (a 410 event when it can still be written, else the connection closed)", strings.Join(how, "; "), "", "", status(dropped))
	} else if b.cfg.has(PhaseWatch) {
		r.target(is, "watchers: 1,000 watches on 100,000 revisions", "not run", "", "", statusNotRun)
	}
	if b.cfg.has(PhaseLifecycle) {
		for _, be := range []*backend{b.emb, b.reg} {
			if be.orasNA != "" {
				r.target(is, fmt.Sprintf("writes (%s): every operation p50 ≤ 1.0× an oras-go push", be.name), be.orasNA, "", "", statusNotRun)
				continue
			}
			push := be.orasPush.P50()
			for s := range numSteps {
				p := be.steps[s].P50()
				r.target(is, fmt.Sprintf("writes (%s): %s p50 ≤ 1.0× an oras-go push", be.name, stepNames[s]), fmt.Sprintf("%.1f ms", p),
					fmt.Sprintf("%.1f ms push", push), fmt.Sprintf("%.2f×", p/push), status(p/push <= 1))
			}
			p := be.total.P50()
			r.target(is, fmt.Sprintf("writes (%s): the whole sequence p50 ≤ 1.5× an oras-go push", be.name), fmt.Sprintf("%.1f ms", p),
				fmt.Sprintf("%.1f ms push", push), fmt.Sprintf("%.2f×", p/push), status(p/push <= 1.5))
		}
		var lcTotal float64
		for s := range numSteps {
			lcTotal += meanTotal(b.reg.stepReqs[s])
		}
		pushRq := meanTotal(b.reg.orasPushRq)
		extra := (lcTotal - pushRq) / numSteps
		r.target(is, "writes (remote): registry requests per operation beyond the push ≤ 2", fmt.Sprintf("%.2f (%.1f for the sequence)", extra, lcTotal),
			fmt.Sprintf("%.1f for the push", pushRq), fmt.Sprintf("%.2f×", extra/2), status(extra <= 2))
	}
}

func (b *bench) targets11() {
	in := b.informer
	if in == nil {
		if b.cfg.has(PhaseInformers) {
			b.rep.target("11", "informers: relists per hour", "not run", "", "", statusNotRun)
		}
		return
	}
	perHour := float64(in.relists) / in.total.Hours()
	b.rep.target("11", fmt.Sprintf("%d informers on %d revisions: list only once per process (relists per hour)", in.informers, in.revisions),
		fmt.Sprintf("%.1f per hour (%d relists in %s; %d watch resumes, %d 410s)", perHour, in.relists, in.total.Round(time.Second), in.resumes, in.gone),
		"0", "", status(in.relists == 0))
	b.rep.target("11", "informers: events per second under a steady write load",
		fmt.Sprintf("%.0f events/s (%d events)", float64(in.events)/in.duration.Seconds(), in.events),
		fmt.Sprintf("%.1f writes/s × %d informers = %d events", float64(in.writes)/in.duration.Seconds(), in.informers, in.expected),
		fmt.Sprintf("%.2f×", float64(in.events)/float64(in.expected)), statusReported)
	b.rep.target("11", "informers: every cache ends equal to the server's list", fmt.Sprintf("%d of %d", in.caughtUp, in.informers), "", "", status(in.caughtUp == in.informers))
	how := "WatchList (sendInitialEvents)"
	if in.syncVia != reqWatchList {
		how = "a LIST: client-go fell back after pkgserver refused its WatchList"
		if len(in.rejected) > 0 {
			how += " (" + in.rejected[0] + ")"
		}
	}
	b.rep.target("11", "informers: the initial state comes through WatchList, as client-go defaults", how,
		fmt.Sprintf("all %d synced in %.1f s", in.informers, in.sync.Seconds()), "", status(in.syncVia == reqWatchList))
}

func (b *bench) targets12() {
	rp := b.replica
	if rp == nil {
		if b.cfg.has(PhaseReplicas) {
			b.rep.target("12", "etcd coordination cost", "not run", "", "", statusNotRun)
		}
		return
	}
	for s := range numSteps {
		b.rep.target("12", fmt.Sprintf("etcd round trips and added latency: %s", stepNames[s]),
			fmt.Sprintf("%.1f round trips; p50 %.1f ms", meanTotal(rp.rpcs[s]), rp.etcd[s].P50()), fmt.Sprintf("%.1f ms without etcd", rp.base[s].P50()),
			fmt.Sprintf("%.2f× (+%.1f ms)", rp.etcd[s].P50()/rp.base[s].P50(), rp.etcd[s].P50()-rp.base[s].P50()), statusReported)
	}
	b.rep.target("12", "etcd: the whole sequence", fmt.Sprintf("p50 %.1f ms", rp.etcdTotal.P50()), fmt.Sprintf("%.1f ms without etcd", rp.baseTotal.P50()),
		fmt.Sprintf("%.2f×", rp.etcdTotal.P50()/rp.baseTotal.P50()), statusReported)
	var one float64
	for _, x := range rp.rates {
		if x.replicas == 1 {
			one = x.rate
		}
	}
	for _, x := range rp.rates {
		base, ratio := fmt.Sprintf("%.1f/s without etcd", rp.baseRate), fmt.Sprintf("%.2f× without etcd", x.rate/rp.baseRate)
		if one > 0 && x.replicas != 1 {
			base, ratio = fmt.Sprintf("%.1f/s with 1 replica", one), fmt.Sprintf("%.2f× 1 replica", x.rate/one)
		}
		b.rep.target("12", fmt.Sprintf("throughput with %d replica(s), %d clients spread over them", x.replicas, b.cfg.ReplicaClients),
			fmt.Sprintf("%.1f sequences/s", x.rate), base, ratio, statusReported)
	}
	b.rep.target("12", "replicas agree afterwards", rp.agreeDetail, "", "", status(rp.agree))
}

func (b *bench) targets6() {
	r := b.rep
	emb, reg := b.emb, b.reg
	for _, c := range []struct {
		size  int
		limit float64
	}{{10000, 20}, {100000, 200}} {
		name := fmt.Sprintf("list of %d revisions (embedded): p50 ≤ %.0f ms", c.size, c.limit)
		if l := emb.lists[c.size]; l != nil && len(l.warm) > 0 {
			r.target("6", name, fmt.Sprintf("%.1f ms", l.warm.P50()), "", "", status(l.warm.P50() <= c.limit))
		}
	}
	if l := emb.lists[100000]; l != nil && l.mem.PeakRSS > 0 {
		r.target("6", "server RSS with 100,000 revisions (embedded) ≤ 1 GiB", fmt.Sprintf("%d MiB", l.mem.PeakRSS>>20), "", "", status(l.mem.PeakRSS <= 1<<30))
	}
	if !b.cfg.has(PhaseLifecycle) {
		return
	}
	for _, be := range []*backend{emb, reg} {
		r.target("6", fmt.Sprintf("get PackageRevision warm (%s): p50 ≤ 2 ms", be.name), fmt.Sprintf("%.2f ms", be.getWarm.P50()), "", "", status(be.getWarm.P50() <= 2))
		r.target("6", fmt.Sprintf("get PackageRevisionResources warm (%s): p50 ≤ 2 ms", be.name), fmt.Sprintf("%.2f ms", be.resWarm.P50()), "", "", status(be.resWarm.P50() <= 2))
	}
	worst := slices.Max([]int{maxTotal(reg.getWarmRq), maxTotal(reg.resWarmRq)})
	for _, l := range reg.lists {
		if l.na == "" {
			worst = max(worst, maxTotal(l.warmRq))
		}
	}
	r.target("6", "no request makes more than one registry round trip for an unchanged cached revision (remote)",
		fmt.Sprintf("at most %d (warm gets and lists)", worst), "", "", status(worst <= 1))
}

func (b *bench) notes() {
	r := b.rep
	if b.cfg.has(PhaseLifecycle) {
		reg := b.reg
		for s := range numSteps {
			r.Notes = append(r.Notes, fmt.Sprintf("remote %s, one example: %s", stepNames[s], typical(reg.stepReqs[s])))
		}
		r.Notes = append(r.Notes,
			fmt.Sprintf("oras-go push, one example: %s", typical(reg.orasPushRq)),
			fmt.Sprintf("oras-go pull, one example: %s", typical(reg.orasPullRq)))
		if b.emb.orasNA != "" {
			r.Notes = append(r.Notes, "The embedded backend has no oras-go comparison: "+b.emb.orasNA+".")
		}
	}
	for _, size := range b.cfg.stages() {
		if l := b.reg.lists[size]; l != nil && l.na == "" && l.startKill > 0 {
			r.Notes = append(r.Notes, fmt.Sprintf("remote, %d revisions, start after kill -9: %s", l.items, l.startKillR.String()))
		}
	}
	if b.cfg.ProfileDir != "" {
		r.Notes = append(r.Notes, "Profiles of pkgserver were saved (-profile-dir): CPU and heap during the lists of the largest size, CPU during its two starts, CPU and heap during the first watch run (go tool pprof -top <file>).")
	}
}
