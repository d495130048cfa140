package engine_test

import (
	"errors"
	"fmt"
	"maps"
	"slices"
	"testing"

	pkgapi "pkgserver.dev/pkgserver/api/pkg/v1alpha1"
	"pkgserver.dev/pkgserver/internal/testregistry"
	"pkgserver.dev/pkgserver/pkg/errdef"
	"pkgserver.dev/pkgserver/pkg/format"
)

// TestCreateSeesRevisionsPushedBehind: on a remote registry, a revision
// pushed behind pkgserver's back whose workspace annotation claims a name
// holds that name (a published revision's name never changes). Creating a
// draft of that name must see it and answer AlreadyExists, rather than
// acknowledge a draft that the next restart hides behind that revision.
func TestCreateSeesRevisionsPushedBehind(t *testing.T) {
	reg := testregistry.Start(t)
	cases := []struct {
		name  string
		known bool // the index knows the package (one revision published through the API)
	}{
		{"a package the index knows", true},
		{"a package pushed only behind pkgserver", false},
	}
	for i, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			r := newCrashRig(t, reg, fmt.Sprintf("behind%d", i))
			r.must("repo", r.createRepo(r.repo))
			tag := "v1"
			if c.known {
				one := nameOf(r.id("app", "one"))
				r.must("create", r.create(r.id("app", "one")))
				r.publish(one)
				tag = "v2"
			}
			orasPush(t, r.behind("app"), map[string]string{"a.yaml": deployYAML}, map[string]string{format.AnnotationWorkspace: "w7"}, tag)
			name := nameOf(r.id("app", "w7"))
			err := r.create(r.id("app", "w7"))
			if err == nil {
				r.crash() // a restart that reads the registry again
				got := r.get(name)
				t.Fatalf("the draft %s was acknowledged though %s claims its name; after a restart it is %s %s, the draft hidden", name, tag, got.Spec.Lifecycle, got.Spec.PackageRevID.Revision)
			}
			if !errors.Is(err, errdef.ErrAlreadyExists) {
				t.Fatalf("create %s: %v, want AlreadyExists", name, err)
			}
			if got := r.get(name); got.Spec.Lifecycle != pkgapi.LifecyclePublished || got.Spec.PackageRevID.Revision != tag {
				t.Fatalf("%s is %s %q, want the revision pushed behind, published %s", name, got.Spec.Lifecycle, got.Spec.PackageRevID.Revision, tag)
			}
		})
	}
}

// TestRequestsPerWrite counts the registry requests of the writes of a
// draft's life on a remote package the index knows: creating it lists the
// package's tags once (to see revisions pushed behind pkgserver, above),
// in place of resolving its ws.* tag, and no other write lists them. The
// bounds are the counts measured (a push of the same package is 7: two blobs
// of three requests and the manifest): writes may get cheaper, never dearer.
// The empty config every revision shares is mounted, not uploaded, and new
// blobs are pushed without asking first.
func TestRequestsPerWrite(t *testing.T) {
	r := newCrashRig(t, testregistry.Start(t), "requests")
	r.must("repo", r.createRepo(r.repo))
	one, two := nameOf(r.id("app", "one")), nameOf(r.id("app", "two"))
	r.must("create", r.create(r.id("app", "one")))
	r.publish(one)
	files := maps.Clone(crashFiles)
	steps := []struct {
		name      string
		write     func() error
		tagsLists int
		max       int
	}{
		{"create", func() error { return r.create(r.id("app", "two"), editOf(one)) }, 1, 3},
		{"create a new package", func() error { return r.create(r.id("new", "one")) }, 1, 5},
		{"put-resources", func() error { return r.setFiles(two, files) }, 0, 5},
		{"propose", func() error {
			return r.update(two, func(pr *pkgapi.PackageRevision) { pr.Spec.Lifecycle = pkgapi.LifecycleProposed })
		}, 0, 3},
		{"approve", func() error { return r.approve(two, pkgapi.LifecyclePublished) }, 0, 5},
	}
	r.requests.take()
	for _, s := range steps {
		r.must(s.name, s.write())
		counts, total := r.requests.take()
		t.Logf("%s: %d requests: %v", s.name, total, sortedCounts(counts))
		if got := counts["GET tags/list"]; got != s.tagsLists {
			t.Errorf("%s listed the tags %d times, want %d", s.name, got, s.tagsLists)
		}
		if total > s.max {
			t.Errorf("%s made %d registry requests, more than %d", s.name, total, s.max)
		}
	}
}

func sortedCounts(m map[string]int) []string {
	var out []string
	for _, k := range slices.Sorted(maps.Keys(m)) {
		out = append(out, fmt.Sprintf("%s=%d", k, m[k]))
	}
	return out
}

// TestStartReadsEachManifestOnce: a start without a checkpoint (here after
// a crash) reads every revision's manifest once. Fails if a package the
// index does not know yet is read twice, once to compare and once under
// its lock: the cost of a start that reads a million manifests.
// TestRescanLocksNoPathWithoutPackages is its other side.
func TestStartReadsEachManifestOnce(t *testing.T) {
	r := newCrashRig(t, testregistry.Start(t), "startreads")
	r.must("repo", r.createRepo(r.repo))
	pkgs := []string{"a", "b", "c"}
	for _, p := range pkgs {
		r.must("create", r.create(r.id(p, "one")))
		r.publish(nameOf(r.id(p, "one")))
	}
	r.requests.take()
	r.crash()
	counts, total := r.requests.take()
	t.Logf("start: %d requests: %v", total, sortedCounts(counts))
	// Twice per package: to see it has revisions, then under its lock.
	if got := counts["GET tags/list"]; got != 2*len(pkgs) {
		t.Errorf("the start listed tags %d times, want %d (twice per package)", got, 2*len(pkgs))
	}
	// One revision in each package, and the writer lease's manifest.
	if got := counts["GET manifests"]; got != len(pkgs)+1 {
		t.Errorf("the start fetched %d manifests, want %d", got, len(pkgs)+1)
	}
	for _, p := range pkgs {
		if got := r.get(nameOf(r.id(p, "one"))); got.Spec.Lifecycle != pkgapi.LifecyclePublished {
			t.Errorf("%s after the start: %s", p, got.Spec.Lifecycle)
		}
	}
}
