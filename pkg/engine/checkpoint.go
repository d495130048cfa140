package engine

import (
	"compress/gzip"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"

	configapi "pkgserver.dev/pkgserver/api/config/v1alpha1"
	pkgapi "pkgserver.dev/pkgserver/api/pkg/v1alpha1"
	"pkgserver.dev/pkgserver/pkg/coord"
)

// A checkpoint is the index written down: every tag, the manifests they
// name, the Repository objects, and the resourceVersion of every object and
// of recent deletions. A restart reads it instead of every registry and keeps
// the resourceVersions clients hold, so their watches resume. It is a cache:
// the registries stay the truth, and a checkpoint that is missing, unreadable
// or left by a crash only costs a full scan (docs/format.md, "Checkpoint").
const checkpointVersion = 1

type checkpoint struct {
	Version int `json:"version"`
	// Seq is the last batch of the feed the index had applied.
	Seq uint64 `json:"seq"`
	// Floor is the oldest resourceVersion a watch can resume from.
	Floor      uint64                       `json:"floor"`
	Repos      []cpRepo                     `json:"repositories"`
	Packages   []cpPackage                  `json:"packages"`
	Manifests  map[digest.Digest]cpManifest `json:"manifests"`
	Objects    []cpObject                   `json:"objects"`
	Tombstones []cpTombstone                `json:"tombstones,omitempty"`
}

type cpRepo struct {
	Desc    ocispec.Descriptor   `json:"desc"`
	RV      uint64               `json:"rv"`
	Created uint64               `json:"created"`
	Object  configapi.Repository `json:"object"`
	// Scanned is when its registry was last listed completely.
	Scanned time.Time `json:"scanned,omitzero"`
}

type cpPackage struct {
	Store string                        `json:"store"`
	Path  string                        `json:"path"`
	Tags  map[string]ocispec.Descriptor `json:"tags"`
}

type cpManifest struct {
	ArtifactType string               `json:"artifactType,omitempty"`
	Annotations  map[string]string    `json:"annotations,omitempty"`
	Layers       []ocispec.Descriptor `json:"layers,omitempty"`
}

type cpObject struct {
	Namespace string `json:"namespace"`
	Name      string `json:"name"`
	RV        uint64 `json:"rv"`
	Created   uint64 `json:"created"`
}

type cpTombstone struct {
	Kind   string          `json:"kind"`
	RV     uint64          `json:"rv"`
	Object json.RawMessage `json:"object"`
}

// checkpointFile is where the checkpoint lives in Options.StateDir; the
// dirty marker exists while a process that may change things runs.
const (
	checkpointFile = "checkpoint.json.gz"
	dirtyFile      = "checkpoint.dirty"
)

// snapshotCheckpoint writes down the index. The caller holds x.mu.
func (x *index) snapshotCheckpoint() *checkpoint {
	cp := &checkpoint{Version: checkpointVersion, Seq: x.seq, Floor: x.hub.replayFloor, Manifests: map[digest.Digest]cpManifest{}}
	for _, rs := range x.sortedRepos() {
		rs.status.mu.Lock()
		scanned := rs.status.scanned
		rs.status.mu.Unlock()
		cp.Repos = append(cp.Repos, cpRepo{Desc: rs.desc, RV: rs.rv, Created: rs.created, Object: rs.obj, Scanned: scanned})
	}
	for _, k := range sortedPkgKeys(x.pkgs) {
		p := x.pkgs[k]
		cp.Packages = append(cp.Packages, cpPackage{Store: k.store, Path: k.path, Tags: p.tagMap()})
		for _, r := range p.revs {
			cp.Manifests[r.digest] = cpManifest{ArtifactType: r.m.artifactType, Annotations: r.m.meta().Encode()}
		}
	}
	x.objs.Ascend(func(o *object) bool {
		cp.Objects = append(cp.Objects, cpObject{Namespace: o.ns, Name: o.name, RV: o.rv, Created: o.created})
		return true
	})
	for _, t := range x.hub.tombstones {
		cp.Tombstones = append(cp.Tombstones, cpTombstone{Kind: t.Kind, RV: t.ResourceVersion, Object: mustJSON(t.Object)})
	}
	return cp
}

// restore fills an empty index from a checkpoint: the same batches give the
// same objects, then each gets back the resourceVersions it had.
func (x *index) restore(cp *checkpoint, newRepo func(configapi.Repository, ocispec.Descriptor) (*repoState, error)) {
	in := batchInput{manifests: map[digest.Digest]*revMeta{}, repoObjs: map[digest.Digest]*configapi.Repository{}, newRepo: newRepo}
	var recs []coord.Record
	for _, r := range cp.Repos {
		obj := r.Object
		in.repoObjs[r.Desc.Digest] = &obj
		recs = append(recs, coord.Record{Key: repoRecordKey(repoKey{obj.Namespace, obj.Name}), Value: encodeDesc("", r.Desc)})
	}
	for _, p := range cp.Packages {
		for tag, d := range p.Tags {
			recs = append(recs, coord.Record{Key: tagKey(pkgKey{p.Store, p.Path}, tag), Value: encodeDesc(tag, d)})
		}
	}
	for d, m := range cp.Manifests {
		in.manifests[d] = newRevMeta(m.ArtifactType, m.Annotations)
	}
	x.apply(coord.Batch{Seq: cp.Seq, Records: recs}, in)
	x.mu.Lock()
	defer x.mu.Unlock()
	for _, r := range cp.Repos {
		if rs, ok := x.repos[repoKey{r.Object.Namespace, r.Object.Name}]; ok {
			rs.rv, rs.created = r.RV, r.Created
			rs.status.scanned = r.Scanned
		}
	}
	for _, c := range cp.Objects {
		if o, ok := x.objs.Get(&object{ns: c.Namespace, name: c.Name}); ok {
			o.rv, o.created = c.RV, c.Created
		}
	}
	var tombs []Event
	for _, t := range cp.Tombstones {
		var obj any
		switch t.Kind {
		case configapi.RepositoryKind:
			obj = new(configapi.Repository)
		case pkgapi.PackageRevisionKind:
			obj = new(pkgapi.PackageRevision)
		default:
			continue
		}
		if json.Unmarshal(t.Object, obj) == nil {
			tombs = append(tombs, Event{Type: "DELETED", Kind: t.Kind, Object: obj, ResourceVersion: t.RV})
		}
	}
	x.hub.resetWindow(cp.Floor, tombs)
}

// readCheckpoint reads the checkpoint of dir and when it was written; clean
// reports that the process that wrote it changed nothing after.
func readCheckpoint(dir string) (cp *checkpoint, written time.Time, clean bool, err error) {
	f, err := os.Open(filepath.Join(dir, checkpointFile))
	if errors.Is(err, os.ErrNotExist) {
		return nil, written, false, nil
	}
	if err != nil {
		return nil, written, false, err
	}
	defer f.Close()
	if fi, err := f.Stat(); err == nil {
		written = fi.ModTime()
	}
	zr, err := gzip.NewReader(f)
	if err != nil {
		return nil, written, false, fmt.Errorf("checkpoint: %w", err)
	}
	cp = &checkpoint{}
	if err := json.NewDecoder(zr).Decode(cp); err != nil {
		return nil, written, false, fmt.Errorf("checkpoint: %w", err)
	}
	if cp.Version != checkpointVersion {
		return nil, written, false, fmt.Errorf("checkpoint: version %d, this server reads %d", cp.Version, checkpointVersion)
	}
	_, err = os.Stat(filepath.Join(dir, dirtyFile))
	return cp, written, errors.Is(err, os.ErrNotExist), nil
}

// writeCheckpoint replaces the checkpoint of dir durably.
func writeCheckpoint(dir string, cp *checkpoint) error {
	f, err := os.CreateTemp(dir, ".tmp-checkpoint-")
	if err != nil {
		return err
	}
	defer os.Remove(f.Name())
	zw := gzip.NewWriter(f)
	if err := json.NewEncoder(zw).Encode(cp); err != nil {
		f.Close()
		return err
	}
	if err := zw.Close(); err != nil {
		f.Close()
		return err
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return err
	}
	if err := f.Close(); err != nil {
		return err
	}
	if err := os.Rename(f.Name(), filepath.Join(dir, checkpointFile)); err != nil {
		return err
	}
	return syncDir(dir)
}

// setDirty marks (or clears) that a process may change things the
// checkpoint does not show.
func setDirty(dir string, dirty bool) error {
	p := filepath.Join(dir, dirtyFile)
	if !dirty {
		if err := os.Remove(p); err != nil && !errors.Is(err, os.ErrNotExist) {
			return err
		}
		return syncDir(dir)
	}
	f, err := os.Create(p)
	if err != nil {
		return err
	}
	if err := f.Close(); err != nil {
		return err
	}
	return syncDir(dir)
}

func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer d.Close()
	return d.Sync()
}
