package authz

import (
	"net/http"
	"strconv"
	"strings"

	"k8s.io/apimachinery/pkg/fields"
)

// FromRequest maps an HTTP request to its attributes (without the user) the
// way kube-apiserver's RequestInfoFactory does, for the paths pkgserver
// serves: /api/{version}/... and /apis/{group}/{version}/... with
// namespaces/{ns}/{resource}/{name}/{subresource} are resource requests;
// a GET without a name is list, or watch with ?watch; a list or watch with
// fieldSelector=metadata.name=X is about X; every other path is a
// non-resource request whose verb is the lower-case method. A test checks
// it agrees with RequestInfoFactory (which also logs through klog on bad
// queries, so it is not called here).
func FromRequest(r *http.Request) Attributes {
	a := Attributes{Verb: strings.ToLower(r.Method), Path: r.URL.Path}
	parts := strings.Split(strings.Trim(r.URL.Path, "/"), "/")
	if len(parts) < 3 {
		return a
	}
	switch parts[0] {
	case "api":
		parts = parts[1:]
	case "apis":
		if len(parts) < 4 {
			return a // discovery of a group or a group version
		}
		a.APIGroup = parts[1]
		parts = parts[2:]
	default:
		return a
	}
	a.ResourceRequest = true
	parts = parts[1:] // the version
	switch r.Method {
	case http.MethodPost:
		a.Verb = "create"
	case http.MethodGet, http.MethodHead:
		a.Verb = "get"
	case http.MethodPut:
		a.Verb = "update"
	case http.MethodPatch:
		a.Verb = "patch"
	case http.MethodDelete:
		a.Verb = "delete"
	default:
		a.Verb = ""
	}
	if parts[0] == "namespaces" && len(parts) > 1 {
		a.Namespace = parts[1]
		if len(parts) > 2 && parts[2] != "status" && parts[2] != "finalize" {
			parts = parts[2:]
		}
	}
	a.Resource = parts[0]
	if len(parts) > 1 {
		a.Name = parts[1]
	}
	if len(parts) > 2 {
		a.Subresource = parts[2]
	}
	if a.Name == "" && a.Verb == "get" {
		q := r.URL.Query()
		a.Verb = "list"
		if w, ok := q["watch"]; ok && len(w) > 0 {
			if b, err := strconv.ParseBool(w[0]); err != nil || b {
				a.Verb = "watch"
			}
		}
		if fs := q.Get("fieldSelector"); fs != "" {
			if sel, err := fields.ParseSelector(fs); err == nil {
				if name, ok := sel.RequiresExactMatch("metadata.name"); ok && validPathSegment(name) {
					a.Name = name
				}
			}
		}
	}
	if a.Name == "" && a.Verb == "delete" {
		a.Verb = "deletecollection"
	}
	return a
}

// validPathSegment is apimachinery's IsPathSegmentName: a name that could
// appear in a path.
func validPathSegment(name string) bool {
	return name != "." && name != ".." && !strings.ContainsAny(name, "/%")
}
