package model

import (
	"fmt"
	"net/http"
	"strconv"

	pkgapi "pkgserver.dev/pkgserver/api/pkg/v1alpha1"
)

// The tags and artifact types of docs/format.md.
const (
	markerType    = "application/vnd.pkgserver.deletion-proposed.v1"
	tombstoneType = "application/vnd.pkgserver.revision-deleted.v1"
	annWorkspace  = "dev.pkgserver.workspace"
	annDesc       = "org.opencontainers.image.description"
)

func vTag(n int) string { return "v" + strconv.Itoa(n) }

// outside are OCI repositories no Repository owns: /v2/ is a plain registry
// there ("model/catx" only shares a string prefix with "model/cat").
var outside = []string{"elsewhere/app", Namespace + "/catx/app"}

// opV2 is a request to the /v2/ API of the registry that holds the
// packages: pkgserver's own (where it must apply the lifecycle: a hostile
// request is DENIED and changes nothing), or the remote registry (behind
// pkgserver's back: anything goes, and pkgserver must still never lose or
// alter what it acknowledged and others left alone).
func (m *Model) opV2() *op {
	remote := m.host.RemoteRegistry() != ""
	p := m.pickPkg()
	if m.rnd.IntN(8) == 0 || !remote && !p.repo.registered {
		return m.v2Outside()
	}
	kinds := []func(*pkgM) *op{m.v2Draft, m.v2Publish, m.v2Publish, m.v2Retag, m.v2Latest, m.v2DeleteBlob,
		m.v2DeleteManifest, m.v2DeleteTag, m.v2OwnType, m.v2Retry}
	o := kinds[m.rnd.IntN(len(kinds))](p)
	if o == nil || !remote {
		return o
	}
	// Behind pkgserver: the registry takes it; pkgserver sees it at the
	// next rescan. Revisions it touches are no longer promised anything.
	tamper := o.tamper
	o.want, o.effect = nil, func() {
		p.foreign = true
		if tamper != nil {
			tamper()
		}
	}
	o.desc += " (behind pkgserver)"
	return o
}

// push uploads an artifact and points tags at it, one PUT per tag; the
// first refusal ends it.
func (m *Model) push(path string, a artifact, tags ...string) response {
	base := m.host.Registry()
	for _, b := range a.blobs {
		if r := m.c.pushBlob(m.ctx(), base, path, b); !r.ok() {
			return r
		}
	}
	var r response
	for _, tag := range tags {
		if r = m.c.putManifest(m.ctx(), base, path, tag, a.manifest); !r.ok() {
			return r
		}
	}
	return r
}

// files returns new package contents.
func (m *Model) newFiles(valid bool) map[string]string {
	m.uniq++
	f := map[string]string{fmt.Sprintf("cm-%d.yaml", m.rnd.IntN(3)): configMap("pushed", strconv.Itoa(m.uniq))}
	if !valid {
		f["bad.yaml"] = "a: [unclosed\n"
	}
	return f
}

// annotations makes most pushes unique; some are left equal, so that two
// tags may name one manifest.
func (m *Model) annotations(extra map[string]string) map[string]string {
	a := map[string]string{}
	if m.rnd.IntN(6) > 0 {
		m.uniq++
		a[annDesc] = "push " + strconv.Itoa(m.uniq)
	}
	for k, v := range extra {
		a[k] = v
	}
	return a
}

// sameDigest returns the revision of p whose manifest is d, if any.
func sameDigest(p *pkgM, d string) *revM {
	for _, r := range p.revs {
		if r.digest == d {
			return r
		}
	}
	return nil
}

// tampered marks the revisions of p for which keep holds.
func tamper(p *pkgM, keep func(*revM) bool) {
	for _, r := range p.revs {
		if keep(r) {
			r.tampered = true
		}
	}
}

// v2Draft pushes a draft under a ws.* tag: a new one, new contents, or
// hostile (invalid YAML, over a proposed or published workspace).
func (m *Model) v2Draft(p *pkgM) *op {
	ws := m.pickWorkspace()
	valid := m.rnd.IntN(6) > 0
	files := m.newFiles(valid)
	a := plainArtifact(files, m.annotations(nil), "")
	r := p.revs[ws]
	want := http.StatusCreated
	switch {
	case !valid, r != nil && r.life != pkgapi.LifecycleDraft:
		want = http.StatusForbidden
	case sameDigest(p, a.digest) != nil && sameDigest(p, a.digest) != r:
		want = http.StatusForbidden // one manifest, one revision
	}
	return &op{
		desc:  fmt.Sprintf("/v2/ push %s:ws.%s (valid YAML %v)", p.path(), ws, valid),
		scope: []string{p.path()}, want: wants(want),
		run:    func() response { return m.push(p.path(), a, "ws."+ws) },
		effect: func() { p.revs[ws] = &revM{ws: ws, life: pkgapi.LifecycleDraft, digest: a.digest, files: files} },
		tamper: func() {
			if r != nil {
				r.tampered = true
			}
		},
	}
}

// v2Publish pushes a vN: the next one (a publication, with latest after
// it), or hostile: a number not next, one taken, one of a deleted
// revision, a workspace that is taken.
func (m *Model) v2Publish(p *pkgM) *op {
	next := p.maxN + 1
	n, ws, kind := next, "", "next"
	switch m.rnd.IntN(6) {
	case 0:
		n, kind = next+1+m.rnd.IntN(2), "not next"
	case 1:
		if r := p.newest(); r != nil {
			n, kind = r.n, "taken"
		}
	case 2:
		for t := range p.tombs {
			n, kind = t, "deleted"
			break
		}
	case 3:
		if r := m.pickRev(p, nil); r != nil {
			ws, kind = r.ws, "workspace taken"
		}
	case 4:
		m.uniq++
		ws = fmt.Sprintf("p%d", m.uniq)
	}
	ann := map[string]string{}
	if ws != "" {
		ann[annWorkspace] = ws
	}
	files := m.newFiles(true)
	a := plainArtifact(files, m.annotations(ann), "")
	name := ws
	if name == "" {
		// The documented default: the workspace is the tag; after a
		// published revision of that name, the tag and a number.
		name = vTag(n)
		if r := p.revs[name]; r != nil && r.n > 0 {
			for i := 2; p.revs[name] != nil; i++ {
				name = fmt.Sprintf("%s-%d", vTag(n), i)
			}
		}
	}
	tags := []string{vTag(n)}
	if kind == "next" {
		tags = append(tags, "latest")
	}
	want := http.StatusCreated
	var existing *revM
	for _, r := range p.revs {
		if r.n == n {
			existing = r
		}
	}
	switch {
	case existing != nil && existing.digest != a.digest, p.tombs[n], n != next:
		want = http.StatusForbidden
	case ws != "" && p.revs[ws] != nil:
		want = http.StatusForbidden // names stay unique
	case sameDigest(p, a.digest) != nil:
		want = http.StatusForbidden // one manifest, one revision
	case ws == "" && p.revs[name] != nil:
		want = http.StatusForbidden // a draft named like the tag keeps its name
	}
	return &op{
		desc:  fmt.Sprintf("/v2/ push %s:%v (%s, workspace annotation %q)", p.path(), tags, kind, ws),
		scope: []string{p.path()}, want: wants(want),
		run: func() response { return m.push(p.path(), a, tags...) },
		effect: func() {
			p.maxN = n
			p.revs[name] = &revM{ws: name, life: pkgapi.LifecyclePublished, n: n, digest: a.digest, files: files}
		},
		// Its tag, its name and, if it is newest, latest.
		tamper: func() { tamper(p, func(r *revM) bool { return r.n == n || r.ws == name || r.ws == vTag(n) }) },
	}
}

// manifestOf fetches the manifest of a revision from the registry.
func (m *Model) manifestOf(p *pkgM, r *revM) []byte {
	if r == nil || r.digest == unknown {
		return nil
	}
	b, _, err := m.c.manifest(m.ctx(), m.host.Registry(), p.path(), r.digest)
	if err != nil {
		m.fail("manifest of %s: %v", p.objName(r.ws), err)
	}
	return b
}

// v2Retag points the next vN at the manifest of an existing revision
// (oras tag pkg:v1 v2): a second revision of one manifest.
func (m *Model) v2Retag(p *pkgM) *op {
	r := m.pickRev(p, func(r *revM) bool { return !r.tampered })
	body := m.manifestOf(p, r)
	if body == nil {
		return nil
	}
	tag := vTag(p.maxN + 1)
	return &op{
		desc:  fmt.Sprintf("/v2/ retag %s (%s) as %s", p.objName(r.ws), r.life, tag),
		scope: []string{p.path()}, want: wants(http.StatusForbidden),
		run: func() response { return m.c.putManifest(m.ctx(), m.host.Registry(), p.path(), tag, body) },
		// A published revision named by the manifest's workspace.
		tamper: func() { r.tampered = true },
	}
}

// v2Latest points latest at a revision: refused unless it is the newest.
func (m *Model) v2Latest(p *pkgM) *op {
	r := m.pickRev(p, func(r *revM) bool { return r.n > 0 && !r.tampered && r != p.newest() })
	body := m.manifestOf(p, r)
	if body == nil || r.n == 0 {
		return nil
	}
	want := http.StatusForbidden
	if r == p.newest() && !p.latestOff {
		want = http.StatusCreated // a retry of what it is
	}
	return &op{
		desc:  fmt.Sprintf("/v2/ push %s:latest at %s", p.path(), vTag(r.n)),
		scope: []string{p.path()}, want: wants(want),
		run:    func() response { return m.c.putManifest(m.ctx(), m.host.Registry(), p.path(), "latest", body) },
		tamper: func() { p.latestOff = r != p.newest() },
	}
}

// v2DeleteBlob deletes the config or a layer of a revision.
func (m *Model) v2DeleteBlob(p *pkgM) *op {
	r := m.pickRev(p, func(r *revM) bool { return !r.tampered })
	body := m.manifestOf(p, r)
	if body == nil {
		return nil
	}
	b := pick(m, blobsOf(body))
	users := map[*revM]bool{}
	for _, o := range p.revs {
		if o.tampered {
			continue
		}
		for _, d := range blobsOf(m.manifestOf(p, o)) {
			if d == b {
				users[o] = true
			}
		}
	}
	return &op{
		desc:  fmt.Sprintf("/v2/ delete blob %s of %s (%s)", b, p.objName(r.ws), r.life),
		scope: []string{p.path()}, want: wants(http.StatusForbidden),
		run:    func() response { return m.c.deleteBlob(m.ctx(), m.host.Registry(), p.path(), b) },
		tamper: func() { tamper(p, func(o *revM) bool { return users[o] }) },
	}
}

// v2DeleteManifest deletes the manifest of a revision by digest: allowed
// for a draft or proposed revision (as DELETE in the API), refused for a
// published one.
func (m *Model) v2DeleteManifest(p *pkgM) *op {
	r := m.pickRev(p, func(r *revM) bool { return !r.tampered })
	if r == nil || r.digest == unknown {
		return nil
	}
	shared := 0
	for _, o := range p.revs {
		if o.digest == r.digest {
			shared++
		}
	}
	want := http.StatusAccepted
	if r.n > 0 || shared > 1 {
		want = http.StatusForbidden
	}
	return &op{
		desc:  fmt.Sprintf("/v2/ delete manifest of %s (%s) by digest", p.objName(r.ws), r.life),
		scope: []string{p.path()}, want: wants(want),
		run:    func() response { return m.c.deleteManifest(m.ctx(), m.host.Registry(), p.path(), r.digest) },
		effect: func() { delete(p.revs, r.ws) },
		tamper: func() {
			tamper(p, func(o *revM) bool { return o.digest == r.digest })
			p.latestOff = p.latestOff || r.n > 0 // a registry deletes every tag of a manifest
		},
	}
}

// v2DeleteTag deletes a tag: a draft's ws.* (allowed), or a vN, latest, a
// deletion marker or a tombstone (refused).
func (m *Model) v2DeleteTag(p *pkgM) *op {
	r := m.pickRev(p, func(r *revM) bool { return !r.tampered })
	var tag string
	want := http.StatusForbidden
	switch k := m.rnd.IntN(4); {
	case r != nil && r.n == 0 && k < 2:
		tag, want = "ws."+r.ws, http.StatusAccepted
	case r != nil && r.n > 0 && k == 0:
		tag = vTag(r.n)
	case r != nil && r.life == pkgapi.LifecycleDeletionProposed:
		tag = vTag(r.n) + ".deletion-proposed"
	case len(p.tombs) > 0 && k == 1:
		for n := range p.tombs {
			tag = vTag(n) + ".deleted"
			break
		}
	case p.newest() != nil:
		tag = "latest"
	default:
		return nil
	}
	return &op{
		desc:  fmt.Sprintf("/v2/ delete tag %s:%s", p.path(), tag),
		scope: []string{p.path()}, want: wants(want),
		run:    func() response { return m.c.deleteManifest(m.ctx(), m.host.Registry(), p.path(), tag) },
		effect: func() { delete(p.revs, r.ws) },
		tamper: func() {
			if tag == "latest" {
				p.latestOff = true
			} else if r != nil {
				r.tampered = true
			}
		},
	}
}

// v2OwnType pushes an artifact of pkgserver's own types: a deletion marker
// for a published revision, or a tombstone as the next vN.
func (m *Model) v2OwnType(p *pkgM) *op {
	r := m.pickRev(p, func(r *revM) bool { return r.life == pkgapi.LifecyclePublished && !r.tampered })
	tag, typ := vTag(p.maxN+1), tombstoneType
	if r != nil && r.n > 0 && m.rnd.IntN(2) == 0 {
		tag, typ = vTag(r.n)+".deletion-proposed", markerType
	}
	a := plainArtifact(map[string]string{}, m.annotations(nil), typ)
	return &op{
		desc:  fmt.Sprintf("/v2/ push a %s as %s:%s", typ, p.path(), tag),
		scope: []string{p.path()}, want: wants(http.StatusForbidden),
		run: func() response { return m.push(p.path(), a, tag) },
		tamper: func() {
			if r != nil {
				r.tampered = true
			}
		},
	}
}

// v2Retry pushes a vN's own manifest to it again: accepted, nothing changes.
func (m *Model) v2Retry(p *pkgM) *op {
	r := m.pickRev(p, func(r *revM) bool { return r.n > 0 && !r.tampered })
	body := m.manifestOf(p, r)
	if body == nil || r.n == 0 {
		return nil
	}
	return &op{
		desc:  fmt.Sprintf("/v2/ push %s:%s again, unchanged", p.path(), vTag(r.n)),
		scope: []string{p.path()}, want: wants(http.StatusCreated),
		run: func() response { return m.c.putManifest(m.ctx(), m.host.Registry(), p.path(), vTag(r.n), body) },
	}
}

// v2Outside writes where no Repository is registered: a plain registry
// (tags move, anything can be deleted), and pkgserver shows none of it.
func (m *Model) v2Outside() *op {
	path := pick(m, outside)
	if m.host.RemoteRegistry() == "" && m.rnd.IntN(6) == 0 {
		// pkgserver's own objects are written through the API only.
		a := plainArtifact(m.newFiles(true), nil, "")
		return &op{
			desc: "/v2/ push into pkgserver-system/repositories", want: wants(http.StatusForbidden),
			run: func() response { return m.push("pkgserver-system/repositories", a, Namespace+".cat") },
		}
	}
	tag := pick(m, []string{"v1", "v2", "latest", "ws.a"})
	if m.rnd.IntN(3) == 0 {
		return &op{
			desc: fmt.Sprintf("/v2/ delete tag %s:%s (no Repository there)", path, tag), scope: []string{path},
			want: wants(http.StatusAccepted, http.StatusNotFound),
			run:  func() response { return m.c.deleteManifest(m.ctx(), m.host.Registry(), path, tag) },
		}
	}
	a := plainArtifact(m.newFiles(m.rnd.IntN(2) == 0), m.annotations(nil), "")
	return &op{
		desc: fmt.Sprintf("/v2/ push %s:%s (no Repository there)", path, tag), scope: []string{path}, want: wants(http.StatusCreated),
		run: func() response { return m.push(path, a, tag) },
	}
}
