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
			if tc.name == "always allow" {
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
