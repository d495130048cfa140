package engine

import (
	"fmt"
	"io"
	"log/slog"
	"os"
	"runtime"
	"runtime/pprof"
	"strconv"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"

	configapi "pkgserver.dev/pkgserver/api/config/v1alpha1"
	pkgapi "pkgserver.dev/pkgserver/api/pkg/v1alpha1"
	"pkgserver.dev/pkgserver/pkg/coord"
	"pkgserver.dev/pkgserver/pkg/format"
	"pkgserver.dev/pkgserver/pkg/names"
)

// TestIndexMemory reports the heap an index holds per revision (run with
// PKGSERVER_INDEX_MEMORY=100000; it is a measurement, not a check).
func TestIndexMemory(t *testing.T) {
	n, _ := strconv.Atoi(os.Getenv("PKGSERVER_INDEX_MEMORY"))
	if n == 0 {
		n = 3000
	}
	runtime.GC()
	var before runtime.MemStats
	runtime.ReadMemStats(&before)
	x := fillIndex(n)
	x.hub.resetWindow(0, nil) // the event window is not the index
	runtime.GC()
	var after runtime.MemStats
	runtime.ReadMemStats(&after)
	revs := x.objs.Len()
	if p := os.Getenv("PKGSERVER_INDEX_HEAP"); p != "" {
		f, _ := os.Create(p)
		pprof.WriteHeapProfile(f)
		f.Close()
	}
	runtime.KeepAlive(x)
	t.Logf("%d revisions: %.0f bytes of heap each", revs, float64(after.HeapAlloc-before.HeapAlloc)/float64(revs))
	if os.Getenv("PKGSERVER_INDEX_CHECKPOINT") == "" {
		return
	}
	dir := t.TempDir()
	start := time.Now()
	x.mu.Lock()
	snap := x.snapshotCheckpoint()
	x.mu.Unlock()
	snapT := time.Since(start)
	if err := writeCheckpoint(dir, snap); err != nil {
		t.Fatal(err)
	}
	writeT := time.Since(start)
	snap = nil
	fi, _ := os.Stat(dir + "/" + checkpointFile)
	start = time.Now()
	cp, _, _, err := readCheckpoint(dir)
	if err != nil {
		t.Fatal(err)
	}
	readT := time.Since(start)
	y := newIndex(0, 0, slog.New(slog.NewTextHandler(io.Discard, nil)))
	if err := y.restore(cp, testRepoState); err != nil {
		t.Fatal(err)
	}
	restoreT := time.Since(start)
	var peak runtime.MemStats
	runtime.ReadMemStats(&peak)
	t.Logf("checkpoint %d bytes: snapshot %v, written %v; read %v, restored %v; total allocated %d MiB, sys %d MiB",
		fi.Size(), snapT, writeT, readT, restoreT, (peak.TotalAlloc-after.TotalAlloc)>>20, peak.Sys>>20)
	runtime.KeepAlive(y)
}

// testRepoState stands in for a Repository's state without a registry.
func testRepoState(r configapi.Repository, d ocispec.Descriptor) (*repoState, error) {
	return &repoState{key: repoKey{r.Namespace, r.Name}, obj: r, desc: d, storeID: embeddedStore, embedded: true,
		host: "pkgserver:8080", prefix: r.Namespace + "/" + r.Name, status: &repoStatus{}}, nil
}

// fillIndex returns an index of about n published revisions, three per
// package, as pkgbench fills a server.
func fillIndex(n int) *index {
	x := newIndex(0, 0, slog.New(slog.NewTextHandler(io.Discard, nil)))
	repo := configapi.Repository{Spec: configapi.RepositorySpec{Type: "oci"}}
	repo.Namespace, repo.Name = "bench", "blueprints"
	rd := ocispec.Descriptor{MediaType: ocispec.MediaTypeImageManifest, Digest: digest.FromString("repo"), Size: 1}
	x.apply(coord.Batch{Seq: 1, Records: []coord.Record{{Key: repoRecordKey(repoKey{"bench", "blueprints"}), Value: encodeDesc("", rd)}}},
		batchInput{repoObjs: map[digest.Digest]*configapi.Repository{rd.Digest: &repo}, newRepo: testRepoState})
	layer := ocispec.Descriptor{MediaType: format.LayerType, Digest: digest.FromString("layer"), Size: 4000}
	fill := time.Date(2025, 6, 1, 0, 0, 0, 0, time.UTC)
	seq := uint64(1)
	for p := 0; p*3 < n; p++ {
		k := pkgKey{embeddedStore, fmt.Sprintf("bench/blueprints/team%d/pkg%d", p%100, p)}
		var recs []coord.Record
		in := batchInput{manifests: map[digest.Digest]*revMeta{}}
		for r := 1; r <= 3; r++ {
			meta := format.Meta{Lifecycle: pkgapi.LifecyclePublished, Target: "catalog", Realm: fmt.Sprintf("team%d", p%100), Package: fmt.Sprintf("pkg%d", p),
				Workspace: fmt.Sprintf("ws%d", r), Revision: names.RevisionTag(r), UID: uuid.NewString(), Created: fill,
				Description: "pre-filled by pkgbench", Tasks: []pkgapi.Task{{Type: pkgapi.TaskTypeInit, Init: &pkgapi.InitTask{Description: "pre-filled by pkgbench"}}},
				PublishedBy: "pkgbench", PublishedAt: fill.Add(time.Duration(r) * time.Minute)}
			m := format.Manifest(meta, layer)
			parsed, _ := format.ParseManifest(m.Data)
			in.manifests[m.Descriptor.Digest] = infoOf(parsed)
			d := m.Descriptor
			d.Data = m.Data
			recs = append(recs, coord.Record{Key: tagKey(k, names.RevisionTag(r)), Value: encodeDesc(names.RevisionTag(r), d)})
		}
		seq++
		x.apply(coord.Batch{Seq: seq, Records: recs}, in)
	}
	return x
}
