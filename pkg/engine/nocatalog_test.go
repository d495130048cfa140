package engine_test

import (
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"strings"
	"sync/atomic"
	"testing"

	configapi "pkgserver.dev/pkgserver/api/config/v1alpha1"
	pkgapi "pkgserver.dev/pkgserver/api/pkg/v1alpha1"
	"pkgserver.dev/pkgserver/internal/testregistry"
	"pkgserver.dev/pkgserver/pkg/store/remote"
)

// TestRegistryWithoutCatalog: behind a proxy that refuses /v2/_catalog (as
// many hosted registries do), packages created through pkgserver are found
// again from the package index, and packages pushed by others are found
// once spec.oci.packages names them.
func TestRegistryWithoutCatalog(t *testing.T) {
	reg := testregistry.Start(t)
	target, _ := url.Parse("http://" + reg)
	proxy := httputil.NewSingleHostReverseProxy(target)
	var catalogCalls atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if strings.HasPrefix(r.URL.Path, "/v2/_catalog") {
			catalogCalls.Add(1)
			w.Header().Set("Content-Type", "application/json")
			w.WriteHeader(http.StatusNotFound)
			_, _ = w.Write([]byte(`{"errors":[{"code":"UNSUPPORTED","message":"catalog is disabled"}]}`))
			return
		}
		proxy.ServeHTTP(w, r)
	}))
	defer srv.Close()
	addr := strings.TrimPrefix(srv.URL, "http://")

	b := backend{
		name: "no-catalog",
		spec: func(name string, d bool) configapi.RepositorySpec {
			return configapi.RepositorySpec{Deployment: d, OCI: &configapi.OCIRepository{Registry: addr + "/pkgs/" + name, PlainHTTP: true}}
		},
	}
	h := newHarness(t, b)
	h.createRepo("blueprints", false)
	id := pkgapi.PackageRevID{Target: "catalog", Repository: "blueprints", Realm: "apps", Package: "web", Workspace: "ws"}
	name := h.mustCreate(id).Name
	h.publish(name)

	// Someone else pushes a package straight to the registry.
	rs, err := remote.New(reg, remote.WithPlainHTTP(true))
	if err != nil {
		t.Fatal(err)
	}
	repo, err := rs.Repository(h.ctx, "pkgs/blueprints/apps/pushed")
	if err != nil {
		t.Fatal(err)
	}
	orasPush(t, repo, map[string]string{"cm.yaml": "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: c\n"}, nil, "v1")

	// A new engine knows nothing: it must discover without _catalog.
	h.restart()
	if got := h.names(); len(got) != 1 || got[0] != name {
		t.Fatalf("after restart: %v, want [%s]", got, name)
	}
	if catalogCalls.Load() == 0 {
		t.Fatal("the proxy never refused a _catalog call: the test proves nothing")
	}

	// Naming the pushed package in spec.oci.packages makes it appear.
	r, err := h.eng.GetRepository(h.ctx, testNS, "blueprints")
	if err != nil {
		t.Fatal(err)
	}
	r.Spec.OCI.Packages = []string{"apps/pushed"}
	if _, err := h.eng.UpdateRepository(h.ctx, r); err != nil {
		t.Fatal(err)
	}
	got := h.names()
	want := []string{"catalog.blueprints.apps.pushed.v1", name}
	if strings.Join(got, ",") != strings.Join(want, ",") {
		t.Fatalf("with spec.oci.packages: %v, want %v", got, want)
	}
}
