package engine

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"

	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
	"oras.land/oras-go/v2/content"

	pkgapi "pkgserver.dev/pkgserver/api/pkg/v1alpha1"
	"pkgserver.dev/pkgserver/pkg/errdef"
	"pkgserver.dev/pkgserver/pkg/format"
	"pkgserver.dev/pkgserver/pkg/krm"
	"pkgserver.dev/pkgserver/pkg/names"
	"pkgserver.dev/pkgserver/pkg/store"
)

// RegistryOp is a change asked of the embedded registry through /v2/.
type RegistryOp int

// The changes the /v2/ API can make.
const (
	PutTag RegistryOp = iota + 1
	DeleteTag
	DeleteManifest
	DeleteBlob
)

// RegistryWrite is one change asked through /v2/.
type RegistryWrite struct {
	Path     string
	Op       RegistryOp
	Tag      string        // the tag set or deleted
	Tags     []string      // every tag a PUT sets
	Digest   digest.Digest // the manifest pushed or deleted, or the blob deleted
	Manifest []byte        // the body of a PUT
}

// CheckRegistryWrite applies the lifecycle to /v2/: under a registered
// repository's prefix, content a revision references changes only as the
// lifecycle allows (product.md, "One rule for every door"); outside, /v2/ is
// a plain registry. The caller holds the package's lock (LockEmbedded).
func (e *Engine) CheckRegistryWrite(ctx context.Context, w RegistryWrite) error {
	if w.Path == ConfigRepository || strings.HasPrefix(w.Path, ConfigRepository+"/") || strings.HasPrefix(w.Path, "pkgserver-system/") {
		return fmt.Errorf("%w: %s holds pkgserver's own objects; change them through the API", errdef.ErrForbidden, w.Path)
	}
	if err := e.wait(ctx); err != nil {
		return err
	}
	rs, ok := e.idx.owner(embeddedStore, w.Path)
	if !ok {
		return nil
	}
	if _, _, _, err := names.FromOCIPath(rs.prefix, w.Path, rs.deployment); err != nil {
		return nil // not a package path: never shown, nothing to protect
	}
	repo, err := e.opts.Embedded.Repository(ctx, w.Path)
	if err != nil {
		return nil // an invalid name is refused by the registry itself
	}
	// The store is the truth here: we hold the lock of everything that writes it.
	tags, err := e.readTags(ctx, e.opts.Embedded, pkgKey{embeddedStore, w.Path})
	if err != nil {
		return err
	}
	p := derive(pkgKey{embeddedStore, w.Path}, tags, func(d ocispec.Descriptor) (*revMeta, bool) {
		m, err := e.cache.manifest(ctx, repo, d)
		return infoOf(m), err == nil
	})
	g := registryGuard{e: e, w: w, tags: tags, p: p, repo: repo}
	switch w.Op {
	case PutTag:
		return g.putTag(ctx)
	case DeleteTag:
		return g.deleteTag()
	case DeleteManifest:
		return g.deleteManifest(ctx)
	case DeleteBlob:
		return g.deleteBlob(ctx)
	}
	return fmt.Errorf("%w: unknown registry change %d", errdef.ErrForbidden, w.Op)
}

type registryGuard struct {
	e    *Engine
	w    RegistryWrite
	tags tagMap
	p    *pkgState
	repo store.Repository
}

func (g registryGuard) deny(format string, args ...any) error {
	return fmt.Errorf("%w: %s: "+format, append([]any{errdef.ErrForbidden, g.w.Path}, args...)...)
}

// revisionOf returns the revision whose manifest is d, if any.
func (g registryGuard) revisionOf(d digest.Digest) *rev {
	for _, r := range g.p.revs {
		if r.digest == d {
			return r
		}
	}
	return nil
}

func (g registryGuard) putTag(ctx context.Context) error {
	w := g.w
	tag := w.Tag
	switch {
	case tag == names.LatestTag:
		// latest is the newest revision (newestRevision), after this push;
		// a vN of the same push is checked as a revision on its own.
		newest, at := 0, digest.Digest("")
		if r := newestRevision(g.p.revs, nil); r != nil {
			newest, at = r.n, r.digest
		}
		for _, t := range w.Tags {
			if n, ok := names.ParseRevision(t); ok && n > newest {
				newest, at = n, w.Digest
			}
		}
		if at != w.Digest {
			return g.deny("latest is set by pkgserver to the newest published revision; push the revision as its vN tag")
		}
		return nil
	case isMarker(tag) || isTombstone(tag):
		return g.deny("%s is set by pkgserver; propose or finish deletions through the API", tag)
	}
	manifest, info, err := g.parse(w.Manifest)
	if err != nil {
		return g.deny("%v", err)
	}
	if ws, ok := names.ParseWorkspaceTag(tag); ok {
		return g.putDraft(ctx, ws, manifest, info)
	}
	// A published revision: a tag that never moves, one per revision.
	if cur, ok := g.tags[tag]; ok {
		if cur.Digest == w.Digest {
			return nil
		}
		return g.deny("%s is a published revision and never changes (it is %s)", tag, cur.Digest)
	}
	if r := g.revisionOf(w.Digest); r != nil {
		return g.deny("manifest %s is already revision %s; a revision has exactly one tag", w.Digest, r.tag)
	}
	if n, ok := names.ParseRevision(tag); ok {
		if _, dead := g.tags[names.DeletedTag(n)]; dead {
			return g.deny("%s was a published revision that has been deleted; its number is not used again", tag)
		}
		for _, t := range w.Tags {
			if m, ok := names.ParseRevision(t); ok && m != n {
				return g.deny("one push names revisions %s and %s; a revision has exactly one number", tag, t)
			}
		}
		if next := g.p.next(); n != next {
			return g.deny("the next revision of this package is %s, not %s", names.RevisionTag(next), tag)
		}
	}
	if v := info.revision; v != "" && v != tag {
		return g.deny("the manifest says it is revision %s (annotation %s), not %s", v, format.AnnotationVersion, tag)
	}
	if ws := info.workspace; ws != "" {
		if r := g.p.byWorkspace(ws); r != nil {
			return g.deny("workspace %q is revision %s already; names must stay unique", ws, r.tag)
		}
	}
	// Without a workspace it is shown under its tag, and a published
	// revision's name wins: a draft of that name would be hidden behind it.
	if ws := info.workspace; ws == "" || names.ValidateWorkspace(ws) != nil {
		if r := g.p.byWorkspace(sanitizeWorkspace(tag)); r != nil && r.n == 0 {
			return g.deny("workspace %q is the %s revision %s; a revision pushed as %s without a workspace annotation would hide it", r.workspace, r.lifecycle, r.tag, tag)
		}
	}
	return nil
}

// putDraft applies the API's rules to a push of a ws.* tag: a new draft,
// or new contents for a draft.
func (g registryGuard) putDraft(ctx context.Context, ws string, manifest ocispec.Manifest, info *revMeta) error {
	if r := g.p.byWorkspace(ws); r != nil {
		switch {
		case r.lifecycle == pkgapi.LifecycleProposed:
			return g.deny("workspace %q is proposed; its contents change only as a draft (reject it first)", ws)
		case r.lifecycle != pkgapi.LifecycleDraft:
			return g.deny("workspace %q is revision %s, which is %s", ws, r.tag, r.lifecycle)
		}
	}
	if r := g.revisionOf(g.w.Digest); r != nil && r.tag != g.w.Tag {
		return g.deny("manifest %s is already revision %s; a revision has exactly one tag", g.w.Digest, r.tag)
	}
	if info.lifecycle == pkgapi.LifecyclePublished || info.revision != "" {
		return g.deny("a ws.* tag holds a draft; this manifest says it is published (publish through the API's approval)")
	}
	files, err := readFiles(ctx, g.repo, manifest.Layers, g.e.opts.Package)
	if err != nil {
		return g.deny("%v", err)
	}
	if err := krm.Validate(files, krm.WithLimits(g.e.opts.Package)); err != nil {
		return g.deny("%v", err)
	}
	return nil
}

// parse reads a pushed manifest as a revision.
func (g registryGuard) parse(body []byte) (ocispec.Manifest, *revMeta, error) {
	m, err := format.ParseManifest(body)
	if err != nil {
		return m, nil, fmt.Errorf("not a package revision manifest: %v", err)
	}
	switch m.ArtifactType {
	case format.DeletionMarkerType, format.TombstoneType, format.RepositoryType, format.IndexType, format.LeaseType:
		return m, nil, fmt.Errorf("artifact type %s is pkgserver's own; it is written through the API", m.ArtifactType)
	}
	return m, infoOf(m), nil
}

func (g registryGuard) deleteTag() error {
	tag := g.w.Tag
	if ws, ok := names.ParseWorkspaceTag(tag); ok {
		if r := g.p.byWorkspace(ws); r != nil && r.tag == tag {
			return nil // deleting a draft or proposed revision, as DELETE in the API
		}
	}
	if !tracked(tag) {
		return g.deny("latest is set by pkgserver to the newest published revision")
	}
	if isTombstone(tag) {
		return g.deny("%s keeps the number of a deleted revision taken; it cannot be removed", tag)
	}
	if isMarker(tag) {
		return g.deny("%s is a deletion proposal; withdraw it through the API's approval", tag)
	}
	return g.deny("%s is a published revision; propose it for deletion through the API instead", tag)
}

// referenced lists what the tagged manifests of the package refer to:
// manifest digest -> why.
func (g registryGuard) referenced(ctx context.Context) (map[digest.Digest]string, error) {
	out := map[digest.Digest]string{}
	for _, tag := range slices.Sorted(mapsKeys(g.tags)) {
		d := g.tags[tag]
		if isTombstone(tag) {
			if t, err := g.repo.Resolve(ctx, tag); err == nil {
				d = t
			}
		}
		if d.Digest == "" {
			continue
		}
		out[d.Digest] = "tag " + tag
		data, err := content.FetchAll(ctx, g.repo, d)
		if err != nil {
			if errors.Is(err, errdef.ErrNotFound) {
				continue
			}
			return nil, err
		}
		m, err := format.ParseManifest(data)
		if err != nil {
			continue
		}
		why := "manifest " + tag
		for _, l := range append([]ocispec.Descriptor{m.Config}, m.Layers...) {
			if _, ok := out[l.Digest]; !ok {
				out[l.Digest] = why
			}
		}
		if m.Subject != nil {
			if _, ok := out[m.Subject.Digest]; !ok {
				out[m.Subject.Digest] = "subject of " + tag
			}
		}
	}
	return out, nil
}

func (g registryGuard) deleteManifest(ctx context.Context) error {
	var tags []string
	for t, d := range g.tags {
		if d.Digest == g.w.Digest {
			tags = append(tags, t)
		}
	}
	if len(tags) == 1 {
		if ws, ok := names.ParseWorkspaceTag(tags[0]); ok && g.p.byWorkspace(ws) != nil {
			return nil // the manifest of a draft or proposed revision: as DELETE in the API
		}
	}
	if len(tags) > 0 {
		slices.Sort(tags)
		return g.deny("manifest %s is %s; change revisions through the API", g.w.Digest, strings.Join(tags, ", "))
	}
	ref, err := g.referenced(ctx)
	if err != nil {
		return err
	}
	if why, ok := ref[g.w.Digest]; ok {
		return g.deny("manifest %s is referenced by %s", g.w.Digest, why)
	}
	return nil
}

func (g registryGuard) deleteBlob(ctx context.Context) error {
	ref, err := g.referenced(ctx)
	if err != nil {
		return err
	}
	if why, ok := ref[g.w.Digest]; ok {
		return g.deny("blob %s is part of %s; a revision's content is removed only with the revision", g.w.Digest, why)
	}
	return nil
}

func mapsKeys[M ~map[K]V, K comparable, V any](m M) func(func(K) bool) {
	return func(yield func(K) bool) {
		for k := range m {
			if !yield(k) {
				return
			}
		}
	}
}

// LockEmbedded takes the write lock of an OCI repository of the embedded
// store: the one the engine holds while it changes that package. The /v2/
// API holds it around its check and its change; unlock(true) then publishes
// what changed, like every other change, before releasing the lock.
func (e *Engine) LockEmbedded(ctx context.Context, path string) (func(changed bool), error) {
	if err := e.wait(ctx); err != nil {
		return nil, err
	}
	k := pkgKey{embeddedStore, path}
	t, err := e.lock(ctx, k.String())
	if err != nil {
		return nil, err
	}
	return func(changed bool) {
		defer t.unlock()
		if !changed {
			return
		}
		if _, ok := e.idx.owner(embeddedStore, path); !ok && e.idx.tagsOf(k) == nil {
			return // not a package anyone registered
		}
		// The request may be gone; the change is done and must be published.
		if err := e.syncLocked(context.WithoutCancel(ctx), t.main, e.opts.Embedded, k); err != nil {
			e.log.Error("publishing a change made through /v2/", "repository", path, "err", err)
		}
	}, nil
}
