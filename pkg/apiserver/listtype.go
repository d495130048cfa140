package apiserver

import (
	"go/ast"
	"reflect"
	"strings"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// List and map semantics for server-side apply: a list is atomic (replaced
// whole) and a map granular (merged key by key) unless its field says
// otherwise with the markers Kubernetes uses: `+listType=map` with
// `+listMapKey=<key>` (merged item by item, by key), `+listType=set`,
// `+mapType=atomic`. They become the x-kubernetes-list-type,
// x-kubernetes-list-map-keys and x-kubernetes-map-type extensions of the
// OpenAPI schema, which the field manager and kubectl read.

var metaPkg = reflect.TypeFor[metav1.ObjectMeta]().PkgPath()

// metaListMarkers are the markers of apimachinery's own types, whose source
// is not embedded here.
var metaListMarkers = map[string]string{
	"ObjectMeta.ownerReferences": "listType=map,listMapKey=uid",
	"ObjectMeta.finalizers":      "listType=set",
}

// listMarkers returns a field's list and map markers as "listType=…,listMapKey=…".
func listMarkers(doc *ast.CommentGroup) string {
	if doc == nil {
		return ""
	}
	var out []string
	for _, l := range strings.Split(doc.Text(), "\n") {
		l = strings.TrimSpace(l)
		if strings.HasPrefix(l, "+listType=") || strings.HasPrefix(l, "+listMapKey=") || strings.HasPrefix(l, "+mapType=") {
			out = append(out, l[1:])
		}
	}
	return strings.Join(out, ",")
}

// setListType adds the list extensions that markers ask for to the schema s.
func setListType(s jsonObj, markers string) {
	if markers == "" {
		return
	}
	var keys []any
	for _, m := range strings.Split(markers, ",") {
		k, v, _ := strings.Cut(m, "=")
		switch k {
		case "listType":
			s["x-kubernetes-list-type"] = v
		case "listMapKey":
			keys = append(keys, v)
		case "mapType":
			s["x-kubernetes-map-type"] = v
		}
	}
	if len(keys) > 0 {
		s["x-kubernetes-list-map-keys"] = keys
	}
}
