package apiserver

import (
	"slices"
	"testing"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

func TestDiscovery(t *testing.T) {
	e := New(newFake(), Options{})
	get := func(path string) []byte {
		rec := serve(t, e, call{method: "GET", path: path})
		if rec.Code != 200 {
			t.Fatalf("GET %s: %d %s", path, rec.Code, rec.Body)
		}
		if ct := rec.Header().Get("Content-Type"); ct != "application/json" {
			t.Errorf("GET %s: Content-Type %q", path, ct)
		}
		return rec.Body.Bytes()
	}

	t.Run("api", func(t *testing.T) {
		v := decode[metav1.APIVersions](t, get("/api"))
		if v.Kind != "APIVersions" || v.Versions == nil || len(v.Versions) != 0 {
			t.Errorf("/api = %+v", v)
		}
	})

	t.Run("apis", func(t *testing.T) {
		l := decode[metav1.APIGroupList](t, get("/apis"))
		if l.Kind != "APIGroupList" || l.APIVersion != "v1" {
			t.Errorf("kind %q apiVersion %q", l.Kind, l.APIVersion)
		}
		var names []string
		for _, g := range l.Groups {
			names = append(names, g.Name)
			if len(g.Versions) != 1 || g.PreferredVersion.GroupVersion != g.Name+"/v1alpha1" || g.PreferredVersion.Version != "v1alpha1" {
				t.Errorf("group %+v", g)
			}
		}
		if !slices.Equal(names, []string{"config.pkg.pkgserver.dev", "pkg.pkgserver.dev"}) {
			t.Errorf("groups %q", names)
		}
	})

	for _, group := range []string{"config.pkg.pkgserver.dev", "pkg.pkgserver.dev"} {
		t.Run(group, func(t *testing.T) {
			g := decode[metav1.APIGroup](t, get("/apis/"+group))
			if g.Kind != "APIGroup" || g.Name != group || g.PreferredVersion.GroupVersion != group+"/v1alpha1" {
				t.Errorf("%+v", g)
			}
		})
	}

	want := map[string]metav1.APIResource{
		"repositories": {Name: "repositories", SingularName: "repository", Namespaced: true, Kind: "Repository",
			Verbs: metav1.Verbs{"get", "list", "create", "update", "patch", "watch", "delete"}, ShortNames: []string{"repo"}, Categories: []string{"pkgserver"}},
		"packagerevisions": {Name: "packagerevisions", SingularName: "packagerevision", Namespaced: true, Kind: "PackageRevision",
			Verbs: metav1.Verbs{"get", "list", "create", "update", "patch", "watch", "delete"}, ShortNames: []string{"pr"}, Categories: []string{"pkgserver"}},
		"packagerevisions/approval": {Name: "packagerevisions/approval", Namespaced: true, Kind: "PackageRevision",
			Verbs: metav1.Verbs{"get", "update"}},
		"repositories/refresh": {Name: "repositories/refresh", Namespaced: true, Kind: "Repository", Verbs: metav1.Verbs{"create"}},
		"packagerevisions/status": {Name: "packagerevisions/status", Namespaced: true, Kind: "PackageRevision",
			Verbs: metav1.Verbs{"get", "update", "patch"}},
		"packagerevisionresources": {Name: "packagerevisionresources", SingularName: "packagerevisionresources", Namespaced: true, Kind: "PackageRevisionResources",
			Verbs: metav1.Verbs{"get", "list", "update", "patch", "watch"}, ShortNames: []string{"prr"}, Categories: []string{"pkgserver"}},
	}
	for gv, names := range map[string][]string{
		"config.pkg.pkgserver.dev/v1alpha1": {"repositories", "repositories/refresh"},
		"pkg.pkgserver.dev/v1alpha1":        {"packagerevisions", "packagerevisions/approval", "packagerevisions/status", "packagerevisionresources"},
	} {
		t.Run(gv, func(t *testing.T) {
			l := decode[metav1.APIResourceList](t, get("/apis/"+gv))
			if l.Kind != "APIResourceList" || l.APIVersion != "v1" || l.GroupVersion != gv {
				t.Errorf("kind %q apiVersion %q groupVersion %q", l.Kind, l.APIVersion, l.GroupVersion)
			}
			var got []string
			for _, r := range l.APIResources {
				got = append(got, r.Name)
				w := want[r.Name]
				if r.Name != w.Name || r.SingularName != w.SingularName || r.Namespaced != w.Namespaced || r.Kind != w.Kind ||
					!slices.Equal(r.Verbs, w.Verbs) || !slices.Equal(r.ShortNames, w.ShortNames) || !slices.Equal(r.Categories, w.Categories) {
					t.Errorf("resource %+v, want %+v", r, w)
				}
			}
			if !slices.Equal(got, names) {
				t.Errorf("resources %q, want %q", got, names)
			}
		})
	}
}
