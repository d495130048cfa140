package layout

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"maps"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/opencontainers/go-digest"
	specs "github.com/opencontainers/image-spec/specs-go"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
	"oras.land/oras-go/v2/content"

	"pkgserver.dev/pkgserver/pkg/store/layout/internal/fsys"
)

// memDir is the data directory of stores on a fsys.Mem.
const memDir = "/data"

// facts are what must hold in a store: tags (repo → tag → digest, "" for
// absent) and blobs present or absent (repo → digest → present).
type facts struct {
	tags  map[string]map[string]digest.Digest
	blobs map[string]map[digest.Digest]bool
}

func newFacts() facts {
	return facts{tags: map[string]map[string]digest.Digest{}, blobs: map[string]map[digest.Digest]bool{}}
}

func (f facts) tag(repo, tag string, d digest.Digest) {
	if f.tags[repo] == nil {
		f.tags[repo] = map[string]digest.Digest{}
	}
	f.tags[repo][tag] = d
}

func (f facts) blob(repo string, d digest.Digest, present bool) {
	if f.blobs[repo] == nil {
		f.blobs[repo] = map[digest.Digest]bool{}
	}
	f.blobs[repo][d] = present
}

func (f facts) clone() facts {
	c := newFacts()
	for r, m := range f.tags {
		c.tags[r] = maps.Clone(m)
	}
	for r, m := range f.blobs {
		c.blobs[r] = maps.Clone(m)
	}
	return c
}

// crashCase is one write operation. setup makes the acknowledged writes it
// starts from and returns what they established (before) and what op adds
// (after, built from a clone of before).
type crashCase struct {
	name  string
	setup func(t *testing.T, s *Store) (before, after facts)
	op    func(s *Store) error
}

type testBlob struct {
	desc ocispec.Descriptor
	data []byte
}

func blobOf(s string) testBlob {
	data := []byte(s)
	return testBlob{content.NewDescriptorFromBytes(ocispec.MediaTypeImageLayer, data), data}
}

// imageOf is an image manifest with the empty config and one layer.
func imageOf(seed string, subject *ocispec.Descriptor) (testBlob, []testBlob) {
	layer := blobOf("layer " + seed)
	config := testBlob{ocispec.DescriptorEmptyJSON, ocispec.DescriptorEmptyJSON.Data}
	data, err := json.Marshal(ocispec.Manifest{
		Versioned: specs.Versioned{SchemaVersion: 2},
		MediaType: ocispec.MediaTypeImageManifest,
		Config:    config.desc,
		Layers:    []ocispec.Descriptor{layer.desc},
		Subject:   subject,
	})
	if err != nil {
		panic(err)
	}
	return testBlob{content.NewDescriptorFromBytes(ocispec.MediaTypeImageManifest, data), data}, []testBlob{config, layer}
}

func repoOf(t *testing.T, s *Store, name string) *Repository {
	t.Helper()
	r, err := s.repository(name)
	if err != nil {
		t.Fatal(err)
	}
	return r
}

func mustPush(t *testing.T, s *Store, repo string, bs ...testBlob) {
	t.Helper()
	r := repoOf(t, s, repo)
	for _, b := range bs {
		if err := r.Push(context.Background(), b.desc, bytes.NewReader(b.data)); err != nil {
			t.Fatalf("push %s to %s: %v", b.desc.Digest, repo, err)
		}
	}
}

// pushImage pushes an image's blobs and manifest tagged tag, and records them.
func pushImage(t *testing.T, s *Store, f facts, repo, tag, seed string) testBlob {
	t.Helper()
	m, bs := imageOf(seed, nil)
	mustPush(t, s, repo, bs...)
	if err := repoOf(t, s, repo).PushReference(context.Background(), m.desc, bytes.NewReader(m.data), tag); err != nil {
		t.Fatal(err)
	}
	f.tag(repo, tag, m.desc.Digest)
	for _, b := range append(bs, m) {
		f.blob(repo, b.desc.Digest, true)
	}
	return m
}

func crashCases() []crashCase {
	ctx := context.Background()
	push := func(repo string, b testBlob) func(s *Store) error {
		return func(s *Store) error {
			r, err := s.repository(repo)
			if err != nil {
				return err
			}
			return r.Push(ctx, b.desc, bytes.NewReader(b.data))
		}
	}
	sha512Blob := testBlob{data: []byte("sha512 blob")}
	sha512Blob.desc = ocispec.Descriptor{MediaType: "application/octet-stream", Digest: digest.SHA512.FromBytes(sha512Blob.data), Size: int64(len(sha512Blob.data))}
	m1, bs1 := imageOf("m1", nil)
	return []crashCase{
		{"push blob to a new repository", func(t *testing.T, s *Store) (facts, facts) {
			before := newFacts()
			after := before.clone()
			after.blob("ns/new/pkg", blobOf("b").desc.Digest, true)
			return before, after
		}, push("ns/new/pkg", blobOf("b"))},
		{"push blob to an existing repository", func(t *testing.T, s *Store) (facts, facts) {
			before := newFacts()
			pushImage(t, s, before, "ns/pkg", "v1", "old")
			after := before.clone()
			after.blob("ns/pkg", blobOf("b").desc.Digest, true)
			return before, after
		}, push("ns/pkg", blobOf("b"))},
		{"push blob of a new algorithm", func(t *testing.T, s *Store) (facts, facts) {
			before := newFacts()
			pushImage(t, s, before, "ns/pkg", "v1", "old")
			after := before.clone()
			after.blob("ns/pkg", sha512Blob.desc.Digest, true)
			return before, after
		}, push("ns/pkg", sha512Blob)},
		{"push manifest by tag", func(t *testing.T, s *Store) (facts, facts) {
			before := newFacts()
			pushImage(t, s, before, "ns/pkg", "v1", "old")
			mustPush(t, s, "ns/pkg", bs1...)
			after := before.clone()
			after.tag("ns/pkg", "v2", m1.desc.Digest)
			after.blob("ns/pkg", m1.desc.Digest, true)
			return before, after
		}, func(s *Store) error {
			r, _ := s.repository("ns/pkg")
			return r.PushReference(ctx, m1.desc, bytes.NewReader(m1.data), "v2")
		}},
		{"push manifest by tag to a new repository", func(t *testing.T, s *Store) (facts, facts) {
			before := newFacts()
			mustPush(t, s, "ns/pkg", bs1...)
			after := before.clone()
			after.tag("ns/pkg", "v1", m1.desc.Digest)
			after.blob("ns/pkg", m1.desc.Digest, true)
			return before, after
		}, func(s *Store) error {
			r, _ := s.repository("ns/pkg")
			return r.PushReference(ctx, m1.desc, bytes.NewReader(m1.data), "v1")
		}},
		{"move a tag", func(t *testing.T, s *Store) (facts, facts) {
			before := newFacts()
			pushImage(t, s, before, "ns/pkg", "v1", "old")
			pushImage(t, s, before, "ns/pkg", "latest", "other")
			after := before.clone()
			after.tag("ns/pkg", "latest", before.tags["ns/pkg"]["v1"])
			return before, after
		}, func(s *Store) error {
			r, _ := s.repository("ns/pkg")
			d, err := r.Resolve(ctx, "v1")
			if err != nil {
				return err
			}
			return r.Tag(ctx, d, "latest")
		}},
		{"untag", func(t *testing.T, s *Store) (facts, facts) {
			before := newFacts()
			m := pushImage(t, s, before, "ns/pkg", "v1", "old")
			if err := repoOf(t, s, "ns/pkg").Tag(ctx, m.desc, "ws.a"); err != nil {
				t.Fatal(err)
			}
			before.tag("ns/pkg", "ws.a", m.desc.Digest)
			after := before.clone()
			after.tag("ns/pkg", "ws.a", "")
			return before, after
		}, func(s *Store) error {
			r, _ := s.repository("ns/pkg")
			return r.Untag(ctx, "ws.a")
		}},
		{"delete manifest", func(t *testing.T, s *Store) (facts, facts) {
			before := newFacts()
			pushImage(t, s, before, "ns/pkg", "v1", "keep")
			m := pushImage(t, s, before, "ns/pkg", "ws.a", "gone")
			after := before.clone()
			after.tag("ns/pkg", "ws.a", "")
			after.blob("ns/pkg", m.desc.Digest, false)
			return before, after
		}, func(s *Store) error {
			r, _ := s.repository("ns/pkg")
			d, err := r.Resolve(ctx, "ws.a")
			if err != nil {
				return err
			}
			return r.Delete(ctx, d)
		}},
		{"delete blob", func(t *testing.T, s *Store) (facts, facts) {
			before := newFacts()
			pushImage(t, s, before, "ns/pkg", "v1", "keep")
			mustPush(t, s, "ns/pkg", blobOf("loose"))
			before.blob("ns/pkg", blobOf("loose").desc.Digest, true)
			after := before.clone()
			after.blob("ns/pkg", blobOf("loose").desc.Digest, false)
			return before, after
		}, func(s *Store) error {
			r, _ := s.repository("ns/pkg")
			return r.Delete(ctx, blobOf("loose").desc)
		}},
		{"mount into a new repository", func(t *testing.T, s *Store) (facts, facts) {
			before := newFacts()
			pushImage(t, s, before, "ns/src", "v1", "shared")
			after := before.clone()
			after.blob("ns/dst/pkg", blobOf("layer shared").desc.Digest, true)
			return before, after
		}, func(s *Store) error {
			r, _ := s.repository("ns/dst/pkg")
			return r.Mount(ctx, blobOf("layer shared").desc, "ns/src", nil)
		}},
	}
}

// TestPowerLoss crashes every write operation after each of its filesystem
// steps, dropping all that was not fsynced, reopens the store and checks
// that acknowledged writes are all there, unacknowledged ones are all or
// nothing in the index, and the store is sound (checkSound).
func TestPowerLoss(t *testing.T) {
	for _, tc := range crashCases() {
		t.Run(tc.name, func(t *testing.T) {
			// A dry run counts the steps of op.
			m := fsys.NewMem()
			s := mustOpenFS(t, m)
			tc.setup(t, s)
			start := m.Steps()
			if err := tc.op(s); err != nil {
				t.Fatalf("op without crash: %v", err)
			}
			steps := m.Steps() - start
			// k = steps+1: the crash comes after op returned.
			for k := 1; k <= steps+1; k++ {
				m := fsys.NewMem()
				s := mustOpenFS(t, m)
				before, after := tc.setup(t, s)
				m.CrashAfter(k)
				err := tc.op(s)
				s = mustOpenFS(t, m.Crash())
				where := fmt.Sprintf("crash after step %d of %d (op error: %v)", k, steps, err)
				checkSound(t, s, where)
				if err == nil {
					checkFacts(t, s, after, where+", acknowledged")
					continue
				}
				if e1, e2 := tagsMatch(s, before), tagsMatch(s, after); e1 != nil && e2 != nil {
					t.Fatalf("%s: tags are neither as before (%v) nor as after (%v)", where, e1, e2)
				}
				checkFacts(t, s, common(before, after), where)
			}
		})
	}
}

func mustOpenFS(t *testing.T, m *fsys.Mem) *Store {
	t.Helper()
	s, err := openFS(memDir, m)
	if err != nil {
		t.Fatalf("open after crash: %v", err)
	}
	return s
}

// common keeps the blob facts on which before and after agree; tags are checked apart.
func common(before, after facts) facts {
	c := newFacts()
	for repo, m := range before.blobs {
		for d, present := range m {
			if a, ok := after.blobs[repo][d]; ok && a == present {
				c.blob(repo, d, present)
			}
		}
	}
	return c
}

func tagsMatch(s *Store, f facts) error {
	ctx := context.Background()
	for repo, tags := range f.tags {
		r, err := s.repository(repo)
		if err != nil {
			return err
		}
		for tag, want := range tags {
			got, err := r.Resolve(ctx, tag)
			switch {
			case want == "" && err == nil:
				return fmt.Errorf("%s:%s = %s, want none", repo, tag, got.Digest)
			case want != "" && err != nil:
				return fmt.Errorf("%s:%s: %v", repo, tag, err)
			case want != "" && got.Digest != want:
				return fmt.Errorf("%s:%s = %s, want %s", repo, tag, got.Digest, want)
			}
		}
	}
	return nil
}

func checkFacts(t *testing.T, s *Store, f facts, where string) {
	t.Helper()
	if err := tagsMatch(s, f); err != nil {
		t.Fatalf("%s: %v", where, err)
	}
	for repo, m := range f.blobs {
		r := repoOf(t, s, repo)
		for d, want := range m {
			got, err := r.Exists(context.Background(), ocispec.Descriptor{Digest: d})
			if err != nil || got != want {
				t.Fatalf("%s: blob %s in %s: exists=%v (%v), want %v", where, d, repo, got, err, want)
			}
		}
	}
}

// checkSound checks what must hold whatever was interrupted: every index.json
// parses, every listed manifest and what it refers to is stored, and every
// stored file matches its digest (nothing partial is visible).
func checkSound(t *testing.T, s *Store, where string) {
	t.Helper()
	ctx := context.Background()
	repos, err := s.list(ctx)
	if err != nil {
		t.Fatalf("%s: list: %v", where, err)
	}
	for _, name := range repos {
		r := repoOf(t, s, name)
		r.mu.Lock()
		idx, err := r.index()
		r.mu.Unlock()
		if err != nil {
			t.Fatalf("%s: %s: index.json: %v", where, name, err)
		}
		for _, e := range idx.entries {
			info := idx.infos[e.Digest]
			for _, d := range append(append([]digest.Digest{e.Digest}, info.blobs...), info.children...) {
				if ok, err := r.Exists(ctx, ocispec.Descriptor{Digest: d}); !ok || err != nil {
					t.Fatalf("%s: %s: listed manifest %s: %s missing (%v)", where, name, e.Digest, d, err)
				}
			}
		}
		algs, err := s.fs.ReadDir(filepath.Join(r.dir, blobsDir))
		if err != nil {
			t.Fatalf("%s: %s: %v", where, name, err)
		}
		for _, a := range algs {
			files, err := s.fs.ReadDir(filepath.Join(r.dir, blobsDir, a.Name()))
			if err != nil {
				t.Fatal(err)
			}
			for _, f := range files {
				if strings.HasPrefix(f.Name(), tmpPrefix) {
					t.Fatalf("%s: %s: temp file %s left after Open", where, name, f.Name())
				}
				d := digest.NewDigestFromEncoded(digest.Algorithm(a.Name()), f.Name())
				rc, err := r.Fetch(ctx, ocispec.Descriptor{Digest: d})
				if err != nil {
					t.Fatal(err)
				}
				v := d.Verifier()
				_, err = io.Copy(v, rc)
				rc.Close()
				if err != nil || !v.Verified() {
					t.Fatalf("%s: %s: blob %s does not match its digest (partial write visible)", where, name, d)
				}
			}
		}
	}
}

// writeDurable writes path on m with its parents, all synced, as a finished
// write of the previous store would have left it.
func writeDurable(t *testing.T, m *fsys.Mem, path string, data []byte) {
	t.Helper()
	s := newStore(memDir, m)
	if err := s.mkdirAll(filepath.Dir(path)); err != nil {
		t.Fatal(err)
	}
	if err := writeFileAtomic(m, path, data); err != nil {
		t.Fatal(err)
	}
}

// TestPowerLossDuringMigration crashes Open, while it moves a data directory
// of the previous mapping, after each step; the next Open finishes the move
// and every repository reads as before.
func TestPowerLossDuringMigration(t *testing.T) {
	names := []string{"a", "a/b", "a/blobs/sha256/x", "ns/pkg"}
	oldLayout := func(t *testing.T) (*fsys.Mem, facts) {
		m := fsys.NewMem()
		f := newFacts()
		for _, n := range names {
			dir := filepath.Join(memDir, reposDir, filepath.FromSlash(n))
			img, bs := imageOf(n, nil)
			for _, b := range append(bs, img) {
				writeDurable(t, m, filepath.Join(dir, blobsDir, "sha256", b.desc.Digest.Encoded()), b.data)
				f.blob(n, b.desc.Digest, true)
			}
			idx, err := json.Marshal(ocispec.Index{Versioned: specsVersioned, Manifests: []ocispec.Descriptor{entry(img.desc, manifestInfo{}, "v1")}})
			if err != nil {
				t.Fatal(err)
			}
			writeDurable(t, m, filepath.Join(dir, ocispec.ImageIndexFile), idx)
			writeDurable(t, m, filepath.Join(dir, ocispec.ImageLayoutFile), []byte(`{"imageLayoutVersion":"1.0.0"}`))
			f.tag(n, "v1", img.desc.Digest)
		}
		return m, f
	}
	m, _ := oldLayout(t)
	start := m.Steps()
	mustOpenFS(t, m)
	steps := m.Steps() - start
	for k := 1; k <= steps; k++ {
		m, want := oldLayout(t)
		m.CrashAfter(k)
		if _, err := openFS(memDir, m); err == nil && k < steps {
			t.Fatalf("Open survived a crash at step %d of %d", k, steps)
		}
		s := mustOpenFS(t, m.Crash())
		where := fmt.Sprintf("crash after step %d of %d of the migration", k, steps)
		checkSound(t, s, where)
		checkFacts(t, s, want, where)
		repos, err := s.list(context.Background())
		if err != nil || !slices.Equal(repos, names) {
			t.Fatalf("%s: repositories %v, %v; want %v", where, repos, err, names)
		}
	}
}
