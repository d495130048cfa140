package e2e

import (
	"strings"
	"testing"

	"pkgserver.dev/pkgserver/e2e/internal/harness"
)

// TestPkgctlUpgrade: pkgctl finds what can be upgraded and upgrades it.
func TestPkgctlUpgrade(t *testing.T) {
	t.Parallel()
	e := newEnv(t, backends[0])
	p := e.pkgctl(t)
	p.OK(t, "", e.registerArgs("blueprints", false)...)
	p.OK(t, "", e.registerArgs("sites", true)...)

	up := harness.RevisionName(catalogID("blueprints", "", "web", "one"))
	p.OK(t, "", "rpkg", "init", "web", "--repository", "blueprints", "--workspace", "one")
	p.OK(t, "", "rpkg", "propose", up)
	p.OK(t, "", "rpkg", "approve", up)
	down := "eu.sites..web.first"
	p.OK(t, "", "rpkg", "clone", up, "web", "--repository", "sites", "--workspace", "first", "--target", "eu")
	p.OK(t, "", "rpkg", "propose", down)
	p.OK(t, "", "rpkg", "approve", down)

	// Nothing to upgrade yet.
	if r := p.Run(t, "", "rpkg", "upgrade", "--discover=upstream"); r.Code != 0 || !strings.Contains(r.Stderr, "up to date") {
		t.Fatalf("discover before a new upstream: %s", r)
	}
	up2 := harness.RevisionName(catalogID("blueprints", "", "web", "two"))
	p.OK(t, "", "rpkg", "copy", up, "--workspace", "two")
	p.OK(t, "", "rpkg", "propose", up2)
	p.OK(t, "", "rpkg", "approve", up2)

	tb := parseTable(t, p.OK(t, "", "rpkg", "upgrade", "--discover=upstream"))
	tb.expectHeader(t, "NAME", "UPSTREAM", "AVAILABLE", "REVISION")
	tb.expectRow(t, down, map[string]string{"UPSTREAM": up, "AVAILABLE": up2, "REVISION": "v2"})
	tb = parseTable(t, p.OK(t, "", "rpkg", "upgrade", "--discover=downstream", up))
	tb.expectHeader(t, "UPSTREAM", "DOWNSTREAM", "LIFECYCLE", "UPGRADE")
	if len(tb.rows) != 1 || tb.rowMap(tb.rows[0])["UPSTREAM"] != up || tb.rowMap(tb.rows[0])["DOWNSTREAM"] != down || tb.rowMap(tb.rows[0])["UPGRADE"] != up2 {
		t.Fatalf("downstream table rows %v", tb.rows)
	}

	// Upgrade to the newest upstream by default.
	expectOutput(t, p.OK(t, "", "rpkg", "upgrade", down, "--workspace", "second"), "eu.sites..web.second created\n")
	pr := getRevisionJSON(t, p, "eu.sites..web.second")
	if pr.Spec.Upstream == nil || pr.Spec.Upstream.Name != up2 {
		t.Fatalf("upgraded draft upstream %+v, want %s", pr.Spec.Upstream, up2)
	}
	// Errors in plain words: a bad strategy, and nothing newer to move to.
	if r := p.Fail(t, 1, "", "rpkg", "upgrade", down, "--workspace", "third", "--strategy", "sideways"); !strings.Contains(r.Stderr, "sideways") {
		t.Fatalf("bad strategy message: %s", r.Stderr)
	}
	if r := p.Fail(t, 2, "", "rpkg", "upgrade", "--discover=sideways"); !strings.Contains(r.Stderr, "upstream or downstream") {
		t.Fatalf("bad discover message: %s", r.Stderr)
	}
}
