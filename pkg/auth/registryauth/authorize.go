package registryauth

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strings"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	auditv1 "k8s.io/apiserver/pkg/apis/audit/v1"
	"k8s.io/apiserver/pkg/authentication/user"

	"pkgserver.dev/pkgserver/pkg/auth/audit"
	"pkgserver.dev/pkgserver/pkg/auth/authn"
	"pkgserver.dev/pkgserver/pkg/auth/authz"
	"pkgserver.dev/pkgserver/pkg/errdef"
	"pkgserver.dev/pkgserver/pkg/names"
	"pkgserver.dev/pkgserver/pkg/registry"
)

// Options configure Authorize.
type Options struct {
	// Authorizer decides; nil allows everything.
	Authorizer authz.Authorizer
	// Owner names the namespace and Repository whose prefix holds an OCI
	// repository of the embedded store (engine.OwnerOf).
	Owner func(ctx context.Context, name string) (namespace, repository string, ok bool)
	// TagExists reports whether a tag exists in an OCI repository of the
	// embedded store: pushing a draft tag creates a revision or updates one.
	TagExists func(ctx context.Context, name, tag string) bool
	// Challenge is true when the server has authenticators: anonymous
	// requests that are refused get 401 and a token challenge, so clients
	// log in; without authenticators there is nothing to log in with (403).
	Challenge bool
	// Service is the service of the challenge and of issued tokens.
	Service string
	// RealmPath is the path of the token endpoint on this server.
	RealmPath string
}

// check is one authorization question; a request passes when each of its
// checks is allowed by at least one of its alternatives.
type check []authz.Attributes

// Authorize wraps the /v2/ handler: every request is authorized with the
// same RBAC rules as the API before it reaches next.
//
// Under a registered Repository's prefix a request is about the
// packagerevisions of that Repository's namespace (without a name, so rules
// limited by resourceNames do not grant /v2/ access):
//
//	pull (manifests, blobs, tags, referrers)   get
//	blob uploads                               create or update, or update on packagerevisions/approval
//	push a draft tag ws.<workspace>            create (new workspace) or update (existing one)
//	push any other tag (vN, latest, …)         update on packagerevisions/approval
//	push by digest, no tag                     create
//	delete a blob, a manifest or a draft tag   delete
//	delete any other tag                       update on packagerevisions/approval
//
// Everything else (other paths, _catalog, unknown endpoints) is a
// non-resource request on its path, with the lower-case HTTP method as verb,
// as Kubernetes authorizes paths: a role grants `nonResourceURLs: ["/v2/mirror/*"]`.
// Repository objects live under /v2/pkgserver-system/, so only such rules
// reach them.
func Authorize(next http.Handler, o Options) http.Handler {
	az := o.Authorizer
	if az == nil {
		az = authz.AlwaysAllow{}
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		ctx := r.Context()
		ev := audit.EventFrom(ctx)
		route, routed := registry.ParseRoute(r.URL.Path)
		if err := authn.FailureFrom(ctx); err != nil {
			if errors.Is(err, errdef.ErrUnauthorized) {
				o.unauthorized(w, r, route, ev)
				return
			}
			o.denied(w, r, err.Error(), ev)
			return
		}
		u, ok := authn.UserFrom(ctx)
		if !ok {
			u = authn.Anonymous()
		}
		if routed && route.Endpoint == registry.EndpointBase {
			// The version check is how clients find out they must log in.
			if o.Challenge && authn.IsAnonymous(u) {
				o.unauthorized(w, r, route, ev)
				return
			}
			next.ServeHTTP(w, r)
			return
		}
		checks := o.checks(ctx, r, route, routed, u)
		if ev != nil && len(checks) > 0 && len(checks[0]) > 0 {
			describe(ev, checks[0][0], route)
		}
		for _, c := range checks {
			allowed, reason, err := anyAllowed(ctx, az, c)
			if err != nil {
				http.Error(w, err.Error(), http.StatusInternalServerError)
				return
			}
			if !allowed {
				audit.Annotate(ev, audit.AnnotationDecision, "forbid")
				if o.Challenge && authn.IsAnonymous(u) {
					o.unauthorized(w, r, route, ev)
					return
				}
				o.denied(w, r, authz.ForbiddenMessage(c[0]), ev)
				return
			}
			audit.Annotate(ev, audit.AnnotationReason, reason)
		}
		audit.Annotate(ev, audit.AnnotationDecision, "allow")
		if routed && route.Endpoint == registry.EndpointUploads && r.Method == http.MethodPost {
			o.limitMount(ctx, az, r, u)
		}
		next.ServeHTTP(w, r)
	})
}

func anyAllowed(ctx context.Context, az authz.Authorizer, c check) (bool, string, error) {
	for _, a := range c {
		d, err := az.Authorize(ctx, a)
		if err != nil {
			return false, "", err
		}
		if d.Allowed {
			return true, d.Reason, nil
		}
	}
	return false, "", nil
}

// checks lists what r needs.
func (o *Options) checks(ctx context.Context, r *http.Request, route registry.Route, routed bool, u user.Info) []check {
	path := func() []check {
		return []check{{{User: u, Verb: strings.ToLower(r.Method), Path: r.URL.Path}}}
	}
	if !routed || route.Endpoint == registry.EndpointCatalog || o.Owner == nil {
		return path()
	}
	ns, _, owned := o.Owner(ctx, route.Name)
	if !owned {
		return path()
	}
	pr := func(verb, sub string) authz.Attributes {
		return authz.Attributes{User: u, Verb: verb, ResourceRequest: true, APIGroup: authz.PkgGroup, Resource: "packagerevisions", Subresource: sub, Namespace: ns}
	}
	approval := pr("update", "approval")
	read := r.Method == http.MethodGet || r.Method == http.MethodHead
	switch route.Endpoint {
	case registry.EndpointUploads, registry.EndpointUpload:
		return []check{{pr("create", ""), pr("update", ""), approval}}
	case registry.EndpointBlob:
		if r.Method == http.MethodDelete {
			return []check{{pr("delete", "")}}
		}
	case registry.EndpointManifest:
		switch r.Method {
		case http.MethodPut:
			tags := r.URL.Query()["tag"]
			if !strings.Contains(route.Reference, ":") {
				tags = append(tags, route.Reference)
			}
			if len(tags) == 0 {
				return []check{{pr("create", "")}}
			}
			var out []check
			for _, tag := range tags {
				switch _, draft := names.ParseWorkspaceTag(tag); {
				case !draft:
					out = append(out, check{approval})
				case o.TagExists != nil && o.TagExists(ctx, route.Name, tag):
					out = append(out, check{pr("update", "")})
				default:
					out = append(out, check{pr("create", "")})
				}
			}
			return out
		case http.MethodDelete:
			if _, draft := names.ParseWorkspaceTag(route.Reference); draft || strings.Contains(route.Reference, ":") {
				return []check{{pr("delete", "")}}
			}
			return []check{{approval}}
		}
	}
	if read {
		return []check{{pr("get", "")}}
	}
	return []check{{pr(strings.ToLower(r.Method), "")}}
}

// limitMount drops a cross-repository mount the user may not read from, and
// every anonymous mount (which would search all repositories): the spec lets
// a registry answer a mount request with a plain upload session instead.
func (o *Options) limitMount(ctx context.Context, az authz.Authorizer, r *http.Request, u user.Info) {
	q := r.URL.Query()
	if q.Get("mount") == "" {
		return
	}
	from := q.Get("from")
	keep := false
	if _, always := az.(authz.AlwaysAllow); always {
		keep = true
	} else if from != "" {
		fake := r.Clone(ctx)
		fake.Method = http.MethodGet
		fake.URL.Path = "/v2/" + from + "/blobs/" + q.Get("mount")
		fake.URL.RawQuery = ""
		route, routed := registry.ParseRoute(fake.URL.Path)
		keep = true
		for _, c := range o.checks(ctx, fake, route, routed, u) {
			if ok, _, err := anyAllowed(ctx, az, c); err != nil || !ok {
				keep = false
			}
		}
	}
	if !keep {
		q.Del("mount")
		q.Del("from")
		r.URL.RawQuery = q.Encode()
	}
}

// describe records the request on its audit event.
func describe(ev *auditv1.Event, a authz.Attributes, route registry.Route) {
	ev.Verb = a.Verb
	if a.ResourceRequest {
		ev.ObjectRef = &auditv1.ObjectReference{Resource: a.Resource, Subresource: a.Subresource, Namespace: a.Namespace, APIGroup: a.APIGroup}
	}
	if route.Name != "" {
		audit.Annotate(ev, audit.AnnotationRegistryRepository, route.Name)
	}
	if route.Reference != "" {
		audit.Annotate(ev, audit.AnnotationRegistryReference, route.Reference)
	}
}

// unauthorized answers 401 with the challenge of the token flow.
func (o *Options) unauthorized(w http.ResponseWriter, r *http.Request, route registry.Route, ev *auditv1.Event) {
	scheme := "http"
	if r.TLS != nil {
		scheme = "https"
	}
	ch := fmt.Sprintf(`Bearer realm="%s://%s%s",service="%s"`, scheme, r.Host, o.RealmPath, o.Service)
	if route.Name != "" {
		actions := "pull"
		if r.Method != http.MethodGet && r.Method != http.MethodHead {
			actions = "pull,push"
		}
		ch += fmt.Sprintf(`,scope="repository:%s:%s"`, route.Name, actions)
	}
	w.Header().Set("WWW-Authenticate", ch)
	writeError(w, r, http.StatusUnauthorized, "UNAUTHORIZED", "authentication required", ev)
}

// denied answers 403 DENIED naming who may not do what.
func (o *Options) denied(w http.ResponseWriter, r *http.Request, msg string, ev *auditv1.Event) {
	writeError(w, r, http.StatusForbidden, "DENIED", msg, ev)
}

// writeError writes an error body of the distribution spec.
func writeError(w http.ResponseWriter, r *http.Request, code int, errCode, msg string, ev *auditv1.Event) {
	if ev != nil {
		ev.ResponseStatus = responseStatus(code, msg)
	}
	w.Header().Set("Docker-Distribution-API-Version", "registry/2.0")
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	if r.Method == http.MethodHead {
		return
	}
	json.NewEncoder(w).Encode(map[string]any{"errors": []map[string]string{{"code": errCode, "message": msg}}})
}

func responseStatus(code int, msg string) *metav1.Status {
	return &metav1.Status{Status: metav1.StatusFailure, Code: int32(code), Message: msg, Reason: metav1.StatusReason(http.StatusText(code))}
}
