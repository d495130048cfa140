package e2e

import (
	"encoding/json"
	"os/exec"
	"strings"
	"testing"

	ocispec "github.com/opencontainers/image-spec/specs-go/v1"

	configapi "pkgserver.dev/pkgserver/api/config/v1alpha1"
	"pkgserver.dev/pkgserver/e2e/internal/harness"
	"pkgserver.dev/pkgserver/internal/testregistry"
)

// TestCrane: go-containerregistry's crane, a second client besides oras,
// reads pkgserver's /v2/ and copies a package to a distribution registry;
// the copy keeps its digest, and a pkgserver over the copy serves the same
// revision.
func TestCrane(t *testing.T) {
	t.Parallel()
	crane, err := harness.CraneBinary()
	if err != nil {
		t.Fatal(err)
	}
	run := func(args ...string) string {
		t.Helper()
		out, err := exec.Command(crane, append(args, "--insecure")...).CombinedOutput()
		if err != nil {
			t.Fatalf("crane %s: %v\n%s", strings.Join(args, " "), err, out)
		}
		return strings.TrimSpace(string(out))
	}
	e := newEnv(t, backends[0])
	e.createRepo(t, "blueprints", false)
	id := catalogID("blueprints", "apps", "web", "ws")
	createDraft(t, e.c, id, initTask("for crane"), nil)
	pr := publish(t, e.c, harness.RevisionName(id))
	src := e.srv.Addr + "/" + namespace + "/blueprints/apps/web"

	if tags := strings.Fields(run("ls", src)); !contains(tags, "v1") || !contains(tags, "latest") {
		t.Fatalf("crane ls: %v", tags)
	}
	if d := run("digest", src+":v1"); d != pr.Status.OCI.Digest {
		t.Fatalf("crane digest %s, API %s", d, pr.Status.OCI.Digest)
	}
	var m ocispec.Manifest
	if err := json.Unmarshal([]byte(run("manifest", src+":v1")), &m); err != nil || m.Annotations["dev.pkgserver.lifecycle"] != "published" {
		t.Fatalf("crane manifest: %v %+v", err, m.Annotations)
	}

	reg := testregistry.Start(t)
	dst := reg + "/mirror/blueprints/apps/web"
	run("copy", src+":v1", dst+":v1")
	if d := run("digest", dst+":v1"); d != pr.Status.OCI.Digest {
		t.Fatalf("copied digest %s, want %s", d, pr.Status.OCI.Digest)
	}
	mirror := newEnv(t, backends[0])
	mirror.c.CreateRepository(t, repositoryManifest("blueprints", "a mirror", &configapi.OCIRepository{Registry: reg + "/mirror/blueprints", PlainHTTP: true}))
	got := mirror.c.GetRevision(t, "catalog.blueprints.apps.web.ws")
	if got.Status.OCI.Digest != pr.Status.OCI.Digest || got.Spec.PackageRevID.Revision != "v1" {
		t.Fatalf("mirror serves %s %s, want %s v1", got.Status.OCI.Digest, got.Spec.PackageRevID.Revision, pr.Status.OCI.Digest)
	}
	assertFiles(t, "mirror", mirror.c.GetResources(t, got.Name).Spec.Resources, e.c.GetResources(t, pr.Name).Spec.Resources)
}

func contains(s []string, v string) bool {
	for _, x := range s {
		if x == v {
			return true
		}
	}
	return false
}
