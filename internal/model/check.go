package model

import (
	"context"
	"fmt"
	"maps"
	"net/http"
	"slices"
	"strconv"
	"strings"

	pkgapi "pkgserver.dev/pkgserver/api/pkg/v1alpha1"
)

func (m *Model) ctx() context.Context { return context.Background() }

// configPath is where pkgserver keeps Repository objects, and
// leaseRepository the writer lease it keeps under a remote prefix
// (docs/format.md).
const (
	configPath      = "pkgserver-system/repositories"
	leaseRepository = "pkgserver.lease"
)

// registrySnapshot reads every tag of every OCI repository: "path:tag" ->
// manifest digest, of the registry that holds the packages and, on the
// remote backend, of pkgserver's own (its Repository objects).
func (m *Model) registrySnapshot() map[string]string {
	out := map[string]string{}
	bases := []string{m.host.Registry()}
	if m.host.RemoteRegistry() != "" {
		bases = append(bases, m.host.API())
	}
	for i, base := range bases {
		repos, err := m.c.catalog(m.ctx(), base)
		if err != nil {
			m.fail("%v", err)
		}
		for _, r := range repos {
			if i > 0 && r != configPath || strings.HasSuffix(r, "/"+leaseRepository) {
				continue // the writer lease is renewed on its own (docs/format.md)
			}
			tags, err := m.c.tags(m.ctx(), base, r)
			if err != nil {
				m.fail("%v", err)
			}
			for _, tag := range tags {
				_, d, err := m.c.manifest(m.ctx(), base, r, tag)
				if err != nil {
					m.fail("%v", err)
				}
				if d != "" {
					out[r+":"+tag] = d
				}
			}
		}
	}
	return out
}

// check verifies every invariant after a step whose writes may touch scope
// (OCI paths, configScope).
func (m *Model) check(scope []string) {
	m.t.Helper()
	snap := m.registrySnapshot()
	m.checkScope(snap, scope)
	m.snap = snap
	for _, p := range m.pkgs {
		m.checkTags(p, snap)
		m.checkContent(p)
	}
	m.checkAPI()
}

// checkScope: nothing outside what the step may change changed (a read, a
// refusal, a restart or a garbage collection changes no tag at all).
func (m *Model) checkScope(snap map[string]string, scope []string) {
	in := func(key string) bool {
		path, _, _ := strings.Cut(key, ":")
		for _, s := range scope {
			if s == path || s == configScope && path == configPath {
				return true
			}
		}
		return false
	}
	var diffs []string
	for _, k := range slices.Sorted(maps.Keys(snap)) {
		if m.snap[k] != snap[k] && !in(k) {
			diffs = append(diffs, fmt.Sprintf("%s: %q -> %q", k, m.snap[k], snap[k]))
		}
	}
	for _, k := range slices.Sorted(maps.Keys(m.snap)) {
		if _, ok := snap[k]; !ok && !in(k) {
			diffs = append(diffs, fmt.Sprintf("%s: %q -> gone", k, m.snap[k]))
		}
	}
	if len(diffs) > 0 {
		m.fail("the registry changed outside the step's scope %v (a read or a refusal never writes):\n%s", scope, strings.Join(diffs, "\n"))
	}
}

// referrersTag is the tag oras-go keeps on registries without the
// referrers API (sha256-<subject>); it follows the deletion markers.
func referrersTag(tag string) bool {
	hex, ok := strings.CutPrefix(tag, "sha256-")
	return ok && len(hex) == 64
}

// wantTags is what the tags of p must be: "" for any digest.
func wantTags(p *pkgM) map[string]string {
	want := maps.Clone(p.extra)
	for _, r := range p.revs {
		switch {
		case r.n == 0:
			want["ws."+r.ws] = r.digest
		default:
			want[vTag(r.n)] = r.digest
			if r.life == pkgapi.LifecycleDeletionProposed {
				want[vTag(r.n)+".deletion-proposed"] = ""
			}
		}
	}
	for n := range p.tombs {
		want[vTag(n)+".deleted"] = ""
	}
	if r := p.newest(); r != nil {
		want["latest"] = r.digest
	}
	return want
}

// checkTags: the registry holds exactly the tags the revisions make, each
// pointing where the model says (published vN never move); for a package
// changed behind pkgserver, the tags of what was left alone.
func (m *Model) checkTags(p *pkgM, snap map[string]string) {
	got := map[string]string{}
	for k, d := range snap {
		if path, tag, _ := strings.Cut(k, ":"); path == p.path() && !referrersTag(tag) {
			got[tag] = d
		}
	}
	want := wantTags(p)
	// A vN others pushed that is no revision never counts for latest
	// (one rule on every path); where others moved latest is theirs.
	if p.latestOff {
		delete(want, "latest")
		delete(got, "latest")
	}
	var diffs []string
	for _, tag := range slices.Sorted(maps.Keys(want)) {
		if p.foreign && !untouchedTag(p, tag) {
			continue
		}
		if g, ok := got[tag]; !ok || want[tag] != "" && g != want[tag] {
			diffs = append(diffs, fmt.Sprintf("%s: %q, want %q", tag, got[tag], want[tag]))
		}
	}
	for _, tag := range slices.Sorted(maps.Keys(got)) {
		if _, ok := want[tag]; !ok && !p.foreign {
			diffs = append(diffs, fmt.Sprintf("%s: %q, want none", tag, got[tag]))
		}
	}
	if len(diffs) > 0 {
		m.fail("tags of %s:\n%s", p.path(), strings.Join(diffs, "\n"))
	}
}

// untouchedTag reports whether tag belongs to a revision nobody changed
// behind pkgserver.
func untouchedTag(p *pkgM, tag string) bool {
	for _, r := range p.revs {
		if !r.tampered && (tag == "ws."+r.ws && r.n == 0 || r.n > 0 && tag == vTag(r.n)) {
			return true
		}
	}
	return false
}

// checkContent: the manifest and every blob of every revision fetch and
// match their digests (garbage collection never took a referenced blob).
func (m *Model) checkContent(p *pkgM) {
	for _, ws := range slices.Sorted(maps.Keys(p.revs)) {
		r := p.revs[ws]
		if r.tampered || r.digest == unknown {
			continue
		}
		body, d, err := m.c.manifest(m.ctx(), m.host.Registry(), p.path(), r.digest)
		if err != nil || body == nil || d != r.digest {
			m.fail("manifest of %s (%s): %v (got %q)", p.objName(ws), r.digest, err, d)
		}
		for _, b := range blobsOf(body) {
			if err := m.c.blob(m.ctx(), m.host.Registry(), p.path(), b); err != nil {
				m.fail("%s: %v", p.objName(ws), err)
			}
		}
	}
}

// list reads every PackageRevision of the namespace.
func (m *Model) list() *pkgapi.PackageRevisionList {
	res := m.c.do(m.ctx(), http.MethodGet, m.c.revPath(m.host.API(), ""), nil, nil)
	if res.code != http.StatusOK {
		m.fail("list: %s", res)
	}
	l, err := decode[pkgapi.PackageRevisionList](res)
	if err != nil {
		m.fail("%v", err)
	}
	return l
}

func show(pr *pkgapi.PackageRevision) string {
	d := ""
	if pr.Status.OCI != nil {
		d = pr.Status.OCI.Digest
	}
	return fmt.Sprintf("%s %s %s latest=%s", pr.Spec.Lifecycle, pr.Spec.PackageRevID.Revision, d, pr.Labels[pkgapi.LatestRevisionLabel])
}

func showRev(p *pkgM, r *revM) string {
	rev, latest := "", ""
	if r.n > 0 {
		rev = vTag(r.n)
	}
	if r == p.newest() {
		latest = "true"
	}
	return fmt.Sprintf("%s %s %s latest=%s", r.life, rev, r.digest, latest)
}

func parseRV(s string) uint64 {
	n, _ := strconv.ParseUint(s, 10, 64)
	return n
}

// checkAPI: object names are unique; resourceVersions only grow; every
// revision of a registered repository is served as the model expects, with
// its files; nothing else is served.
func (m *Model) checkAPI() {
	l := m.list()
	rv := parseRV(l.ResourceVersion)
	if rv < m.listRV {
		m.fail("the list resourceVersion went back from %d to %d", m.listRV, rv)
	}
	m.listRV = rv
	got := map[string]*pkgapi.PackageRevision{}
	for i := range l.Items {
		pr := &l.Items[i]
		if got[pr.Name] != nil {
			m.fail("%s is listed twice", pr.Name)
		}
		got[pr.Name] = pr
		r := parseRV(pr.ResourceVersion)
		if r < m.rvs[pr.Name] || r > rv || r == 0 {
			m.fail("%s: resourceVersion %d (was %d, list at %d)", pr.Name, r, m.rvs[pr.Name], rv)
		}
		m.rvs[pr.Name] = r
	}
	known := map[string]bool{}
	for _, p := range m.pkgs {
		for _, ws := range slices.Sorted(maps.Keys(p.revs)) {
			r := p.revs[ws]
			name := p.objName(ws)
			known[name] = true
			pr := got[name]
			switch {
			case !p.repo.registered:
				if pr != nil {
					m.fail("%s is served though its repository is not registered", name)
				}
				continue
			case r.tampered:
				continue
			case pr == nil:
				m.fail("%s (%s) is not served", name, showRev(p, r))
			}
			want, have := showRev(p, r), show(pr)
			if p.foreign { // a newer revision may have come behind pkgserver
				want, have = want[:strings.LastIndex(want, " ")], have[:strings.LastIndex(have, " ")]
			}
			if want != have {
				m.fail("%s is served as %q, want %q", name, have, want)
			}
			if r.files != nil {
				m.checkFiles(name, r.files)
			}
		}
	}
	for name := range got {
		if !known[name] && !m.foreignName(name) {
			m.fail("%s is served, the model knows no such revision (%s)", name, show(got[name]))
		}
	}
}

// foreignName reports whether name is of a package changed behind pkgserver.
func (m *Model) foreignName(name string) bool {
	for _, p := range m.pkgs {
		if p.foreign && strings.HasPrefix(name, p.objName("")) {
			return true
		}
	}
	return false
}

func (m *Model) checkFiles(name string, want map[string]string) {
	res := m.c.do(m.ctx(), http.MethodGet, m.c.resPath(m.host.API(), name), nil, nil)
	if res.code != http.StatusOK {
		m.fail("files of %s: %s", name, res)
	}
	prr, err := decode[pkgapi.PackageRevisionResources](res)
	if err != nil {
		m.fail("%v", err)
	}
	if !maps.Equal(prr.Spec.Resources, want) {
		m.fail("files of %s:\n%v\nwant\n%v", name, prr.Spec.Resources, want)
	}
}

// learn reads what the model cannot predict after a change: new digests,
// and the files of new revisions made by pkgserver (an init's Kptfile). In
// a package changed behind pkgserver what cannot be read is given up.
func (m *Model) learn() {
	for _, p := range m.pkgs {
		if !p.repo.registered {
			continue
		}
		for _, ws := range slices.Sorted(maps.Keys(p.revs)) {
			r := p.revs[ws]
			if r.tampered || r.digest != unknown && r.files != nil {
				continue
			}
			name := p.objName(ws)
			res := m.c.do(m.ctx(), http.MethodGet, m.c.revPath(m.host.API(), name), nil, nil)
			pr, err := decode[pkgapi.PackageRevision](res)
			if res.code == http.StatusOK && err == nil && pr.Status.OCI != nil && r.digest == unknown {
				r.digest = pr.Status.OCI.Digest
			}
			if r.files == nil && res.code == http.StatusOK {
				res = m.c.do(m.ctx(), http.MethodGet, m.c.resPath(m.host.API(), name), nil, nil)
				if prr, err := decode[pkgapi.PackageRevisionResources](res); res.code == http.StatusOK && err == nil {
					r.files = prr.Spec.Resources
				}
			}
			switch {
			case r.digest != unknown && r.files != nil:
			case p.foreign:
				r.tampered = true
			default:
				m.fail("read %s: %s", name, res)
			}
		}
	}
}

// objectsOf returns what the API serves of p: workspace -> "lifecycle
// revision digest".
func (m *Model) objectsOf(p *pkgM) (map[string]string, error) {
	out := map[string]string{}
	for _, pr := range m.list().Items {
		if ws, ok := strings.CutPrefix(pr.Name, p.objName("")); ok {
			d := ""
			if pr.Status.OCI != nil {
				d = pr.Status.OCI.Digest
			}
			out[ws] = fmt.Sprintf("%s %s %s", pr.Spec.Lifecycle, pr.Spec.PackageRevID.Revision, d)
		}
	}
	return out, nil
}

func describePkg(p *pkgM) map[string]string {
	out := map[string]string{}
	for ws, r := range p.revs {
		rev := ""
		if r.n > 0 {
			rev = vTag(r.n)
		}
		out[ws] = fmt.Sprintf("%s %s %s", r.life, rev, r.digest)
	}
	return out
}

// sameObjects compares served objects with an expectation; unknown
// digests match any digest that is new.
func sameObjects(p *pkgM, got map[string]string) bool {
	want := describePkg(p)
	if len(want) != len(got) {
		return false
	}
	for ws, w := range want {
		g, ok := got[ws]
		if !ok {
			return false
		}
		if strings.HasSuffix(w, " "+unknown) {
			w, g = strings.TrimSuffix(w, unknown), g[:strings.LastIndex(g, " ")+1]
		}
		if w != g {
			return false
		}
	}
	return true
}

// relearnForeign takes, after a rescan (of repository of, nil: all), what pkgserver now shows of
// packages changed behind it: the revisions it serves (their files where
// they can be read), the numbers and tombstones in the registry, and the
// tags that show as no revision, which must stay as they are.
func (m *Model) relearnForeign(of *repoM) {
	for _, p := range m.pkgs {
		if !p.foreign || !p.repo.registered || of != nil && p.repo != of {
			continue
		}
		revs := map[string]*revM{}
		for _, pr := range m.list().Items {
			ws, ok := strings.CutPrefix(pr.Name, p.objName(""))
			if !ok {
				continue
			}
			r := &revM{ws: ws, life: pr.Spec.Lifecycle, digest: pr.Status.OCI.Digest}
			if n, err := strconv.Atoi(strings.TrimPrefix(pr.Spec.PackageRevID.Revision, "v")); err == nil {
				r.n = n
			}
			if old := p.revs[ws]; old != nil && old.digest == r.digest {
				r.files, r.gate, r.ready, r.upstream, r.tampered = old.files, old.gate, old.ready, old.upstream, old.tampered
			} else {
				if pr.Spec.Upstream != nil {
					r.upstream = pr.Spec.Upstream.Name
				}
				for _, g := range pr.Spec.ReadinessGates {
					r.gate = r.gate || g.ConditionType == "ready"
				}
				for _, c := range pr.Status.Conditions {
					r.ready = r.ready || c.Type == "ready" && c.Status == "True"
				}
				res := m.c.do(m.ctx(), http.MethodGet, m.c.resPath(m.host.API(), pr.Name), nil, nil)
				if prr, err := decode[pkgapi.PackageRevisionResources](res); res.ok() && err == nil {
					r.files = prr.Spec.Resources
				} else {
					r.tampered = true
				}
			}
			if ws := annotation(m.manifestOf(p, r), annWorkspace); r.n > 0 && ws != r.ws {
				// Named after its tag because its workspace is taken or
				// missing: the name moves if the revision holding it goes.
				r.tampered = true
			}
			if !r.tampered {
				for _, b := range blobsOf(m.manifestOf(p, r)) {
					if m.c.blob(m.ctx(), m.host.Registry(), p.path(), b) != nil {
						r.tampered = true // a blob was deleted behind pkgserver
					}
				}
			}
			revs[ws] = r
		}
		p.revs = revs
		tags := map[string]string{}
		for k, d := range m.registrySnapshot() {
			if path, tag, _ := strings.Cut(k, ":"); path == p.path() && !referrersTag(tag) {
				tags[tag] = d
			}
		}
		p.tombs, p.maxN = map[int]bool{}, 0
		for tag := range tags {
			if n, ok := strings.CutSuffix(tag, ".deleted"); ok {
				if k, err := strconv.Atoi(strings.TrimPrefix(n, "v")); err == nil && strings.HasPrefix(n, "v") {
					p.tombs[k] = true
					p.maxN = max(p.maxN, k)
				}
			} else if strings.HasPrefix(tag, "v") {
				if k, err := strconv.Atoi(tag[1:]); err == nil {
					p.maxN = max(p.maxN, k)
				}
			}
		}
		p.extra = map[string]string{}
		explained := wantTags(p)
		for tag, d := range tags {
			if _, ok := explained[tag]; !ok {
				p.extra[tag] = d
			}
		}
		newest := p.newest()
		p.latestOff = newest == nil && tags["latest"] != "" || newest != nil && tags["latest"] != newest.digest
		delete(p.extra, "latest")
		p.foreign = false
	}
}

// checkFresh compares what pkgserver serves with a fresh read-only scan of
// the registries, for the packages the model predicts.
func (m *Model) checkFresh() {
	fresh := m.host.Fresh(m.t)
	if fresh == nil {
		return
	}
	served := map[string]string{}
	for _, pr := range m.list().Items {
		served[pr.Name] = show(&pr)
	}
	var diffs []string
	for _, name := range slices.Sorted(maps.Keys(served)) {
		if !m.foreignName(name) && fresh[name] != served[name] {
			diffs = append(diffs, fmt.Sprintf("%s: served %q, fresh scan %q", name, served[name], fresh[name]))
		}
	}
	for _, name := range slices.Sorted(maps.Keys(fresh)) {
		if _, ok := served[name]; !ok && !m.foreignName(name) {
			diffs = append(diffs, fmt.Sprintf("%s: not served, fresh scan %q", name, fresh[name]))
		}
	}
	if len(diffs) > 0 {
		m.fail("what pkgserver serves differs from a fresh scan of the registries:\n%s", strings.Join(diffs, "\n"))
	}
}
