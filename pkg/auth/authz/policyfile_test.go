package authz

import (
	"context"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func TestParsePolicyErrors(t *testing.T) {
	for _, tc := range []struct {
		name, policy, err string
	}{
		{"unknown kind", "apiVersion: rbac.authorization.k8s.io/v1\nkind: Secret\nmetadata: {name: x}\n", `policy document 1: kind "Secret"`},
		{"wrong apiVersion", "apiVersion: rbac.authorization.k8s.io/v1beta1\nkind: Role\n", `apiVersion "rbac.authorization.k8s.io/v1beta1"`},
		{"misspelt field", "apiVersion: rbac.authorization.k8s.io/v1\nkind: ClusterRole\nmetadata: {name: x}\nrules:\n- verb: [get]\n", `unknown field "verb"`},
		{"second document", "---\napiVersion: rbac.authorization.k8s.io/v1\nkind: ClusterRole\nmetadata: {name: x}\n---\nkind: Nope\n", "policy document 2: apiVersion \"\""},
		{"bad YAML", "apiVersion: [\n", "policy document 1"},
		{"List with wrong apiVersion", "apiVersion: v2\nkind: List\nitems: []\n", "a List has apiVersion v1"},
		{"List item", "apiVersion: v1\nkind: List\nitems:\n- {apiVersion: v1, kind: Pod}\n", "items[0]"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := ParsePolicy([]byte(tc.policy))
			if err == nil || !strings.Contains(err.Error(), tc.err) {
				t.Fatalf("err %v, want %q", err, tc.err)
			}
		})
	}
}

func TestCompileErrors(t *testing.T) {
	head := "apiVersion: rbac.authorization.k8s.io/v1\n"
	for _, tc := range []struct {
		name, policy, err string
	}{
		{"binding to a missing role", head + "kind: ClusterRoleBinding\nmetadata: {name: b}\nroleRef: {apiGroup: rbac.authorization.k8s.io, kind: ClusterRole, name: nope}\n",
			`ClusterRole "nope" does not exist`},
		{"role binding to a missing role", head + "kind: RoleBinding\nmetadata: {name: b, namespace: team}\nroleRef: {apiGroup: rbac.authorization.k8s.io, kind: Role, name: nope}\n",
			`Role "nope" does not exist`},
		{"redefining a default role", head + "kind: ClusterRole\nmetadata: {name: editor}\nrules: []\n", "built in"},
		{"redefining a system binding", head + "kind: ClusterRoleBinding\nmetadata: {name: system:discovery}\nroleRef: {apiGroup: rbac.authorization.k8s.io, kind: ClusterRole, name: viewer}\n", "built in"},
		{"role without namespace", head + "kind: Role\nmetadata: {name: r}\n", "metadata.namespace is required"},
		{"cluster role with namespace", head + "kind: ClusterRole\nmetadata: {name: r, namespace: team}\n", "has no namespace"},
		{"duplicate", head + "kind: ClusterRole\nmetadata: {name: r}\n---\n" + head + "kind: ClusterRole\nmetadata: {name: r}\n", "defined twice"},
		{"no name", head + "kind: ClusterRole\nmetadata: {}\n", "metadata.name is required"},
		{"rule without verbs", head + "kind: ClusterRole\nmetadata: {name: r}\nrules: [{apiGroups: [g], resources: [r]}]\n", "verbs must not be empty"},
		{"rule without resources", head + "kind: ClusterRole\nmetadata: {name: r}\nrules: [{apiGroups: [x], verbs: [get]}]\n", "needs apiGroups and resources"},
		{"mixed rule", head + "kind: ClusterRole\nmetadata: {name: r}\nrules: [{apiGroups: [g], resources: [r], nonResourceURLs: [/z], verbs: [get]}]\n", "cannot be mixed"},
		{"paths in a Role", head + "kind: Role\nmetadata: {name: r, namespace: team}\nrules: [{nonResourceURLs: [/z], verbs: [get]}]\n", "only allowed in a ClusterRole"},
		{"bad path", head + "kind: ClusterRole\nmetadata: {name: r}\nrules: [{nonResourceURLs: [/a*b], verbs: [get]}]\n", "may only end with *"},
		{"roleRef group", head + "kind: ClusterRoleBinding\nmetadata: {name: b}\nroleRef: {apiGroup: x, kind: ClusterRole, name: viewer}\n", "roleRef.apiGroup"},
		{"cluster binding to a Role", head + "kind: ClusterRoleBinding\nmetadata: {name: b}\nroleRef: {apiGroup: rbac.authorization.k8s.io, kind: Role, name: viewer}\n", "roleRef.kind"},
		{"subject kind", head + "kind: ClusterRoleBinding\nmetadata: {name: b}\nroleRef: {apiGroup: rbac.authorization.k8s.io, kind: ClusterRole, name: viewer}\nsubjects: [{kind: Robot, name: r}]\n", `kind "Robot"`},
		{"subject without name", head + "kind: ClusterRoleBinding\nmetadata: {name: b}\nroleRef: {apiGroup: rbac.authorization.k8s.io, kind: ClusterRole, name: viewer}\nsubjects: [{kind: User}]\n", "name is required"},
		{"cluster-wide service account without namespace", head + "kind: ClusterRoleBinding\nmetadata: {name: b}\nroleRef: {apiGroup: rbac.authorization.k8s.io, kind: ClusterRole, name: viewer}\nsubjects: [{kind: ServiceAccount, name: s}]\n", "needs a namespace"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p, err := ParsePolicy([]byte(tc.policy))
			if err == nil {
				_, err = CompileWithDefaults(p)
			}
			if err == nil || !strings.Contains(err.Error(), tc.err) {
				t.Fatalf("err %v, want %q", err, tc.err)
			}
		})
	}
}

func TestPolicyFileReload(t *testing.T) {
	p := filepath.Join(t.TempDir(), "policy.yaml")
	write := func(user string) {
		t.Helper()
		s := "apiVersion: rbac.authorization.k8s.io/v1\nkind: ClusterRoleBinding\nmetadata: {name: approvers}\n" +
			"roleRef: {apiGroup: rbac.authorization.k8s.io, kind: ClusterRole, name: approver}\nsubjects: [{kind: User, name: " + user + "}]\n"
		if err := os.WriteFile(p, []byte(s), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	write("alice")
	f, err := NewPolicyFile(p, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	approve := func(name string) bool {
		d, err := f.Authorize(context.Background(), res(who(name), "update", PkgGroup, "packagerevisions", "approval", "ns", "x"))
		if err != nil {
			t.Fatal(err)
		}
		return d.Allowed
	}
	if !approve("alice") || approve("bob") {
		t.Fatal("initial policy")
	}
	write("bob")
	waitFor(t, func() bool { return approve("bob") && !approve("alice") })
	// A broken edit keeps the last good policy.
	os.WriteFile(p, []byte("kind: [\n"), 0o600)
	time.Sleep(1200 * time.Millisecond)
	if !approve("bob") {
		t.Fatal("a broken policy file dropped the last good policy")
	}
	if _, err := NewPolicyFile(p, slog.New(slog.DiscardHandler)); err == nil || !strings.Contains(err.Error(), "--authorization-policy-file") {
		t.Fatalf("broken file at start: %v", err)
	}
}

func waitFor(t *testing.T, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatal("condition not met in 5s")
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// FuzzParsePolicy: any bytes parse (and compile) or fail with an error,
// never a panic; what parses compiles to an authorizer that answers.
func FuzzParsePolicy(f *testing.F) {
	f.Add([]byte(testPolicy))
	f.Add([]byte("apiVersion: v1\nkind: List\nitems: []\n"))
	f.Add([]byte("---\n---\n"))
	f.Add([]byte("{\"apiVersion\":\"rbac.authorization.k8s.io/v1\",\"kind\":\"ClusterRole\",\"metadata\":{\"name\":\"x\"},\"rules\":[{\"nonResourceURLs\":[\"*\"],\"verbs\":[\"*\"]}]}"))
	f.Add([]byte("apiVersion: rbac.authorization.k8s.io/v1\nkind: ClusterRole\nmetadata: {name: a}\naggregationRule:\n  clusterRoleSelectors: [{matchExpressions: [{key: k, operator: In, values: [v]}]}]\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		p, err := ParsePolicy(data)
		if err != nil {
			return
		}
		r, err := CompileWithDefaults(p)
		if err != nil {
			return
		}
		if _, err := r.Authorize(context.Background(), res(who("u", "g"), "get", PkgGroup, "packagerevisions", "", "ns", "n")); err != nil {
			t.Fatal(err)
		}
		r.RulesFor(who("u"), "ns")
	})
}
