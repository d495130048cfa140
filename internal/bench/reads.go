package bench

import (
	"context"
	"fmt"
	"net/http"
)

// orasSideBySide pushes and pulls the lifecycle packages with oras-go: on the
// remote backend through the counting proxy to the same registry, on the
// embedded backend to pkgserver's own /v2/ when it serves one.
func (b *bench) orasSideBySide(ctx context.Context) error {
	for _, be := range []*backend{b.emb, b.reg} {
		o := orasClient{registry: b.proxy.Addr, client: &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 8}}}
		if !be.remote {
			ok, err := hasV2(ctx, b.server.URL())
			if err != nil {
				return err
			}
			if !ok {
				be.orasNA = "pkgserver has no /v2/ yet (404)"
				b.logf("oras-go on embedded: skipped, %s", be.orasNA)
				continue
			}
			o.registry = b.server.Addr
		}
		b.logf("oras-go push and pull on %s: %d packages", be.name, b.cfg.Iterations)
		// Warm-up: connections, as for pkgserver.
		if err := o.push(ctx, orasPrefix+"/warmup", "v1", "warmup", GeneratePackage("warmup", 1)); err != nil {
			return fmt.Errorf("oras-go push to %s: %w", be.name, err)
		}
		for i := range b.cfg.Iterations {
			pkg := lcPackage(i)
			files := GeneratePackage(pkg, seedOf(pkg))
			d, rq, err := b.counted(func() error { return o.push(ctx, orasPrefix+"/"+pkg, "v1", pkg, files) })
			if err != nil {
				return fmt.Errorf("oras-go push %s to %s: %w", pkg, be.name, err)
			}
			be.orasPush = append(be.orasPush, d)
			be.orasPushRq = append(be.orasPushRq, rq)
		}
		for i := range b.cfg.Iterations {
			pkg := lcPackage(i)
			var got map[string]string
			d, rq, err := b.counted(func() (err error) { got, err = o.pull(ctx, orasPrefix+"/"+pkg, "v1"); return err })
			if err != nil {
				return fmt.Errorf("oras-go pull %s from %s: %w", pkg, be.name, err)
			}
			if len(got) != filesPerPackage {
				return fmt.Errorf("oras-go pull %s from %s: %d files, want %d", pkg, be.name, len(got), filesPerPackage)
			}
			be.orasPull = append(be.orasPull, d)
			be.orasPullRq = append(be.orasPullRq, rq)
		}
	}
	return nil
}

// reads measures get PackageRevision and get PackageRevisionResources of
// published revisions, warm (after one read of each). Reads after a restart
// are served from the checkpoint now, as warm ones; the start phase measures
// what a restart costs.
func (b *bench) reads(ctx context.Context) error {
	for _, be := range []*backend{b.emb, b.reg} {
		b.logf("warm reads on %s: %d of each", be.name, b.cfg.Reads)
		for _, name := range be.published {
			for _, path := range []string{revisionPath(nsBench, name), resourcesPath(nsBench, name)} {
				if _, err := b.client.fetch(ctx, path); err != nil {
					return err
				}
			}
		}
		for i := range b.cfg.Reads {
			name := be.published[i%len(be.published)]
			if err := b.read(ctx, revisionPath(nsBench, name), &be.getWarm, &be.getWarmRq); err != nil {
				return err
			}
			if err := b.read(ctx, resourcesPath(nsBench, name), &be.resWarm, &be.resWarmRq); err != nil {
				return err
			}
		}
	}
	return nil
}

// read times one GET to the last byte and records its registry requests.
func (b *bench) read(ctx context.Context, path string, s *Samples, rq *[]Counts) error {
	d, c, err := b.counted(func() error { _, err := b.client.fetch(ctx, path); return err })
	if err != nil {
		return err
	}
	*s = append(*s, d)
	*rq = append(*rq, c)
	return nil
}

// meanTotal is the mean number of requests per operation.
func meanTotal(cs []Counts) float64 {
	if len(cs) == 0 {
		return 0
	}
	t := 0
	for _, c := range cs {
		t += c.Total()
	}
	return float64(t) / float64(len(cs))
}

// maxTotal is the largest number of requests one operation made.
func maxTotal(cs []Counts) int {
	m := 0
	for _, c := range cs {
		m = max(m, c.Total())
	}
	return m
}

// typical is the last breakdown, as an example of what one operation sends.
func typical(cs []Counts) string {
	if len(cs) == 0 {
		return ""
	}
	return cs[len(cs)-1].String()
}
