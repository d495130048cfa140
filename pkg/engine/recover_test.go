package engine_test

import (
	"errors"
	"strings"
	"testing"

	pkgapi "pkgserver.dev/pkgserver/api/pkg/v1alpha1"
	"pkgserver.dev/pkgserver/internal/faultstore"
	"pkgserver.dev/pkgserver/internal/testregistry"
	"pkgserver.dev/pkgserver/pkg/errdef"
)

// TestRecoveryNeverSticks: a step of an interrupted write that can never be
// done must not leave its package stuck, every later write of it (and
// every clone from it) failing, nor stop the server from starting. Moving
// `latest` is best effort, with a warning; an essential step that is
// refused for good (not a registry outage) rolls the write back.
func TestRecoveryNeverSticks(t *testing.T) {
	reg := testregistry.Start(t)
	for _, remoteBackend := range []bool{false, true} {
		backend := map[bool]string{false: "embedded", true: "remote"}[remoteBackend]
		registry := map[bool]string{false: "", true: reg}[remoteBackend]
		t.Run(backend+"/latest cannot move after a publication", func(t *testing.T) {
			r := newCrashRig(t, registry, "stuck1")
			one, three := nameOf(r.id("app", "one")), nameOf(r.id("app", "three"))
			r.must("repo", r.createRepo(r.repo))
			r.must("create", r.create(r.id("app", "one")))
			r.must("files", r.setFiles(one, crashFiles))
			r.publish(one)
			v1 := r.get(one).Status.OCI.Digest
			r.must("create", r.create(r.id("app", "three")))
			r.must("propose", r.update(three, func(pr *pkgapi.PackageRevision) { pr.Spec.Lifecycle = pkgapi.LifecycleProposed }))
			// The crash: v2 lands, the process dies before `latest` moves.
			r.plan.Arm(2, faultstore.Before)
			if err := r.approve(three, pkgapi.LifecyclePublished); err == nil {
				t.Fatal("the publication succeeded though its second step failed")
			}
			if w := r.plan.Writes(); len(w) != 2 || !strings.HasSuffix(w[0], "/app v2") || !strings.HasSuffix(w[1], "/app latest") {
				t.Fatalf("writes %q: want the push of v2, then of latest", w)
			}
			// And `latest` can never move to v2 now.
			if remoteBackend {
				// Someone deleted a blob of v2 in the registry: the
				// registry refuses every manifest naming it (MANIFEST_BLOB_UNKNOWN).
				r.must("delete a blob of v2", r.behind("app").Delete(r.ctx, r.layerOf("v2")))
			} else {
				r.plan.Refuse(func(w string) bool { return strings.HasSuffix(w, "/app latest") }, errdef.ErrForbidden)
			}
			r.crash() // the restart finishes the intent, and must start
			if in, err := r.coord.Intents(r.ctx); err != nil || len(in) > 0 {
				t.Fatalf("intents after the restart: %v %v", in, err)
			}
			if got := r.get(three); got.Spec.Lifecycle != pkgapi.LifecyclePublished || got.Spec.PackageRevID.Revision != "v2" || got.Labels[pkgapi.LatestRevisionLabel] != "true" {
				t.Fatalf("%s is %s %q latest=%q, want published v2, the latest revision", three, got.Spec.Lifecycle, got.Spec.PackageRevID.Revision, got.Labels[pkgapi.LatestRevisionLabel])
			}
			if _, err := r.behind("app").Resolve(r.ctx, "ws.three"); !errors.Is(err, errdef.ErrNotFound) {
				t.Errorf("the proposed revision's manifest is still tagged ws.three (%v); removing it is an essential step", err)
			}
			if d, err := r.behind("app").Resolve(r.ctx, "latest"); err != nil || d.Digest.String() != v1 {
				t.Errorf("latest is %v %v; it could not move and must stay on v1 %s", d.Digest, err, v1)
			}
			if !strings.Contains(r.log.String(), "level=WARN") || !strings.Contains(r.log.String(), "latest") {
				t.Errorf("no warning that latest could not move; log:\n%s", r.log.String())
			}
			r.must("a new draft of the package", r.create(r.id("app", "four")))
			r.must("a clone from the package", r.create(r.id("copy", "one"), cloneOf(one)))
		})
		t.Run(backend+"/a deleted revision's manifest cannot be removed", func(t *testing.T) {
			r := newCrashRig(t, registry, "stuck2")
			one, two := nameOf(r.id("app", "one")), nameOf(r.id("app", "two"))
			r.must("repo", r.createRepo(r.repo))
			r.must("create", r.create(r.id("app", "one")))
			r.must("files", r.setFiles(one, crashFiles))
			r.publish(one)
			r.must("edit", r.create(r.id("app", "two"), editOf(one)))
			r.publish(two)
			v2 := r.get(two).Status.OCI.Digest
			r.must("propose deletion", r.approve(two, pkgapi.LifecycleDeletionProposed))
			// The registry refuses to remove v2's manifest, for good.
			r.plan.Refuse(func(w string) bool { return w == "delete "+r.prefix+"/app "+v2 }, errdef.ErrForbidden)
			if err := r.eng.DeletePackageRevision(r.ctx, testNS, two); !errors.Is(err, errdef.ErrForbidden) {
				t.Fatalf("delete: %v, want the registry's refusal", err)
			}
			// The tombstone landed: the next write of the package finds the
			// intent, cannot finish it, and rolls it back.
			r.must("a new draft of the package", r.create(r.id("app", "four")))
			r.must("a clone from the package", r.create(r.id("copy", "one"), cloneOf(one)))
			if in, err := r.coord.Intents(r.ctx); err != nil || len(in) > 0 {
				t.Fatalf("intents after the next write: %v %v", in, err)
			}
			if _, err := r.behind("app").Resolve(r.ctx, "v2.deleted"); !errors.Is(err, errdef.ErrNotFound) {
				t.Errorf("the tombstone of v2 is still there (%v); the deletion was rolled back", err)
			}
			if got := r.get(two); got.Spec.Lifecycle != pkgapi.LifecyclePublished || got.Status.OCI.Digest != v2 || got.Labels[pkgapi.LatestRevisionLabel] != "true" {
				t.Fatalf("%s is %s %s latest=%q, want published v2 %s, the latest revision", two, got.Spec.Lifecycle, got.Status.OCI.Digest, got.Labels[pkgapi.LatestRevisionLabel], v2)
			}
			if !strings.Contains(r.log.String(), "rolled back") {
				t.Errorf("no log that the deletion was rolled back; log:\n%s", r.log.String())
			}
			r.crash()
			if got := r.get(two); got.Spec.Lifecycle != pkgapi.LifecyclePublished {
				t.Fatalf("after a restart %s is %s, want published", two, got.Spec.Lifecycle)
			}
			// Once the registry lets it, the deletion goes through.
			r.plan.Refuse(nil, nil)
			r.must("propose deletion again", r.approve(two, pkgapi.LifecycleDeletionProposed))
			r.must("delete again", r.eng.DeletePackageRevision(r.ctx, testNS, two))
		})
	}
}

func cloneOf(name string) pkgapi.Task {
	return pkgapi.Task{Type: pkgapi.TaskTypeClone, Clone: &pkgapi.CloneTask{Upstream: pkgapi.UpstreamRef{Name: name}}}
}

func editOf(name string) pkgapi.Task {
	return pkgapi.Task{Type: pkgapi.TaskTypeEdit, Edit: &pkgapi.EditTask{Source: pkgapi.UpstreamRef{Name: name}}}
}
