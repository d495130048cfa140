// Package authz decides whether a user may make a request, with the
// semantics of Kubernetes RBAC: rbac.authorization.k8s.io/v1 Roles,
// ClusterRoles and their bindings, read from --authorization-policy-file.
package authz

import (
	"context"
	"fmt"

	"k8s.io/apiserver/pkg/authentication/user"
)

// Attributes describe one request as Kubernetes authorization sees it.
type Attributes struct {
	User user.Info
	// Verb: get, list, watch, create, update, patch, delete, deletecollection,
	// impersonate for resources; the lower-case HTTP method for paths.
	Verb string
	// ResourceRequest says which of the two halves below applies.
	ResourceRequest bool

	APIGroup    string
	Resource    string
	Subresource string
	Namespace   string // empty: cluster scope (or all namespaces)
	Name        string

	// Path of a non-resource request (/healthz, /metrics, /v2/...).
	Path string
}

// Decision is an authorizer's answer.
type Decision struct {
	Allowed bool
	// Reason explains the decision (for SelfSubjectAccessReview and the audit log).
	Reason string
}

// Authorizer decides on requests.
type Authorizer interface {
	Authorize(ctx context.Context, a Attributes) (Decision, error)
}

// RuleResolver lists what a user may do in a namespace (SelfSubjectRulesReview).
type RuleResolver interface {
	RulesFor(u user.Info, namespace string) []Rule
}

// AlwaysAllow allows everything: the authorizer when no policy is configured.
type AlwaysAllow struct{}

// Authorize implements Authorizer.
func (AlwaysAllow) Authorize(context.Context, Attributes) (Decision, error) {
	return Decision{Allowed: true, Reason: "no authorization policy is configured"}, nil
}

// RulesFor implements RuleResolver: everything.
func (AlwaysAllow) RulesFor(user.Info, string) []Rule {
	return []Rule{
		{Verbs: []string{"*"}, APIGroups: []string{"*"}, Resources: []string{"*"}},
		{Verbs: []string{"*"}, NonResourceURLs: []string{"*"}},
	}
}

// ForbiddenMessage words a denial the way kube-apiserver does, naming the
// user, the verb, the resource and the namespace:
// `User "bob" cannot update resource "packagerevisions/approval" in API group "pkg.pkgserver.dev" in the namespace "team-a"`.
func ForbiddenMessage(a Attributes) string {
	name := "system:anonymous"
	if a.User != nil {
		name = a.User.GetName()
	}
	if !a.ResourceRequest {
		return fmt.Sprintf("User %q cannot %s path %q", name, a.Verb, a.Path)
	}
	res := a.Resource
	if a.Subresource != "" {
		res += "/" + a.Subresource
	}
	if a.Namespace != "" {
		return fmt.Sprintf("User %q cannot %s resource %q in API group %q in the namespace %q", name, a.Verb, res, a.APIGroup, a.Namespace)
	}
	return fmt.Sprintf("User %q cannot %s resource %q in API group %q at the cluster scope", name, a.Verb, res, a.APIGroup)
}
