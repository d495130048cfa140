package registry

// Endpoint names an endpoint family of the /v2/ API, for code that must know
// what a request does before it reaches the registry (authorization).
type Endpoint string

// The endpoint families ParseRoute tells apart.
const (
	EndpointBase      Endpoint = "base"      // /v2/
	EndpointCatalog   Endpoint = "catalog"   // /v2/_catalog
	EndpointBlob      Endpoint = "blob"      // /v2/<name>/blobs/<digest>
	EndpointUploads   Endpoint = "uploads"   // /v2/<name>/blobs/uploads/
	EndpointUpload    Endpoint = "upload"    // /v2/<name>/blobs/uploads/<id>
	EndpointManifest  Endpoint = "manifest"  // /v2/<name>/manifests/<reference>
	EndpointTags      Endpoint = "tags"      // /v2/<name>/tags/list
	EndpointReferrers Endpoint = "referrers" // /v2/<name>/referrers/<digest>
)

// Route is a parsed /v2/ request path.
type Route struct {
	Endpoint Endpoint
	// Name is the repository name; Reference the digest, tag or upload id.
	Name, Reference string
}

// ParseRoute parses a request path exactly as the registry routes it; ok is
// false for paths the registry does not serve.
func ParseRoute(path string) (Route, bool) {
	r, ok := parseRoute(path)
	if !ok {
		return Route{}, false
	}
	e := map[kind]Endpoint{
		kindBase: EndpointBase, kindCatalog: EndpointCatalog, kindBlob: EndpointBlob, kindUploads: EndpointUploads,
		kindUpload: EndpointUpload, kindManifest: EndpointManifest, kindTags: EndpointTags, kindReferrers: EndpointReferrers,
	}[r.kind]
	return Route{Endpoint: e, Name: r.name, Reference: r.ref}, e != ""
}
