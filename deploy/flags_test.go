package deploy

import (
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
)

// TestPkgserverFlags: every flag the manifests and the Dockerfile give
// pkgserver is one the built binary has, so a deploy never fails on a typo
// or a flag that was renamed.
func TestPkgserverFlags(t *testing.T) {
	bin := filepath.Join(t.TempDir(), "pkgserver")
	if out, err := exec.Command("go", "build", "-o", bin, "../cmd/pkgserver").CombinedOutput(); err != nil {
		t.Fatalf("build pkgserver: %v\n%s", err, out)
	}
	help, _ := exec.Command(bin, "-h").CombinedOutput()
	known := map[string]bool{}
	for _, m := range regexp.MustCompile(`(?m)^\s+-([a-z0-9-]+)`).FindAllStringSubmatch(string(help), -1) {
		known[m[1]] = true
	}
	if !known["etcd-servers"] || !known["listen"] {
		t.Fatalf("could not read the flags from -h:\n%s", help)
	}
	check := func(where string, args []string) {
		for _, a := range args {
			if !strings.HasPrefix(a, "--") {
				continue
			}
			name, _, _ := strings.Cut(strings.TrimPrefix(a, "--"), "=")
			if !known[name] {
				t.Errorf("%s: pkgserver has no flag --%s", where, name)
			}
		}
	}
	n := 0
	for layout, objs := range layouts(t, ".") {
		for _, o := range objs {
			var spec *corev1.PodSpec
			switch w := o.obj.(type) {
			case *appsv1.Deployment:
				spec = &w.Spec.Template.Spec
			case *appsv1.StatefulSet:
				spec = &w.Spec.Template.Spec
			default:
				continue
			}
			for _, c := range spec.Containers {
				if c.Name == "pkgserver" {
					check(layout+": "+o.String(), c.Args)
					n++
				}
			}
		}
	}
	docker, err := os.ReadFile("../Dockerfile")
	if err != nil {
		t.Fatal(err)
	}
	entry := string(docker[strings.Index(string(docker), "ENTRYPOINT"):])
	check("Dockerfile", regexp.MustCompile(`--[a-z0-9-]+`).FindAllString(entry, -1))
	if n < 2 {
		t.Fatalf("found %d pkgserver containers in the manifests, want the single and the HA layout", n)
	}
}
