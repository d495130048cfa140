package e2e

import (
	"context"
	"net/http"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/dynamic/dynamicinformer"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/cache"

	pkgapi "pkgserver.dev/pkgserver/api/pkg/v1alpha1"
	"pkgserver.dev/pkgserver/pkg/generated/clientset/versioned"
	"pkgserver.dev/pkgserver/pkg/generated/informers/externalversions"
)

// requestLog records the queries of the requests a client makes.
type requestLog struct {
	mu   sync.Mutex
	next http.RoundTripper
	reqs []string
}

func (l *requestLog) RoundTrip(req *http.Request) (*http.Response, error) {
	l.mu.Lock()
	l.reqs = append(l.reqs, req.Method+" "+req.URL.Path+"?"+req.URL.RawQuery)
	l.mu.Unlock()
	return l.next.RoundTrip(req)
}

// lists are the requests that listed instead of watching.
func (l *requestLog) lists() []string {
	l.mu.Lock()
	defer l.mu.Unlock()
	var out []string
	for _, r := range l.reqs {
		if strings.HasPrefix(r, "GET ") && !strings.Contains(r, "watch=true") {
			out = append(out, r)
		}
	}
	return out
}

// TestInformers: stock client-go informers (the generated ones and a
// dynamic one, with client-go's defaults) get their initial state through
// WatchList, never a LIST, sync, and follow every change after.
func TestInformers(t *testing.T) {
	e := newEnv(t, backends[0])
	e.createRepo(t, "blueprints", false)
	var names []string
	for _, pkg := range []string{"a", "b", "c"} {
		names = append(names, createDraft(t, e.c, catalogID("blueprints", "apps", pkg, "main"), initTask(pkg), nil).Name)
	}
	log := &requestLog{}
	cfg := &rest.Config{Host: e.srv.URL, WrapTransport: func(rt http.RoundTripper) http.RoundTripper { log.next = rt; return log }}
	cs, err := versioned.NewForConfig(cfg)
	if err != nil {
		t.Fatal(err)
	}
	dyn, err := dynamic.NewForConfig(cfg)
	if err != nil {
		t.Fatal(err)
	}
	ctx := t.Context()
	typed := externalversions.NewSharedInformerFactoryWithOptions(cs, 0, externalversions.WithNamespace(namespace))
	revisions := typed.Pkg().V1alpha1().PackageRevisions()
	revInformer := revisions.Informer()
	repoInformer := typed.Config().V1alpha1().Repositories().Informer()
	dynamicFactory := dynamicinformer.NewFilteredDynamicSharedInformerFactory(dyn, 0, namespace, func(o *metav1.ListOptions) {
		o.LabelSelector = pkgapi.LatestRevisionLabel + "!=true"
	})
	dynInformer := dynamicFactory.ForResource(pkgapi.SchemeGroupVersion.WithResource("packagerevisions")).Informer()
	typed.Start(ctx.Done())
	dynamicFactory.Start(ctx.Done())
	syncCtx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	if !cache.WaitForCacheSync(syncCtx.Done(), revInformer.HasSynced, repoInformer.HasSynced, dynInformer.HasSynced) {
		t.Fatalf("informers did not sync; requests: %v", log.reqs)
	}
	if l := log.lists(); len(l) > 0 {
		t.Errorf("informers listed instead of using WatchList: %v", l)
	}
	cached := func(inf cache.SharedIndexInformer) []string {
		var out []string
		for _, o := range inf.GetStore().List() {
			switch o := o.(type) {
			case *pkgapi.PackageRevision:
				out = append(out, o.Name)
			case *unstructured.Unstructured:
				out = append(out, o.GetName())
			}
		}
		slices.Sort(out)
		return out
	}
	if got := cached(revInformer); !slices.Equal(got, names) {
		t.Errorf("typed informer holds %v, want %v", got, names)
	}
	if got := cached(dynInformer); !slices.Equal(got, names) {
		t.Errorf("dynamic informer holds %v, want %v", got, names)
	}
	if n := len(repoInformer.GetStore().List()); n != 1 {
		t.Errorf("repository informer holds %d, want 1", n)
	}

	// A change after the sync: a fourth draft, and one published (it leaves
	// the dynamic informer's selection: latest-revision!=true).
	names = append(names, createDraft(t, e.c, catalogID("blueprints", "apps", "d", "main"), initTask("d"), nil).Name)
	slices.Sort(names)
	publish(t, e.c, names[0])
	deadline := time.Now().Add(10 * time.Second)
	for {
		typedNames, dynNames := cached(revInformer), cached(dynInformer)
		pr, ok, _ := revInformer.GetStore().GetByKey(namespace + "/" + names[0])
		if slices.Equal(typedNames, names) && slices.Equal(dynNames, names[1:]) && ok && pr.(*pkgapi.PackageRevision).Spec.Lifecycle == pkgapi.LifecyclePublished {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("informers hold %v and %v after the changes, want %v and %v", typedNames, dynNames, names, names[1:])
		}
		time.Sleep(50 * time.Millisecond)
	}
	if l := log.lists(); len(l) > 0 {
		t.Errorf("informers listed: %v", l)
	}
}
