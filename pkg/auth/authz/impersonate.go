package authz

import (
	"context"
	"fmt"
	"maps"
	"net/http"
	"net/url"
	"slices"
	"strings"

	authnv1 "k8s.io/api/authentication/v1"
	"k8s.io/apiserver/pkg/authentication/serviceaccount"
	"k8s.io/apiserver/pkg/authentication/user"

	"pkgserver.dev/pkgserver/pkg/errdef"
)

// Impersonate applies the impersonation headers of r (Impersonate-User,
// Impersonate-Group, Impersonate-Uid, Impersonate-Extra-<key>) as
// kube-apiserver does: each one needs the `impersonate` verb on users (or
// serviceaccounts in their namespace, for system:serviceaccount:NS:NAME),
// groups, uids or userextras/<key> with the value as the resource name. It
// returns nil when r asks for no impersonation, the impersonated user when
// every check passes, and a DeniedError naming the first one that did not.
func Impersonate(ctx context.Context, r *http.Request, u user.Info, az Authorizer) (user.Info, error) {
	name := r.Header.Get(authnv1.ImpersonateUserHeader)
	groups := r.Header.Values(authnv1.ImpersonateGroupHeader)
	uid := r.Header.Get(authnv1.ImpersonateUIDHeader)
	extra := map[string][]string{}
	for h, vs := range r.Header {
		key, ok := strings.CutPrefix(h, authnv1.ImpersonateUserExtraHeaderPrefix)
		if !ok {
			continue
		}
		if k, err := url.PathUnescape(key); err == nil {
			key = k
		}
		extra[strings.ToLower(key)] = vs
	}
	if name == "" {
		if len(groups) > 0 || uid != "" || len(extra) > 0 {
			return nil, fmt.Errorf("%w: impersonating groups, a uid or extra fields needs Impersonate-User too", errdef.ErrBadRequest)
		}
		return nil, nil
	}
	checks := []Attributes{{Verb: "impersonate", ResourceRequest: true, Resource: "users", Name: name}}
	var implied []string // the groups a service account has
	if ns, sa, err := serviceaccount.SplitUsername(name); err == nil {
		// As in Kubernetes: a service account is impersonated with the right
		// on serviceaccounts in its namespace (not on users), and has its
		// groups unless some are given.
		checks[0] = Attributes{Verb: "impersonate", ResourceRequest: true, Resource: "serviceaccounts", Namespace: ns, Name: sa}
		if len(groups) == 0 {
			implied = serviceaccount.MakeGroupNames(ns)
		}
	}
	for _, g := range groups {
		checks = append(checks, Attributes{Verb: "impersonate", ResourceRequest: true, Resource: "groups", Name: g})
	}
	if uid != "" {
		checks = append(checks, Attributes{Verb: "impersonate", ResourceRequest: true, APIGroup: "authentication.k8s.io", Resource: "uids", Name: uid})
	}
	for _, k := range slices.Sorted(maps.Keys(extra)) {
		for _, v := range extra[k] {
			checks = append(checks, Attributes{Verb: "impersonate", ResourceRequest: true, APIGroup: "authentication.k8s.io", Resource: "userextras", Subresource: k, Name: v})
		}
	}
	for _, a := range checks {
		a.User = u
		d, err := az.Authorize(ctx, a)
		if err != nil {
			return nil, err
		}
		if !d.Allowed {
			return nil, &DeniedError{Attributes: a}
		}
	}
	out := &user.DefaultInfo{Name: name, UID: uid, Groups: slices.Concat(groups, implied)}
	if len(extra) > 0 {
		out.Extra = extra
	}
	// As in Kubernetes: an impersonated user is authenticated, unless it is
	// anonymous or given system:unauthenticated.
	if name != user.Anonymous && !slices.Contains(out.Groups, user.AllAuthenticated) && !slices.Contains(out.Groups, user.AllUnauthenticated) {
		out.Groups = append(out.Groups, user.AllAuthenticated)
	}
	return out, nil
}
