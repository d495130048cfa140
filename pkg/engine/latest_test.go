package engine_test

import (
	"errors"
	"testing"

	"pkgserver.dev/pkgserver/pkg/engine"
	"pkgserver.dev/pkgserver/pkg/errdef"
	"pkgserver.dev/pkgserver/pkg/format"
)

// TestGuardLatestFollowsTheRule: through /v2/, `latest` may be pointed only
// at the newest revision by the same rule as everywhere else: a vN that is
// no revision (pkgserver's tombstone type, pushed past the guard) is not it.
func TestGuardLatestFollowsTheRule(t *testing.T) {
	r := newCrashRig(t, "", "guardlatest")
	r.must("repo", r.createRepo(r.repo))
	one, two := nameOf(r.id("app", "one")), nameOf(r.id("app", "two"))
	r.must("create", r.create(r.id("app", "one")))
	r.publish(one)
	r.must("edit", r.create(r.id("app", "two"), editOf(one)))
	r.publish(two)
	r.pushBehind("app", "v9", format.Tombstone("v9", r.clock()))
	put := func(tag string) error {
		d, err := r.behind("app").Resolve(r.ctx, tag)
		r.must("resolve "+tag, err)
		return r.eng.CheckRegistryWrite(r.ctx, engine.RegistryWrite{Path: r.prefix + "/app", Op: engine.PutTag, Tag: "latest", Tags: []string{"latest"}, Digest: d.Digest})
	}
	if err := put("v9"); !errors.Is(err, errdef.ErrForbidden) {
		t.Errorf("latest → v9 (a tombstone, no revision): %v, want DENIED", err)
	}
	if err := put("v2"); err != nil {
		t.Errorf("latest → v2 (the newest revision): %v, want it allowed", err)
	}
}
