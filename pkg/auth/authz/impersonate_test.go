package authz

import (
	"context"
	"errors"
	"net/http/httptest"
	"slices"
	"strings"
	"testing"

	"k8s.io/apiserver/pkg/authentication/user"

	"pkgserver.dev/pkgserver/pkg/errdef"
)

func TestImpersonate(t *testing.T) {
	p, err := ParsePolicy([]byte(`apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRole
metadata: {name: impersonate-some}
rules:
- {apiGroups: [""], resources: [users], resourceNames: [alice], verbs: [impersonate]}
- {apiGroups: [""], resources: [groups], resourceNames: [team-a], verbs: [impersonate]}
- {apiGroups: [authentication.k8s.io], resources: [userextras/scopes], verbs: [impersonate]}
---
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRoleBinding
metadata: {name: proxy}
roleRef: {apiGroup: rbac.authorization.k8s.io, kind: ClusterRole, name: impersonate-some}
subjects: [{kind: User, name: proxy}]
---
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRole
metadata: {name: impersonate-users}
rules: [{apiGroups: [""], resources: [users], verbs: [impersonate]}]
---
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRoleBinding
metadata: {name: frontend}
roleRef: {apiGroup: rbac.authorization.k8s.io, kind: ClusterRole, name: impersonate-users}
subjects: [{kind: User, name: frontend}]
---
apiVersion: rbac.authorization.k8s.io/v1
kind: Role
metadata: {name: impersonate-bot, namespace: bots}
rules: [{apiGroups: [""], resources: [serviceaccounts], resourceNames: [approval-bot], verbs: [impersonate]}]
---
apiVersion: rbac.authorization.k8s.io/v1
kind: RoleBinding
metadata: {name: runner, namespace: bots}
roleRef: {apiGroup: rbac.authorization.k8s.io, kind: Role, name: impersonate-bot}
subjects: [{kind: User, name: runner}]
`))
	if err != nil {
		t.Fatal(err)
	}
	az, err := CompileWithDefaults(p)
	if err != nil {
		t.Fatal(err)
	}
	proxy := who("proxy")
	for _, tc := range []struct {
		name    string
		as      user.Info
		headers map[string][]string
		want    string // impersonated user; "" for none
		groups  []string
		err     error
		msg     string
	}{
		{name: "no headers", as: proxy},
		{name: "user", as: proxy, headers: map[string][]string{"Impersonate-User": {"alice"}}, want: "alice", groups: []string{user.AllAuthenticated}},
		{name: "user and group", as: proxy, headers: map[string][]string{"Impersonate-User": {"alice"}, "Impersonate-Group": {"team-a"}}, want: "alice", groups: []string{"team-a", user.AllAuthenticated}},
		{name: "extra", as: proxy, headers: map[string][]string{"Impersonate-User": {"alice"}, "Impersonate-Extra-Scopes": {"x"}}, want: "alice"},
		{name: "other user", as: proxy, headers: map[string][]string{"Impersonate-User": {"root"}}, err: errdef.ErrForbidden,
			msg: `users "root" is forbidden: User "proxy" cannot impersonate resource "users" in API group "" at the cluster scope`},
		{name: "other group", as: proxy, headers: map[string][]string{"Impersonate-User": {"alice"}, "Impersonate-Group": {"admins"}}, err: errdef.ErrForbidden, msg: `groups "admins" is forbidden`},
		{name: "uid not granted", as: proxy, headers: map[string][]string{"Impersonate-User": {"alice"}, "Impersonate-Uid": {"1"}}, err: errdef.ErrForbidden, msg: "uids.authentication.k8s.io"},
		{name: "without the right", as: who("bob"), headers: map[string][]string{"Impersonate-User": {"alice"}}, err: errdef.ErrForbidden, msg: `User "bob" cannot impersonate`},
		{name: "group without user", as: proxy, headers: map[string][]string{"Impersonate-Group": {"team-a"}}, err: errdef.ErrBadRequest},
		// As in Kubernetes, a service account is impersonated with the right
		// on serviceaccounts in its namespace, not on users, and gets its
		// groups when none are given.
		{name: "users right is not a service account's", as: who("frontend"), headers: map[string][]string{"Impersonate-User": {"system:serviceaccount:bots:approval-bot"}}, err: errdef.ErrForbidden,
			msg: `serviceaccounts "approval-bot" is forbidden: User "frontend" cannot impersonate resource "serviceaccounts" in API group "" in the namespace "bots"`},
		{name: "users right", as: who("frontend"), headers: map[string][]string{"Impersonate-User": {"carol"}}, want: "carol", groups: []string{user.AllAuthenticated}},
		{name: "service account", as: who("runner"), headers: map[string][]string{"Impersonate-User": {"system:serviceaccount:bots:approval-bot"}}, want: "system:serviceaccount:bots:approval-bot",
			groups: []string{"system:serviceaccounts", "system:serviceaccounts:bots", user.AllAuthenticated}},
		{name: "other service account", as: who("runner"), headers: map[string][]string{"Impersonate-User": {"system:serviceaccount:bots:deployer"}}, err: errdef.ErrForbidden, msg: `serviceaccounts "deployer" is forbidden`},
		{name: "unauthenticated group keeps the user unauthenticated", as: proxy, headers: map[string][]string{"Impersonate-User": {"alice"}, "Impersonate-Group": {user.AllUnauthenticated}}, err: errdef.ErrForbidden, msg: `groups "system:unauthenticated" is forbidden`},
		{name: "always allow, unauthenticated group", as: who("bob"), headers: map[string][]string{"Impersonate-User": {"alice"}, "Impersonate-Group": {user.AllUnauthenticated}}, want: "alice", groups: []string{user.AllUnauthenticated}},
		{name: "always allow", as: who("bob"), headers: map[string][]string{"Impersonate-User": {"alice"}}, want: "alice"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := httptest.NewRequest("GET", "/apis", nil)
			for k, vs := range tc.headers {
				for _, v := range vs {
					r.Header.Add(k, v)
				}
			}
			var a Authorizer = az
			if strings.HasPrefix(tc.name, "always allow") {
				a = AlwaysAllow{}
			}
			u, err := Impersonate(context.Background(), r, tc.as, a)
			if tc.err != nil {
				if !errors.Is(err, tc.err) || !strings.Contains(err.Error(), tc.msg) {
					t.Fatalf("err %v, want %v with %q", err, tc.err, tc.msg)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if tc.want == "" {
				if u != nil {
					t.Fatalf("impersonated %v without headers", u)
				}
				return
			}
			if u.GetName() != tc.want || (tc.groups != nil && !slices.Equal(u.GetGroups(), tc.groups)) {
				t.Fatalf("got %q %v, want %q %v", u.GetName(), u.GetGroups(), tc.want, tc.groups)
			}
		})
	}
}
