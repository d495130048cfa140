package authz

import (
	"os"
	"reflect"
	"strings"
	"testing"

	"sigs.k8s.io/yaml"
)

// TestDocumentedRoles: the default roles listed in docs/security.md are
// the ones the code defines.
func TestDocumentedRoles(t *testing.T) {
	doc, err := os.ReadFile("../../../docs/security.md")
	if err != nil {
		t.Fatal(err)
	}
	_, block, ok := strings.Cut(string(doc), "<!-- default-roles -->\n```yaml\n")
	if !ok {
		t.Fatal("docs/security.md has no default-roles block")
	}
	block, _, _ = strings.Cut(block, "```")
	p, err := ParsePolicy([]byte(block))
	if err != nil {
		t.Fatal(err)
	}
	want := DefaultClusterRoles()
	if len(p.ClusterRoles) != len(want) {
		t.Fatalf("%d roles documented, %d defined", len(p.ClusterRoles), len(want))
	}
	for i, got := range p.ClusterRoles {
		if got.Name != want[i].Name || !reflect.DeepEqual(got.Rules, want[i].Rules) {
			t.Errorf("documented %s:\n%+v\ndefined %s:\n%+v", got.Name, got.Rules, want[i].Name, want[i].Rules)
		}
	}
}

// TestShippedPolicy: the policy deploy/ ships compiles.
func TestShippedPolicy(t *testing.T) {
	data, err := os.ReadFile("../../../deploy/pkgserver-policy.yaml")
	if err != nil {
		t.Fatal(err)
	}
	var cm struct {
		Data map[string]string `json:"data"`
	}
	if err := yaml.Unmarshal(data, &cm); err != nil {
		t.Fatal(err)
	}
	p, err := ParsePolicy([]byte(cm.Data["policy.yaml"]))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := CompileWithDefaults(p); err != nil {
		t.Fatal(err)
	}
	if len(p.ClusterRoleBindings)+len(p.RoleBindings) == 0 {
		t.Fatal("the shipped policy binds nothing")
	}
}
