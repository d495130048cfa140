package registry

import "strings"

// kind is an endpoint family of the spec ("Endpoints" table).
type kind int

const (
	kindNone      kind = iota
	kindBase           // end-1: /v2/
	kindCatalog        // /v2/_catalog (not in the spec table; distribution's API)
	kindBlob           // end-2, end-10: /v2/<name>/blobs/<digest>
	kindUploads        // end-4, end-11: /v2/<name>/blobs/uploads/
	kindUpload         // end-5, end-6, end-13: /v2/<name>/blobs/uploads/<reference>
	kindManifest       // end-3, end-7, end-9: /v2/<name>/manifests/<reference>
	kindTags           // end-8: /v2/<name>/tags/list
	kindReferrers      // end-12: /v2/<name>/referrers/<digest>
)

// route is a parsed /v2/ path. name and ref are not validated here: the
// handlers do it, so that each failure gets the code of its endpoint.
type route struct {
	kind kind
	name string // repository name
	ref  string // digest, tag or upload id; "" when the endpoint has none
	// slash records "/blobs/uploads/" (vs "/blobs/uploads") so path() round-trips.
	slash bool
}

// parseRoute splits a request path. Names may contain "/" and even the words
// "blobs" or "manifests", so the endpoint is recognised from the end of the
// path, most specific suffix first.
func parseRoute(path string) (route, bool) {
	rest, ok := strings.CutPrefix(path, "/v2")
	if !ok {
		return route{}, false
	}
	if rest == "" || rest == "/" {
		return route{kind: kindBase}, true
	}
	rest, ok = strings.CutPrefix(rest, "/")
	if !ok {
		return route{}, false
	}
	if rest == "_catalog" {
		return route{kind: kindCatalog}, true
	}
	segs := strings.Split(rest, "/")
	n := len(segs)
	name := func(k int) string { return strings.Join(segs[:n-k], "/") }
	switch {
	case n >= 4 && segs[n-3] == "blobs" && segs[n-2] == "uploads":
		if segs[n-1] == "" {
			return route{kind: kindUploads, name: name(3), slash: true}, true
		}
		return route{kind: kindUpload, name: name(3), ref: segs[n-1]}, true
	case n >= 3 && segs[n-2] == "tags" && segs[n-1] == "list":
		return route{kind: kindTags, name: name(2)}, true
	case n >= 3 && segs[n-2] == "blobs" && segs[n-1] == "uploads":
		return route{kind: kindUploads, name: name(2)}, true
	case n >= 3 && segs[n-1] == "":
		return route{}, false
	case n >= 3 && segs[n-2] == "manifests":
		return route{kind: kindManifest, name: name(2), ref: segs[n-1]}, true
	case n >= 3 && segs[n-2] == "blobs":
		return route{kind: kindBlob, name: name(2), ref: segs[n-1]}, true
	case n >= 3 && segs[n-2] == "referrers":
		return route{kind: kindReferrers, name: name(2), ref: segs[n-1]}, true
	}
	return route{}, false
}

// path builds the request path of r; parseRoute(r.path()) == r.
func (r route) path() string {
	switch r.kind {
	case kindBase:
		return "/v2/"
	case kindCatalog:
		return "/v2/_catalog"
	case kindBlob:
		return "/v2/" + r.name + "/blobs/" + r.ref
	case kindUploads:
		if r.slash {
			return "/v2/" + r.name + "/blobs/uploads/"
		}
		return "/v2/" + r.name + "/blobs/uploads"
	case kindUpload:
		return "/v2/" + r.name + "/blobs/uploads/" + r.ref
	case kindManifest:
		return "/v2/" + r.name + "/manifests/" + r.ref
	case kindTags:
		return "/v2/" + r.name + "/tags/list"
	case kindReferrers:
		return "/v2/" + r.name + "/referrers/" + r.ref
	}
	return ""
}

// Paths the handlers put in Location headers.
func blobPath(name, dgst string) string { return route{kind: kindBlob, name: name, ref: dgst}.path() }
func manifestPath(name, ref string) string {
	return route{kind: kindManifest, name: name, ref: ref}.path()
}
func uploadPath(name, id string) string { return route{kind: kindUpload, name: name, ref: id}.path() }
