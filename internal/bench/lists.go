package bench

import (
	"context"
	"fmt"
	"time"
)

// lists fills the list namespaces stage by stage and measures, at each list
// size, the first list after a restart and warm lists, and at the cold-start
// size the time from process start until a list returns every revision.
func (b *bench) lists(ctx context.Context) error {
	coldSize := b.cfg.Packages * RevisionsPerPackage
	listed := map[int]bool{}
	for _, n := range b.cfg.ListSizes {
		listed[n] = true
	}
	embPkgs, regPkgs := 0, 0
	for _, size := range b.cfg.stages() {
		pkgs := (size + RevisionsPerPackage - 1) / RevisionsPerPackage
		onRemote := size <= b.cfg.RemoteListMax
		b.logf("stage %d revisions (%d packages): filling", size, pkgs)

		b.server.Stop()
		d, err := timed(func() error { return FillLayout(ctx, b.server.DataDir, embListPath, embPkgs, pkgs, b.pool) })
		if err != nil {
			return fmt.Errorf("fill embedded store: %w", err)
		}
		embFill := d
		embPkgs = pkgs
		var regFill time.Duration
		if onRemote {
			// Straight to the registry, not through the counting proxy.
			regFill, err = timed(func() error { return FillRegistry(ctx, b.registry.Addr, listPrefix, regPkgs, pkgs, b.pool) })
			if err != nil {
				return fmt.Errorf("fill registry: %w", err)
			}
			regPkgs = pkgs
		}
		b.logf("stage %d: filled in %s (embedded) and %s (remote)", size, embFill.Round(time.Millisecond), regFill.Round(time.Millisecond))
		want := pkgs * RevisionsPerPackage

		if size == coldSize {
			if err := b.coldStart(ctx, b.emb, nsListEmb, want); err != nil {
				return err
			}
			if onRemote {
				if err := b.coldStart(ctx, b.reg, nsListReg, want); err != nil {
					return err
				}
			} else {
				b.reg.coldNA = fmt.Sprintf("not filled: %d revisions is over -remote-list-max %d", size, b.cfg.RemoteListMax)
			}
		}
		if !listed[size] {
			continue
		}
		for _, c := range []struct {
			be   *backend
			ns   string
			fill time.Duration
			on   bool
		}{{b.emb, nsListEmb, embFill, true}, {b.reg, nsListReg, regFill, onRemote}} {
			if !c.on {
				c.be.lists[size] = &listResult{na: fmt.Sprintf("not filled: sizes over %d are measured on the embedded store only (-remote-list-max)", b.cfg.RemoteListMax)}
				continue
			}
			r, err := b.measureList(ctx, c.ns, want)
			if err != nil {
				return fmt.Errorf("list %d revisions on %s: %w", size, c.be.name, err)
			}
			r.fill = c.fill
			r.packages = pkgs
			c.be.lists[size] = r
			b.logf("stage %d on %s: first list %s, warm p50 %.1f ms, peak RSS %d MiB", size, c.be.name,
				r.first.Round(time.Millisecond), r.warm.P50(), r.peakRSS>>20)
		}
	}
	return nil
}

// measureList restarts pkgserver (so that this backend alone is in its
// memory), lists ns once cold and ListRuns times warm, and reads the peak RSS.
func (b *bench) measureList(ctx context.Context, ns string, want int) (*listResult, error) {
	if err := b.restart(); err != nil {
		return nil, err
	}
	r := &listResult{}
	var err error
	r.first, r.firstRq, err = b.counted(func() (err error) { r.bytes, err = b.client.fetch(ctx, listPath(ns)); return err })
	if err != nil {
		return nil, err
	}
	start := time.Now()
	for i := range b.cfg.ListRuns {
		if i >= 3 && b.cfg.ListBudget > 0 && time.Since(start) > b.cfg.ListBudget {
			break
		}
		d, rq, err := b.counted(func() error { _, err := b.client.fetch(ctx, listPath(ns)); return err })
		if err != nil {
			return nil, err
		}
		r.warm = append(r.warm, d)
		r.warmRq = append(r.warmRq, rq)
	}
	if r.items, err = b.client.CountRevisions(ctx, ns); err != nil {
		return nil, err
	}
	if r.items != want {
		return nil, fmt.Errorf("listed %d revisions, want %d", r.items, want)
	}
	if r.peakRSS, err = b.server.PeakRSS(); err != nil {
		return nil, err
	}
	return r, nil
}

// coldStart measures from the start of the pkgserver process until a list of
// ns returns all want revisions.
func (b *bench) coldStart(ctx context.Context, be *backend, ns string, want int) error {
	b.server.Stop()
	before := b.proxy.Snapshot()
	start := time.Now()
	if err := b.server.Start(); err != nil {
		return err
	}
	b.client = NewClient(b.server.URL())
	deadline := start.Add(5 * time.Minute)
	for {
		n, err := b.client.CountRevisions(ctx, ns)
		if err == nil && n >= want {
			break
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("cold start on %s: %d of %d revisions listed after 5 minutes (last error: %v)", be.name, n, want, err)
		}
		time.Sleep(10 * time.Millisecond)
	}
	be.coldStart = time.Since(start)
	be.coldRq = b.proxy.Snapshot().Sub(before)
	b.logf("cold start on %s: %d revisions listed %s after process start", be.name, want, be.coldStart.Round(time.Millisecond))
	return nil
}
