package bench

import (
	"context"
	"fmt"
	"hash/fnv"
	"sync"
	"time"

	"golang.org/x/sync/errgroup"

	pkgapi "pkgserver.dev/pkgserver/api/pkg/v1alpha1"
	"pkgserver.dev/pkgserver/pkg/names"
)

// The steps of one package's way from draft to published.
const (
	stepCreate = iota
	stepResources
	stepPropose
	stepApprove
	numSteps
)

var stepNames = [numSteps]string{"create (init)", "put resources", "propose", "approve (publish)"}

// stepMinimum is the fewest registry requests each step needs on a registry
// that supports the OCI distribution spec v1.1, and why.
var stepMinimum = [numSteps]struct {
	n   int
	why string
}{
	{5, "empty config blob (POST+PUT, first revision of the package) + Kptfile layer (POST+PUT) + tagged manifest PUT"},
	{3, "new layer (POST+PUT) + manifest PUT; the config blob is already there"},
	{1, "manifest PUT (only annotations change)"},
	{3, "manifest PUT of vN + PUT of latest + DELETE of the ws.* tag; the next N comes from the cached index"},
}

// seedOf makes the generator seed of a package from its name.
func seedOf(name string) uint64 {
	h := fnv.New64a()
	h.Write([]byte(name))
	return h.Sum64()
}

// lcPackage names the i-th package of the timed lifecycle runs; oras-go
// pushes the same names, hence the same content.
func lcPackage(i int) string { return fmt.Sprintf("lc-%04d", i) }

// seqSpec says where a sequence writes: namespace, repository, realm and
// the package's name.
type seqSpec struct{ ns, repo, realm, pkg string }

// sequence takes one new package from create to published and returns the
// time and registry requests of each step. around, when set, is called
// before each step and the function it returns after it, both outside the
// timed part (the replicas phase reads etcd's counters there).
func (b *bench) sequence(ctx context.Context, c *Client, spec seqSpec, around func(step int) func()) (d [numSteps]time.Duration, rq [numSteps]Counts, name string, err error) {
	id := pkgapi.PackageRevID{Target: names.CatalogTarget, Repository: spec.repo, Realm: spec.realm, Package: spec.pkg, Workspace: "ws1"}
	files := GeneratePackage(spec.pkg, seedOf(spec.pkg))
	var pr *pkgapi.PackageRevision
	var prr *pkgapi.PackageRevisionResources
	steps := [numSteps]func() error{
		func() (err error) { pr, err = c.CreateRevision(ctx, spec.ns, id); return err },
		func() (err error) { prr, err = c.PutResources(ctx, pr, files); return err },
		func() (err error) {
			pr, err = c.SetLifecycle(ctx, pr, prr.ResourceVersion, pkgapi.LifecycleProposed, false)
			return err
		},
		func() (err error) {
			pr, err = c.SetLifecycle(ctx, pr, pr.ResourceVersion, pkgapi.LifecyclePublished, true)
			return err
		},
	}
	for i, step := range steps {
		var after func()
		if around != nil {
			after = around(i)
		}
		d[i], rq[i], err = b.counted(step)
		if after != nil {
			after()
		}
		if err != nil {
			return d, rq, "", fmt.Errorf("%s %s in %s/%s: %w", stepNames[i], spec.pkg, spec.ns, spec.repo, err)
		}
	}
	if pr.Spec.Lifecycle != pkgapi.LifecyclePublished {
		return d, rq, "", fmt.Errorf("%s in %s/%s: lifecycle after approval is %q, want published", spec.pkg, spec.ns, spec.repo, pr.Spec.Lifecycle)
	}
	return d, rq, pr.Name, nil
}

// lifecycle measures create → put resources → propose → approve, one client
// at a time (latency, requests) and then Concurrency clients (throughput).
func (b *bench) lifecycle(ctx context.Context) error {
	for _, be := range []*backend{b.emb, b.reg} {
		b.logf("lifecycle on %s: %d sequences", be.name, b.cfg.Iterations)
		// One untimed sequence first: connections, first-use setup of the repository.
		spec := seqSpec{ns: nsBench, repo: be.repo, realm: realmBench, pkg: "warmup"}
		if _, _, _, err := b.sequence(ctx, b.client, spec, nil); err != nil {
			return err
		}
		start := time.Now()
		for i := range b.cfg.Iterations {
			spec.pkg = lcPackage(i)
			d, rq, name, err := b.sequence(ctx, b.client, spec, nil)
			if err != nil {
				return err
			}
			var total time.Duration
			for s := range numSteps {
				be.steps[s] = append(be.steps[s], d[s])
				be.stepReqs[s] = append(be.stepReqs[s], rq[s])
				total += d[s]
			}
			be.total = append(be.total, total)
			be.published = append(be.published, name)
		}
		be.seqRate = float64(b.cfg.Iterations) / time.Since(start).Seconds()

		n := b.cfg.Iterations
		var next int
		var mu sync.Mutex
		g, gctx := errgroup.WithContext(ctx)
		start = time.Now()
		for range b.cfg.Concurrency {
			g.Go(func() error {
				for {
					mu.Lock()
					i := next
					next++
					mu.Unlock()
					if i >= n {
						return nil
					}
					s := spec
					s.pkg = fmt.Sprintf("tp-%04d", i)
					if _, _, _, err := b.sequence(gctx, b.client, s, nil); err != nil {
						return err
					}
				}
			})
		}
		if err := g.Wait(); err != nil {
			return err
		}
		be.concRate = float64(n) / time.Since(start).Seconds()
	}
	return nil
}
