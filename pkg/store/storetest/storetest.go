// Package storetest is the conformance suite every store.Store backend must
// pass, in the manner of distribution's storage driver testsuites: one set of
// behaviours, run against the embedded layout and a real registry alike.
package storetest

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"slices"
	"strings"
	"sync"
	"testing"

	ocispec "github.com/opencontainers/image-spec/specs-go/v1"

	"pkgserver.dev/pkgserver/pkg/errdef"
	"pkgserver.dev/pkgserver/pkg/store"
)

// Skip names subtests that a backend is known to fail, with the reason: a
// test double that departs from the spec (go-containerregistry's in-memory
// registry), never a backend pkgserver serves from. Keys are subtest paths
// below the suite as t.Run prints them ("DeleteManifestRemovesTags",
// "NotFound/Delete_blob/unknown_repo").
type Skip map[string]string

// skips holds the Skip of each running suite by the name of its test.
var skips sync.Map

// skipListed skips t if its suite listed it.
func skipListed(t *testing.T) {
	reason := ""
	skips.Range(func(suite, s any) bool {
		if sub, ok := strings.CutPrefix(t.Name(), suite.(string)+"/"); ok {
			reason = s.(Skip)[sub]
		}
		return reason == ""
	})
	if reason != "" {
		t.Skip(reason)
	}
}

// Run runs the suite; newStore is called once per subtest. Subtests of an
// optional interface are skipped, saying so, only when the backend lacks it,
// and those in skip (at most one) with its reason.
func Run(t *testing.T, newStore func(t *testing.T) store.Store, skip ...Skip) {
	if len(skip) > 0 {
		skips.Store(t.Name(), skip[0])
		t.Cleanup(func() { skips.Delete(t.Name()) })
	}
	tests := []struct {
		name string
		fn   func(t *testing.T, s store.Store)
	}{
		{"Blobs", testBlobs},
		{"Manifests", testManifests},
		{"ResolveTags", testResolve},
		{"Retag", testRetag},
		{"TagsOrderAndPages", testTagsPages},
		{"DeleteManifestRemovesTags", testDeleteManifest},
		{"DeleteBlob", testDeleteBlob},
		{"NotFound", testNotFound},
		{"InvalidName", testInvalidName},
		{"IdempotentPush", testIdempotentPush},
		{"ConcurrentPushes", testConcurrent},
		{"PushReference", testPushReference},
		{"FetchReference", testFetchReference},
		{"DeleteSubjectless", testDeleteSubjectless},
		{"Untag", testUntag},
		{"Referrers", testReferrers},
		{"Mount", testMount},
		{"Repositories", testRepositories},
		{"Notify", testNotify},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			skipListed(t)
			tt.fn(t, newStore(t))
		})
	}
}

func repository(t *testing.T, s store.Store, suffix string) store.Repository {
	t.Helper()
	repo, err := s.Repository(context.Background(), repoName(t, suffix))
	if err != nil {
		t.Fatalf("Repository: %v", err)
	}
	return repo
}

// optional returns repo as T, or skips the test saying the backend lacks it.
func optional[T any](t *testing.T, v any) T {
	t.Helper()
	x, ok := v.(T)
	if !ok {
		var zero T
		t.Skipf("backend %T does not implement %T", v, &zero)
	}
	return x
}

func testBlobs(t *testing.T, s store.Store) {
	ctx := context.Background()
	repo := repository(t, s, "r")
	b := newBlob(ocispec.MediaTypeImageLayer, []byte("hello blob"))
	push(t, repo, b)
	if ok, err := repo.Exists(ctx, b.desc); err != nil || !ok {
		t.Fatalf("Exists = %v, %v; want true", ok, err)
	}
	if got := fetchAll(t, repo, b.desc); !bytes.Equal(got, b.data) {
		t.Fatalf("Fetch = %q, want %q", got, b.data)
	}
	other := newBlob(ocispec.MediaTypeImageLayer, []byte("never pushed"))
	if ok, err := repo.Exists(ctx, other.desc); err != nil || ok {
		t.Fatalf("Exists(unknown) = %v, %v; want false, nil", ok, err)
	}
	// A push whose content does not match its descriptor is refused.
	bad := newBlob(ocispec.MediaTypeImageLayer, []byte("claimed"))
	if err := repo.Push(ctx, bad.desc, bytes.NewReader([]byte("other!!"))); err == nil {
		t.Fatal("Push of mismatched content succeeded")
	}
}

func testManifests(t *testing.T, s store.Store) {
	ctx := context.Background()
	repo := repository(t, s, "r")
	img := newImage("manifests", ArtifactType, nil)
	desc := pushImage(t, repo, img)
	for _, tt := range []struct {
		name string
		desc ocispec.Descriptor
	}{
		{"full descriptor", desc},
		{"digest and size only", ocispec.Descriptor{Digest: desc.Digest, Size: desc.Size}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			if got := fetchAll(t, repo, tt.desc); !bytes.Equal(got, img.manifest.data) {
				t.Fatalf("Fetch = %s, want %s", got, img.manifest.data)
			}
			if ok, err := repo.Exists(ctx, tt.desc); err != nil || !ok {
				t.Fatalf("Exists = %v, %v; want true", ok, err)
			}
		})
	}
	if got := resolve(t, repo, desc.Digest.String()); !sameDesc(got, desc) {
		t.Fatalf("Resolve(digest) = %+v, want %+v", got, desc)
	}
	for _, b := range img.blobs {
		if got := fetchAll(t, repo, b.desc); !bytes.Equal(got, b.data) {
			t.Fatalf("Fetch(%s) = %q, want %q", b.desc.Digest, got, b.data)
		}
	}
}

func testResolve(t *testing.T, s store.Store) {
	ctx := context.Background()
	repo := repository(t, s, "r")
	desc := pushImage(t, repo, newImage("resolve", ArtifactType, nil))
	tag(t, repo, desc, "v1")
	tag(t, repo, desc, "latest")
	for _, ref := range []string{"v1", "latest", desc.Digest.String()} {
		if got := resolve(t, repo, ref); !sameDesc(got, desc) {
			t.Errorf("Resolve(%s) = %+v, want %+v", ref, got, desc)
		}
	}
	_, err := repo.Resolve(ctx, "v2")
	wantNotFound(t, "Resolve(missing tag)", err)
	// Tagging from a digest and size only must work too.
	tag(t, repo, ocispec.Descriptor{Digest: desc.Digest, Size: desc.Size}, "bydigest")
	if got := resolve(t, repo, "bydigest"); !sameDesc(got, desc) {
		t.Errorf("Resolve(bydigest) = %+v, want %+v", got, desc)
	}
}

func testRetag(t *testing.T, s store.Store) {
	repo := repository(t, s, "r")
	d1 := pushImage(t, repo, newImage("retag-1", ArtifactType, nil))
	d2 := pushImage(t, repo, newImage("retag-2", ArtifactType, nil))
	tag(t, repo, d1, "latest")
	tag(t, repo, d2, "latest")
	if got := resolve(t, repo, "latest"); got.Digest != d2.Digest {
		t.Fatalf("latest = %s, want %s", got.Digest, d2.Digest)
	}
	// The manifest that lost its tag is still there.
	fetchAll(t, repo, d1)
	resolve(t, repo, d1.Digest.String())
	if got := allTags(t, repo, ""); !slices.Equal(got, []string{"latest"}) {
		t.Fatalf("Tags = %v, want [latest]", got)
	}
}

func testTagsPages(t *testing.T, s store.Store) {
	repo := repository(t, s, "r")
	desc := pushImage(t, repo, newImage("tags", ArtifactType, nil))
	var want []string
	for i := 149; i >= 0; i-- { // pushed in reverse to show the order is the store's
		ref := fmt.Sprintf("t%03d", i)
		tag(t, repo, desc, ref)
		want = append(want, ref)
	}
	slices.Sort(want)
	if got := allTags(t, repo, ""); !slices.Equal(got, want) {
		t.Fatalf("Tags = %v\nwant %v", got, want)
	}
	if got := allTags(t, repo, want[99]); !slices.Equal(got, want[100:]) {
		t.Fatalf("Tags(last=%s) = %v, want %v", want[99], got, want[100:])
	}
	if got := allTags(t, repo, want[len(want)-1]); len(got) != 0 {
		t.Fatalf("Tags(last=max) = %v, want none", got)
	}
	// fn's error stops the listing and is returned.
	stop := errors.New("stop")
	if err := repo.Tags(context.Background(), "", func([]string) error { return stop }); !errors.Is(err, stop) {
		t.Fatalf("Tags with failing fn = %v, want %v", err, stop)
	}
}

func testDeleteManifest(t *testing.T, s store.Store) {
	ctx := context.Background()
	repo := repository(t, s, "r")
	desc := pushImage(t, repo, newImage("delete", ArtifactType, nil))
	keep := pushImage(t, repo, newImage("keep", ArtifactType, nil))
	tag(t, repo, desc, "a")
	tag(t, repo, desc, "b")
	tag(t, repo, keep, "keep")
	if err := repo.Delete(ctx, desc); err != nil {
		t.Fatalf("Delete: %v", err)
	}
	for _, ref := range []string{"a", "b", desc.Digest.String()} {
		_, err := repo.Resolve(ctx, ref)
		wantNotFound(t, "Resolve("+ref+") after Delete", err)
	}
	_, err := repo.Fetch(ctx, desc)
	wantNotFound(t, "Fetch after Delete", err)
	if got := allTags(t, repo, ""); !slices.Equal(got, []string{"keep"}) {
		t.Fatalf("Tags after Delete = %v, want [keep]", got)
	}
	wantNotFound(t, "second Delete", repo.Delete(ctx, desc))
}

func testDeleteBlob(t *testing.T, s store.Store) {
	ctx := context.Background()
	repo := repository(t, s, "r")
	b := newBlob(ocispec.MediaTypeImageLayer, []byte("to delete"))
	push(t, repo, b)
	if err := repo.Delete(ctx, b.desc); err != nil {
		t.Fatalf("Delete: %v", err)
	}
	if ok, err := repo.Exists(ctx, b.desc); err != nil || ok {
		t.Fatalf("Exists after Delete = %v, %v; want false, nil", ok, err)
	}
	_, err := repo.Fetch(ctx, b.desc)
	wantNotFound(t, "Fetch after Delete", err)
}

func testNotFound(t *testing.T, s store.Store) {
	ctx := context.Background()
	missing := newImage("missing", ArtifactType, nil)
	existing := repository(t, s, "exists")
	pushImage(t, existing, newImage("exists", ArtifactType, nil))
	empty := repository(t, s, "never-written")
	for _, tt := range []struct {
		name string
		call func(repo store.Repository) error
	}{
		{"Resolve tag", func(r store.Repository) error { _, err := r.Resolve(ctx, "nope"); return err }},
		{"Resolve digest", func(r store.Repository) error {
			_, err := r.Resolve(ctx, missing.manifest.desc.Digest.String())
			return err
		}},
		{"Fetch blob", func(r store.Repository) error { _, err := r.Fetch(ctx, missing.blobs[1].desc); return err }},
		{"Fetch manifest", func(r store.Repository) error { _, err := r.Fetch(ctx, missing.manifest.desc); return err }},
		{"Fetch digest only", func(r store.Repository) error {
			_, err := r.Fetch(ctx, ocispec.Descriptor{Digest: missing.manifest.desc.Digest, Size: missing.manifest.desc.Size})
			return err
		}},
		{"Delete manifest", func(r store.Repository) error { return r.Delete(ctx, missing.manifest.desc) }},
		{"Delete blob", func(r store.Repository) error { return r.Delete(ctx, missing.blobs[1].desc) }},
		{"Tag", func(r store.Repository) error { return r.Tag(ctx, missing.manifest.desc, "x") }},
	} {
		for name, repo := range map[string]store.Repository{"existing repo": existing, "unknown repo": empty} {
			t.Run(tt.name+"/"+name, func(t *testing.T) {
				skipListed(t)
				wantNotFound(t, tt.name, tt.call(repo))
			})
		}
	}
	t.Run("Tags of unknown repo", func(t *testing.T) {
		wantNotFound(t, "Tags", empty.Tags(ctx, "", func([]string) error { return nil }))
	})
}

func testInvalidName(t *testing.T, s store.Store) {
	for _, name := range []string{"", "Upper/case", "a//b", "/abs", "a/../b", "trailing-", "a b"} {
		if _, err := s.Repository(context.Background(), name); !errors.Is(err, errdef.ErrInvalid) {
			t.Errorf("Repository(%q) = %v, want errdef.ErrInvalid", name, err)
		}
	}
}

func testIdempotentPush(t *testing.T, s store.Store) {
	repo := repository(t, s, "r")
	img := newImage("again", ArtifactType, nil)
	desc := pushImage(t, repo, img)
	tag(t, repo, desc, "v1")
	pushImage(t, repo, img)
	tag(t, repo, desc, "v1")
	if got := resolve(t, repo, "v1"); !sameDesc(got, desc) {
		t.Fatalf("Resolve after re-push = %+v, want %+v", got, desc)
	}
	if got := allTags(t, repo, ""); !slices.Equal(got, []string{"v1"}) {
		t.Fatalf("Tags = %v, want [v1]", got)
	}
}

func testConcurrent(t *testing.T, s store.Store) {
	repo := repository(t, s, "r")
	const n = 16
	var wg sync.WaitGroup
	errs := make(chan error, n)
	descs := make([]ocispec.Descriptor, n)
	for i := range n {
		wg.Go(func() {
			img := newImage(fmt.Sprintf("concurrent-%d", i), ArtifactType, nil)
			descs[i] = img.manifest.desc
			ctx := context.Background()
			for _, b := range append(img.blobs, img.manifest) {
				if err := repo.Push(ctx, b.desc, bytes.NewReader(b.data)); err != nil {
					errs <- err
					return
				}
			}
			errs <- repo.Tag(ctx, img.manifest.desc, fmt.Sprintf("c%02d", i))
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Fatalf("concurrent push: %v", err)
		}
	}
	for i, d := range descs {
		if got := resolve(t, repo, fmt.Sprintf("c%02d", i)); got.Digest != d.Digest {
			t.Errorf("c%02d = %s, want %s", i, got.Digest, d.Digest)
		}
	}
	if got := allTags(t, repo, ""); len(got) != n {
		t.Fatalf("Tags = %v, want %d tags", got, n)
	}
}

func testPushReference(t *testing.T, s store.Store) {
	repo := repository(t, s, "r")
	rp := optional[store.ReferencePusher](t, repo)
	img := newImage("pushref", ArtifactType, nil)
	for _, b := range img.blobs {
		push(t, repo, b)
	}
	m := img.manifest
	if err := rp.PushReference(context.Background(), m.desc, bytes.NewReader(m.data), "v1"); err != nil {
		t.Fatalf("PushReference: %v", err)
	}
	if got := resolve(t, repo, "v1"); !sameDesc(got, m.desc) {
		t.Fatalf("Resolve = %+v, want %+v", got, m.desc)
	}
	if got := fetchAll(t, repo, m.desc); !bytes.Equal(got, m.data) {
		t.Fatal("Fetch after PushReference returned other content")
	}
}

func testFetchReference(t *testing.T, s store.Store) {
	repo := repository(t, s, "r")
	rf := optional[store.ReferenceFetcher](t, repo)
	img := newImage("fetchref", ArtifactType, nil)
	desc := pushImage(t, repo, img)
	tag(t, repo, desc, "v1")
	for _, ref := range []string{"v1", desc.Digest.String()} {
		got, rc, err := rf.FetchReference(context.Background(), ref)
		if err != nil {
			t.Fatalf("FetchReference(%s): %v", ref, err)
		}
		data, err := io.ReadAll(rc)
		rc.Close()
		if err != nil || !bytes.Equal(data, img.manifest.data) || got.Digest != desc.Digest || got.Size != desc.Size {
			t.Fatalf("FetchReference(%s) = %+v, %d bytes, %v; want %+v", ref, got, len(data), err, desc)
		}
	}
	_, _, err := rf.FetchReference(context.Background(), "nope")
	wantNotFound(t, "FetchReference(missing tag)", err)
}

func testDeleteSubjectless(t *testing.T, s store.Store) {
	ctx := context.Background()
	repo := repository(t, s, "r")
	d := optional[store.SubjectlessDeleter](t, repo)
	desc := pushImage(t, repo, newImage("subjectless", ArtifactType, nil))
	tag(t, repo, desc, "ws.a")
	if err := d.DeleteSubjectless(ctx, desc); err != nil {
		t.Fatalf("DeleteSubjectless: %v", err)
	}
	_, err := repo.Resolve(ctx, "ws.a")
	wantNotFound(t, "Resolve(tag of deleted manifest)", err)
	wantNotFound(t, "DeleteSubjectless(again)", d.DeleteSubjectless(ctx, desc))
}

func testUntag(t *testing.T, s store.Store) {
	ctx := context.Background()
	repo := repository(t, s, "r")
	u := optional[store.Untagger](t, repo)
	desc := pushImage(t, repo, newImage("untag", ArtifactType, nil))
	tag(t, repo, desc, "draft")
	tag(t, repo, desc, "v1")
	if err := u.Untag(ctx, "draft"); err != nil {
		t.Fatalf("Untag: %v", err)
	}
	_, err := repo.Resolve(ctx, "draft")
	wantNotFound(t, "Resolve(untagged)", err)
	if got := resolve(t, repo, "v1"); got.Digest != desc.Digest {
		t.Fatalf("v1 = %s, want %s", got.Digest, desc.Digest)
	}
	if err := u.Untag(ctx, "v1"); err != nil {
		t.Fatalf("Untag last tag: %v", err)
	}
	// The manifest outlives its last tag.
	fetchAll(t, repo, desc)
	wantNotFound(t, "Untag(missing)", u.Untag(ctx, "v1"))
}

func testReferrers(t *testing.T, s store.Store) {
	ctx := context.Background()
	repo := repository(t, s, "r")
	rl := optional[store.ReferrerLister](t, repo)
	subject := pushImage(t, repo, newImage("subject", ArtifactType, nil))
	tag(t, repo, subject, "v1")
	sig := pushImage(t, repo, newImage("signature", "application/vnd.test.signature", &subject))
	sbom := pushImage(t, repo, newImage("sbom", "application/vnd.test.sbom", &subject))
	pushImage(t, repo, newImage("unrelated", "application/vnd.test.sbom", nil))
	for _, tt := range []struct {
		artifactType string
		want         []ocispec.Descriptor
	}{
		{"", []ocispec.Descriptor{sig, sbom}},
		{"application/vnd.test.sbom", []ocispec.Descriptor{sbom}},
		{"application/vnd.test.none", nil},
	} {
		t.Run("artifactType="+tt.artifactType, func(t *testing.T) {
			var got []ocispec.Descriptor
			err := rl.Referrers(ctx, subject, tt.artifactType, func(page []ocispec.Descriptor) error {
				got = append(got, page...)
				return nil
			})
			if err != nil {
				t.Fatalf("Referrers: %v", err)
			}
			if len(got) != len(tt.want) {
				t.Fatalf("Referrers = %v, want %v", got, tt.want)
			}
			for _, w := range tt.want {
				i := slices.IndexFunc(got, func(d ocispec.Descriptor) bool { return d.Digest == w.Digest })
				if i < 0 {
					t.Fatalf("Referrers = %v, missing %s", got, w.Digest)
				}
				if got[i].ArtifactType == "" || got[i].Annotations["dev.pkgserver.test.seed"] == "" {
					t.Errorf("referrer %s lacks artifactType or annotations: %+v", w.Digest, got[i])
				}
			}
		})
	}
}

func testMount(t *testing.T, s store.Store) {
	ctx := context.Background()
	from := repository(t, s, "from")
	to := repository(t, s, "to")
	m := optional[store.Mounter](t, to)
	b := newBlob(ocispec.MediaTypeImageLayer, []byte("mounted"))
	push(t, from, b)
	if err := m.Mount(ctx, b.desc, repoName(t, "from"), nil); err != nil {
		t.Fatalf("Mount: %v", err)
	}
	if got := fetchAll(t, to, b.desc); !bytes.Equal(got, b.data) {
		t.Fatalf("Fetch after Mount = %q", got)
	}
	// Not in the source: getContent supplies it.
	c := newBlob(ocispec.MediaTypeImageLayer, []byte("supplied"))
	err := m.Mount(ctx, c.desc, repoName(t, "from"), func() (io.ReadCloser, error) {
		return io.NopCloser(bytes.NewReader(c.data)), nil
	})
	if err != nil {
		t.Fatalf("Mount with getContent: %v", err)
	}
	if got := fetchAll(t, to, c.desc); !bytes.Equal(got, c.data) {
		t.Fatalf("Fetch after Mount = %q", got)
	}
}

func testRepositories(t *testing.T, s store.Store) {
	l := optional[store.Lister](t, s)
	names := []string{repoName(t, "b/two"), repoName(t, "a"), repoName(t, "b")}
	for _, n := range names {
		repo, err := s.Repository(context.Background(), n)
		if err != nil {
			t.Fatal(err)
		}
		desc := pushImage(t, repo, newImage(n, ArtifactType, nil))
		tag(t, repo, desc, "v1")
	}
	slices.Sort(names)
	list := func(last string) []string {
		var got []string
		err := l.Repositories(context.Background(), last, func(page []string) error {
			got = append(got, page...)
			return nil
		})
		if err != nil {
			t.Fatalf("Repositories(%q): %v", last, err)
		}
		return got
	}
	// Other subtests may share the store: check order and that ours are there.
	got := list("")
	if !slices.IsSorted(got) {
		t.Fatalf("Repositories not in lexical order: %v", got)
	}
	var ours []string
	for _, n := range got {
		if slices.Contains(names, n) {
			ours = append(ours, n)
		}
	}
	if !slices.Equal(ours, names) {
		t.Fatalf("Repositories = %v, want to contain %v", got, names)
	}
	if after := list(names[0]); slices.Contains(after, names[0]) || !slices.Contains(after, names[2]) {
		t.Fatalf("Repositories(last=%s) = %v", names[0], after)
	}
}

func testNotify(t *testing.T, s store.Store) {
	n := optional[store.Notifier](t, s)
	var mu sync.Mutex
	var got []string
	n.Notify(func(repo string) {
		mu.Lock()
		defer mu.Unlock()
		got = append(got, repo)
	})
	repo := repository(t, s, "r")
	desc := pushImage(t, repo, newImage("notify", ArtifactType, nil))
	tag(t, repo, desc, "v1")
	mu.Lock()
	defer mu.Unlock()
	if len(got) == 0 || !slices.Contains(got, repoName(t, "r")) {
		t.Fatalf("notified %v, want %s", got, repoName(t, "r"))
	}
}
