package authz

import (
	rbacv1 "k8s.io/api/rbac/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apiserver/pkg/authentication/user"
)

// API groups of pkgserver.
const (
	PkgGroup    = "pkg.pkgserver.dev"
	ConfigGroup = "config.pkg.pkgserver.dev"
)

// Names of the default ClusterRoles (docs/security.md).
const (
	RoleViewer   = "viewer"
	RoleEditor   = "editor"
	RoleApprover = "approver"
	RoleAdmin    = "admin"
)

var readVerbs = []string{"get", "list", "watch"}

// viewerRules read everything of pkgserver, and pull through /v2/.
var viewerRules = []Rule{
	{APIGroups: []string{ConfigGroup}, Resources: []string{"repositories"}, Verbs: readVerbs},
	{APIGroups: []string{PkgGroup}, Resources: []string{
		"packagerevisions", "packagerevisionresources",
		"packagerevisions/approval", "packagerevisions/status",
		"packagerevisions/history", "packagerevisions/diff",
	}, Verbs: readVerbs},
}

// DefaultClusterRoles are always defined; a policy file binds them and cannot
// redefine them. Editing never includes approving: that is `update` on
// packagerevisions/approval, in approver and admin only.
func DefaultClusterRoles() []rbacv1.ClusterRole {
	return []rbacv1.ClusterRole{
		clusterRole(RoleViewer, viewerRules...),
		clusterRole(RoleEditor, append(clone(viewerRules),
			Rule{APIGroups: []string{PkgGroup}, Resources: []string{"packagerevisions"}, Verbs: []string{"create", "update", "patch", "delete"}},
			Rule{APIGroups: []string{PkgGroup}, Resources: []string{"packagerevisionresources", "packagerevisions/status"}, Verbs: []string{"update", "patch"}},
			Rule{APIGroups: []string{ConfigGroup}, Resources: []string{"repositories/refresh"}, Verbs: []string{"create"}},
		)...),
		clusterRole(RoleApprover, append(clone(viewerRules),
			Rule{APIGroups: []string{PkgGroup}, Resources: []string{"packagerevisions/approval"}, Verbs: []string{"update"}},
		)...),
		clusterRole(RoleAdmin,
			Rule{APIGroups: []string{PkgGroup, ConfigGroup}, Resources: []string{"*"}, Verbs: []string{"*"}},
			// Cluster-wide bindings only: /v2/ outside registered prefixes
			// (including pkgserver-system/, where Repository objects live),
			// metrics and admin endpoints.
			Rule{NonResourceURLs: []string{"/v2/*", "/metrics", "/admin/*"}, Verbs: []string{"*"}},
		),
	}
}

// systemPolicy is what every server grants, as Kubernetes' bootstrap policy
// does: health to everyone, discovery and the self reviews to every
// authenticated user.
func systemPolicy() Policy {
	return Policy{
		ClusterRoles: []rbacv1.ClusterRole{
			clusterRole("system:public-info-viewer",
				Rule{NonResourceURLs: []string{"/healthz", "/livez", "/readyz", "/version", "/auth/token"}, Verbs: []string{"get", "head", "post"}},
			),
			clusterRole("system:discovery",
				Rule{NonResourceURLs: []string{"/api", "/api/*", "/apis", "/apis/*", "/openapi", "/openapi/*", "/ui", "/ui/*"}, Verbs: []string{"get", "head"}},
			),
			clusterRole("system:basic-user",
				Rule{APIGroups: []string{"authorization.k8s.io"}, Resources: []string{"selfsubjectaccessreviews", "selfsubjectrulesreviews"}, Verbs: []string{"create"}},
				Rule{APIGroups: []string{"authentication.k8s.io"}, Resources: []string{"selfsubjectreviews"}, Verbs: []string{"create"}},
				// Every namespace exists here; kubectl reads one to word a 404.
				Rule{APIGroups: []string{""}, Resources: []string{"namespaces"}, Verbs: []string{"get"}},
			),
		},
		ClusterRoleBindings: []rbacv1.ClusterRoleBinding{
			clusterBinding("system:public-info-viewer", user.AllAuthenticated, user.AllUnauthenticated),
			clusterBinding("system:discovery", user.AllAuthenticated),
			clusterBinding("system:basic-user", user.AllAuthenticated),
		},
	}
}

func clusterRole(name string, rules ...Rule) rbacv1.ClusterRole {
	return rbacv1.ClusterRole{
		TypeMeta:   metav1.TypeMeta{APIVersion: rbacv1.SchemeGroupVersion.String(), Kind: "ClusterRole"},
		ObjectMeta: metav1.ObjectMeta{Name: name},
		Rules:      rules,
	}
}

func clusterBinding(role string, groups ...string) rbacv1.ClusterRoleBinding {
	b := rbacv1.ClusterRoleBinding{
		TypeMeta:   metav1.TypeMeta{APIVersion: rbacv1.SchemeGroupVersion.String(), Kind: "ClusterRoleBinding"},
		ObjectMeta: metav1.ObjectMeta{Name: role},
		RoleRef:    rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: "ClusterRole", Name: role},
	}
	for _, g := range groups {
		b.Subjects = append(b.Subjects, rbacv1.Subject{Kind: rbacv1.GroupKind, APIGroup: rbacv1.GroupName, Name: g})
	}
	return b
}

func clone(rules []Rule) []Rule {
	out := make([]Rule, len(rules))
	for i, r := range rules {
		out[i] = *r.DeepCopy()
	}
	return out
}
