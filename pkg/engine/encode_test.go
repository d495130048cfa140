package engine

import (
	"bytes"
	"encoding/json"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	configapi "pkgserver.dev/pkgserver/api/config/v1alpha1"
	pkgapi "pkgserver.dev/pkgserver/api/pkg/v1alpha1"
	"pkgserver.dev/pkgserver/pkg/format"
)

// TestAppendJSON: the fast encoder writes exactly what encoding/json writes
// for the same object, for revisions with every kind of metadata.
func TestAppendJSON(t *testing.T) {
	at := time.Date(2025, 6, 1, 12, 0, 0, 0, time.UTC)
	up := &pkgapi.Upstream{Name: "catalog.bp..web.v1", PackageRevID: pkgapi.PackageRevID{Target: "catalog", Repository: "bp", Package: "web", Revision: "v1"}}
	metas := map[string]format.Meta{
		"minimal": {},
		"published": {Lifecycle: pkgapi.LifecyclePublished, Workspace: "one", UID: "u-1", Created: at, PublishedBy: "alice", PublishedAt: at.Add(time.Hour),
			Tasks: []pkgapi.Task{{Type: pkgapi.TaskTypeInit, Init: &pkgapi.InitTask{Description: "d"}}}},
		"everything": {Lifecycle: pkgapi.LifecycleProposed, Workspace: "ws", UID: "u-2", Created: at, Description: "x", Source: "s",
			Tasks:    []pkgapi.Task{{Type: pkgapi.TaskTypeClone, Clone: &pkgapi.CloneTask{Upstream: pkgapi.UpstreamRef{Name: up.Name}}}},
			Upstream: up, UpstreamLock: &pkgapi.UpstreamLock{Reference: "r:v1", Digest: "sha256:00"},
			ReadinessGates: []pkgapi.ReadinessGate{{ConditionType: "Tested"}},
			Conditions:     []metav1.Condition{{Type: "Tested", Status: "True", Reason: "Set", LastTransitionTime: metav1.NewTime(at)}},
			Labels:         map[string]string{"a": "1", "pkg.pkgserver.dev/latest-revision": "no", "z": "2"},
			Annotations:    map[string]string{"note": "<b>&\"quoted\"</b>\n\u2028é"},
			ManagedFields:  []metav1.ManagedFieldsEntry{{Manager: "kubectl", Operation: "Apply", APIVersion: "pkg.pkgserver.dev/v1alpha1", Time: &metav1.Time{Time: at}}}},
		"hostile names":        {Workspace: "w", UID: "</script><script>alert(1)</script>", PublishedBy: "bob <b@x>", Labels: map[string]string{"b": "</>"}},
		"labels after latest":  {Labels: map[string]string{"zz": "1"}},
		"labels before latest": {Labels: map[string]string{"aa": "1"}},
	}
	rs := &repoState{key: repoKey{"ns", "bp"}, obj: configapi.Repository{}, host: "pkgserver:8080", prefix: "ns/bp", status: &repoStatus{}}
	for name, meta := range metas {
		for _, tag := range []string{"v1", "v2", "ws.w", "stable"} {
			p := &pkgState{key: pkgKey{embeddedStore, "ns/bp/team/web"}}
			m := format.Manifest(meta)
			r := newRev(tag, m.Descriptor, metaFrom(format.ArtifactType, meta))
			if r.workspace == "" {
				r.workspace = "w"
			}
			p.setRevs([]*rev{r})
			for _, latest := range []bool{false, true} {
				if latest && r.n > 0 {
					p.setRevs(append(p.revs, newRev("v1", m.Descriptor, r.m)))
				}
				for _, upgrade := range []*pkgapi.UpstreamRevision{nil, {Name: "catalog.bp..web.v2", Revision: "v2"}} {
					s := snap{repo: rs, pkg: p, rev: r, rv: 1<<20 | 3, upgrade: upgrade}
					want := mustJSON(render(s))
					if got := appendJSON(nil, s); !bytes.Equal(got, want) {
						t.Errorf("%s %s latest=%v upgrade=%v:\n got %s\nwant %s", name, tag, s.latest(), upgrade != nil, got, want)
					}
				}
			}
		}
	}
}

// BenchmarkAppendJSON: the cost of one object of a list.
func BenchmarkAppendJSON(b *testing.B) {
	at := time.Date(2025, 6, 1, 12, 0, 0, 0, time.UTC)
	meta := format.Meta{Lifecycle: pkgapi.LifecyclePublished, Workspace: "one", UID: "5f0c6f9e-1f6b-4d5e-9a43-1f0b6f1d2c3e", Created: at,
		PublishedBy: "alice@example.org", PublishedAt: at.Add(time.Hour), Labels: map[string]string{"team": "web", "tier": "frontend"},
		Tasks: []pkgapi.Task{{Type: pkgapi.TaskTypeInit, Init: &pkgapi.InitTask{Description: "a package of the web team"}}}}
	rs := &repoState{key: repoKey{"ns", "bp"}, obj: configapi.Repository{}, host: "pkgserver:8080", prefix: "ns/bp", status: &repoStatus{}}
	p := &pkgState{key: pkgKey{embeddedStore, "ns/bp/team-3/app-1234"}}
	m := format.Manifest(meta)
	r := newRev("v3", m.Descriptor, metaFrom(format.ArtifactType, meta))
	p.setRevs([]*rev{r})
	s := snap{repo: rs, pkg: p, rev: r, rv: 123456789}
	buf := appendJSON(nil, s)
	b.SetBytes(int64(len(buf)))
	b.ReportAllocs()
	for b.Loop() {
		buf = appendJSON(buf[:0], s)
	}
}

// TestAppendStringEveryByte: every byte, alone and inside text, is written
// as encoding/json writes it.
func TestAppendStringEveryByte(t *testing.T) {
	for c := range 256 {
		for _, s := range []string{string([]byte{byte(c)}), "ab" + string([]byte{byte(c)}) + "cd"} {
			want, _ := json.Marshal(s)
			if got := appendString(nil, s); !bytes.Equal(got, want) {
				t.Errorf("byte %#x: %s, want %s", c, got, want)
			}
		}
	}
}
