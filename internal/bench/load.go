package bench

import (
	"context"
	"fmt"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	pkgapi "pkgserver.dev/pkgserver/api/pkg/v1alpha1"
	"pkgserver.dev/pkgserver/pkg/names"
)

// liveRepo is the repository (in each list namespace) the write loads write
// to, in realm liveRealm, so that the fill stays as filled.
const (
	liveRepo  = "live"
	liveRealm = "live"
)

// livePackage names the i-th package a write load creates.
func livePackage(i int) string { return fmt.Sprintf("live-%05d", i) }

// write is one acknowledged write of a load.
type write struct {
	op   int    // step (stepCreate … stepApprove)
	name string // the PackageRevision
	rv   uint64 // its resourceVersion after the write
	sent time.Time
	ack  time.Time
}

// writeLoad takes new packages of the live repository through create → put
// resources → propose → approve at a steady rate of operations, open loop: a
// pacer hands out one token per 1/rate seconds and writers take them, so a
// slow server meets the same offered load (tokens queue up).
type writeLoad struct {
	c    *Client
	ns   string
	next *atomic.Int64 // package numbers, shared by the loads of one namespace

	mu     sync.Mutex
	writes []write
	errs   []error
}

func newWriteLoad(c *Client, ns string, next *atomic.Int64) *writeLoad {
	return &writeLoad{c: c, ns: ns, next: next}
}

// run offers rate operations per second for d with writers goroutines. After
// d, each writer finishes its package (untimed, unpaced), so every package
// ends published. It returns how many packages were published.
func (l *writeLoad) run(ctx context.Context, rate float64, d time.Duration, writers int) int {
	tokens := make(chan struct{}, int(rate*d.Seconds())+1)
	stop := make(chan struct{})
	go func() {
		t := time.NewTicker(time.Duration(float64(time.Second) / rate))
		defer t.Stop()
		end := time.After(d)
		for {
			select {
			case <-t.C:
				select {
				case tokens <- struct{}{}:
				default:
				}
			case <-end:
				close(stop)
				return
			case <-ctx.Done():
				close(stop)
				return
			}
		}
	}()
	var published atomic.Int64
	var wg sync.WaitGroup
	for range writers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				select {
				case <-stop:
					return
				case <-tokens:
				}
				// One package, its first operation paced by this token and
				// the others by the next ones.
				ok := l.sequence(ctx, tokens, stop)
				if ok {
					published.Add(1)
				}
			}
		}()
	}
	wg.Wait()
	return int(published.Load())
}

// sequence writes one package; it waits for a token before each operation
// but the first, until stop, then goes on without tokens.
func (l *writeLoad) sequence(ctx context.Context, tokens <-chan struct{}, stop <-chan struct{}) bool {
	pkg := livePackage(int(l.next.Add(1)))
	id := pkgapi.PackageRevID{Target: names.CatalogTarget, Repository: liveRepo, Realm: liveRealm, Package: pkg, Workspace: "ws1"}
	files := GeneratePackage(pkg, seedOf(pkg))
	var pr *pkgapi.PackageRevision
	for step := range numSteps {
		if step > 0 {
			select {
			case <-tokens:
			case <-stop:
			}
		}
		sent := time.Now()
		var rv string
		var err error
		switch step {
		case stepCreate:
			pr, err = l.c.CreateRevision(ctx, l.ns, id)
			if err == nil {
				rv = pr.ResourceVersion
			}
		case stepResources:
			var prr *pkgapi.PackageRevisionResources
			prr, err = l.c.PutResources(ctx, pr, files)
			if err == nil {
				rv = prr.ResourceVersion
				pr.ResourceVersion = rv
			}
		case stepPropose:
			pr, err = l.c.SetLifecycle(ctx, pr, pr.ResourceVersion, pkgapi.LifecycleProposed, false)
			if err == nil {
				rv = pr.ResourceVersion
			}
		case stepApprove:
			pr, err = l.c.SetLifecycle(ctx, pr, pr.ResourceVersion, pkgapi.LifecyclePublished, true)
			if err == nil {
				rv = pr.ResourceVersion
			}
		}
		ack := time.Now()
		if err != nil {
			l.mu.Lock()
			l.errs = append(l.errs, fmt.Errorf("%s %s: %w", stepNames[step], pkg, err))
			l.mu.Unlock()
			return false
		}
		n, perr := strconv.ParseUint(rv, 10, 64)
		l.mu.Lock()
		if perr != nil {
			l.errs = append(l.errs, fmt.Errorf("%s %s: resourceVersion %q: %w", stepNames[step], pkg, rv, perr))
		}
		l.writes = append(l.writes, write{op: step, name: pr.Name, rv: n, sent: sent, ack: ack})
		l.mu.Unlock()
	}
	return true
}

// err is the first error of the load, if any.
func (l *writeLoad) err() error {
	l.mu.Lock()
	defer l.mu.Unlock()
	if len(l.errs) == 0 {
		return nil
	}
	return fmt.Errorf("%d writes failed, the first: %w", len(l.errs), l.errs[0])
}

// latencies are the write latencies of the operations sent in [from, to).
func (l *writeLoad) latencies(from, to time.Time) Samples {
	l.mu.Lock()
	defer l.mu.Unlock()
	var s Samples
	for _, w := range l.writes {
		if !w.sent.Before(from) && w.sent.Before(to) {
			s = append(s, w.ack.Sub(w.sent))
		}
	}
	return s
}
