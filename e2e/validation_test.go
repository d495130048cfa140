package e2e

import (
	"maps"
	"net/http"
	"slices"
	"strings"
	"testing"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"pkgserver.dev/pkgserver/e2e/internal/harness"
)

// testValidation sends refused contents and checks the error and that
// nothing changed.
func testValidation(t *testing.T, e *env) {
	c := e.c
	e.createRepo(t, "blueprints", false)
	id := catalogID("blueprints", "", "app", "ws1")
	name := harness.RevisionName(id)
	createDraft(t, c, id, initTask("app"), nil)
	good := maps.Clone(c.GetResources(t, name).Spec.Resources)
	good["deployment.yaml"] = deploymentYAML("app", 1)
	putFiles(t, c, name, good)
	before := c.GetRevision(t, name)
	listBefore := names(c.ListRevisions(t, nil).Items)

	for _, tc := range []struct {
		name string
		path string
		text string
		// want are strings the message must contain.
		want []string
	}{
		{
			name: "bad YAML",
			path: "config/bad.yaml",
			// line 6 starts with a tab, which YAML forbids for indentation
			text: "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: bad\ndata:\n\tkey: value\n",
			want: []string{"config/bad.yaml", "line 6"},
		},
		{
			name: "bad YAML in a later document",
			path: "multi.yaml",
			text: configMapYAML("one", "1") + "---\n" + "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: two\ndata: [unclosed\n",
			want: []string{"multi.yaml", "line "},
		},
		{
			name: "not KRM",
			path: "values.yaml",
			text: "replicas: 3\nimage: nginx\n",
			want: []string{"values.yaml"},
		},
		{
			name: "KRM without metadata.name",
			path: "noname.yaml",
			text: "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  labels:\n    a: b\n",
			want: []string{"noname.yaml", "metadata.name"},
		},
		{
			name: "path escaping with ..",
			path: "../escape.yaml",
			text: configMapYAML("escape", "x"),
			want: []string{"../escape.yaml"},
		},
		{
			name: "path with .. inside",
			path: "config/../../escape.yaml",
			text: configMapYAML("escape", "x"),
			want: []string{"config/../../escape.yaml"},
		},
		{
			name: "absolute path",
			path: "/etc/escape.yaml",
			text: configMapYAML("escape", "x"),
			want: []string{"/etc/escape.yaml"},
		},
	} {
		t.Run(strings.ReplaceAll(tc.name, " ", "_"), func(t *testing.T) {
			prr := c.GetResources(t, name)
			prr.Spec.Resources[tc.path] = tc.text
			st := c.ExpectStatus(t, http.MethodPut, c.ResourcesPath(name), prr, http.StatusUnprocessableEntity)
			expectReason(t, st, metav1.StatusReasonInvalid)
			for _, w := range tc.want {
				if !strings.Contains(st.Message, w) {
					t.Errorf("message %q does not contain %q", st.Message, w)
				}
			}
			after := c.GetRevision(t, name)
			if after.ResourceVersion != before.ResourceVersion || after.Status.OCI.Digest != before.Status.OCI.Digest {
				t.Errorf("refused write changed the revision: rv %q→%q digest %s→%s", before.ResourceVersion, after.ResourceVersion, before.Status.OCI.Digest, after.Status.OCI.Digest)
			}
			assertFiles(t, "after refused write", c.GetResources(t, name).Spec.Resources, good)
		})
	}
	if got := names(c.ListRevisions(t, nil).Items); !slices.Equal(got, listBefore) {
		t.Fatalf("revisions after refused writes: %v, want %v", got, listBefore)
	}
}
