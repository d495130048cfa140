package e2e

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	configapi "pkgserver.dev/pkgserver/api/config/v1alpha1"
	pkgapi "pkgserver.dev/pkgserver/api/pkg/v1alpha1"
	"pkgserver.dev/pkgserver/e2e/internal/harness"
	"pkgserver.dev/pkgserver/internal/etcdproc"
	"pkgserver.dev/pkgserver/internal/testregistry"
)

// replicas is several pkgserver processes over one CNCF distribution
// registry, coordinated by one etcd cluster (product.md, "Several replicas").
type replicas struct {
	mu       sync.Mutex // guards clients and servers while a replica restarts
	etcd     *etcdproc.Cluster
	registry string
	servers  []*harness.Server
	clients  []*harness.Client
	dirs     []string
}

func newReplicas(t *testing.T, n, etcdMembers int) *replicas {
	t.Helper()
	r := &replicas{etcd: etcdproc.StartForTest(t, etcdproc.Options{Members: etcdMembers}), registry: testregistry.Start(t)}
	for i := range n {
		r.dirs = append(r.dirs, t.TempDir())
		r.servers = append(r.servers, nil)
		r.clients = append(r.clients, nil)
		r.start(t, i)
	}
	return r
}

// start (re)starts replica i.
func (r *replicas) start(t *testing.T, i int) {
	t.Helper()
	srv := harness.Start(t, harness.Options{Bin: serverBin, DataDir: r.dirs[i], MaxBodyBytes: maxBody, Args: r.args()})
	c := harness.NewClient(srv.URL, namespace)
	c.User = approver
	r.mu.Lock()
	r.servers[i], r.clients[i] = srv, c
	r.mu.Unlock()
}

func (r *replicas) args() []string {
	return []string{
		"--etcd-servers", strings.Join(r.etcd.Endpoints(), ","),
		"--config-registry", r.registry + "/pkgserver", "--config-registry-plain-http",
	}
}

func (r *replicas) client(i int) *harness.Client {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.clients[i]
}

func (r *replicas) createRepo(t *testing.T, name string) {
	t.Helper()
	r.clients[0].CreateRepository(t, &configapi.Repository{
		TypeMeta:   metav1.TypeMeta{APIVersion: configapi.SchemeGroupVersion.String(), Kind: configapi.RepositoryKind},
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: namespace},
		Spec:       configapi.RepositorySpec{Type: configapi.RepositoryTypeOCI, OCI: &configapi.OCIRepository{Registry: r.registry + "/pkgs/" + name, PlainHTTP: true}},
	})
	// Every replica has it within a second, from the change feed.
	for _, c := range r.clients {
		deadline := time.Now().Add(5 * time.Second)
		for !slices.ContainsFunc(c.ListRepositories(t).Items, func(x configapi.Repository) bool { return x.Name == name }) {
			if time.Now().After(deadline) {
				t.Fatalf("replica %s does not list repository %s", c.Base, name)
			}
			time.Sleep(20 * time.Millisecond)
		}
	}
}

// same waits until every replica lists the same revisions with the same
// resourceVersions, and returns them.
func (r *replicas) same(t *testing.T) []pkgapi.PackageRevision {
	t.Helper()
	key := func(l []pkgapi.PackageRevision) string {
		var b strings.Builder
		for _, pr := range l {
			fmt.Fprintf(&b, "%s %s %s %s %s\n", pr.Name, pr.ResourceVersion, pr.Spec.Lifecycle, pr.Spec.PackageRevID.Revision, pr.Status.OCI.Digest)
		}
		return b.String()
	}
	var lists []string
	var first []pkgapi.PackageRevision
	for deadline := time.Now().Add(10 * time.Second); ; {
		lists = lists[:0]
		for i, c := range r.clients {
			l := c.ListRevisions(t, nil).Items
			if i == 0 {
				first = l
			}
			lists = append(lists, key(l))
		}
		if len(slices.Compact(slices.Clone(lists))) == 1 {
			return first
		}
		if time.Now().After(deadline) {
			t.Fatalf("replicas list different revisions:\n%s", strings.Join(lists, "----\n"))
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// TestReplicasApproveAtOnce is the operator's experiment of the issue: two
// replicas, twelve packages, one proposed draft of each on each replica, all
// approved at the same moment. Every package ends with two published
// revisions, v1 and v2, and no approval is lost.
func TestReplicasApproveAtOnce(t *testing.T) {
	r := newReplicas(t, 2, 1)
	r.createRepo(t, "blueprints")
	const packages = 12
	var drafts []*pkgapi.PackageRevision
	owner := map[string]*harness.Client{}
	for p := range packages {
		for i, c := range r.clients {
			id := catalogID("blueprints", "", fmt.Sprintf("app%d", p), fmt.Sprintf("r%d", i))
			d := createDraft(t, c, id, initTask("app"), nil)
			putFiles(t, c, d.Name, map[string]string{"Kptfile": c.GetResources(t, d.Name).Spec.Resources["Kptfile"], "cm.yaml": configMapYAML("cm", d.Name)})
			d = c.GetRevision(t, d.Name)
			d.Spec.Lifecycle = pkgapi.LifecycleProposed
			drafts = append(drafts, c.UpdateRevision(t, d))
			owner[d.Name] = c
		}
	}
	var wg sync.WaitGroup
	start := make(chan struct{})
	codes := make([]int, len(drafts))
	for i, d := range drafts {
		wg.Add(1)
		go func() {
			defer wg.Done()
			<-start
			d := *d
			d.Spec.Lifecycle = pkgapi.LifecyclePublished
			res, err := owner[d.Name].Do(context.Background(), http.MethodPut, owner[d.Name].ApprovalPath(d.Name), &d)
			if err == nil {
				codes[i] = res.Code
			}
		}()
	}
	close(start)
	wg.Wait()
	for i, code := range codes {
		if code != http.StatusOK {
			t.Errorf("approval of %s: %d", drafts[i].Name, code)
		}
	}
	byPkg := map[string][]string{}
	for _, pr := range r.same(t) {
		if pr.Spec.Lifecycle == pkgapi.LifecyclePublished {
			byPkg[pr.Spec.PackageRevID.Package] = append(byPkg[pr.Spec.PackageRevID.Package], pr.Spec.PackageRevID.Revision)
		}
	}
	for p := range packages {
		got := byPkg[fmt.Sprintf("app%d", p)]
		slices.Sort(got)
		if !slices.Equal(got, []string{"v1", "v2"}) {
			t.Errorf("app%d has published revisions %v, want [v1 v2]", p, got)
		}
	}
}

// watchLog follows the watch of one replica and keeps what it saw; when the
// replica goes away it resumes from the last resourceVersion it saw.
type watchLog struct {
	mu     sync.Mutex
	events []string // "TYPE name rv"
	last   string
	err    error
}

func (w *watchLog) follow(ctx context.Context, base func() string, rv string) {
	w.last = rv
	for ctx.Err() == nil {
		err := w.once(ctx, base(), w.last)
		if err != nil {
			w.mu.Lock()
			w.err = err
			w.mu.Unlock()
			return
		}
		time.Sleep(100 * time.Millisecond) // the replica is down or restarting
	}
}

// once reads one watch stream; it returns an error only for a refusal
// (410 and the like), which no resume may get.
func (w *watchLog) once(ctx context.Context, base, rv string) error {
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, base+"/apis/pkg.pkgserver.dev/v1alpha1/namespaces/"+namespace+"/packagerevisions?watch=true&allowWatchBookmarks=true&resourceVersion="+rv, nil)
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		return nil
	}
	defer res.Body.Close()
	if res.StatusCode != http.StatusOK {
		return fmt.Errorf("watch from %s on %s: %s", rv, base, res.Status)
	}
	sc := bufio.NewScanner(res.Body)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		var ev struct {
			Type   string `json:"type"`
			Object struct {
				Metadata metav1.ObjectMeta `json:"metadata"`
			} `json:"object"`
		}
		if err := json.Unmarshal(sc.Bytes(), &ev); err != nil {
			return fmt.Errorf("watch event %q: %v", sc.Bytes(), err)
		}
		if ev.Type == "ERROR" {
			return fmt.Errorf("watch error event: %s", sc.Bytes())
		}
		w.mu.Lock()
		if ev.Type != "BOOKMARK" {
			w.events = append(w.events, ev.Type+" "+ev.Object.Metadata.Name+" "+ev.Object.Metadata.ResourceVersion)
		}
		w.last = ev.Object.Metadata.ResourceVersion
		w.mu.Unlock()
	}
	return nil
}

func (w *watchLog) upTo(rv string) []string {
	w.mu.Lock()
	defer w.mu.Unlock()
	n, _ := strconv.ParseUint(rv, 10, 64)
	var out []string
	for _, e := range w.events {
		f := strings.Fields(e)
		if v, _ := strconv.ParseUint(f[2], 10, 64); v <= n {
			out = append(out, e)
		}
	}
	return out
}

// TestReplicasUnderContention runs clients spread over three replicas that
// create, change, propose, approve and delete revisions of a few packages at
// once, while one replica is killed (-9) and restarted and one etcd member is
// stopped and started again. Afterwards: no vN twice, no acknowledged write
// lost, every replica lists the same objects with the same resourceVersions,
// and the watches of every replica saw the same events in the same order.
func TestReplicasUnderContention(t *testing.T) {
	r := newReplicas(t, 3, 3)
	r.createRepo(t, "blueprints")
	start := r.clients[0].ListRevisions(t, nil).ResourceVersion
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	logs := make([]*watchLog, len(r.clients))
	for i := range r.clients {
		logs[i] = &watchLog{}
		go logs[i].follow(ctx, func() string { return r.client(i).Base }, start)
	}

	type published struct{ name, revision, digest string }
	var mu sync.Mutex
	var acked []published // published revisions the server acknowledged
	deleted := map[string]bool{}
	const workers, rounds = 6, 6
	var wg sync.WaitGroup
	for w := range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			rnd := rand.New(rand.NewPCG(uint64(w), 7))
			pkg := fmt.Sprintf("app%d", w%3) // two workers per package: contention
			var mine []published
			for i := range rounds {
				name := harness.RevisionName(catalogID("blueprints", "", pkg, fmt.Sprintf("w%d-%d", w, i)))
				pr, ok := flow(t, r, rnd, name, catalogID("blueprints", "", pkg, fmt.Sprintf("w%d-%d", w, i)))
				if !ok {
					continue
				}
				p := published{pr.Name, pr.Spec.PackageRevID.Revision, pr.Status.OCI.Digest}
				mu.Lock()
				acked = append(acked, p)
				mu.Unlock()
				mine = append(mine, p)
				if i%3 == 2 && len(mine) > 1 {
					victim := mine[0]
					mine = mine[1:]
					if retire(r, rnd, victim.name) {
						mu.Lock()
						deleted[victim.name] = true
						mu.Unlock()
					}
				}
			}
		}()
	}
	// Failures in the middle of the run.
	time.Sleep(2 * time.Second)
	r.servers[2].Kill(t)
	r.etcd.Member(1).Stop()
	time.Sleep(2 * time.Second)
	if err := r.etcd.Member(1).Restart(); err != nil {
		t.Fatal(err)
	}
	r.start(t, 2)
	wg.Wait()

	final := r.same(t)
	end := r.clients[0].ListRevisions(t, nil).ResourceVersion
	byName := map[string]pkgapi.PackageRevision{}
	numbers := map[string]map[string]string{} // package -> vN -> name
	for _, pr := range final {
		byName[pr.Name] = pr
		if rev := pr.Spec.PackageRevID.Revision; rev != "" {
			p := pr.Spec.PackageRevID.Package
			if numbers[p] == nil {
				numbers[p] = map[string]string{}
			}
			if other, dup := numbers[p][rev]; dup {
				t.Errorf("%s of %s given twice: %s and %s", rev, p, other, pr.Name)
			}
			numbers[p][rev] = pr.Name
		}
	}
	if len(acked) < workers*rounds/2 {
		t.Fatalf("only %d of %d publications were acknowledged: the run proves little", len(acked), workers*rounds)
	}
	for _, p := range acked {
		got, ok := byName[p.name]
		switch {
		case deleted[p.name]:
			if ok {
				t.Errorf("%s was deleted (acknowledged) but is listed", p.name)
			}
		case !ok:
			t.Errorf("acknowledged publication %s (%s) is lost", p.name, p.revision)
		case got.Spec.PackageRevID.Revision != p.revision || got.Status.OCI.Digest != p.digest:
			t.Errorf("%s is %s %s, was acknowledged as %s %s", p.name, got.Spec.PackageRevID.Revision, got.Status.OCI.Digest, p.revision, p.digest)
		}
	}
	// Every watch reaches the end, then all saw the same. The deadline is
	// for an event that never comes, not a latency target (make bench
	// measures that): a loaded machine took more than 10 s.
	for deadline := time.Now().Add(30 * time.Second); ; time.Sleep(50 * time.Millisecond) {
		done := true
		for _, l := range logs {
			l.mu.Lock()
			if l.err != nil {
				t.Fatalf("a watch was refused: %v", l.err)
			}
			a, _ := strconv.ParseUint(l.last, 10, 64)
			b, _ := strconv.ParseUint(end, 10, 64)
			done = done && a >= b
			l.mu.Unlock()
		}
		if done {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the watches did not reach %s", end)
		}
	}
	want := logs[0].upTo(end)
	if len(want) == 0 {
		t.Fatal("the watches saw nothing")
	}
	for i, l := range logs[1:] {
		if got := l.upTo(end); !slices.Equal(got, want) {
			t.Errorf("replica %d saw %d events, replica 0 saw %d; first difference at %d", i+1, len(got), len(want), firstDiff(got, want))
		}
	}
	t.Logf("%d publications, %d deletions, %d watch events, on 3 replicas with one killed and one etcd member stopped", len(acked), len(deleted), len(want))
}

func firstDiff(a, b []string) int {
	for i := range min(len(a), len(b)) {
		if a[i] != b[i] {
			return i
		}
	}
	return min(len(a), len(b))
}

// pick returns a live replica's client.
func (r *replicas) pick(rnd *rand.Rand) *harness.Client { return r.client(rnd.IntN(len(r.clients))) }

// do sends a request to random replicas until one answers (a replica may be
// down); it returns the answer, or nil when none came.
func (r *replicas) do(rnd *rand.Rand, method string, path func(*harness.Client) string, body any) *harness.Response {
	for range 20 {
		c := r.pick(rnd)
		res, err := c.Do(context.Background(), method, path(c), body)
		if err == nil && res.Code != http.StatusServiceUnavailable {
			return res
		}
		time.Sleep(100 * time.Millisecond)
	}
	return nil
}

// flow creates a draft, changes it, proposes and approves it, each step on
// a random replica; ok is false when a step failed in a way the run allows
// (a replica died while answering).
func flow(t *testing.T, r *replicas, rnd *rand.Rand, name string, id pkgapi.PackageRevID) (*pkgapi.PackageRevision, bool) {
	res := r.do(rnd, http.MethodPost, func(c *harness.Client) string { return c.RevisionsPath("") }, newRevision(id, initTask("app"), nil))
	if res == nil || res.Code != http.StatusCreated && res.Code != http.StatusConflict {
		return nil, false
	}
	var pr pkgapi.PackageRevision
	get := func() bool {
		res := r.do(rnd, http.MethodGet, func(c *harness.Client) string { return c.RevisionsPath(name) }, nil)
		return res != nil && res.Code == http.StatusOK && json.Unmarshal(res.Body, &pr) == nil
	}
	var prr pkgapi.PackageRevisionResources
	res = r.do(rnd, http.MethodGet, func(c *harness.Client) string { return c.ResourcesPath(name) }, nil)
	if res == nil || res.Code != http.StatusOK || json.Unmarshal(res.Body, &prr) != nil {
		return nil, false
	}
	prr.Spec.Resources["cm.yaml"] = configMapYAML("cm", name)
	if res = r.do(rnd, http.MethodPut, func(c *harness.Client) string { return c.ResourcesPath(name) }, &prr); res == nil || res.Code != http.StatusOK {
		return nil, false
	}
	if !get() {
		return nil, false
	}
	pr.Spec.Lifecycle = pkgapi.LifecycleProposed
	if res = r.do(rnd, http.MethodPut, func(c *harness.Client) string { return c.RevisionsPath(name) }, &pr); res == nil || res.Code != http.StatusOK {
		return nil, false
	}
	if !get() {
		return nil, false
	}
	pr.Spec.Lifecycle = pkgapi.LifecyclePublished
	if res = r.do(rnd, http.MethodPut, func(c *harness.Client) string { return c.ApprovalPath(name) }, &pr); res == nil || res.Code != http.StatusOK {
		return nil, false
	}
	var out pkgapi.PackageRevision
	if json.Unmarshal(res.Body, &out) != nil || out.Spec.Lifecycle != pkgapi.LifecyclePublished {
		t.Errorf("approval of %s answered 200 with %s", name, res.Body)
		return nil, false
	}
	return &out, true
}

// retire proposes a published revision for deletion and deletes it.
func retire(r *replicas, rnd *rand.Rand, name string) bool {
	var pr pkgapi.PackageRevision
	res := r.do(rnd, http.MethodGet, func(c *harness.Client) string { return c.RevisionsPath(name) }, nil)
	if res == nil || res.Code != http.StatusOK || json.Unmarshal(res.Body, &pr) != nil {
		return false
	}
	pr.Spec.Lifecycle = pkgapi.LifecycleDeletionProposed
	if res = r.do(rnd, http.MethodPut, func(c *harness.Client) string { return c.ApprovalPath(name) }, &pr); res == nil || res.Code != http.StatusOK {
		return false
	}
	res = r.do(rnd, http.MethodDelete, func(c *harness.Client) string { return c.RevisionsPath(name) }, nil)
	return res != nil && res.Code == http.StatusOK
}

// TestReplicasSurviveLosingEtcd: all etcd data is lost (a new, empty
// cluster); a replica started on it finds every package again by scanning
// the registry, and numbering goes on where it was.
func TestReplicasSurviveLosingEtcd(t *testing.T) {
	r := newReplicas(t, 1, 1)
	r.createRepo(t, "blueprints")
	c := r.clients[0]
	name := harness.RevisionName(catalogID("blueprints", "", "app", "one"))
	createDraft(t, c, catalogID("blueprints", "", "app", "one"), initTask("app"), nil)
	v1 := publish(t, c, name)
	r.servers[0].Stop(t)
	r.etcd.Stop()
	r.etcd = etcdproc.StartForTest(t, etcdproc.Options{Members: 1})
	r.start(t, 0)
	c = r.clients[0]
	got := c.GetRevision(t, name)
	if got.Status.OCI.Digest != v1.Status.OCI.Digest || got.Spec.PackageRevID.Revision != "v1" {
		t.Fatalf("after losing etcd %s is %s %s, was v1 %s", name, got.Spec.PackageRevID.Revision, got.Status.OCI.Digest, v1.Status.OCI.Digest)
	}
	createDraft(t, c, catalogID("blueprints", "", "app", "two"), initTask("app"), nil)
	if v := publish(t, c, harness.RevisionName(catalogID("blueprints", "", "app", "two"))); v.Spec.PackageRevID.Revision != "v2" {
		t.Fatalf("the next revision after losing etcd is %s, want v2", v.Spec.PackageRevID.Revision)
	}
}

// TestReplicasWithoutCoordinator: two replicas on one registry prefix with
// no etcd. The second one that writes is refused with a message saying why,
// rather than racing the first; once the first stops, the second may write.
func TestReplicasWithoutCoordinator(t *testing.T) {
	registry := testregistry.Start(t)
	var clients []*harness.Client
	var servers []*harness.Server
	for range 2 {
		s := harness.Start(t, harness.Options{Bin: serverBin, DataDir: t.TempDir(), MaxBodyBytes: maxBody})
		c := harness.NewClient(s.URL, namespace)
		c.User = approver
		c.CreateRepository(t, &configapi.Repository{
			TypeMeta:   metav1.TypeMeta{APIVersion: configapi.SchemeGroupVersion.String(), Kind: configapi.RepositoryKind},
			ObjectMeta: metav1.ObjectMeta{Name: "blueprints", Namespace: namespace},
			Spec:       configapi.RepositorySpec{Type: configapi.RepositoryTypeOCI, OCI: &configapi.OCIRepository{Registry: registry + "/pkgs/blueprints", PlainHTTP: true}},
		})
		clients, servers = append(clients, c), append(servers, s)
	}
	createDraft(t, clients[0], catalogID("blueprints", "", "app", "one"), initTask("app"), nil)
	st := clients[1].ExpectStatus(t, http.MethodPost, clients[1].RevisionsPath(""), newRevision(catalogID("blueprints", "", "app", "two"), initTask("app"), nil), http.StatusServiceUnavailable)
	if !strings.Contains(st.Message, "another pkgserver") || !strings.Contains(st.Message, "--etcd-servers") {
		t.Fatalf("refusal of the second writer: %q; want it to say another pkgserver writes there and to name --etcd-servers", st.Message)
	}
	servers[0].Stop(t) // a clean stop gives the lease up
	createDraft(t, clients[1], catalogID("blueprints", "", "app", "two"), initTask("app"), nil)
}

// TestReplicasWhileEtcdIsDown: with etcd unreachable, writes fail fast with
// 503 naming etcd, while reads and watches go on; once etcd is back the
// replica catches up and writes work again.
func TestReplicasWhileEtcdIsDown(t *testing.T) {
	r := newReplicas(t, 1, 1)
	r.createRepo(t, "blueprints")
	c := r.clients[0]
	createDraft(t, c, catalogID("blueprints", "", "app", "one"), initTask("app"), nil)
	rv := c.ListRevisions(t, nil).ResourceVersion
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	w := &watchLog{}
	go w.follow(ctx, func() string { return c.Base }, rv)

	if err := r.etcd.Member(0).Stop(); err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	st := c.ExpectStatus(t, http.MethodPost, c.RevisionsPath(""), newRevision(catalogID("blueprints", "", "app", "two"), initTask("app"), nil), http.StatusServiceUnavailable)
	if !strings.Contains(st.Message, "etcd") {
		t.Fatalf("a write without etcd: %q; want a 503 naming etcd", st.Message)
	}
	if d := time.Since(start); d > 10*time.Second {
		t.Fatalf("the write took %v to fail", d)
	}
	if got := c.ListRevisions(t, nil).Items; len(got) != 1 {
		t.Fatalf("reads without etcd: %d revisions, want 1", len(got))
	}
	if err := r.etcd.Member(0).Restart(); err != nil {
		t.Fatal(err)
	}
	var two *harness.Response
	for deadline := time.Now().Add(20 * time.Second); time.Now().Before(deadline); time.Sleep(200 * time.Millisecond) {
		res, err := c.Do(ctx, http.MethodPost, c.RevisionsPath(""), newRevision(catalogID("blueprints", "", "app", "two"), initTask("app"), nil))
		if err == nil && res.Code == http.StatusCreated {
			two = res
			break
		}
	}
	if two == nil {
		t.Fatal("writes do not work again after etcd came back")
	}
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(50 * time.Millisecond) {
		w.mu.Lock()
		n, err := len(w.events), w.err
		w.mu.Unlock()
		if err != nil {
			t.Fatalf("the watch was refused: %v", err)
		}
		if n >= 1 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the watch did not see the write made after etcd came back")
		}
	}
}

// TestReplicasReadYourWrites: a read without a resourceVersion is
// consistent, as on Kubernetes: what one replica acknowledged, another
// returns at once, by name and in its lists.
func TestReplicasReadYourWrites(t *testing.T) {
	r := newReplicas(t, 2, 1)
	r.createRepo(t, "blueprints")
	a, b := r.client(0), r.client(1)
	for i := range 30 {
		d := createDraft(t, a, catalogID("blueprints", "", fmt.Sprintf("app%d", i), "main"), initTask("app"), nil)
		res, err := b.Do(context.Background(), http.MethodGet, b.RevisionsPath(d.Name), nil)
		if err != nil || res.Code != http.StatusOK {
			t.Fatalf("write %d on one replica, read on the other: %v %v", i, res, err)
		}
		found := false
		for _, pr := range b.ListRevisions(t, nil).Items {
			found = found || pr.Name == d.Name
		}
		if !found {
			t.Fatalf("write %d on one replica is not in the other's list", i)
		}
	}
}
