package authz

import (
	"context"
	"strings"
	"testing"

	"k8s.io/apiserver/pkg/authentication/user"
)

// testPolicy exercises every matching rule of RBAC.
const testPolicy = `
apiVersion: rbac.authorization.k8s.io/v1
kind: Role
metadata: {name: one-revision, namespace: team-a}
rules:
- apiGroups: [pkg.pkgserver.dev]
  resources: [packagerevisions]
  resourceNames: [catalog.bp.apps.web.v1]
  verbs: [get, update]
---
apiVersion: rbac.authorization.k8s.io/v1
kind: Role
metadata: {name: status-writer, namespace: team-a}
rules:
- apiGroups: [pkg.pkgserver.dev]
  resources: ["*/status"]
  verbs: [update]
---
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRole
metadata: {name: everything-in-pkg}
rules:
- apiGroups: ["*"]
  resources: ["*"]
  verbs: ["*"]
---
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRole
metadata: {name: health-and-mirror}
rules:
- nonResourceURLs: [/metrics, /v2/mirror/*]
  verbs: [get]
---
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRole
metadata: {name: impersonator}
rules:
- apiGroups: [""]
  resources: [users]
  resourceNames: [alice]
  verbs: [impersonate]
---
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRole
metadata:
  name: aggregated
  labels: {aggregate-to-outer: "true"}
aggregationRule:
  clusterRoleSelectors:
  - matchLabels: {aggregate-to-aggregated: "true"}
---
# Kubernetes aggregates aggregated roles too (admin takes edit, which takes view).
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRole
metadata:
  name: outer
  labels: {aggregate-to-aggregated: "true"}
aggregationRule:
  clusterRoleSelectors:
  - matchLabels: {aggregate-to-outer: "true"}
rules:
- apiGroups: [config.pkg.pkgserver.dev]
  resources: [repositories]
  verbs: [get]
---
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRole
metadata:
  name: part
  labels: {aggregate-to-aggregated: "true"}
rules:
- apiGroups: [config.pkg.pkgserver.dev]
  resources: [repositories]
  verbs: [delete]
---
apiVersion: v1
kind: List
items:
- apiVersion: rbac.authorization.k8s.io/v1
  kind: RoleBinding
  metadata: {name: viewers, namespace: team-a}
  roleRef: {apiGroup: rbac.authorization.k8s.io, kind: ClusterRole, name: viewer}
  subjects:
  - {kind: Group, apiGroup: rbac.authorization.k8s.io, name: team-a}
- apiVersion: rbac.authorization.k8s.io/v1
  kind: RoleBinding
  metadata: {name: editors, namespace: team-a}
  roleRef: {apiGroup: rbac.authorization.k8s.io, kind: ClusterRole, name: editor}
  subjects:
  - {kind: User, apiGroup: rbac.authorization.k8s.io, name: erin}
- apiVersion: rbac.authorization.k8s.io/v1
  kind: RoleBinding
  metadata: {name: approvers, namespace: team-a}
  roleRef: {apiGroup: rbac.authorization.k8s.io, kind: ClusterRole, name: approver}
  subjects:
  - {kind: User, apiGroup: rbac.authorization.k8s.io, name: alice}
  - {kind: ServiceAccount, name: bot}
- apiVersion: rbac.authorization.k8s.io/v1
  kind: RoleBinding
  metadata: {name: one, namespace: team-a}
  roleRef: {apiGroup: rbac.authorization.k8s.io, kind: Role, name: one-revision}
  subjects:
  - {kind: User, name: nina}
- apiVersion: rbac.authorization.k8s.io/v1
  kind: RoleBinding
  metadata: {name: status, namespace: team-a}
  roleRef: {apiGroup: rbac.authorization.k8s.io, kind: Role, name: status-writer}
  subjects:
  - {kind: User, name: sam}
---
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRoleBinding
metadata: {name: root}
roleRef: {apiGroup: rbac.authorization.k8s.io, kind: ClusterRole, name: everything-in-pkg}
subjects:
- {kind: Group, name: platform}
---
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRoleBinding
metadata: {name: monitoring}
roleRef: {apiGroup: rbac.authorization.k8s.io, kind: ClusterRole, name: health-and-mirror}
subjects:
- {kind: User, name: prometheus}
---
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRoleBinding
metadata: {name: impersonators}
roleRef: {apiGroup: rbac.authorization.k8s.io, kind: ClusterRole, name: impersonator}
subjects:
- {kind: User, name: proxy-bot}
---
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRoleBinding
metadata: {name: admins}
roleRef: {apiGroup: rbac.authorization.k8s.io, kind: ClusterRole, name: admin}
subjects:
- {kind: User, name: root}
---
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRoleBinding
metadata: {name: aggregated}
roleRef: {apiGroup: rbac.authorization.k8s.io, kind: ClusterRole, name: aggregated}
subjects:
- {kind: User, name: agg}
---
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRoleBinding
metadata: {name: outer}
roleRef: {apiGroup: rbac.authorization.k8s.io, kind: ClusterRole, name: outer}
subjects:
- {kind: User, name: out}
`

func who(name string, groups ...string) user.Info {
	return &user.DefaultInfo{Name: name, Groups: append(groups, user.AllAuthenticated)}
}

func res(u user.Info, verb, group, resource, sub, ns, name string) Attributes {
	return Attributes{User: u, Verb: verb, ResourceRequest: true, APIGroup: group, Resource: resource, Subresource: sub, Namespace: ns, Name: name}
}

func path(u user.Info, verb, p string) Attributes {
	return Attributes{User: u, Verb: verb, Path: p}
}

func TestRBAC(t *testing.T) {
	p, err := ParsePolicy([]byte(testPolicy))
	if err != nil {
		t.Fatal(err)
	}
	r, err := CompileWithDefaults(p)
	if err != nil {
		t.Fatal(err)
	}
	const pr, prr, repos = "packagerevisions", "packagerevisionresources", "repositories"
	viewer := who("victor", "team-a")
	erin, alice, nina, sam := who("erin"), who("alice"), who("nina"), who("sam")
	bot := who("system:serviceaccount:team-a:bot")
	otherBot := who("system:serviceaccount:team-b:bot")
	platform, root, prom := who("pat", "platform"), who("root"), who("prometheus")
	anon := &user.DefaultInfo{Name: user.Anonymous, Groups: []string{user.AllUnauthenticated}}

	for _, tc := range []struct {
		name string
		a    Attributes
		want bool
	}{
		// verbs of the default viewer through a group, in one namespace
		{"viewer get", res(viewer, "get", PkgGroup, pr, "", "team-a", "x"), true},
		{"viewer list", res(viewer, "list", PkgGroup, pr, "", "team-a", ""), true},
		{"viewer watch contents", res(viewer, "watch", PkgGroup, prr, "", "team-a", ""), true},
		{"viewer history", res(viewer, "get", PkgGroup, pr, "history", "team-a", "x"), true},
		{"viewer create", res(viewer, "create", PkgGroup, pr, "", "team-a", ""), false},
		{"viewer update contents", res(viewer, "update", PkgGroup, prr, "", "team-a", "x"), false},
		{"viewer in another namespace", res(viewer, "get", PkgGroup, pr, "", "team-b", "x"), false},
		{"viewer across all namespaces", res(viewer, "list", PkgGroup, pr, "", "", ""), false},
		{"viewer other API group", res(viewer, "get", ConfigGroup, pr, "", "team-a", "x"), false},
		{"viewer repositories", res(viewer, "get", ConfigGroup, repos, "", "team-a", "x"), true},
		{"viewer creates repositories", res(viewer, "create", ConfigGroup, repos, "", "team-a", ""), false},

		// the editor edits but does not approve
		{"editor create", res(erin, "create", PkgGroup, pr, "", "team-a", ""), true},
		{"editor patch contents", res(erin, "patch", PkgGroup, prr, "", "team-a", "x"), true},
		{"editor status", res(erin, "update", PkgGroup, pr, "status", "team-a", "x"), true},
		{"editor delete", res(erin, "delete", PkgGroup, pr, "", "team-a", "x"), true},
		{"editor approves", res(erin, "update", PkgGroup, pr, "approval", "team-a", "x"), false},
		{"editor refresh", res(erin, "create", ConfigGroup, repos, "refresh", "team-a", "x"), true},
		{"editor creates repositories", res(erin, "create", ConfigGroup, repos, "", "team-a", ""), false},

		// the approver approves, through a user and a service account subject
		{"approver approves", res(alice, "update", PkgGroup, pr, "approval", "team-a", "x"), true},
		{"approver edits", res(alice, "update", PkgGroup, pr, "", "team-a", "x"), false},
		{"service account in the binding's namespace", res(bot, "update", PkgGroup, pr, "approval", "team-a", "x"), true},
		{"same service account name elsewhere", res(otherBot, "update", PkgGroup, pr, "approval", "team-a", "x"), false},

		// resourceNames
		{"named revision get", res(nina, "get", PkgGroup, pr, "", "team-a", "catalog.bp.apps.web.v1"), true},
		{"named revision update", res(nina, "update", PkgGroup, pr, "", "team-a", "catalog.bp.apps.web.v1"), true},
		{"other revision", res(nina, "get", PkgGroup, pr, "", "team-a", "catalog.bp.apps.db.v1"), false},
		{"list is not a named get", res(nina, "list", PkgGroup, pr, "", "team-a", ""), false},
		{"named rule does not grant a subresource", res(nina, "get", PkgGroup, pr, "status", "team-a", "catalog.bp.apps.web.v1"), false},

		// */subresource
		{"*/status on revisions", res(sam, "update", PkgGroup, pr, "status", "team-a", "x"), true},
		{"*/status is not the object", res(sam, "update", PkgGroup, pr, "", "team-a", "x"), false},
		{"*/status is not approval", res(sam, "update", PkgGroup, pr, "approval", "team-a", "x"), false},

		// * everywhere, through a group and a ClusterRoleBinding
		{"* verbs groups resources", res(platform, "deletecollection", ConfigGroup, repos, "", "team-z", ""), true},
		{"* includes subresources", res(platform, "update", PkgGroup, pr, "approval", "", "x"), true},
		{"* resources is not a path", path(platform, "get", "/metrics"), false},

		// the default admin
		{"admin anything in pkgserver", res(root, "delete", ConfigGroup, repos, "", "team-a", "x"), true},
		{"admin /v2/ outside prefixes", path(root, "delete", "/v2/pkgserver-system/repositories/manifests/x"), true},
		{"admin is not an impersonator", res(root, "impersonate", "", "users", "", "", "alice"), false},

		// non-resource URLs
		{"exact path", path(prom, "get", "/metrics"), true},
		{"trailing *", path(prom, "get", "/v2/mirror/nginx/manifests/v1"), true},
		{"trailing * is a prefix only", path(prom, "get", "/v2/mirrors/nginx/manifests/v1"), false},
		{"path verb", path(prom, "delete", "/metrics"), false},

		// impersonation is its own verb, with names
		{"impersonate alice", res(who("proxy-bot"), "impersonate", "", "users", "", "", "alice"), true},
		{"impersonate someone else", res(who("proxy-bot"), "impersonate", "", "users", "", "", "root"), false},

		// aggregation
		{"aggregated rule", res(who("agg"), "delete", ConfigGroup, repos, "", "x", "y"), true},
		{"rule of an aggregated role, aggregated again", res(who("out"), "delete", ConfigGroup, repos, "", "x", "y"), true},
		{"own rule of an aggregated role", res(who("out"), "get", ConfigGroup, repos, "", "x", "y"), true},
		{"aggregation in a cycle", res(who("agg"), "get", ConfigGroup, repos, "", "x", "y"), true},
		{"aggregation stops at its rules", res(who("out"), "create", ConfigGroup, repos, "", "x", "y"), false},

		// the system policy
		{"health for anonymous", path(anon, "get", "/readyz"), true},
		{"discovery for the authenticated", path(erin, "get", "/apis/pkg.pkgserver.dev/v1alpha1"), true},
		{"no discovery for anonymous", path(anon, "get", "/apis"), false},
		{"self access review", res(erin, "create", "authorization.k8s.io", "selfsubjectaccessreviews", "", "", ""), true},
		{"self review", res(erin, "create", "authentication.k8s.io", "selfsubjectreviews", "", "", ""), true},
		{"anonymous gets nothing else", res(anon, "get", PkgGroup, pr, "", "team-a", "x"), false},
		{"unknown user", res(who("mallory"), "get", PkgGroup, pr, "", "team-a", "x"), false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			d, err := r.Authorize(context.Background(), tc.a)
			if err != nil {
				t.Fatal(err)
			}
			if d.Allowed != tc.want {
				t.Fatalf("allowed %v, want %v (%s)", d.Allowed, tc.want, ForbiddenMessage(tc.a))
			}
			if d.Allowed && !strings.HasPrefix(d.Reason, "RBAC: allowed by ") {
				t.Fatalf("reason %q", d.Reason)
			}
		})
	}
}

func TestRulesFor(t *testing.T) {
	p, err := ParsePolicy([]byte(testPolicy))
	if err != nil {
		t.Fatal(err)
	}
	r, err := CompileWithDefaults(p)
	if err != nil {
		t.Fatal(err)
	}
	rules := r.RulesFor(who("erin"), "team-a")
	found := false
	for _, rule := range rules {
		for _, res := range rule.Resources {
			if res == "packagerevisions/approval" && strings.Contains(strings.Join(rule.Verbs, ","), "update") {
				t.Fatalf("editor rules include approval: %+v", rule)
			}
			if res == "packagerevisionresources" && strings.Contains(strings.Join(rule.Verbs, ","), "patch") {
				found = true
			}
		}
	}
	if !found {
		t.Fatalf("editor rules in team-a lack packagerevisionresources patch: %+v", rules)
	}
	if got := r.RulesFor(who("erin"), "team-b"); len(got) != 5 { // the system policy only
		t.Fatalf("erin in team-b: %d rules, want the 5 of the system policy: %+v", len(got), got)
	}
}

func TestForbiddenMessage(t *testing.T) {
	for _, tc := range []struct {
		a    Attributes
		want string
	}{
		{res(who("bob"), "update", PkgGroup, "packagerevisions", "approval", "team-a", "x"),
			`User "bob" cannot update resource "packagerevisions/approval" in API group "pkg.pkgserver.dev" in the namespace "team-a"`},
		{res(who("bob"), "list", PkgGroup, "packagerevisions", "", "", ""),
			`User "bob" cannot list resource "packagerevisions" in API group "pkg.pkgserver.dev" at the cluster scope`},
		{path(who("bob"), "get", "/metrics"), `User "bob" cannot get path "/metrics"`},
		{Attributes{Verb: "get", Path: "/x"}, `User "system:anonymous" cannot get path "/x"`},
	} {
		if got := ForbiddenMessage(tc.a); got != tc.want {
			t.Errorf("got  %s\nwant %s", got, tc.want)
		}
	}
}
