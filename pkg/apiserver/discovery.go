package apiserver

import (
	"net/http"

	"github.com/labstack/echo/v4"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// registerDiscovery serves the legacy (unaggregated) discovery documents
// kubectl and client-go read: /api, /apis, /apis/<group> and
// /apis/<group>/<version>. Clients asking for aggregated discovery get these
// too and fall back, since the Content-Type says plain JSON.
func registerDiscovery(e *echo.Echo, groups []apiGroup) {
	// No core group here, but clients want a valid, empty /api.
	e.GET("/api", func(c echo.Context) error {
		return c.JSON(http.StatusOK, &metav1.APIVersions{
			TypeMeta:                   metav1.TypeMeta{Kind: "APIVersions"},
			Versions:                   []string{},
			ServerAddressByClientCIDRs: []metav1.ServerAddressByClientCIDR{},
		})
	})

	groupList := &metav1.APIGroupList{TypeMeta: metav1.TypeMeta{Kind: "APIGroupList", APIVersion: "v1"}}
	for _, g := range groups {
		v := metav1.GroupVersionForDiscovery{GroupVersion: g.name + "/" + g.version, Version: g.version}
		group := metav1.APIGroup{Name: g.name, Versions: []metav1.GroupVersionForDiscovery{v}, PreferredVersion: v}
		groupList.Groups = append(groupList.Groups, group)

		group.TypeMeta = metav1.TypeMeta{Kind: "APIGroup", APIVersion: "v1"}
		e.GET("/apis/"+g.name, func(c echo.Context) error { return c.JSON(http.StatusOK, &group) })

		resources := &metav1.APIResourceList{
			TypeMeta:     metav1.TypeMeta{Kind: "APIResourceList", APIVersion: "v1"},
			GroupVersion: v.GroupVersion,
			APIResources: []metav1.APIResource{},
		}
		for _, r := range g.resources {
			resources.APIResources = append(resources.APIResources, r.apiResources()...)
		}
		e.GET("/apis/"+v.GroupVersion, func(c echo.Context) error { return c.JSON(http.StatusOK, resources) })
	}
	e.GET("/apis", func(c echo.Context) error { return c.JSON(http.StatusOK, groupList) })
}
