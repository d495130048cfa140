package client

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strconv"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/types"

	configapi "pkgserver.dev/pkgserver/api/config/v1alpha1"
	pkgapi "pkgserver.dev/pkgserver/api/pkg/v1alpha1"
)

// Object is a pointer to a served kind.
type Object interface {
	metav1.Object
	runtime.Object
}

// Resource is the typed client of one kind in one namespace. Use it through
// RepositoryClient, PackageRevisionClient and PackageRevisionResourcesClient.
type Resource[T Object, L runtime.Object] struct {
	c                      *Client
	group, version, plural string
	namespace              string
	newObj                 func() T
	newList                func() L
}

// RepositoryClient reads and writes Repository objects.
type RepositoryClient = Resource[*configapi.Repository, *configapi.RepositoryList]

// PackageRevisionResourcesClient reads and writes the files of package revisions.
type PackageRevisionResourcesClient = Resource[*pkgapi.PackageRevisionResources, *pkgapi.PackageRevisionResourcesList]

// ListOptions selects and pages the objects of List and Watch; the zero value
// lists everything. The fields are the Kubernetes list query parameters.
type ListOptions struct {
	// LabelSelector is a Kubernetes label selector, e.g. "pkg.pkgserver.dev/latest-revision=true".
	LabelSelector string
	// FieldSelector matches fields, e.g. "spec.packageRevID.package=vpc,spec.lifecycle=published".
	FieldSelector string
	// Limit is the most items one List answer holds; 0 means no limit.
	Limit int64
	// Continue is ListMeta.Continue of the previous page.
	Continue string
	// ResourceVersion starts a Watch after that version instead of with the
	// current objects.
	ResourceVersion string
	// AllowWatchBookmarks asks the server for BOOKMARK events during a Watch.
	AllowWatchBookmarks bool
}

// query returns the URL query of o.
func (o ListOptions) query() url.Values {
	q := url.Values{}
	if o.LabelSelector != "" {
		q.Set("labelSelector", o.LabelSelector)
	}
	if o.FieldSelector != "" {
		q.Set("fieldSelector", o.FieldSelector)
	}
	if o.Limit > 0 {
		q.Set("limit", strconv.FormatInt(o.Limit, 10))
	}
	if o.Continue != "" {
		q.Set("continue", o.Continue)
	}
	if o.ResourceVersion != "" {
		q.Set("resourceVersion", o.ResourceVersion)
	}
	if o.AllowWatchBookmarks {
		q.Set("allowWatchBookmarks", "true")
	}
	return q
}

// Namespace returns the namespace of r; empty means all namespaces.
func (r *Resource[T, L]) Namespace() string { return r.namespace }

// pathOf returns the escaped path of the collection (name == ""), of one
// object, or of a subresource of one object.
func (r *Resource[T, L]) pathOf(name, subresource string) string {
	p := "/apis/" + r.group + "/" + r.version
	if r.namespace != "" {
		p += "/namespaces/" + url.PathEscape(r.namespace)
	}
	p += "/" + r.plural
	if name != "" {
		p += "/" + url.PathEscape(name)
	}
	if subresource != "" {
		p += "/" + subresource
	}
	return p
}

// objectRequest checks what a request on one object needs and builds it.
func (r *Resource[T, L]) objectRequest(method, name, subresource string) (*request, error) {
	if r.namespace == "" {
		return nil, fmt.Errorf("client: %s %s %q: a namespace is required", method, r.plural, name)
	}
	if name == "" {
		return nil, fmt.Errorf("client: %s %s: a name is required", method, r.plural)
	}
	return &request{method: method, path: r.pathOf(name, subresource), group: r.group, resource: r.plural, name: name}, nil
}

// List returns the objects that opts selects. When the answer is paged
// (opts.Limit), the list's Continue field fetches the next page.
func (r *Resource[T, L]) List(ctx context.Context, opts ListOptions) (L, error) {
	out := r.newList()
	req := &request{method: http.MethodGet, path: r.pathOf("", ""), query: opts.query(), group: r.group, resource: r.plural}
	if err := r.c.do(ctx, req, out); err != nil {
		var zero L
		return zero, err
	}
	return out, nil
}

// Get returns the object called name.
func (r *Resource[T, L]) Get(ctx context.Context, name string) (T, error) {
	return r.call(ctx, http.MethodGet, name, "", nil, "")
}

// Create creates obj (POST) and returns it as stored.
func (r *Resource[T, L]) Create(ctx context.Context, obj T) (T, error) {
	var zero T
	if r.namespace == "" {
		return zero, fmt.Errorf("client: create %s: a namespace is required", r.plural)
	}
	body, err := json.Marshal(obj)
	if err != nil {
		return zero, err
	}
	out := r.newObj()
	req := &request{method: http.MethodPost, path: r.pathOf("", ""), body: body, contentType: "application/json",
		group: r.group, resource: r.plural, name: obj.GetName()}
	if err := r.c.do(ctx, req, out); err != nil {
		return zero, err
	}
	return out, nil
}

// Update replaces obj (PUT) and returns it as stored. obj.ResourceVersion,
// when set, must be the current one or the server answers 409 Conflict.
func (r *Resource[T, L]) Update(ctx context.Context, obj T) (T, error) {
	return r.put(ctx, obj, "")
}

// put writes obj to the object or one of its subresources.
func (r *Resource[T, L]) put(ctx context.Context, obj T, subresource string) (T, error) {
	var zero T
	body, err := json.Marshal(obj)
	if err != nil {
		return zero, err
	}
	return r.call(ctx, http.MethodPut, obj.GetName(), subresource, body, "application/json")
}

// Patch changes the object called name with data, a patch of type pt:
// types.MergePatchType (RFC 7386) or types.JSONPatchType (RFC 6902).
func (r *Resource[T, L]) Patch(ctx context.Context, name string, pt types.PatchType, data []byte) (T, error) {
	var zero T
	if pt == "" {
		return zero, errors.New("client: patch: a patch type is required")
	}
	return r.call(ctx, http.MethodPatch, name, "", data, string(pt))
}

// Delete deletes the object called name.
func (r *Resource[T, L]) Delete(ctx context.Context, name string) error {
	req, err := r.objectRequest(http.MethodDelete, name, "")
	if err != nil {
		return err
	}
	return r.c.do(ctx, req, nil)
}

// call sends one request about one object and decodes the object answered.
func (r *Resource[T, L]) call(ctx context.Context, method, name, subresource string, body []byte, contentType string) (T, error) {
	var zero T
	req, err := r.objectRequest(method, name, subresource)
	if err != nil {
		return zero, err
	}
	req.body, req.contentType = body, contentType
	out := r.newObj()
	if err := r.c.do(ctx, req, out); err != nil {
		return zero, err
	}
	return out, nil
}
