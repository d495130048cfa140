package bench

import (
	"fmt"
	"slices"
	"time"
)

const noRegistry = "embedded store: no registry requests to count"

// report turns the measurements into rows, targets and notes.
func (b *bench) report() {
	r := b.rep
	emb, reg := b.emb, b.reg
	both := func(f func(be *backend) Cell) (Cell, Cell) { return f(emb), f(reg) }

	sec := fmt.Sprintf("Lifecycle: create → put resources → propose → approve (ms p50 / p99, %d packages of %d files, one client)", b.cfg.Iterations, filesPerPackage)
	for s := range numSteps {
		e, m := both(func(be *backend) Cell { return latency(be.steps[s]) })
		r.add(sec, stepNames[s], e, m, "")
	}
	e, m := both(func(be *backend) Cell { return latency(be.total) })
	r.add(sec, "total", e, m, "")
	e, m = both(func(be *backend) Cell { return numbers("%.1f", be.seqRate) })
	r.add(sec, "throughput, 1 client (packages/s)", e, m, "whole sequences per second")
	e, m = both(func(be *backend) Cell { return numbers("%.1f", be.concRate) })
	r.add(sec, fmt.Sprintf("throughput, %d clients (packages/s)", b.cfg.Concurrency), e, m, "whole sequences per second")
	e, m = both(func(be *backend) Cell {
		if be.orasNA != "" {
			return na(be.orasNA)
		}
		return latency(be.orasPush)
	})
	r.add(sec, "oras-go push of the same package", e, m, "in process, same registry, same layer bytes")
	e, m = both(func(be *backend) Cell {
		if be.orasNA != "" {
			return na(be.orasNA)
		}
		return numbers("%.2f×", be.total.P50()/be.orasPush.P50())
	})
	r.add(sec, "total p50 ÷ oras-go push p50", e, m, "target ≤ 1.5×")

	sec = "Registry requests per operation (mean, counted by the proxy; remote backend)"
	var lcTotal float64
	for s := range numSteps {
		mean := meanTotal(reg.stepReqs[s])
		lcTotal += mean
		r.add(sec, stepNames[s], na(noRegistry), numbers("%.1f", mean), fmt.Sprintf("min %d: %s", stepMinimum[s].n, stepMinimum[s].why))
	}
	minTotal := 0
	for _, m := range stepMinimum {
		minTotal += m.n
	}
	r.add(sec, "whole sequence", na(noRegistry), numbers("%.1f", lcTotal), fmt.Sprintf("min %d", minTotal))
	pushRq := meanTotal(reg.orasPushRq)
	r.add(sec, "oras-go push of the same package", na(noRegistry), numbers("%.1f", pushRq), "oras.Copy: HEAD + POST + PUT per blob, PUT manifest")
	r.add(sec, "sequence beyond the oras-go push, per operation", na(noRegistry), numbers("%.2f", (lcTotal-pushRq)/numSteps), "target ≤ 2")
	r.add(sec, "get PackageRevision, warm (max)", na(noRegistry), numbers("%.0f", float64(maxTotal(reg.getWarmRq))), "min 0 (cached index); ≤ 1 to revalidate")
	r.add(sec, "get PackageRevisionResources, warm (max)", na(noRegistry), numbers("%.0f", float64(maxTotal(reg.resWarmRq))), "min 0 (blobs cached by digest); ≤ 1 to revalidate")
	r.add(sec, "get PackageRevision, cold", na(noRegistry), numbers("%.1f", meanTotal(reg.getColdRq)), "min 2: tags list (the name does not say which vN) + GET manifest by tag")
	r.add(sec, "get PackageRevisionResources, cold", na(noRegistry), numbers("%.1f", meanTotal(reg.resColdRq)), "min 3: tags list + GET manifest by tag + GET layer blob")
	r.add(sec, "oras-go pull of the same package", na(noRegistry), numbers("%.1f", meanTotal(reg.orasPullRq)), "GET manifest + GET config + GET layer (+ HEAD to resolve)")

	sec = fmt.Sprintf("Reads of published revisions (ms p50 / p99; warm: %d reads, cold: first request after a restart, %d runs)", b.cfg.Reads, b.cfg.ColdRuns)
	e, m = both(func(be *backend) Cell { return latency(be.getWarm) })
	r.add(sec, "get PackageRevision, warm", e, m, "target p50 ≤ 2 ms")
	e, m = both(func(be *backend) Cell { return latency(be.resWarm) })
	r.add(sec, "get PackageRevisionResources, warm", e, m, "target p50 ≤ 2 ms")
	e, m = both(func(be *backend) Cell { return latency(be.getCold) })
	r.add(sec, "get PackageRevision, cold", e, m, "")
	e, m = both(func(be *backend) Cell { return latency(be.resCold) })
	r.add(sec, "get PackageRevisionResources, cold", e, m, "")
	e, m = both(func(be *backend) Cell {
		if be.orasNA != "" {
			return na(be.orasNA)
		}
		return latency(be.orasPull)
	})
	r.add(sec, "oras-go pull of the same package", e, m, "resolve, fetch, gunzip + untar")
	e, m = both(func(be *backend) Cell {
		if be.orasNA != "" {
			return na(be.orasNA)
		}
		return numbers("%.2f×", be.resWarm.P50()/be.orasPull.P50())
	})
	r.add(sec, "resources warm p50 ÷ oras-go pull p50", e, m, "")
	e, m = both(func(be *backend) Cell {
		if be.orasNA != "" {
			return na(be.orasNA)
		}
		return numbers("%.2f×", be.resCold.P50()/be.orasPull.P50())
	})
	r.add(sec, "resources cold p50 ÷ oras-go pull p50", e, m, "")

	for _, size := range b.cfg.ListSizes {
		sec = listSection(size)
		cell := func(be *backend, f func(l *listResult) Cell) Cell {
			l := be.lists[size]
			if l == nil {
				return na("not measured")
			}
			if l.na != "" {
				return na(l.na)
			}
			return f(l)
		}
		row := func(name, note string, f func(l *listResult) Cell) {
			r.add(sec, name, cell(emb, f), cell(reg, f), note)
		}
		row("revisions listed", "checked against the fill", func(l *listResult) Cell { return numbers("%.0f", float64(l.items)) })
		row("pre-fill time (s)", "written straight to the store; not a pkgserver cost", func(l *listResult) Cell { return numbers("%.1f", l.fill.Seconds()) })
		row("first list after restart (ms)", "discovery: reads every manifest", func(l *listResult) Cell { return numbers("%.0f", ms(l.first)) })
		runs := func(be *backend) string {
			if l := be.lists[size]; l != nil {
				return fmt.Sprintf("%d", len(l.warm))
			}
			return "0"
		}
		row("warm list (ms p50 / p99)", fmt.Sprintf("runs: %s embedded, %s remote", runs(emb), runs(reg)), func(l *listResult) Cell { return latency(l.warm) })
		row("response size (MiB)", "", func(l *listResult) Cell { return numbers("%.1f", float64(l.bytes)/(1<<20)) })
		row("server peak RSS (MiB)", "VmHWM after the lists; one backend per process", func(l *listResult) Cell { return numbers("%.0f", float64(l.peakRSS>>20)) })
		catalogPages := (size/RevisionsPerPackage + 999) / 1000
		r.add(sec, "registry requests, first list / warm list", na(noRegistry), cell(reg, func(l *listResult) Cell {
			return numbers("%.0f / %.0f", float64(l.firstRq.Total()), float64(maxTotal(l.warmRq)))
		}), fmt.Sprintf("min %d / 0: _catalog pages + 1 tags list per package + 1 manifest GET per revision", catalogPages+packagesOf(size)+size))
	}

	sec = fmt.Sprintf("Cold start: %d packages × %d revisions", b.cfg.Packages, RevisionsPerPackage)
	e, m = both(func(be *backend) Cell {
		if be.coldNA != "" {
			return na(be.coldNA)
		}
		return numbers("%.2f", be.coldStart.Seconds())
	})
	r.add(sec, "process start → a list returns every revision (s)", e, m, "target ≤ 5 s on the remote registry (3,000 revisions)")
	coldMin := (b.cfg.Packages+999)/1000 + b.cfg.Packages + b.cfg.Packages*RevisionsPerPackage
	coldRq := numbers("%.0f", float64(reg.coldRq.Total()))
	if reg.coldNA != "" {
		coldRq = na(reg.coldNA)
	}
	r.add(sec, "registry requests", na(noRegistry), coldRq, fmt.Sprintf("min %d: as for a first list", coldMin))

	b.targets()
	b.notes()
}

// listSection is the title of the section of one list size.
func listSection(size int) string {
	return fmt.Sprintf("List of %d revisions (%d per package)", size, RevisionsPerPackage)
}

// packagesOf is the number of packages of a list size.
func packagesOf(size int) int { return (size + RevisionsPerPackage - 1) / RevisionsPerPackage }

func (b *bench) targets() {
	r := b.rep
	emb, reg := b.emb, b.reg
	listTarget := func(size int, limit float64) {
		name := fmt.Sprintf("list of %d revisions (embedded): p50 ≤ %.0f ms", size, limit)
		if l := emb.lists[size]; l != nil && l.na == "" {
			r.target(name, fmt.Sprintf("%.1f ms", l.warm.P50()), l.warm.P50() <= limit, true)
			return
		}
		r.target(name, "not run", false, false)
	}
	listTarget(10000, 20)
	listTarget(100000, 200)
	if l := emb.lists[100000]; l != nil && l.na == "" {
		r.target("server RSS with 100,000 revisions (embedded) ≤ 1 GiB", fmt.Sprintf("%d MiB", l.peakRSS>>20), l.peakRSS <= 1<<30, true)
	} else {
		r.target("server RSS with 100,000 revisions (embedded) ≤ 1 GiB", "not run", false, false)
	}
	for _, be := range []*backend{emb, reg} {
		r.target(fmt.Sprintf("get PackageRevision warm (%s): p50 ≤ 2 ms", be.name), fmt.Sprintf("%.2f ms", be.getWarm.P50()), be.getWarm.P50() <= 2, true)
		r.target(fmt.Sprintf("get PackageRevisionResources warm (%s): p50 ≤ 2 ms", be.name), fmt.Sprintf("%.2f ms", be.resWarm.P50()), be.resWarm.P50() <= 2, true)
	}
	for _, be := range []*backend{emb, reg} {
		name := fmt.Sprintf("create → approve total p50 ≤ 1.5× oras-go push (%s)", be.name)
		if be.orasNA != "" {
			r.target(name, be.orasNA, false, false)
			continue
		}
		ratio := be.total.P50() / be.orasPush.P50()
		r.target(name, fmt.Sprintf("%.2f× (%.1f ms vs %.1f ms)", ratio, be.total.P50(), be.orasPush.P50()), ratio <= 1.5, true)
	}
	var lcTotal float64
	for s := range numSteps {
		lcTotal += meanTotal(reg.stepReqs[s])
	}
	extra := (lcTotal - meanTotal(reg.orasPushRq)) / numSteps
	r.target("≤ 2 registry requests per operation beyond the oras-go push (remote)",
		fmt.Sprintf("%.2f (%.1f for the sequence vs %.1f for the push)", extra, lcTotal, meanTotal(reg.orasPushRq)), extra <= 2, true)
	cold := fmt.Sprintf("cold start with %d revisions on the local distribution registry ≤ 5 s", b.cfg.Packages*RevisionsPerPackage)
	if reg.coldNA != "" {
		r.target(cold, reg.coldNA, false, false)
	} else {
		r.target(cold, fmt.Sprintf("%.2f s", reg.coldStart.Seconds()), reg.coldStart <= 5*time.Second, b.cfg.Packages == 1000)
	}
	worst := slices.Max([]int{maxTotal(reg.getWarmRq), maxTotal(reg.resWarmRq)})
	for _, l := range reg.lists {
		if l.na == "" {
			worst = max(worst, maxTotal(l.warmRq))
		}
	}
	r.target("no request makes more than one registry round trip for an unchanged cached revision (remote)",
		fmt.Sprintf("at most %d (warm gets and lists)", worst), worst <= 1, true)
}

func (b *bench) notes() {
	r := b.rep
	reg := b.reg
	for s := range numSteps {
		r.Notes = append(r.Notes, fmt.Sprintf("remote %s, one example: %s", stepNames[s], typical(reg.stepReqs[s])))
	}
	r.Notes = append(r.Notes,
		fmt.Sprintf("oras-go push, one example: %s", typical(reg.orasPushRq)),
		fmt.Sprintf("oras-go pull, one example: %s", typical(reg.orasPullRq)),
		fmt.Sprintf("remote get PackageRevision cold, one example: %s", typical(reg.getColdRq)),
		fmt.Sprintf("remote get PackageRevisionResources cold, one example: %s", typical(reg.resColdRq)),
		fmt.Sprintf("remote cold start: %s", reg.coldRq.String()),
	)
	if b.emb.orasNA != "" {
		r.Notes = append(r.Notes, "The embedded backend has no oras-go comparison: "+b.emb.orasNA+". Its ratio target is judged on the remote backend only in this run.")
	}
}
