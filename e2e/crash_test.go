package e2e

import (
	"context"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"net/http"
	"sort"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	pkgapi "pkgserver.dev/pkgserver/api/pkg/v1alpha1"
	"pkgserver.dev/pkgserver/e2e/internal/harness"
)

// publishedRev is what a writer saw acknowledged by the server.
type publishedRev struct {
	pkg, revision, digest string
	files                 map[string]string
}

// crashLog collects what was acknowledged across writers.
type crashLog struct {
	mu        sync.Mutex
	published map[string]publishedRev // by object name
	latest    map[string]string       // package -> name of its newest acknowledged publication
	n         int
}

func (l *crashLog) add(name string, r publishedRev) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.published[name] = r
	if cur, ok := l.latest[r.pkg]; !ok || revNum(l.published[cur].revision) < revNum(r.revision) {
		l.latest[r.pkg] = name
	}
	l.n++
}

// forget drops a publication about to be deleted: from then on nothing is
// promised about it.
func (l *crashLog) forget(name string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	r := l.published[name]
	delete(l.published, name)
	if l.latest[r.pkg] == name {
		delete(l.latest, r.pkg)
		for n, o := range l.published {
			if o.pkg == r.pkg && (l.latest[r.pkg] == "" || revNum(l.published[l.latest[r.pkg]].revision) < revNum(o.revision)) {
				l.latest[r.pkg] = n
			}
		}
	}
}

func (l *crashLog) count() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.n
}

func (l *crashLog) latestOf(pkg string) string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.latest[pkg]
}

func revNum(rev string) int {
	n, _ := strconv.Atoi(rev[min(1, len(rev)):])
	return n
}

// testKillDuringWrites kills the server with SIGKILL while writers create,
// change, publish and delete packages, then restarts it: every acknowledged
// publication must be there with its digest and files, and the store must
// keep working. Four rounds, each killed at a random moment.
func testKillDuringWrites(t *testing.T, e *env) {
	e.createRepo(t, "blueprints", false)
	log := &crashLog{published: map[string]publishedRev{}, latest: map[string]string{}}
	const writers, rounds = 4, 4
	for round := range rounds {
		ctx, cancel := context.WithCancel(t.Context())
		var wg sync.WaitGroup
		for w := range writers {
			wg.Go(func() { crashWriter(ctx, t, e.c, log, round, w) })
		}
		// Kill after a few publications of this round, at a random moment.
		target := log.count() + 2*writers
		deadline := time.Now().Add(30 * time.Second)
		for log.count() < target && time.Now().Before(deadline) {
			time.Sleep(5 * time.Millisecond)
		}
		if log.count() < target {
			cancel()
			wg.Wait()
			t.Fatalf("round %d: only %d publications in 30s", round, log.count())
		}
		time.Sleep(time.Duration(rand.IntN(150)) * time.Millisecond)
		e.srv.Kill(t)
		cancel()
		wg.Wait()
		if t.Failed() {
			t.FailNow()
		}
		e.startAgain(t)
		verifyPublished(t, e.c, e.servedRegistryAPI(t), log, fmt.Sprintf("after kill -9 #%d", round+1))
	}
	t.Logf("%d publications acknowledged over %d kills", log.count(), rounds)

	// The store still takes writes.
	id := catalogID("blueprints", "", "after-crash", "ws1")
	createDraft(t, e.c, id, initTask("after"), nil)
	publish(t, e.c, harness.RevisionName(id))
}

// crashWriter loops: new draft (init, or edit of the newest publication of
// the package), new contents, propose, approve; it records what the server
// acknowledged. It stops at the first transport error (the server is gone);
// an HTTP error answer from a live server is a test error.
func crashWriter(ctx context.Context, t *testing.T, c *harness.Client, log *crashLog, round, w int) {
	call := func(method, path string, body any, want int, out any) bool {
		resp, err := c.Do(ctx, method, path, body)
		if err != nil {
			return false // killed (or cancelled)
		}
		if resp.Code != want {
			t.Errorf("writer %d: %s %s: %d, want %d: %s", w, method, path, resp.Code, want, resp.Body)
			return false
		}
		if out != nil {
			if err := json.Unmarshal(resp.Body, out); err != nil {
				t.Errorf("writer %d: %s %s: %v", w, method, path, err)
				return false
			}
		}
		return true
	}
	for i := 0; ; i++ {
		pkg := fmt.Sprintf("w%d-p%d", w, i%2)
		id := catalogID("blueprints", "crash", pkg, fmt.Sprintf("r%di%d", round, i))
		name := harness.RevisionName(id)
		task := initTask(pkg)
		if src := log.latestOf(pkg); src != "" {
			task = editTask(src)
		}
		var pr pkgapi.PackageRevision
		if !call(http.MethodPost, c.RevisionsPath(""), newRevision(id, task, nil), http.StatusCreated, &pr) {
			return
		}
		var prr pkgapi.PackageRevisionResources
		if !call(http.MethodGet, c.ResourcesPath(name), nil, http.StatusOK, &prr) {
			return
		}
		prr.Spec.Resources[fmt.Sprintf("cm-%d.yaml", i)] = configMapYAML(fmt.Sprintf("cm-%d", i), fmt.Sprintf("r%d-w%d-i%d", round, w, i))
		prr.Spec.Resources["deployment.yaml"] = deploymentYAML(pkg, i%5+1)
		var after pkgapi.PackageRevisionResources
		if !call(http.MethodPut, c.ResourcesPath(name), &prr, http.StatusOK, &after) {
			return
		}
		if !call(http.MethodGet, c.RevisionsPath(name), nil, http.StatusOK, &pr) {
			return
		}
		pr.Spec.Lifecycle = pkgapi.LifecycleProposed
		if !call(http.MethodPut, c.RevisionsPath(name), &pr, http.StatusOK, &pr) {
			return
		}
		pr.Spec.Lifecycle = pkgapi.LifecyclePublished
		if !call(http.MethodPut, c.ApprovalPath(name), &pr, http.StatusOK, &pr) {
			return
		}
		if pr.Spec.Lifecycle != pkgapi.LifecyclePublished || pr.Status.OCI == nil {
			t.Errorf("writer %d: approval of %s answered lifecycle %q", w, name, pr.Spec.Lifecycle)
			return
		}
		log.add(name, publishedRev{pkg: pkg, revision: pr.Spec.PackageRevID.Revision, digest: pr.Status.OCI.Digest, files: after.Spec.Resources})

		// Every third time, withdraw what was just published: propose its
		// deletion and delete it, which moves latest back.
		if i%3 != 2 {
			continue
		}
		log.forget(name)
		pr.Spec.Lifecycle = pkgapi.LifecycleDeletionProposed
		if !call(http.MethodPut, c.ApprovalPath(name), &pr, http.StatusOK, &pr) {
			return
		}
		if !call(http.MethodDelete, c.RevisionsPath(name), nil, http.StatusOK, nil) {
			return
		}
	}
}

// verifyPublished checks every acknowledged publication, that every listed
// revision is whole, and that no two numbered revisions of a package share a
// number. With reg, it also checks the registry's latest tags.
func verifyPublished(t *testing.T, c *harness.Client, reg *registryAPI, log *crashLog, when string) {
	t.Helper()
	log.mu.Lock()
	defer log.mu.Unlock()
	names := make([]string, 0, len(log.published))
	for n := range log.published {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, name := range names {
		want := log.published[name]
		resp, err := c.Do(t.Context(), http.MethodGet, c.RevisionsPath(name), nil)
		if err != nil {
			t.Fatal(err)
		}
		if resp.Code != http.StatusOK {
			t.Errorf("%s: acknowledged publication %s (%s %s): GET %d %s", when, name, want.revision, want.digest, resp.Code, resp.Body)
			continue
		}
		var pr pkgapi.PackageRevision
		if err := json.Unmarshal(resp.Body, &pr); err != nil {
			t.Fatal(err)
		}
		if pr.Spec.Lifecycle != pkgapi.LifecyclePublished || pr.Spec.PackageRevID.Revision != want.revision || pr.Status.OCI == nil || pr.Status.OCI.Digest != want.digest {
			t.Errorf("%s: %s is %s %s %+v; acknowledged as published %s %s", when, name, pr.Spec.Lifecycle, pr.Spec.PackageRevID.Revision, pr.Status.OCI, want.revision, want.digest)
			continue
		}
		assertFiles(t, when+": files of "+name, c.GetResources(t, name).Spec.Resources, want.files)
	}
	// Every listed revision, acknowledged or not, is whole: one object per
	// name, readable, with readable files.
	all := c.ListRevisions(t, nil)
	byName := map[string]bool{}
	for _, pr := range all.Items {
		if byName[pr.Name] {
			t.Errorf("%s: %s listed twice", when, pr.Name)
		}
		byName[pr.Name] = true
		got := c.GetRevision(t, pr.Name)
		if got.ResourceVersion != pr.ResourceVersion || got.Spec.Lifecycle != pr.Spec.Lifecycle {
			t.Errorf("%s: %s listed as %s rv %q but reads as %s rv %q", when, pr.Name, pr.Spec.Lifecycle, pr.ResourceVersion, got.Spec.Lifecycle, got.ResourceVersion)
		}
		if _, ok := c.GetResources(t, pr.Name).Spec.Resources["Kptfile"]; !ok {
			t.Errorf("%s: %s has no Kptfile", when, pr.Name)
		}
	}
	// Numbered revisions (published or proposed for deletion): one per number
	// and package, the latest label and the registry's latest tag on the
	// highest.
	seen := map[string]string{}
	latest := map[string][]string{}
	highest := map[string]pkgapi.PackageRevision{}
	for _, pr := range all.Items {
		id := pr.Spec.PackageRevID
		if id.Revision == "" {
			continue
		}
		k := id.Package + "@" + id.Revision
		if other, ok := seen[k]; ok {
			t.Errorf("%s: %s and %s are both %s", when, other, pr.Name, k)
		}
		seen[k] = pr.Name
		if pr.Labels[pkgapi.LatestRevisionLabel] == "true" {
			latest[id.Package] = append(latest[id.Package], pr.Name)
		}
		if h, ok := highest[id.Package]; !ok || revNum(h.Spec.PackageRevID.Revision) < revNum(id.Revision) {
			highest[id.Package] = pr
		}
	}
	for pkg, h := range highest {
		if l := latest[pkg]; len(l) != 1 || l[0] != h.Name {
			t.Errorf("%s: package %s: latest label on %v, want exactly on its highest revision %s (%s)", when, pkg, l, h.Name, h.Spec.PackageRevID.Revision)
		}
		if reg != nil {
			repo, _, _ := strings.Cut(strings.TrimPrefix(h.Status.OCI.Reference, strings.TrimPrefix(reg.base, "http://")+"/"), ":")
			if got := reg.resolve(repo, "latest"); got != h.Status.OCI.Digest {
				t.Errorf("%s: package %s: registry tag latest → %q (%s), want %s of %s", when, pkg, got, describeDigest(all.Items, got), h.Spec.PackageRevID.Revision, h.Status.OCI.Digest)
			}
		}
	}
}

// describeDigest says which listed revision has digest d.
func describeDigest(items []pkgapi.PackageRevision, d string) string {
	for _, pr := range items {
		if pr.Status.OCI != nil && pr.Status.OCI.Digest == d {
			return pr.Name + " " + string(pr.Spec.Lifecycle) + " " + pr.Spec.PackageRevID.Revision
		}
	}
	return "no listed revision"
}
