package engine

import (
	"encoding/json"
	"maps"
	"slices"
	"strings"
	"sync/atomic"

	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"

	pkgapi "pkgserver.dev/pkgserver/api/pkg/v1alpha1"
	"pkgserver.dev/pkgserver/pkg/coord"
	"pkgserver.dev/pkgserver/pkg/format"
	"pkgserver.dev/pkgserver/pkg/names"
)

// The shared state on the feed mirrors the registry: which tag of which OCI
// repository points at which manifest, and which Repository objects exist.
//
//	tags/<store>/<path>/<tag>   descriptor of the tagged manifest ({} for a tombstone)
//	repos/<namespace>/<name>    descriptor of the stored Repository object
//
// <store> is embeddedStore or a registry host[:port]; a tag never holds "/",
// so the last segment is the tag and the rest is the path.
const (
	tagPrefix  = "tags/"
	repoPrefix = "repos/"
	// embeddedStore names the embedded store in keys: "_" is never in a host
	// name, and the external address may change between runs.
	embeddedStore = "_embedded"
)

// pkgKey names one OCI repository (a package) of one store.
type pkgKey struct{ store, path string }

func (k pkgKey) String() string { return k.store + "/" + k.path }

func tagKey(k pkgKey, tag string) string { return tagPrefix + k.store + "/" + k.path + "/" + tag }

// parseTagKey splits a tags/ key.
func parseTagKey(key string) (pkgKey, string, bool) {
	rest, ok := strings.CutPrefix(key, tagPrefix)
	if !ok {
		return pkgKey{}, "", false
	}
	store, rest, ok := strings.Cut(rest, "/")
	if !ok {
		return pkgKey{}, "", false
	}
	i := strings.LastIndexByte(rest, '/')
	if i <= 0 {
		return pkgKey{}, "", false
	}
	return pkgKey{store: store, path: rest[:i]}, rest[i+1:], true
}

func repoRecordKey(k repoKey) string { return repoPrefix + k.namespace + "/" + k.name }

func parseRepoKey(key string) (repoKey, bool) {
	rest, ok := strings.CutPrefix(key, repoPrefix)
	if !ok {
		return repoKey{}, false
	}
	ns, name, ok := strings.Cut(rest, "/")
	return repoKey{ns, name}, ok && ns != "" && name != ""
}

// tagMap is what one package's tags point at.
type tagMap map[string]ocispec.Descriptor

// tracked reports whether a tag is part of the shared state. `latest` is
// not: the API computes the newest revision from the vN tags themselves.
func tracked(tag string) bool { return tag != names.LatestTag }

// encodeDesc is the record value of a tag.
// The manifest of a revision tag travels in the record (the descriptor's
// data field, image-spec's embedded content) when the writer has it, so every
// replica applies the same batch without reading the registry, where a later
// write may have removed that manifest already.
func encodeDesc(tag string, d ocispec.Descriptor) []byte {
	if _, ok := names.ParseDeletedTag(tag); ok {
		return []byte("{}") // a tombstone counts by its name alone
	}
	e := ocispec.Descriptor{MediaType: d.MediaType, Digest: d.Digest, Size: d.Size}
	if isRevisionTag(tag) {
		e.Data = d.Data
	}
	b, _ := json.Marshal(e)
	return b
}

func sameDesc(a, b ocispec.Descriptor) bool {
	return a.Digest == b.Digest && a.Size == b.Size && a.MediaType == b.MediaType
}

func decodeDesc(b []byte) (ocispec.Descriptor, bool) {
	var d ocispec.Descriptor
	return d, json.Unmarshal(b, &d) == nil
}

// normalize keeps what the shared state keeps of a descriptor, so a map read
// from the registry compares equal to one built from records.
func normalize(tag string, d ocispec.Descriptor) ocispec.Descriptor {
	if _, ok := names.ParseDeletedTag(tag); ok {
		return ocispec.Descriptor{}
	}
	return ocispec.Descriptor{MediaType: d.MediaType, Digest: d.Digest, Size: d.Size}
}

// diffRecords returns the records that turn old into cur for package k.
func diffRecords(k pkgKey, old, cur tagMap) []coord.Record {
	var out []coord.Record
	for _, tag := range slices.Sorted(maps.Keys(cur)) {
		d := normalize(tag, cur[tag])
		if o, ok := old[tag]; !ok || !sameDesc(normalize(tag, o), d) {
			out = append(out, coord.Record{Key: tagKey(k, tag), Value: encodeDesc(tag, cur[tag])})
		}
	}
	for _, tag := range slices.Sorted(maps.Keys(old)) {
		if _, ok := cur[tag]; !ok {
			out = append(out, coord.Record{Key: tagKey(k, tag)})
		}
	}
	return out
}

// tagEdit tracks what a write does to a package's tags, as the registry
// applies it, so the records to publish follow from the write itself.
type tagEdit struct {
	before, after tagMap
}

func newTagEdit(cur tagMap) *tagEdit {
	return &tagEdit{before: cur, after: maps.Clone(cur)}
}

// tag points tag at the manifest m.
func (t *tagEdit) tag(tag string, m format.Blob) {
	if tracked(tag) {
		d := normalize(tag, m.Descriptor)
		d.Data = m.Data
		t.after[tag] = d
	}
}

// untag removes one tag.
func (t *tagEdit) untag(tag string) { delete(t.after, tag) }

// deleteManifest removes every tag of the manifest d, as a registry does.
func (t *tagEdit) deleteManifest(d ocispec.Descriptor) {
	for tag, x := range t.after {
		if x.Digest == d.Digest {
			delete(t.after, tag)
		}
	}
}

func (t *tagEdit) records(k pkgKey) []coord.Record { return diffRecords(k, t.before, t.after) }

// revKinds of the tags of a package.
func isMarker(tag string) bool {
	_, ok := names.ParseDeletionTag(tag)
	return ok
}

func isTombstone(tag string) bool {
	_, ok := names.ParseDeletedTag(tag)
	return ok
}

// isRevisionTag reports whether a tag may name a revision (its manifest decides).
func isRevisionTag(tag string) bool {
	return tracked(tag) && !isMarker(tag) && !isTombstone(tag)
}

// rev is one revision of a package as the tags and its manifest say. It
// never changes: a change of the package builds new ones.
type rev struct {
	tag       string
	digest    digest.Digest // of its manifest
	size      int64
	mediaType string
	m         *revMeta // as read from the manifest
	workspace string   // with the defaults and names applied
	revision  string
	n         int // N of a vN tag, else 0
	marker    *ocispec.Descriptor
	lifecycle pkgapi.Lifecycle
}

// descriptor is the revision's manifest descriptor.
func (r *rev) descriptor() ocispec.Descriptor {
	return ocispec.Descriptor{MediaType: r.mediaType, Digest: r.digest, Size: r.size}
}

// fullMeta decodes the revision's metadata, with its workspace and revision.
func (r *rev) fullMeta() format.Meta {
	d := r.m.meta()
	d.Workspace, d.Revision = r.workspace, r.revision
	return d
}

// pkgState is one package: its tags and the revisions they make.
type pkgState struct {
	key        pkgKey
	entries    []tagEntry              // sorted by tag
	revs       []*rev                  // sorted by tag
	deletedMax int                     // highest N of a tombstone: numbers never come back
	newest     int                     // highest N among revs: the latest revision
	view       atomic.Pointer[pkgView] // the last repository's reading of key.path (revID)
	// missing lists revision tags whose manifest could not be read; they are
	// tried again later.
	missing []string
	// shadowed lists drafts whose workspace a published revision has; they
	// are kept to be shown again once it is gone.
	shadowed []*rev
}

// tagEntry is one tag of a package, kept compactly.
type tagEntry struct {
	tag       string
	digest    digest.Digest
	size      int64
	mediaType string
}

// tagMap returns the package's tags as a map the caller owns.
func (p *pkgState) tagMap() tagMap {
	m := make(tagMap, len(p.entries))
	for _, e := range p.entries {
		m[e.tag] = ocispec.Descriptor{MediaType: e.mediaType, Digest: e.digest, Size: e.size}
	}
	return m
}

func entriesOf(tags tagMap) []tagEntry {
	out := make([]tagEntry, 0, len(tags))
	for _, tag := range slices.Sorted(maps.Keys(tags)) {
		d := tags[tag]
		out = append(out, tagEntry{tag: intern(tag), digest: d.Digest, size: d.Size, mediaType: intern(d.MediaType)})
	}
	return out
}

// manifestRevs are the revisions whose manifests the package keeps.
func (p *pkgState) manifestRevs() []*rev { return slices.Concat(p.revs, p.shadowed) }

// latest is the highest N among published revisions, 0 if none.
func (p *pkgState) latest() int { return p.newest }

// newestRevision is the one rule for which revision is the latest: the
// numbered revision (a vN tag whose manifest is a package revision; derive
// leaves out tombstones, markers and pkgserver's other artifacts) with the
// highest N, skip aside; nil when there is none. The latest-revision label,
// the `latest` tag after a publication or a deletion, the recovery of an
// interrupted one and the /v2/ guard all follow it.
func newestRevision(revs []*rev, skip *rev) *rev {
	var out *rev
	for _, r := range revs {
		if r != skip && r.n > 0 && (out == nil || r.n > out.n) {
			out = r
		}
	}
	return out
}

// next is the number the next published revision gets.
func (p *pkgState) next() int { return max(p.latest(), p.deletedMax) + 1 }

func (p *pkgState) byWorkspace(ws string) *rev {
	for _, r := range p.revs {
		if r.workspace == ws {
			return r
		}
	}
	return nil
}

// infoOf keeps what deriving needs of a revision manifest.
func infoOf(m ocispec.Manifest) *revMeta { return newRevMeta(m.ArtifactType, m.Annotations) }

// derive builds the revisions of a package from its tags. info returns the
// manifest of a digest (false when it cannot be read).
func derive(k pkgKey, tags tagMap, info func(ocispec.Descriptor) (*revMeta, bool)) *pkgState {
	p := &pkgState{key: k, entries: entriesOf(tags)}
	markers := map[string]ocispec.Descriptor{}
	var drafts, published, others []*rev
	for _, tag := range slices.Sorted(maps.Keys(tags)) {
		d := tags[tag]
		switch {
		case isTombstone(tag):
			n, _ := names.ParseDeletedTag(tag)
			p.deletedMax = max(p.deletedMax, n)
			continue
		case isMarker(tag):
			markers[strings.TrimSuffix(tag, names.DeletionTagSuffix)] = d
			continue
		case !isRevisionTag(tag):
			continue
		}
		m, ok := info(d)
		if !ok {
			p.missing = append(p.missing, tag)
			continue
		}
		switch m.artifactType {
		case format.DeletionMarkerType, format.RepositoryType, format.TombstoneType, format.IndexType:
			continue
		}
		r := newRev(tag, d, m)
		switch {
		case r.lifecycle != pkgapi.LifecyclePublished:
			drafts = append(drafts, r)
		case r.n > 0:
			published = append(published, r)
		default:
			others = append(others, r)
		}
	}
	slices.SortFunc(published, func(a, b *rev) int { return a.n - b.n })
	// Names must be unique, and a published revision's name never changes:
	// it keeps the workspace of its annotations unless an earlier revision
	// has it (then it is named after its tag). A draft whose workspace a
	// published revision has can only come from a push behind pkgserver; it
	// is left out (and left alone: reads never write).
	taken := map[string]bool{}
	for _, r := range slices.Concat(published, others) {
		ws := r.m.workspace
		if ws == "" || names.ValidateWorkspace(ws) != nil || taken[ws] {
			ws = sanitizeWorkspace(r.tag)
			for i := 2; taken[ws]; i++ {
				ws = sanitizeWorkspace(r.tag) + "-" + itoa(i)
			}
		}
		r.workspace = intern(ws)
		taken[ws] = true
		if d, ok := markers[r.tag]; ok {
			r.marker = &d
			r.lifecycle = pkgapi.LifecycleDeletionProposed
		}
	}
	drafts = slices.DeleteFunc(drafts, func(r *rev) bool {
		if taken[r.workspace] {
			p.shadowed = append(p.shadowed, r)
			return true
		}
		return false
	})
	p.setRevs(slices.Concat(drafts, published, others))
	return p
}

// setRevs sets the revisions of p, sorted by tag, and its latest number.
func (p *pkgState) setRevs(revs []*rev) {
	slices.SortFunc(revs, func(a, b *rev) int { return strings.Compare(a.tag, b.tag) })
	p.revs, p.newest = revs, 0
	if r := newestRevision(revs, nil); r != nil {
		p.newest = r.n
	}
}

// newRev reads a revision from its tag and manifest, applying the documented
// defaults to what an artifact pushed by another tool leaves out.
func newRev(tag string, desc ocispec.Descriptor, m *revMeta) *rev {
	r := &rev{tag: intern(tag), digest: desc.Digest, size: desc.Size, mediaType: intern(desc.MediaType),
		m: m, workspace: m.workspace, revision: m.revision}
	if ws, ok := names.ParseWorkspaceTag(tag); ok {
		r.workspace = intern(ws)
		r.revision = ""
		r.lifecycle = pkgapi.LifecycleDraft
		if m.lifecycle == pkgapi.LifecycleProposed {
			r.lifecycle = pkgapi.LifecycleProposed
		}
		return r
	}
	r.lifecycle = pkgapi.LifecyclePublished
	r.revision = r.tag
	if n, ok := names.ParseRevision(tag); ok {
		r.n = n
	}
	return r
}

// sanitizeWorkspace turns a tag into a workspace name: lowercase, [a-z0-9-].
func sanitizeWorkspace(tag string) string {
	b := []byte(strings.ToLower(tag))
	for i, c := range b {
		if !(c >= 'a' && c <= 'z' || c >= '0' && c <= '9') {
			b[i] = '-'
		}
	}
	s := strings.Trim(string(b), "-")
	if len(s) > 56 {
		s = strings.Trim(s[:56], "-")
	}
	if s == "" {
		s = "rev"
	}
	return s
}

func itoa(i int) string { return strings.TrimPrefix(names.RevisionTag(i), "v") }
