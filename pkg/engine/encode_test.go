package engine

import (
	"bytes"
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
