package authz

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"

	rbacv1 "k8s.io/api/rbac/v1"
	"k8s.io/apimachinery/pkg/api/equality"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apiserver/pkg/authentication/user"
	"k8s.io/component-helpers/auth/rbac/validation"
)

// Rule is one RBAC policy rule.
type Rule = rbacv1.PolicyRule

// Policy is a set of RBAC objects as a policy file holds them.
type Policy struct {
	Roles               []rbacv1.Role
	ClusterRoles        []rbacv1.ClusterRole
	RoleBindings        []rbacv1.RoleBinding
	ClusterRoleBindings []rbacv1.ClusterRoleBinding
}

// RBAC evaluates a Policy. Rules are matched by component-helpers'
// validation.Covers, the rule comparison Kubernetes itself uses for RBAC
// escalation checks: verbs, API groups, resources and `resource/subresource`
// (with `*` and `*/subresource`), resourceNames and nonResourceURLs
// (with a trailing `*`) behave exactly as in Kubernetes.
type RBAC struct {
	clusterBindings []binding
	roleBindings    map[string][]binding // by namespace
}

// binding is a RoleBinding or ClusterRoleBinding with its role's rules resolved.
type binding struct {
	kind, name, namespace string // namespace "" for a ClusterRoleBinding
	roleKind, roleName    string
	subjects              []rbacv1.Subject
	rules                 []Rule
}

var _ Authorizer = (*RBAC)(nil)

// Compile checks p and resolves every binding to its rules: a binding to a
// role that does not exist, an invalid rule or a duplicate name is an error,
// so a typo in a policy file is found when it is loaded, not when someone is
// refused.
func Compile(p Policy) (*RBAC, error) {
	if err := p.validate(); err != nil {
		return nil, err
	}
	clusterRoles, err := p.aggregate()
	if err != nil {
		return nil, err
	}
	roles := map[[2]string][]Rule{}
	for _, r := range p.Roles {
		roles[[2]string{r.Namespace, r.Name}] = r.Rules
	}
	out := &RBAC{roleBindings: map[string][]binding{}}
	for _, b := range p.ClusterRoleBindings {
		rules, ok := clusterRoles[b.RoleRef.Name]
		if !ok {
			return nil, fmt.Errorf("ClusterRoleBinding %q: ClusterRole %q does not exist", b.Name, b.RoleRef.Name)
		}
		out.clusterBindings = append(out.clusterBindings, binding{
			kind: "ClusterRoleBinding", name: b.Name, roleKind: "ClusterRole", roleName: b.RoleRef.Name,
			subjects: b.Subjects, rules: rules,
		})
	}
	for _, b := range p.RoleBindings {
		var rules []Rule
		var ok bool
		if b.RoleRef.Kind == "Role" {
			rules, ok = roles[[2]string{b.Namespace, b.RoleRef.Name}]
		} else {
			rules, ok = clusterRoles[b.RoleRef.Name]
		}
		if !ok {
			return nil, fmt.Errorf("RoleBinding %s/%s: %s %q does not exist", b.Namespace, b.Name, b.RoleRef.Kind, b.RoleRef.Name)
		}
		out.roleBindings[b.Namespace] = append(out.roleBindings[b.Namespace], binding{
			kind: "RoleBinding", name: b.Name, namespace: b.Namespace, roleKind: b.RoleRef.Kind, roleName: b.RoleRef.Name,
			subjects: b.Subjects, rules: rules,
		})
	}
	return out, nil
}

// Authorize implements Authorizer: allowed when a binding that applies to the
// user (in the request's namespace, or cluster-wide) grants a rule covering
// the request. RBAC only ever allows; there is no deny rule.
func (r *RBAC) Authorize(_ context.Context, a Attributes) (Decision, error) {
	if a.User == nil {
		return Decision{}, errors.New("authorize: no user")
	}
	want := []Rule{requestRule(a)}
	for _, b := range r.bindingsFor(a.Namespace) {
		if !appliesTo(b, a.User) {
			continue
		}
		if ok, _ := validation.Covers(b.rules, want); ok {
			return Decision{Allowed: true, Reason: b.describe(a.User)}, nil
		}
	}
	return Decision{}, nil
}

// RulesFor implements RuleResolver.
func (r *RBAC) RulesFor(u user.Info, namespace string) []Rule {
	var out []Rule
	for _, b := range r.bindingsFor(namespace) {
		if appliesTo(b, u) {
			out = append(out, b.rules...)
		}
	}
	return out
}

// bindingsFor lists the cluster-wide bindings, then those of namespace.
func (r *RBAC) bindingsFor(namespace string) []binding {
	if namespace == "" {
		return r.clusterBindings
	}
	return slices.Concat(r.clusterBindings, r.roleBindings[namespace])
}

// requestRule is the request as the smallest rule that allows it.
func requestRule(a Attributes) Rule {
	if !a.ResourceRequest {
		return Rule{Verbs: []string{a.Verb}, NonResourceURLs: []string{a.Path}}
	}
	res := a.Resource
	if a.Subresource != "" {
		res += "/" + a.Subresource
	}
	r := Rule{Verbs: []string{a.Verb}, APIGroups: []string{a.APIGroup}, Resources: []string{res}}
	if a.Name != "" {
		r.ResourceNames = []string{a.Name}
	}
	return r
}

// appliesTo reports whether one of b's subjects is u, as Kubernetes matches them.
func appliesTo(b binding, u user.Info) bool {
	for _, s := range b.subjects {
		switch s.Kind {
		case rbacv1.UserKind:
			if s.Name == u.GetName() {
				return true
			}
		case rbacv1.GroupKind:
			if slices.Contains(u.GetGroups(), s.Name) {
				return true
			}
		case rbacv1.ServiceAccountKind:
			ns := s.Namespace
			if ns == "" {
				ns = b.namespace
			}
			if "system:serviceaccount:"+ns+":"+s.Name == u.GetName() {
				return true
			}
		}
	}
	return false
}

func (b binding) describe(u user.Info) string {
	where := fmt.Sprintf("%s %q", b.kind, b.name)
	if b.namespace != "" {
		where = fmt.Sprintf("%s \"%s/%s\"", b.kind, b.namespace, b.name)
	}
	return fmt.Sprintf("RBAC: allowed by %s of %s %q to %s", where, b.roleKind, b.roleName, u.GetName())
}

// aggregate returns the rules of every ClusterRole, those with an
// aggregationRule holding, besides their own, the rules of every ClusterRole
// its selectors match, aggregated ones included (as Kubernetes' admin takes
// edit, which takes view): it repeats until nothing changes, so chains and
// cycles settle on the union.
func (p Policy) aggregate() (map[string][]Rule, error) {
	out := map[string][]Rule{}
	for _, cr := range p.ClusterRoles {
		out[cr.Name] = cr.Rules
	}
	selectors := map[string][]labels.Selector{}
	for _, cr := range p.ClusterRoles {
		if cr.AggregationRule == nil {
			continue
		}
		for _, sel := range cr.AggregationRule.ClusterRoleSelectors {
			s, err := metav1.LabelSelectorAsSelector(&sel)
			if err != nil {
				return nil, fmt.Errorf("ClusterRole %q: aggregationRule: %w", cr.Name, err)
			}
			selectors[cr.Name] = append(selectors[cr.Name], s)
		}
	}
	for changed := true; changed; {
		changed = false
		for _, cr := range p.ClusterRoles {
			rules := out[cr.Name]
			for _, s := range selectors[cr.Name] {
				for _, other := range p.ClusterRoles {
					if other.Name != cr.Name && s.Matches(labels.Set(other.Labels)) {
						rules = union(rules, out[other.Name])
					}
				}
			}
			if len(rules) != len(out[cr.Name]) {
				out[cr.Name], changed = rules, true
			}
		}
	}
	return out, nil
}

// union is rules with those of more it does not hold yet; rules is not
// changed in place.
func union(rules, more []Rule) []Rule {
	out := rules
	for _, m := range more {
		if !slices.ContainsFunc(out, func(r Rule) bool { return equality.Semantic.DeepEqual(r, m) }) {
			out = append(slices.Clip(out), m)
		}
	}
	return out
}

func (p Policy) validate() error {
	seen := map[string]bool{}
	dup := func(kind, ns, name string) error {
		if name == "" {
			return fmt.Errorf("%s: metadata.name is required", kind)
		}
		k := kind + "/" + ns + "/" + name
		if seen[k] {
			return fmt.Errorf("%s %q is defined twice", kind, strings.TrimPrefix(ns+"/"+name, "/"))
		}
		seen[k] = true
		return nil
	}
	for _, r := range p.Roles {
		if err := dup("Role", r.Namespace, r.Name); err != nil {
			return err
		}
		if r.Namespace == "" {
			return fmt.Errorf("Role %q: metadata.namespace is required", r.Name)
		}
		if err := validateRules(r.Rules, false); err != nil {
			return fmt.Errorf("Role %s/%s: %w", r.Namespace, r.Name, err)
		}
	}
	for _, r := range p.ClusterRoles {
		if err := dup("ClusterRole", "", r.Name); err != nil {
			return err
		}
		if r.Namespace != "" {
			return fmt.Errorf("ClusterRole %q: a ClusterRole has no namespace", r.Name)
		}
		if err := validateRules(r.Rules, true); err != nil {
			return fmt.Errorf("ClusterRole %q: %w", r.Name, err)
		}
	}
	for _, b := range p.RoleBindings {
		if err := dup("RoleBinding", b.Namespace, b.Name); err != nil {
			return err
		}
		if b.Namespace == "" {
			return fmt.Errorf("RoleBinding %q: metadata.namespace is required", b.Name)
		}
		if err := validateBinding(b.RoleRef, b.Subjects, "Role", "ClusterRole"); err != nil {
			return fmt.Errorf("RoleBinding %s/%s: %w", b.Namespace, b.Name, err)
		}
	}
	for _, b := range p.ClusterRoleBindings {
		if err := dup("ClusterRoleBinding", "", b.Name); err != nil {
			return err
		}
		if b.Namespace != "" {
			return fmt.Errorf("ClusterRoleBinding %q: a ClusterRoleBinding has no namespace", b.Name)
		}
		if err := validateBinding(b.RoleRef, b.Subjects, "ClusterRole"); err != nil {
			return fmt.Errorf("ClusterRoleBinding %q: %w", b.Name, err)
		}
		for _, s := range b.Subjects {
			if s.Kind == rbacv1.ServiceAccountKind && s.Namespace == "" {
				return fmt.Errorf("ClusterRoleBinding %q: subject ServiceAccount %q needs a namespace", b.Name, s.Name)
			}
		}
	}
	return nil
}

func validateRules(rules []Rule, cluster bool) error {
	for i, r := range rules {
		switch {
		case len(r.Verbs) == 0:
			return fmt.Errorf("rules[%d]: verbs must not be empty", i)
		case len(r.NonResourceURLs) > 0 && (len(r.Resources) > 0 || len(r.APIGroups) > 0 || len(r.ResourceNames) > 0):
			return fmt.Errorf("rules[%d]: nonResourceURLs cannot be mixed with apiGroups, resources or resourceNames", i)
		case len(r.NonResourceURLs) > 0 && !cluster:
			return fmt.Errorf("rules[%d]: nonResourceURLs are only allowed in a ClusterRole", i)
		case len(r.NonResourceURLs) == 0 && (len(r.Resources) == 0 || len(r.APIGroups) == 0):
			return fmt.Errorf("rules[%d]: needs apiGroups and resources, or nonResourceURLs", i)
		}
		for _, u := range r.NonResourceURLs {
			if u != "*" && (!strings.HasPrefix(u, "/") || strings.Contains(strings.TrimSuffix(u, "*"), "*")) {
				return fmt.Errorf("rules[%d]: nonResourceURL %q must start with / and may only end with *", i, u)
			}
		}
	}
	return nil
}

func validateBinding(ref rbacv1.RoleRef, subjects []rbacv1.Subject, kinds ...string) error {
	if ref.APIGroup != rbacv1.GroupName {
		return fmt.Errorf("roleRef.apiGroup must be %q", rbacv1.GroupName)
	}
	if !slices.Contains(kinds, ref.Kind) {
		return fmt.Errorf("roleRef.kind must be one of %s", strings.Join(kinds, ", "))
	}
	if ref.Name == "" {
		return errors.New("roleRef.name is required")
	}
	for i, s := range subjects {
		if s.Name == "" {
			return fmt.Errorf("subjects[%d]: name is required", i)
		}
		switch s.Kind {
		case rbacv1.UserKind, rbacv1.GroupKind:
			if s.APIGroup != "" && s.APIGroup != rbacv1.GroupName {
				return fmt.Errorf("subjects[%d]: apiGroup must be %q", i, rbacv1.GroupName)
			}
		case rbacv1.ServiceAccountKind:
			if s.APIGroup != "" {
				return fmt.Errorf("subjects[%d]: a ServiceAccount has apiGroup \"\"", i)
			}
		default:
			return fmt.Errorf("subjects[%d]: kind %q is not User, Group or ServiceAccount", i, s.Kind)
		}
	}
	return nil
}
