package bench

import (
	"context"
	"fmt"
	"net/http"
	"sync/atomic"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/cache"

	pkgapi "pkgserver.dev/pkgserver/api/pkg/v1alpha1"
	"pkgserver.dev/pkgserver/pkg/generated/clientset/versioned"
	pkginformers "pkgserver.dev/pkgserver/pkg/generated/informers/externalversions/pkg/v1alpha1"
)

// informerResult is what the informers phase measured (issue 11).
type informerResult struct {
	informers int
	revisions int
	sync      time.Duration // until every informer has synced
	syncVia   string        // how they got their initial state (watchlist or list)
	rejected  []string      // requests pkgserver refused, the first of each kind
	duration  time.Duration // of the steady load
	writes    int           // write operations of the load
	events    int64         // handler calls of every informer during the load
	expected  int64         // writes × informers
	caughtUp  int           // informers whose cache ended as the server's
	catchUp   time.Duration // until they had
	relists   int           // lists and WatchLists beyond the first of each client
	pages     int           // list pages, the first ones included
	resumes   int           // watches resumed from a resourceVersion
	gone      int           // 410 answers
	total     time.Duration // from the start of the informers to the end of the check
	memBefore Memory
	memAfter  Memory
}

// informerClient is one informer with its own clientset and connections, as
// if it were its own process.
type informerClient struct {
	agent    string
	informer cache.SharedIndexInformer
	events   atomic.Int64
}

// strip keeps what the benchmark checks of a revision: a hundred caches of
// ten thousand revisions would otherwise hold gigabytes in the harness.
func strip(obj any) (any, error) {
	pr, ok := obj.(*pkgapi.PackageRevision)
	if !ok {
		return obj, nil
	}
	return &pkgapi.PackageRevision{
		ObjectMeta: metav1.ObjectMeta{Name: pr.Name, Namespace: pr.Namespace, ResourceVersion: pr.ResourceVersion},
		Spec:       pkgapi.PackageRevisionSpec{Lifecycle: pr.Spec.Lifecycle},
	}, nil
}

// informers runs Informers client-go informers (the generated ones, WatchList
// on as client-go defaults) on st's fill under a steady write load, and
// counts from the server side how often each lists.
func (b *bench) informers(ctx context.Context, st *stageServer) error {
	res := &informerResult{informers: b.cfg.Informers, revisions: st.revisions()}
	b.informer = res
	var err error
	if res.memBefore, err = st.srv.Memory(); err != nil {
		return err
	}
	proxy, err := startAPIProxy(st.srv.Addr, b.cfg.InformerWatchTimeout)
	if err != nil {
		return err
	}
	defer proxy.Close()
	ictx, cancel := context.WithCancel(ctx)
	defer cancel()
	clients := make([]*informerClient, b.cfg.Informers)
	start := time.Now()
	for i := range clients {
		ic := &informerClient{agent: fmt.Sprintf("pkgbench-informer-%03d", i)}
		cs, err := versioned.NewForConfig(&rest.Config{
			Host: proxy.URL, UserAgent: ic.agent, QPS: -1,
			Transport: &http.Transport{MaxIdleConnsPerHost: 4},
		})
		if err != nil {
			return err
		}
		ic.informer = pkginformers.NewPackageRevisionInformer(cs, st.ns, 0, cache.Indexers{})
		if err := ic.informer.SetTransform(strip); err != nil {
			return err
		}
		count := func(any) { ic.events.Add(1) }
		if _, err := ic.informer.AddEventHandler(cache.ResourceEventHandlerFuncs{
			AddFunc: count, UpdateFunc: func(any, any) { ic.events.Add(1) }, DeleteFunc: count,
		}); err != nil {
			return err
		}
		clients[i] = ic
		go ic.informer.RunWithContext(ictx)
	}
	syncCtx, syncCancel := context.WithTimeout(ictx, 10*time.Minute)
	defer syncCancel()
	for _, ic := range clients {
		if !cache.WaitForCacheSync(syncCtx.Done(), ic.informer.HasSynced) {
			return fmt.Errorf("%s did not sync within 10 minutes", ic.agent)
		}
	}
	res.sync = time.Since(start)
	c0 := proxy.of(clients[0].agent)
	res.syncVia = reqList
	if c0[reqWatchList+" 200"] > 0 {
		res.syncVia = reqWatchList
	}
	b.logf("informers: %d synced on %d revisions in %s (via %s)", len(clients), res.revisions, res.sync.Round(time.Millisecond), res.syncVia)

	before := make([]int64, len(clients))
	for i, ic := range clients {
		before[i] = ic.events.Load()
	}
	load := newWriteLoad(st.client, st.ns, &st.nextLive)
	from := time.Now()
	st.live += load.run(ctx, b.cfg.InformerWriteRate, b.cfg.InformerDuration, writersFor(b.cfg.InformerWriteRate))
	res.duration = time.Since(from)
	if err := load.err(); err != nil {
		return err
	}
	load.mu.Lock()
	res.writes = len(load.writes)
	load.mu.Unlock()
	res.expected = int64(res.writes) * int64(len(clients))

	// Every informer must end with the server's revisions: the same names at
	// the same resourceVersions.
	want, err := st.client.revisionVersions(ctx, st.ns)
	if err != nil {
		return err
	}
	checkStart := time.Now()
	for _, ic := range clients {
		for !sameVersions(ic.informer.GetStore(), want) {
			if time.Since(checkStart) > time.Minute {
				break
			}
			time.Sleep(50 * time.Millisecond)
		}
		if sameVersions(ic.informer.GetStore(), want) {
			res.caughtUp++
		}
	}
	res.catchUp = time.Since(checkStart)
	for i, ic := range clients {
		res.events += ic.events.Load() - before[i]
		c := proxy.of(ic.agent)
		// Only answered ones: a refused WatchList is client-go's cue to list.
		res.relists += c[reqList+" 200"] + c[reqWatchList+" 200"] - 1
		res.resumes += c[reqResume+" 200"]
		res.pages += c[reqList+" 200"] + c[reqPage+" 200"]
		res.gone += c["410"]
	}
	res.total = time.Since(start)
	res.rejected = proxy.rejections()
	if res.memAfter, err = st.srv.Memory(); err != nil {
		return err
	}
	b.logf("informers: %d writes in %s, %d events (%d expected), %d relists, %d resumes, %d of %d caches as the server's",
		res.writes, res.duration.Round(time.Millisecond), res.events, res.expected, res.relists, res.resumes, res.caughtUp, len(clients))
	return nil
}

// revisionVersions lists ns and returns each revision's resourceVersion by
// namespace/name (the informer store's keys).
func (c *Client) revisionVersions(ctx context.Context, ns string) (map[string]string, error) {
	var l pkgapi.PackageRevisionList
	if err := c.do(ctx, http.MethodGet, listPath(ns), nil, &l); err != nil {
		return nil, err
	}
	out := make(map[string]string, len(l.Items))
	for _, pr := range l.Items {
		out[pr.Namespace+"/"+pr.Name] = pr.ResourceVersion
	}
	return out, nil
}

func sameVersions(store cache.Store, want map[string]string) bool {
	keys := store.ListKeys()
	if len(keys) != len(want) {
		return false
	}
	for _, k := range keys {
		obj, ok, err := store.GetByKey(k)
		if err != nil || !ok {
			return false
		}
		m, err := metaOf(obj)
		if err != nil || want[k] != m.GetResourceVersion() {
			return false
		}
	}
	return true
}

func metaOf(obj any) (metav1.Object, error) {
	m, ok := obj.(metav1.Object)
	if !ok {
		return nil, fmt.Errorf("%T has no object metadata", obj)
	}
	return m, nil
}
