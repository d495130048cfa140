package model

import (
	"fmt"
	"maps"
	"net/http"
	"slices"
	"strconv"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	configapi "pkgserver.dev/pkgserver/api/config/v1alpha1"
	pkgapi "pkgserver.dev/pkgserver/api/pkg/v1alpha1"
)

// configScope stands for the Repository objects in an op's scope.
const configScope = "<repository objects>"

// op is one step that may change something.
type op struct {
	desc string
	// scope lists the OCI repositories the op may change (and configScope).
	scope []string
	// want lists the right answers; nil accepts any answer below 500 (a
	// package changed behind pkgserver, where the model does not predict).
	want []int
	run  func() response
	// effect applies a success to the model.
	effect func()
	// tamper marks, for a /v2/ request behind pkgserver's back, what it
	// touched: revisions nothing is promised about any more.
	tamper func()
	// pkg is the package whose objects tell, after a crash, whether the op
	// happened; nil for ops that are never crashed.
	pkg *pkgM
	// ws is the workspace of the revision the op writes.
	ws string
	// src is the package the op reads from (a clone's or an edit's).
	src *pkgM
}

func wants(codes ...int) []int { return codes }

// next picks a step by weight and runs it.
func (m *Model) next() {
	type choice struct {
		weight int
		do     func()
	}
	remote := m.host.RemoteRegistry() != ""
	choices := []choice{
		{10, func() { m.exec(m.opCreate()) }},
		{7, func() { m.exec(m.opPutFiles()) }},
		{6, func() { m.exec(m.opUpdateLifecycle(pkgapi.LifecycleProposed)) }},
		{3, func() { m.exec(m.opApprove(pkgapi.LifecycleDraft)) }},
		{8, func() { m.exec(m.opApprove(pkgapi.LifecyclePublished)) }},
		{4, func() { m.exec(m.opApprove(pkgapi.LifecycleDeletionProposed)) }},
		{4, func() { m.exec(m.opDelete()) }},
		{3, func() { m.exec(m.opStatus()) }},
		{1, func() { m.exec(m.opStaleUpdate()) }},
		{2, func() { m.exec(m.opRepository()) }},
		{12, func() { m.exec(m.opV2()) }},
		{2, m.rescan},
		{1, m.restart},
		{m.cfg.CrashWeight, m.crash},
		{2, m.gc},
	}
	if remote {
		choices[10].weight = 6 // behind pkgserver's back: less precise, fewer
		choices[11].weight = 4
	}
	total := 0
	for _, c := range choices {
		total += c.weight
	}
	k := m.rnd.IntN(total)
	for _, c := range choices {
		if k < c.weight {
			c.do()
			return
		}
		k -= c.weight
	}
}

// exec runs an op and checks its answer and the invariants.
func (m *Model) exec(o *op) {
	m.t.Helper()
	if o == nil {
		return
	}
	m.record("%s", o.desc)
	res := o.run()
	m.log[len(m.log)-1] += " -> " + short(res)
	switch {
	case res.lost():
		// Content deleted behind pkgserver included: that is a clear 409.
		m.fail("%s: %s", o.desc, res)
	case o.want != nil && !slices.Contains(o.want, res.code):
		m.fail("%s: answered %s, want %v", o.desc, res, o.want)
	case res.ok() && o.effect != nil:
		o.effect()
		if o.want == nil && o.pkg != nil {
			// A write to a package changed behind pkgserver, against its
			// view before it read it again: what it makes is not promised
			// (a name may turn out taken); read it all at the next rescan.
			if r := o.pkg.revs[o.ws]; r != nil {
				r.tampered = true
			}
			o.pkg.foreign = true
		}
	}
	scope := o.scope
	if !res.ok() && o.want != nil {
		scope = nil // a refusal changes nothing
	}
	m.learn()
	m.check(scope)
}

func short(r response) string {
	if r.code == 0 {
		return "no answer"
	}
	return strconv.Itoa(r.code)
}

// pick returns a random element of s, or the zero value.
func pick[T any](m *Model, s []T) T {
	var zero T
	if len(s) == 0 {
		return zero
	}
	return s[m.rnd.IntN(len(s))]
}

func (m *Model) pickPkg() *pkgM { return pick(m, m.pkgs) }

// pickRev returns a revision of p, preferring those for which keep is
// true, or nil.
func (m *Model) pickRev(p *pkgM, keep func(*revM) bool) *revM {
	var all, good []*revM
	for _, ws := range slices.Sorted(maps.Keys(p.revs)) {
		r := p.revs[ws]
		all = append(all, r)
		if keep == nil || keep(r) {
			good = append(good, r)
		}
	}
	if len(good) > 0 && m.rnd.IntN(5) > 0 {
		return pick(m, good)
	}
	return pick(m, all)
}

// workspaces are drawn from a few names (so they collide) and names that
// look like tags (v1, v2: a draft whose workspace looks like a revision).
var workspaces = []string{"a", "b", "c", "d", "v1", "v2", "v3"}

func (m *Model) pickWorkspace() string {
	if m.rnd.IntN(4) == 0 {
		m.uniq++
		return fmt.Sprintf("w%d", m.uniq)
	}
	return pick(m, workspaces)
}

// precise reports whether the model predicts answers about p and revs.
func precise(p *pkgM, revs ...*revM) bool {
	if p.foreign {
		return false
	}
	for _, r := range revs {
		if r != nil && r.tampered {
			return false
		}
	}
	return true
}

// expect is want when precise, else nil (lenient).
func expect(ok bool, codes ...int) []int {
	if !ok {
		return nil
	}
	return codes
}

// published lists the published revisions of every package, with theirs.
func (m *Model) published() (out []struct {
	p *pkgM
	r *revM
}) {
	for _, p := range m.pkgs {
		for _, ws := range slices.Sorted(maps.Keys(p.revs)) {
			if r := p.revs[ws]; r.life == pkgapi.LifecyclePublished {
				out = append(out, struct {
					p *pkgM
					r *revM
				}{p, r})
			}
		}
	}
	return out
}

func (m *Model) opCreate() *op {
	p := m.pickPkg()
	ws := m.pickWorkspace()
	task := pkgapi.Task{Type: pkgapi.TaskTypeInit, Init: &pkgapi.InitTask{Description: "model " + p.name}}
	kind := "init"
	var src *revM
	var srcPkg *pkgM
	switch m.rnd.IntN(4) {
	case 0: // edit: from a revision of the same package
		if r := m.pickRev(p, func(r *revM) bool { return r.life == pkgapi.LifecyclePublished }); r != nil {
			src, srcPkg, kind = r, p, "edit"
			task = pkgapi.Task{Type: pkgapi.TaskTypeEdit, Edit: &pkgapi.EditTask{Source: pkgapi.UpstreamRef{Name: p.objName(r.ws)}}}
		}
	case 1: // clone: from a revision of another package
		var cands []*pkgM
		for _, q := range m.pkgs {
			if q != p && len(q.revs) > 0 {
				cands = append(cands, q)
			}
		}
		if q := pick(m, cands); q != nil {
			r := m.pickRev(q, func(r *revM) bool { return r.life == pkgapi.LifecyclePublished })
			src, srcPkg, kind = r, q, "clone"
			task = pkgapi.Task{Type: pkgapi.TaskTypeClone, Clone: &pkgapi.CloneTask{Upstream: pkgapi.UpstreamRef{Name: q.objName(r.ws)}}}
		}
	}
	gate := m.rnd.IntN(5) == 0
	pr := &pkgapi.PackageRevision{
		TypeMeta:   metav1.TypeMeta{APIVersion: pkgapi.SchemeGroupVersion.String(), Kind: pkgapi.PackageRevisionKind},
		ObjectMeta: metav1.ObjectMeta{Name: p.objName(ws), Namespace: Namespace},
		Spec:       pkgapi.PackageRevisionSpec{PackageRevID: p.id(ws), Lifecycle: pkgapi.LifecycleDraft, Tasks: []pkgapi.Task{task}},
	}
	if gate {
		pr.Spec.ReadinessGates = []pkgapi.ReadinessGate{{ConditionType: "ready"}}
	}
	desc := fmt.Sprintf("create %s (%s)", p.objName(ws), kind)
	if src != nil {
		desc += " from " + srcPkg.objName(src.ws)
	}
	want := 201
	switch {
	case !p.repo.registered:
		want = http.StatusUnprocessableEntity
	case p.revs[ws] != nil:
		want = http.StatusConflict
	case src != nil && (!srcPkg.repo.registered || src.life != pkgapi.LifecyclePublished):
		want = http.StatusUnprocessableEntity
	}
	ok := precise(p) && (src == nil || precise(srcPkg, src))
	return &op{
		desc: desc, scope: []string{p.path()}, want: expect(ok, want), pkg: p, ws: ws, src: srcPkg,
		run: func() response { return m.c.do(m.ctx(), http.MethodPost, m.c.revPath(m.host.API(), ""), pr, nil) },
		effect: func() {
			r := &revM{ws: ws, life: pkgapi.LifecycleDraft, digest: unknown, gate: gate}
			if src != nil {
				r.files = src.files
				if kind == "clone" {
					r.upstream = srcPkg.objName(src.ws)
				} else {
					r.upstream = src.upstream
				}
			}
			p.revs[ws] = r
		},
	}
}

// target picks a revision to act on (or a name that does not exist).
func (m *Model) target(keep func(*revM) bool) (*pkgM, *revM, string) {
	p := m.pickPkg()
	for range 3 {
		if len(p.revs) > 0 {
			break
		}
		p = m.pickPkg()
	}
	r := m.pickRev(p, keep)
	if r == nil || m.rnd.IntN(20) == 0 {
		return p, nil, p.objName("none")
	}
	return p, r, p.objName(r.ws)
}

func (m *Model) opPutFiles() *op {
	p, r, name := m.target(func(r *revM) bool { return r.life == pkgapi.LifecycleDraft })
	m.uniq++
	k := m.uniq
	bad := m.rnd.IntN(8) == 0
	var files map[string]string
	if r != nil && r.files != nil {
		files = maps.Clone(r.files)
	} else {
		files = map[string]string{"Kptfile": "apiVersion: kpt.dev/v1\nkind: Kptfile\nmetadata:\n  name: " + p.name + "\n"}
	}
	delete(files, "bad.yaml") // pushed behind pkgserver: fix it
	file := fmt.Sprintf("cm-%d.yaml", m.rnd.IntN(3))
	files[file] = configMap(file, strconv.Itoa(k))
	if m.rnd.IntN(4) == 0 {
		for f := range files {
			if f != "Kptfile" && f != file {
				delete(files, f)
				break
			}
		}
	}
	if bad {
		files["bad.yaml"] = "a: [unclosed\n"
	}
	want := http.StatusOK
	switch {
	case r == nil || !p.repo.registered:
		want = http.StatusNotFound
	case r.life != pkgapi.LifecycleDraft:
		want = http.StatusForbidden
	case bad:
		want = http.StatusUnprocessableEntity
	}
	prr := &pkgapi.PackageRevisionResources{
		TypeMeta:   metav1.TypeMeta{APIVersion: pkgapi.SchemeGroupVersion.String(), Kind: pkgapi.PackageRevisionResourcesKind},
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: Namespace},
		Spec:       pkgapi.PackageRevisionResourcesSpec{Resources: files},
	}
	return &op{
		desc: fmt.Sprintf("put files of %s (%s%s)", name, file, map[bool]string{true: ", invalid YAML"}[bad]), scope: []string{p.path()},
		want: expect(precise(p, r), want), pkg: p, ws: wsOf(r),
		run: func() response { return m.c.do(m.ctx(), http.MethodPut, m.c.resPath(m.host.API(), name), prr, nil) },
		effect: func() {
			if r != nil && (r.files == nil || !maps.Equal(r.files, files)) {
				r.files, r.digest = files, unknown
			}
		},
	}
}

// withObject reads a revision and sends it changed; a missing one is sent
// as given (to be refused).
func (m *Model) withObject(name, suffix, method string, change func(pr *pkgapi.PackageRevision)) func() response {
	return func() response {
		pr := &pkgapi.PackageRevision{ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: Namespace}}
		if got := m.c.do(m.ctx(), http.MethodGet, m.c.revPath(m.host.API(), name), nil, nil); got.ok() {
			var err error
			if pr, err = decode[pkgapi.PackageRevision](got); err != nil {
				return response{err: err}
			}
		} else if got.lost() {
			return got
		}
		change(pr)
		return m.c.do(m.ctx(), method, m.c.revPath(m.host.API(), name)+suffix, pr, nil)
	}
}

// opUpdateLifecycle moves a revision between draft and proposed (PUT).
func (m *Model) opUpdateLifecycle(to pkgapi.Lifecycle) *op {
	p, r, name := m.target(func(r *revM) bool { return r.life == pkgapi.LifecycleDraft })
	want := http.StatusOK
	switch {
	case r == nil || !p.repo.registered:
		want = http.StatusNotFound
	case r.life == pkgapi.LifecyclePublished || r.life == pkgapi.LifecycleDeletionProposed:
		want = http.StatusForbidden
	}
	return &op{
		desc: fmt.Sprintf("update %s to %s", name, to), scope: []string{p.path()}, want: expect(precise(p, r), want), pkg: p, ws: wsOf(r),
		run: m.withObject(name, "", http.MethodPut, func(pr *pkgapi.PackageRevision) { pr.Spec.Lifecycle = to }),
		effect: func() {
			if r.life != to {
				r.life, r.digest = to, unknown
			}
		},
	}
}

// opApprove asks the approval subresource to move a revision to `to`.
func (m *Model) opApprove(to pkgapi.Lifecycle) *op {
	from := map[pkgapi.Lifecycle]pkgapi.Lifecycle{
		pkgapi.LifecycleDraft: pkgapi.LifecycleProposed, pkgapi.LifecyclePublished: pkgapi.LifecycleProposed,
		pkgapi.LifecycleDeletionProposed: pkgapi.LifecyclePublished,
	}[to]
	if to == pkgapi.LifecyclePublished && m.rnd.IntN(4) == 0 {
		from = pkgapi.LifecycleDeletionProposed // withdraw a deletion proposal
	}
	p, r, name := m.target(func(r *revM) bool { return r.life == from })
	want := http.StatusOK
	var effect func()
	switch {
	case r == nil || !p.repo.registered:
		want = http.StatusNotFound
	case r.life == to:
		// no change
	case r.life == pkgapi.LifecycleProposed && to == pkgapi.LifecycleDraft:
		effect = func() { r.life, r.digest = to, unknown }
	case r.life == pkgapi.LifecycleProposed && to == pkgapi.LifecyclePublished:
		if r.gate && !r.ready {
			want = http.StatusUnprocessableEntity
			break
		}
		effect = func() {
			p.maxN++
			r.life, r.n, r.digest = to, p.maxN, unknown
			p.latestOff = false
		}
	case r.life == pkgapi.LifecyclePublished && to == pkgapi.LifecycleDeletionProposed,
		r.life == pkgapi.LifecycleDeletionProposed && to == pkgapi.LifecyclePublished:
		effect = func() { r.life = to }
	default:
		want = http.StatusUnprocessableEntity
	}
	return &op{
		desc: fmt.Sprintf("approve %s to %s", name, to), scope: []string{p.path()}, want: expect(precise(p, r), want), pkg: p, ws: wsOf(r),
		run:    m.withObject(name, "/approval", http.MethodPut, func(pr *pkgapi.PackageRevision) { pr.Spec.Lifecycle = to }),
		effect: effect,
	}
}

func (m *Model) opDelete() *op {
	p, r, name := m.target(func(r *revM) bool { return r.life != pkgapi.LifecyclePublished })
	want := http.StatusOK
	var downstream []string
	switch {
	case r == nil || !p.repo.registered:
		want = http.StatusNotFound
	case r.life == pkgapi.LifecyclePublished:
		want = http.StatusForbidden
	case r.life == pkgapi.LifecycleDeletionProposed:
		for _, q := range m.pkgs {
			for _, d := range q.revs {
				if q.repo.registered && d.upstream == name {
					downstream = append(downstream, q.objName(d.ws))
				}
			}
		}
		if len(downstream) > 0 {
			want = http.StatusForbidden
		}
	}
	ok := precise(p, r)
	for _, q := range m.pkgs {
		ok = ok && (q == p || !q.foreign) // downstreams may be behind pkgserver
	}
	hidden := r != nil && p.extra["ws."+r.ws] != "" // a draft behind it comes back
	ok = ok && !hidden
	return &op{
		desc: fmt.Sprintf("delete %s (downstream %v)", name, downstream), scope: []string{p.path()}, want: expect(ok, want), pkg: p, ws: wsOf(r),
		run: func() response { return m.c.do(m.ctx(), http.MethodDelete, m.c.revPath(m.host.API(), name), nil, nil) },
		effect: func() {
			delete(p.revs, r.ws)
			if hidden {
				p.foreign = true
			}
			if r.n > 0 {
				p.tombs[r.n] = true
				// pkgserver points latest at the newest revision left,
				// or removes it with the last, wherever others moved it.
				p.latestOff = false
			}
		},
	}
}

// opStatus sets the condition of the readiness gate.
func (m *Model) opStatus() *op {
	p, r, name := m.target(func(r *revM) bool { return r.gate && !r.ready })
	want := http.StatusOK
	cond := "ready"
	switch {
	case r == nil || !p.repo.registered:
		want = http.StatusNotFound
	case r.life == pkgapi.LifecyclePublished || r.life == pkgapi.LifecycleDeletionProposed:
		want, cond = http.StatusForbidden, fmt.Sprintf("other-%d", m.step) // never what it has
	}
	return &op{
		desc: fmt.Sprintf("set condition %s of %s", cond, name), scope: []string{p.path()}, want: expect(precise(p, r), want), pkg: p, ws: wsOf(r),
		run: m.withObject(name, "/status", http.MethodPut, func(pr *pkgapi.PackageRevision) {
			pr.Status.Conditions = []metav1.Condition{{Type: cond, Status: metav1.ConditionTrue, Reason: "Model"}}
		}),
		effect: func() { r.ready, r.digest = true, unknown },
	}
}

// opStaleUpdate sends an update with an old resourceVersion: 409, nothing changes.
func (m *Model) opStaleUpdate() *op {
	p, r, name := m.target(nil)
	want := http.StatusConflict
	if r == nil || !p.repo.registered {
		want = http.StatusNotFound
	}
	return &op{
		desc: "update " + name + " with a stale resourceVersion", want: expect(precise(p, r), want),
		run: m.withObject(name, "", http.MethodPut, func(pr *pkgapi.PackageRevision) {
			pr.ResourceVersion = "1"
			pr.Labels = map[string]string{"stale": "yes"}
		}),
	}
}

func (m *Model) repoObject(r *repoM) *configapi.Repository {
	spec := configapi.RepositorySpec{Type: configapi.RepositoryTypeOCI, Deployment: r.deployment, Description: r.description}
	if reg := m.host.RemoteRegistry(); reg != "" {
		spec.OCI = &configapi.OCIRepository{Registry: reg + "/" + Namespace + "/" + r.name, PlainHTTP: true}
	}
	return &configapi.Repository{
		TypeMeta:   metav1.TypeMeta{APIVersion: configapi.SchemeGroupVersion.String(), Kind: configapi.RepositoryKind},
		ObjectMeta: metav1.ObjectMeta{Name: r.name, Namespace: Namespace},
		Spec:       spec,
	}
}

func (m *Model) createRepo(r *repoM) response {
	return m.c.do(m.ctx(), http.MethodPost, m.c.repoPath(m.host.API(), ""), m.repoObject(r), nil)
}

// opRepository changes a Repository object: its description, or it is
// unregistered and registered again (its packages must come back as they were).
func (m *Model) opRepository() *op {
	r := pick(m, m.repos)
	switch {
	case !r.registered:
		return &op{
			desc: "register repository " + r.name + " again", scope: []string{configScope}, want: wants(201),
			run: func() response { return m.createRepo(r) },
			effect: func() {
				r.registered = true
				m.relearnForeign(r) // its packages were read afresh
			},
		}
	case r.deployment && m.rnd.IntN(2) == 0:
		return &op{
			desc: "unregister repository " + r.name, scope: []string{configScope}, want: wants(200),
			run: func() response {
				return m.c.do(m.ctx(), http.MethodDelete, m.c.repoPath(m.host.API(), r.name), nil, nil)
			},
			effect: func() { r.registered = false },
		}
	}
	desc := fmt.Sprintf("description %d", m.step)
	return &op{
		desc: "change the description of repository " + r.name, scope: []string{configScope}, want: wants(200),
		run: func() response {
			got := m.c.do(m.ctx(), http.MethodGet, m.c.repoPath(m.host.API(), r.name), nil, nil)
			if !got.ok() {
				return got
			}
			obj, err := decode[configapi.Repository](got)
			if err != nil {
				return response{err: err}
			}
			obj.Spec.Description = desc
			return m.c.do(m.ctx(), http.MethodPut, m.c.repoPath(m.host.API(), r.name), obj, nil)
		},
		effect: func() { r.description = desc },
	}
}

// rescan reads every registered repository again (refresh): reads only.
func (m *Model) rescan() {
	m.record("rescan every repository")
	for _, r := range m.repos {
		if !r.registered {
			continue
		}
		res := m.c.do(m.ctx(), http.MethodPost, m.c.repoPath(m.host.API(), r.name)+"/refresh", nil, nil)
		if res.code != http.StatusOK {
			m.fail("refresh %s: %s", r.name, res)
		}
	}
	m.relearnForeign(nil)
	m.check(nil)
}

func (m *Model) restart() {
	m.record("clean restart")
	m.host.Restart(m.t)
	m.check(nil)
}

func (m *Model) gc() {
	if !m.host.GC(m.t) {
		return
	}
	m.record("garbage collection, no grace period")
	m.check(nil)
}

// crash kills the server in the middle of a write; after the restart the
// write must have happened entirely or not at all.
func (m *Model) crash() {
	var o *op
	for range 20 {
		c := []func() *op{m.opCreate, m.opPutFiles, func() *op { return m.opApprove(pkgapi.LifecyclePublished) },
			func() *op { return m.opApprove(pkgapi.LifecycleDeletionProposed) }, m.opDelete,
			func() *op { return m.opUpdateLifecycle(pkgapi.LifecycleProposed) }}[m.rnd.IntN(6)]()
		if len(c.want) == 1 && c.want[0] < 300 && c.pkg != nil && c.effect != nil {
			o = c
			break
		}
	}
	if o == nil {
		return
	}
	m.record("crash during: %s", o.desc)
	saved := m.clonePkgs()
	var res response
	m.host.Crash(m.t, m.rnd, func() { res = o.run() })
	m.log[len(m.log)-1] += " -> " + short(res)
	switch {
	case res.ok():
		o.effect()
	case !res.lost():
		m.fail("%s: answered %s, want %v", o.desc, res, o.want)
	default:
		m.resolve(o, saved)
	}
	m.learn()
	m.check(o.scope)
}

// resolve decides, from what the server shows after a crash, whether a
// write whose answer was lost happened; it must have happened entirely or
// not at all.
func (m *Model) resolve(o *op, saved []pkgM) {
	o.effect()
	after := m.clonePkgs()
	m.restorePkgs(saved)
	got, err := m.objectsOf(o.pkg)
	if err != nil {
		m.fail("after the crash: %v", err)
	}
	i := slices.Index(m.pkgs, o.pkg)
	switch { // before first: the write changes what it writes
	case sameObjects(&saved[i], got):
		m.log[len(m.log)-1] += " (it did not happen)"
	case sameObjects(&after[i], got):
		m.restorePkgs(after)
		m.log[len(m.log)-1] += " (it happened)"
	default:
		m.fail("after a crash during %q the package is neither as before nor as after it:\nserved: %v\nbefore: %v\nafter:  %v",
			o.desc, got, describePkg(&saved[i]), describePkg(&after[i]))
	}
}

func wsOf(r *revM) string {
	if r == nil {
		return ""
	}
	return r.ws
}

func configMap(name, value string) string {
	return "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: " + name + "\ndata:\n  value: \"" + value + "\"\n"
}
