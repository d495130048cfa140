package authz

import (
	"net/http/httptest"
	"testing"

	"k8s.io/apimachinery/pkg/util/sets"
	"k8s.io/apiserver/pkg/endpoints/request"
)

// TestFromRequestAgreesWithKubernetes: for every kind of path pkgserver
// serves, FromRequest gives what kube-apiserver's RequestInfoFactory gives.
func TestFromRequestAgreesWithKubernetes(t *testing.T) {
	factory := &request.RequestInfoFactory{APIPrefixes: sets.NewString("api", "apis"), GrouplessAPIPrefixes: sets.NewString("api")}
	const g = "/apis/pkg.pkgserver.dev/v1alpha1"
	for _, tc := range []struct{ method, target string }{
		{"GET", "/healthz"}, {"HEAD", "/readyz"}, {"GET", "/metrics"}, {"POST", "/admin/gc"},
		{"GET", "/api"}, {"GET", "/apis"}, {"GET", "/apis/pkg.pkgserver.dev"}, {"GET", g},
		{"GET", "/openapi/v3/apis/pkg.pkgserver.dev/v1alpha1"}, {"GET", "/v2/a/b/manifests/v1"},
		{"GET", "/api/v1/namespaces/team-a"}, {"GET", "/api/v1/namespaces"},
		{"GET", g + "/packagerevisions"},
		{"GET", g + "/packagerevisions?watch=true"},
		{"GET", g + "/packagerevisions?watch=1&resourceVersion=5"},
		{"GET", g + "/packagerevisions?watch=false"},
		{"GET", g + "/namespaces/team-a/packagerevisions"},
		{"GET", g + "/namespaces/team-a/packagerevisions?fieldSelector=metadata.name%3Dx.y"},
		{"GET", g + "/namespaces/team-a/packagerevisions?watch=true&fieldSelector=metadata.name%3Dx,spec.lifecycle%3Ddraft"},
		{"GET", g + "/namespaces/team-a/packagerevisions?fieldSelector=metadata.name!%3Dx"},
		{"GET", g + "/namespaces/team-a/packagerevisions/x"},
		{"HEAD", g + "/namespaces/team-a/packagerevisions/x"},
		{"POST", g + "/namespaces/team-a/packagerevisions"},
		{"PUT", g + "/namespaces/team-a/packagerevisions/x"},
		{"PATCH", g + "/namespaces/team-a/packagerevisions/x"},
		{"DELETE", g + "/namespaces/team-a/packagerevisions/x"},
		{"DELETE", g + "/namespaces/team-a/packagerevisions"},
		{"PUT", g + "/namespaces/team-a/packagerevisions/x/approval"},
		{"PATCH", g + "/namespaces/team-a/packagerevisions/x/status"},
		{"GET", g + "/namespaces/team-a/packagerevisions/x/history"},
		{"GET", g + "/namespaces/team-a/packagerevisions/x/diff?against=y"},
		{"PUT", g + "/namespaces/team-a/packagerevisionresources/x"},
		{"POST", "/apis/config.pkg.pkgserver.dev/v1alpha1/namespaces/team-a/repositories/r/refresh"},
		{"POST", "/apis/authorization.k8s.io/v1/selfsubjectaccessreviews"},
		{"POST", "/apis/authentication.k8s.io/v1/selfsubjectreviews"},
		{"OPTIONS", g + "/namespaces/team-a/packagerevisions/x"},
		{"GET", g + "/namespaces//packagerevisions/x"},
	} {
		r := httptest.NewRequest(tc.method, tc.target, nil)
		info, err := factory.NewRequestInfo(r)
		if err != nil {
			t.Fatalf("%s %s: %v", tc.method, tc.target, err)
		}
		want := Attributes{
			Verb: info.Verb, ResourceRequest: info.IsResourceRequest, APIGroup: info.APIGroup, Resource: info.Resource,
			Subresource: info.Subresource, Namespace: info.Namespace, Name: info.Name, Path: info.Path,
		}
		if got := FromRequest(r); got != want {
			t.Errorf("%s %s:\n got  %+v\n want %+v", tc.method, tc.target, got, want)
		}
	}
}
