package engine

import (
	"bufio"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"time"

	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"

	configapi "pkgserver.dev/pkgserver/api/config/v1alpha1"
	pkgapi "pkgserver.dev/pkgserver/api/pkg/v1alpha1"
)

// A checkpoint is the index written down: every tag, what the revision
// manifests they name say, the Repository objects, and the resourceVersion
// of every object and of recent deletions. A restart reads it instead of
// every registry and keeps the resourceVersions clients hold, so their
// watches resume. It is a cache: the registries stay the truth, and a
// checkpoint that is missing, damaged or left by a crash only costs a full
// scan (docs/format.md, "Checkpoint").
//
// It is binary, read and written at the speed of copying bytes: a million
// revisions are a few hundred megabytes and a second or two.
const (
	checkpointVersion = 2
	checkpointMagic   = "pkgserver index\n"
)

// checkpointFile is where the checkpoint lives in Options.StateDir; the
// dirty marker exists while a process that may change things runs.
const (
	checkpointFile   = "checkpoint.bin"
	dirtyFile        = "checkpoint.dirty"
	legacyCheckpoint = "checkpoint.json.gz" // version 1, removed when a new one is written
)

// Limits of what a checkpoint may declare, so a damaged one fails cleanly.
const (
	cpMaxString = 64 << 20 // one string or JSON value
	cpMaxTable  = 1 << 20  // strings the table keeps
)

var errCheckpoint = errors.New("checkpoint damaged")

// cpRepo is a Repository as the checkpoint keeps it (JSON inside).
type cpRepo struct {
	Desc    ocispec.Descriptor   `json:"desc"`
	RV      uint64               `json:"rv"`
	Created uint64               `json:"created"`
	Object  configapi.Repository `json:"object"`
	// Scanned is when its registry started to list without error, Listed
	// when it last did.
	Scanned time.Time `json:"scanned,omitzero"`
	Listed  time.Time `json:"listed,omitzero"`
}

type cpObject struct {
	ns, name    string
	rv, created uint64
}

// cpSnapshot is what a checkpoint holds, taken under the index lock without
// copying what never changes (package states are replaced, not modified).
type cpSnapshot struct {
	seq, floor uint64
	repos      []cpRepo
	pkgs       []*pkgState
	objs       []cpObject
	tombs      []Event
}

// snapshotCheckpoint takes what the checkpoint writes. The caller holds x.mu.
func (x *index) snapshotCheckpoint() *cpSnapshot {
	s := &cpSnapshot{seq: x.seq, floor: x.hub.replayFloor, objs: make([]cpObject, 0, x.objs.Len())}
	for _, rs := range x.sortedRepos() {
		rs.status.mu.Lock()
		scanned, listed := rs.status.scanned, rs.status.listed
		rs.status.mu.Unlock()
		s.repos = append(s.repos, cpRepo{Desc: rs.desc, RV: rs.rv, Created: rs.created, Object: rs.obj, Scanned: scanned, Listed: listed})
	}
	s.pkgs = slices.AppendSeq(make([]*pkgState, 0, len(x.pkgs)), maps.Values(x.pkgs)) // in any order
	x.objs.Ascend(func(o *object) bool {
		s.objs = append(s.objs, cpObject{ns: o.ns, name: o.name, rv: o.rv, created: o.created})
		return true
	})
	s.tombs = append(s.tombs, x.hub.tombstones...)
	return s
}

// writeTo encodes the snapshot:
//
//	magic, version, seq, floor,
//	repositories (JSON each), packages (tags, with the metadata of each
//	revision manifest at its first tag), objects, tombstones,
//	CRC-32C of all before it.
func (s *cpSnapshot) writeTo(w io.Writer) error {
	c := newCPWriter(w)
	c.w.WriteString(checkpointMagic)
	c.uvarint(checkpointVersion)
	c.uvarint(s.seq)
	c.uvarint(s.floor)
	c.uvarint(uint64(len(s.repos)))
	for i := range s.repos {
		b, err := json.Marshal(&s.repos[i])
		if err != nil {
			return err
		}
		c.bytes(b)
	}
	// In order, so a restore inserts objects in order.
	slices.SortFunc(s.pkgs, func(a, b *pkgState) int { return comparePkgKeys(a.key, b.key) })
	c.uvarint(uint64(len(s.pkgs)))
	for _, p := range s.pkgs {
		c.writePackage(p)
	}
	c.uvarint(uint64(len(s.objs)))
	for _, o := range s.objs {
		c.str(o.ns)
		c.raw(o.name)
		c.uvarint(o.rv)
		c.uvarint(o.created)
	}
	c.uvarint(uint64(len(s.tombs)))
	for _, t := range s.tombs {
		c.str(t.Kind)
		c.uvarint(t.ResourceVersion)
		c.bytes(mustJSON(t.Object))
	}
	return c.finish()
}

func (c *cpWriter) writePackage(p *pkgState) {
	c.str(p.key.store)
	c.raw(p.key.path)
	metas := map[digest.Digest]*revMeta{}
	for _, r := range p.manifestRevs() {
		metas[r.digest] = r.m
	}
	c.uvarint(uint64(len(p.entries)))
	for _, t := range p.entries {
		c.str(t.tag)
		c.raw(string(t.digest))
		c.uvarint(uint64(t.size))
		c.str(t.mediaType)
		m := metas[t.digest]
		if m == nil {
			c.w.WriteByte(0)
			continue
		}
		delete(metas, t.digest) // once per package is enough
		c.w.WriteByte(1)
		c.writeMeta(m)
	}
}

func (c *cpWriter) writeMeta(m *revMeta) {
	for _, s := range []string{m.artifactType, string(m.lifecycle), m.target, m.realm, m.pkg, m.workspace, m.revision} {
		c.str(s)
	}
	c.raw(m.uid)
	c.str(m.description)
	c.str(m.publishedBy)
	c.varint(m.created)
	c.varint(m.publishedAt)
	c.str(m.tasks)
	if m.revExtra == nil {
		c.w.WriteByte(0)
		return
	}
	x := m.revExtra
	c.w.WriteByte(1)
	for _, s := range []string{x.source, x.upstream, x.upstreamLock, x.gates} {
		c.str(s)
	}
	c.raw(x.conditions)
	c.str(x.labels)
	c.str(x.annotations)
	c.raw(x.managedFields)
	c.str(x.upstreamName)
	c.uvarint(uint64(len(x.userLabels)))
	for _, s := range x.userLabels {
		c.str(s)
	}
}

// cpWriter writes the checkpoint's primitives. Strings many revisions share
// go through a table: the first time in full, then by number.
type cpWriter struct {
	w     *bufio.Writer
	crc   crcWriter
	table map[string]uint64
	buf   [binary.MaxVarintLen64]byte
}

type crcWriter struct {
	w   io.Writer
	sum uint32
}

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

func (c *crcWriter) Write(b []byte) (int, error) {
	c.sum = crc32.Update(c.sum, castagnoli, b)
	return c.w.Write(b)
}

func newCPWriter(w io.Writer) *cpWriter {
	c := &cpWriter{crc: crcWriter{w: w}, table: map[string]uint64{"": 0}}
	c.w = bufio.NewWriterSize(&c.crc, 1<<20)
	return c
}

func (c *cpWriter) uvarint(v uint64) { c.w.Write(binary.AppendUvarint(c.buf[:0], v)) }
func (c *cpWriter) varint(v int64)   { c.w.Write(binary.AppendVarint(c.buf[:0], v)) }

func (c *cpWriter) bytes(b []byte) {
	c.uvarint(uint64(len(b)))
	c.w.Write(b)
}

func (c *cpWriter) raw(s string) {
	c.uvarint(uint64(len(s)))
	c.w.WriteString(s)
}

// str writes 1+n for the table's string n, or 0 and the string.
func (c *cpWriter) str(s string) {
	if n, ok := c.table[s]; ok {
		c.uvarint(n + 1)
		return
	}
	c.uvarint(0)
	c.raw(s)
	if len(c.table) < cpMaxTable {
		c.table[s] = uint64(len(c.table))
	}
}

func (c *cpWriter) finish() error {
	if err := c.w.Flush(); err != nil {
		return err
	}
	var sum [4]byte
	binary.LittleEndian.PutUint32(sum[:], c.crc.sum)
	_, err := c.crc.w.Write(sum[:])
	return err
}

// checkpoint is a checkpoint read and checked, not yet applied.
type checkpoint struct {
	seq, floor uint64
	r          *cpReader // at the repositories
}

// parseCheckpoint checks a checkpoint's magic, version and checksum.
func parseCheckpoint(data []byte) (*checkpoint, error) {
	if len(data) < len(checkpointMagic)+4 || string(data[:len(checkpointMagic)]) != checkpointMagic {
		return nil, fmt.Errorf("%w: not a checkpoint", errCheckpoint)
	}
	body, sum := data[:len(data)-4], binary.LittleEndian.Uint32(data[len(data)-4:])
	if crc32.Checksum(body, castagnoli) != sum {
		return nil, fmt.Errorf("%w: checksum mismatch", errCheckpoint)
	}
	r := &cpReader{b: body[len(checkpointMagic):], table: []string{""}}
	if v := r.uvarint(); r.err == nil && v != checkpointVersion {
		return nil, fmt.Errorf("checkpoint: version %d, this server reads %d", v, checkpointVersion)
	}
	cp := &checkpoint{seq: r.uvarint(), floor: r.uvarint(), r: r}
	return cp, r.err
}

// restore fills an empty index from a checkpoint: the same tags and
// manifests give the same objects, then each gets back the resourceVersions
// it had. Nothing is sent to watchers. On error the index is half filled
// and must be thrown away.
func (x *index) restore(cp *checkpoint, newRepo func(configapi.Repository, ocispec.Descriptor) (*repoState, error)) error {
	r := cp.r
	x.mu.Lock()
	defer x.mu.Unlock()
	em := &emitter{seq: cp.seq, quiet: true}
	n := r.count()
	repos := make([]cpRepo, 0, min(n, 1024))
	for range n {
		var c cpRepo
		if err := json.Unmarshal(r.bytes(), &c); err != nil && r.err == nil {
			r.err = fmt.Errorf("%w: repository: %v", errCheckpoint, err)
		}
		if r.err != nil {
			return r.err
		}
		obj := c.Object
		x.applyRepo(em, repoKey{obj.Namespace, obj.Name}, encodeDesc("", c.Desc),
			batchInput{repoObjs: map[digest.Digest]*configapi.Repository{c.Desc.Digest: &obj}, newRepo: newRepo})
		repos = append(repos, c)
	}
	// Packages are decoded and derived on one core while their objects are
	// built on another.
	ch := make(chan []*pkgState, 4)
	go func() {
		defer close(ch)
		var chunk []*pkgState
		for n := r.count(); n > 0 && r.err == nil; n-- {
			if p := r.pkg(); r.err == nil {
				chunk = append(chunk, p)
			}
			if len(chunk) == 256 {
				ch <- chunk
				chunk = nil
			}
		}
		ch <- chunk
	}()
	sorted := x.sortedRepos()
	for chunk := range ch {
		for _, p := range chunk {
			x.putPackage(em, p, sorted)
		}
	}
	// Objects are in the index's order: walk both together.
	n = r.count()
	var next cpObject
	readObject := func() bool {
		if n == 0 || r.err != nil {
			return false
		}
		n--
		next = cpObject{ns: r.str(), name: r.raw(), rv: r.uvarint(), created: r.uvarint()}
		return r.err == nil
	}
	more := readObject()
	x.objs.Ascend(func(o *object) bool {
		for more && (next.ns < o.ns || next.ns == o.ns && next.name < o.name) {
			more = readObject()
		}
		if more && next.ns == o.ns && next.name == o.name {
			o.rv, o.created = next.rv, next.created
			more = readObject()
		}
		return true
	})
	for more {
		more = readObject()
	}
	var tombs []Event
	for n := r.count(); n > 0 && r.err == nil; n-- {
		kind, rv, b := r.str(), r.uvarint(), r.bytes()
		var obj any
		switch kind {
		case configapi.RepositoryKind:
			obj = new(configapi.Repository)
		case pkgapi.PackageRevisionKind:
			obj = new(pkgapi.PackageRevision)
		default:
			continue
		}
		if json.Unmarshal(b, obj) == nil {
			tombs = append(tombs, Event{Type: "DELETED", Kind: kind, Object: obj, ResourceVersion: rv})
		}
	}
	if r.err == nil && len(r.b) != 0 {
		r.fail("trailing bytes")
	}
	if r.err != nil {
		return r.err
	}
	for _, c := range repos {
		if rs, ok := x.repos[repoKey{c.Object.Namespace, c.Object.Name}]; ok {
			rs.rv, rs.created = c.RV, c.Created
			rs.status.scanned, rs.status.listed = c.Scanned, c.Listed
		}
	}
	x.seq = cp.seq
	x.hub.resetWindow(cp.floor, tombs)
	return nil
}

// manifests reads what the checkpoint says of revision manifests, by
// digest, and nothing else.
func (cp *checkpoint) manifests() (map[digest.Digest]*revMeta, error) {
	r := *cp.r
	for n := r.count(); n > 0 && r.err == nil; n-- {
		r.bytes() // a Repository
	}
	out := map[digest.Digest]*revMeta{}
	for n := r.count(); n > 0 && r.err == nil; n-- {
		r.str()
		r.raw()
		for n := r.count(); n > 0 && r.err == nil; n-- {
			r.str()
			d := digest.Digest(r.raw())
			r.uvarint()
			r.str()
			switch r.byte() {
			case 0:
			case 1:
				out[d] = r.meta()
			default:
				r.fail("bad package entry")
			}
		}
	}
	return out, r.err
}

// pkg reads a package and derives its revisions.
func (r *cpReader) pkg() *pkgState {
	k := pkgKey{store: r.str(), path: r.raw()}
	tags, metas := tagMap{}, map[digest.Digest]*revMeta{}
	for n := r.count(); n > 0 && r.err == nil; n-- {
		tag := r.str()
		d := ocispec.Descriptor{Digest: digest.Digest(r.raw()), Size: int64(r.uvarint()), MediaType: r.str()}
		switch r.byte() {
		case 0:
		case 1:
			metas[d.Digest] = r.meta()
		default:
			r.fail("bad package entry")
		}
		tags[tag] = normalize(tag, d)
	}
	if len(tags) == 0 {
		r.fail("package without tags")
	}
	return derive(k, tags, func(d ocispec.Descriptor) (*revMeta, bool) {
		m, ok := metas[d.Digest]
		return m, ok
	})
}

func (r *cpReader) meta() *revMeta {
	m := &revMeta{artifactType: r.str(), lifecycle: pkgapi.Lifecycle(r.str()), target: r.str(), realm: r.str(),
		pkg: r.str(), workspace: r.str(), revision: r.str(), uid: r.raw(), description: r.str(), publishedBy: r.str(),
		created: r.varint(), publishedAt: r.varint(), tasks: r.str()}
	switch r.byte() {
	case 0:
	case 1:
		x := &revExtra{source: r.str(), upstream: r.str(), upstreamLock: r.str(), gates: r.str(), conditions: r.raw(),
			labels: r.str(), annotations: r.str(), managedFields: r.raw(), upstreamName: r.str()}
		n := r.count()
		if n%2 != 0 {
			r.fail("odd labels")
		}
		for ; n > 0 && r.err == nil; n-- {
			x.userLabels = append(x.userLabels, r.str())
		}
		m.revExtra = x
	default:
		r.fail("bad metadata")
	}
	return m
}

// cpReader reads the checkpoint's primitives. After the first error every
// read returns zero values, and err says what went wrong.
type cpReader struct {
	b     []byte
	table []string
	err   error
}

func (r *cpReader) fail(what string) {
	if r.err == nil {
		r.err = fmt.Errorf("%w: %s", errCheckpoint, what)
	}
	r.b = nil
}

func (r *cpReader) uvarint() uint64 {
	v, n := binary.Uvarint(r.b)
	if n <= 0 {
		r.fail("bad number")
		return 0
	}
	r.b = r.b[n:]
	return v
}

func (r *cpReader) varint() int64 {
	v, n := binary.Varint(r.b)
	if n <= 0 {
		r.fail("bad number")
		return 0
	}
	r.b = r.b[n:]
	return v
}

// count reads a number of items, each at least a byte.
func (r *cpReader) count() int {
	v := r.uvarint()
	if v > uint64(len(r.b)) {
		r.fail("count beyond the end")
		return 0
	}
	return int(v)
}

func (r *cpReader) byte() byte {
	if len(r.b) == 0 {
		r.fail("truncated")
		return 0
	}
	c := r.b[0]
	r.b = r.b[1:]
	return c
}

func (r *cpReader) bytes() []byte {
	v := r.uvarint()
	if v > cpMaxString || v > uint64(len(r.b)) {
		r.fail("string beyond the end")
		return nil
	}
	b := r.b[:v:v]
	r.b = r.b[v:]
	return b
}

// raw is a string of its own (copied: the file's bytes are let go).
func (r *cpReader) raw() string { return string(r.bytes()) }

// str is a string of the table, or a new one the table keeps (interned, so
// revisions built later share it).
func (r *cpReader) str() string {
	v := r.uvarint()
	if v > 0 {
		if v > uint64(len(r.table)) {
			r.fail("unknown string")
			return ""
		}
		return r.table[v-1]
	}
	s := intern(r.raw())
	if r.err == nil && len(r.table) < cpMaxTable {
		r.table = append(r.table, s)
	}
	return s
}

// readCheckpoint reads the checkpoint of dir and when it was written; clean
// reports that the process that wrote it changed nothing after.
func readCheckpoint(dir string) (cp *checkpoint, written time.Time, clean bool, err error) {
	p := filepath.Join(dir, checkpointFile)
	data, err := os.ReadFile(p)
	if errors.Is(err, os.ErrNotExist) {
		return nil, written, false, nil
	}
	if err != nil {
		return nil, written, false, err
	}
	if fi, err := os.Stat(p); err == nil {
		written = fi.ModTime()
	}
	if cp, err = parseCheckpoint(data); err != nil {
		return nil, written, false, err
	}
	_, err = os.Stat(filepath.Join(dir, dirtyFile))
	return cp, written, errors.Is(err, os.ErrNotExist), nil
}

// writeCheckpoint replaces the checkpoint of dir durably.
func writeCheckpoint(dir string, s *cpSnapshot) error {
	f, err := os.CreateTemp(dir, ".tmp-checkpoint-")
	if err != nil {
		return err
	}
	defer os.Remove(f.Name())
	if err := s.writeTo(f); err != nil {
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
	if err := os.Remove(filepath.Join(dir, legacyCheckpoint)); err != nil && !errors.Is(err, os.ErrNotExist) {
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
