package bench

import (
	"bufio"
	"context"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"time"

	"golang.org/x/sync/errgroup"

	configapi "pkgserver.dev/pkgserver/api/config/v1alpha1"
	"pkgserver.dev/pkgserver/internal/etcdproc"
)

const (
	nsReplicas     = "repl"
	replicaRepo    = "repl"
	replicaPrefix  = "bench-repl"   // OCI prefix of the replicas' repository
	configRegistry = "bench-config" // OCI prefix of --config-registry
)

// replicaResult is what the replicas phase measured (issue 12).
type replicaResult struct {
	members int
	// base and etcd are the same sequences on one server without etcd and
	// on one replica with it, interleaved.
	base, etcd           [numSteps]Samples
	baseTotal, etcdTotal Samples
	rpcs                 [numSteps][]Counts // etcd RPCs of each step, by method
	regRq                [numSteps][]Counts // registry requests of each step with etcd
	baseRq               [numSteps][]Counts // and without
	baseRate             float64            // sequences/s of ReplicaClients clients on the server without etcd
	rates                []replicaRate
	agree                bool // every replica lists the same revisions afterwards
	agreeDetail          string
}

type replicaRate struct {
	replicas  int
	sequences int
	rate      float64
}

// replicas measures the coordination cost of --etcd-servers: etcd round
// trips and latency per operation against the same operation without etcd,
// and throughput with 1, 2 and 3 replicas over one distribution registry.
func (b *bench) replicas(ctx context.Context) error {
	bin := b.cfg.EtcdBin
	if bin == "" {
		var err error
		if bin, err = etcdproc.Binary(); err != nil {
			return err
		}
	}
	dir := filepath.Join(b.work, "etcd")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	// fsync on: the cost measured is the cost in production.
	cluster, err := etcdproc.Start(bin, dir, etcdproc.Options{Members: b.cfg.EtcdMembers, Fsync: true})
	if err != nil {
		return err
	}
	defer cluster.Stop()
	res := &replicaResult{members: b.cfg.EtcdMembers}
	b.replica = res
	endpoints := cluster.Endpoints()
	args := []string{"--etcd-servers", strings.Join(endpoints, ","),
		"--config-registry", b.proxy.Addr + "/" + configRegistry, "--config-registry-plain-http"}
	maxReplicas := 1
	for _, n := range b.cfg.ReplicaCounts {
		maxReplicas = max(maxReplicas, n)
	}
	var servers []*Server
	var clients []*Client
	defer func() {
		for _, s := range servers {
			s.Stop()
		}
	}()
	startReplica := func() error {
		i := len(servers)
		s, err := StartServer(b.serverBin, filepath.Join(b.work, fmt.Sprintf("replica-%d", i)), args...)
		if err != nil {
			return err
		}
		servers = append(servers, s)
		c := NewClient(s.URL())
		clients = append(clients, c)
		if i == 0 {
			oci := &configapi.OCIRepository{Registry: b.proxy.Addr + "/" + replicaPrefix, PlainHTTP: true}
			return c.CreateRepository(ctx, nsReplicas, replicaRepo, oci)
		}
		// The Repository reaches a new replica through the feed.
		for deadline := time.Now().Add(30 * time.Second); ; {
			if err := c.do(ctx, http.MethodGet, configPath+nsReplicas+"/repositories/"+replicaRepo, nil, nil); err == nil {
				return nil
			} else if time.Now().After(deadline) {
				return fmt.Errorf("replica %d does not see repository %s: %w", i, replicaRepo, err)
			}
			time.Sleep(50 * time.Millisecond)
		}
	}
	if err := startReplica(); err != nil {
		return err
	}
	b.logf("replicas: etcd of %d members; %d sequences with and without etcd", b.cfg.EtcdMembers, b.cfg.ReplicaIterations)
	base := seqSpec{ns: nsBench, repo: b.reg.repo, realm: realmBench}
	withEtcd := seqSpec{ns: nsReplicas, repo: replicaRepo, realm: realmBench}
	for _, s := range []*seqSpec{&base, &withEtcd} { // connections, first use
		s.pkg = "warmup-repl"
	}
	if _, _, _, err := b.sequence(ctx, b.client, base, nil); err != nil {
		return err
	}
	if _, _, _, err := b.sequence(ctx, clients[0], withEtcd, nil); err != nil {
		return err
	}
	for i := range b.cfg.ReplicaIterations {
		base.pkg = fmt.Sprintf("rb-%04d", i)
		d, rq, _, err := b.sequence(ctx, b.client, base, nil)
		if err != nil {
			return err
		}
		var total time.Duration
		for s := range numSteps {
			res.base[s] = append(res.base[s], d[s])
			res.baseRq[s] = append(res.baseRq[s], rq[s])
			total += d[s]
		}
		res.baseTotal = append(res.baseTotal, total)

		withEtcd.pkg = fmt.Sprintf("re-%04d", i)
		var rpcErr error
		around := func(step int) func() {
			before, err := etcdRPCs(ctx, endpoints)
			return func() {
				after, err2 := etcdRPCs(ctx, endpoints)
				if err != nil || err2 != nil {
					rpcErr = fmt.Errorf("etcd metrics: %v %v", err, err2)
					return
				}
				res.rpcs[step] = append(res.rpcs[step], after.Sub(before))
			}
		}
		d, rq, _, err = b.sequence(ctx, clients[0], withEtcd, around)
		if err != nil {
			return err
		}
		if rpcErr != nil {
			return rpcErr
		}
		total = 0
		for s := range numSteps {
			res.etcd[s] = append(res.etcd[s], d[s])
			res.regRq[s] = append(res.regRq[s], rq[s])
			total += d[s]
		}
		res.etcdTotal = append(res.etcdTotal, total)
	}
	b.logf("replicas: sequence p50 %.1f ms without etcd, %.1f ms with", res.baseTotal.P50(), res.etcdTotal.P50())

	if res.baseRate, _, err = b.throughput(ctx, []*Client{b.client}, base, "tb"); err != nil {
		return err
	}
	for _, n := range b.cfg.ReplicaCounts {
		for len(servers) < n {
			if err := startReplica(); err != nil {
				return err
			}
		}
		rate, seqs, err := b.throughput(ctx, clients[:n], withEtcd, fmt.Sprintf("t%d", n))
		if err != nil {
			return err
		}
		res.rates = append(res.rates, replicaRate{replicas: n, sequences: seqs, rate: rate})
		b.logf("replicas: %d replica(s), %d clients: %.1f sequences/s", n, b.cfg.ReplicaClients, rate)
	}
	res.agree, res.agreeDetail = replicasAgree(ctx, clients)
	return nil
}

// throughput runs ReplicaClients clients for ReplicaDuration, client j on
// servers[j % len(servers)], each taking its own packages from create to
// published, and returns whole sequences per second.
func (b *bench) throughput(ctx context.Context, servers []*Client, spec seqSpec, prefix string) (float64, int, error) {
	var mu sync.Mutex
	done := 0
	g, gctx := errgroup.WithContext(ctx)
	start := time.Now()
	end := start.Add(b.cfg.ReplicaDuration)
	for j := range b.cfg.ReplicaClients {
		c := servers[j%len(servers)]
		g.Go(func() error {
			for k := 0; time.Now().Before(end); k++ {
				s := spec
				s.pkg = fmt.Sprintf("%s-%02d-%04d", prefix, j, k)
				if _, _, _, err := b.sequence(gctx, c, s, nil); err != nil {
					return err
				}
				mu.Lock()
				done++
				mu.Unlock()
			}
			return nil
		})
	}
	if err := g.Wait(); err != nil {
		return 0, 0, err
	}
	return float64(done) / time.Since(start).Seconds(), done, nil
}

// replicasAgree waits until every replica lists the same revisions at the
// same resourceVersions.
func replicasAgree(ctx context.Context, clients []*Client) (bool, string) {
	var lists []map[string]string
	for deadline := time.Now().Add(10 * time.Second); ; {
		lists = lists[:0]
		same := true
		for _, c := range clients {
			l, err := c.revisionVersions(ctx, nsReplicas)
			if err != nil {
				return false, err.Error()
			}
			lists = append(lists, l)
			if len(lists) > 1 && !sameMap(lists[0], l) {
				same = false
			}
		}
		if same {
			return true, fmt.Sprintf("%d replicas list the same %d revisions at the same resourceVersions", len(clients), len(lists[0]))
		}
		if time.Now().After(deadline) {
			sizes := make([]string, len(lists))
			for i, l := range lists {
				sizes[i] = strconv.Itoa(len(l))
			}
			return false, "replicas list different revisions after 10 s (" + strings.Join(sizes, ", ") + " revisions)"
		}
		time.Sleep(100 * time.Millisecond)
	}
}

func sameMap(a, b map[string]string) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		if b[k] != v {
			return false
		}
	}
	return true
}

// etcdRPCs sums the unary gRPC calls every member has started, by method
// (grpc_server_started_total of etcd's /metrics): each is one round trip of
// a client. Health checks are left out; streams (watch, lease keep-alive)
// are not round trips of an operation.
func etcdRPCs(ctx context.Context, endpoints []string) (Counts, error) {
	out := Counts{}
	for _, ep := range endpoints {
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, ep+"/metrics", nil)
		if err != nil {
			return nil, err
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			return nil, err
		}
		sc := bufio.NewScanner(resp.Body)
		sc.Buffer(make([]byte, 64<<10), 1<<20)
		for sc.Scan() {
			line := sc.Text()
			if !strings.HasPrefix(line, "grpc_server_started_total{") || !strings.Contains(line, `grpc_type="unary"`) ||
				!strings.Contains(line, `grpc_service="etcdserverpb.`) {
				continue
			}
			method := labelValue(line, "grpc_method")
			fields := strings.Fields(line)
			v, err := strconv.ParseFloat(fields[len(fields)-1], 64)
			if err != nil {
				continue
			}
			out[method] += int(v)
		}
		resp.Body.Close()
		if err := sc.Err(); err != nil {
			return nil, err
		}
	}
	return out, nil
}

func labelValue(line, name string) string {
	_, rest, ok := strings.Cut(line, name+`="`)
	if !ok {
		return ""
	}
	v, _, _ := strings.Cut(rest, `"`)
	return v
}
