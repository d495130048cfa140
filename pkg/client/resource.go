package client

import (
	"context"
	"errors"
	"fmt"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/watch"

	configapi "pkgserver.dev/pkgserver/api/config/v1alpha1"
	pkgapi "pkgserver.dev/pkgserver/api/pkg/v1alpha1"
	typedpkg "pkgserver.dev/pkgserver/pkg/generated/clientset/versioned/typed/pkg/v1alpha1"
)

const (
	configGroup = configapi.Group
	pkgGroup    = pkgapi.Group
)

// Object is a pointer to a served kind.
type Object interface {
	metav1.Object
	runtime.Object
}

// typedClient is what the generated client of every kind offers.
type typedClient[T Object, L runtime.Object] interface {
	Create(ctx context.Context, obj T, opts metav1.CreateOptions) (T, error)
	Update(ctx context.Context, obj T, opts metav1.UpdateOptions) (T, error)
	Delete(ctx context.Context, name string, opts metav1.DeleteOptions) error
	Get(ctx context.Context, name string, opts metav1.GetOptions) (T, error)
	List(ctx context.Context, opts metav1.ListOptions) (L, error)
	Watch(ctx context.Context, opts metav1.ListOptions) (watch.Interface, error)
	Patch(ctx context.Context, name string, pt types.PatchType, data []byte, opts metav1.PatchOptions, subresources ...string) (T, error)
}

// Resource is the typed client of one kind in one namespace, a thin layer
// over the generated clientset that checks what a request needs before
// sending it. Use it through RepositoryClient, PackageRevisionClient and
// PackageRevisionResourcesClient.
type Resource[T Object, L runtime.Object] struct {
	typed         typedClient[T, L]
	group, plural string
	namespace     string
	// kind is set on what comes back: client-go's typed decoding leaves
	// apiVersion and kind empty, and printed objects need them.
	kind schema.GroupVersionKind
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

func (o ListOptions) meta() metav1.ListOptions {
	return metav1.ListOptions{
		LabelSelector:       o.LabelSelector,
		FieldSelector:       o.FieldSelector,
		Limit:               o.Limit,
		Continue:            o.Continue,
		ResourceVersion:     o.ResourceVersion,
		AllowWatchBookmarks: o.AllowWatchBookmarks,
	}
}

// Namespace returns the namespace of r; empty means all namespaces.
func (r *Resource[T, L]) Namespace() string { return r.namespace }

// check refuses, before sending, a request on one object without a
// namespace or a name.
func (r *Resource[T, L]) check(verb, name string) error {
	if r.namespace == "" {
		return fmt.Errorf("client: %s %s %q: a namespace is required", verb, r.plural, name)
	}
	if name == "" {
		return fmt.Errorf("client: %s %s: a name is required", verb, r.plural)
	}
	return nil
}

// List returns the objects that opts selects. When the answer is paged
// (opts.Limit), the list's Continue field fetches the next page.
func (r *Resource[T, L]) List(ctx context.Context, opts ListOptions) (L, error) {
	out, err := r.typed.List(ctx, opts.meta())
	if err != nil {
		return out, r.about(err, "")
	}
	out.GetObjectKind().SetGroupVersionKind(r.kind.GroupVersion().WithKind(r.kind.Kind + "List"))
	_ = meta.EachListItem(out, func(o runtime.Object) error {
		o.GetObjectKind().SetGroupVersionKind(r.kind)
		return nil
	})
	return out, nil
}

// Get returns the object called name.
func (r *Resource[T, L]) Get(ctx context.Context, name string) (T, error) {
	if err := r.check("get", name); err != nil {
		var zero T
		return zero, err
	}
	out, err := r.typed.Get(ctx, name, metav1.GetOptions{})
	return r.result(out, err, name)
}

// Create creates obj (POST) and returns it as stored.
func (r *Resource[T, L]) Create(ctx context.Context, obj T) (T, error) {
	if r.namespace == "" {
		var zero T
		return zero, fmt.Errorf("client: create %s: a namespace is required", r.plural)
	}
	out, err := r.typed.Create(ctx, obj, metav1.CreateOptions{})
	return r.result(out, err, obj.GetName())
}

// Update replaces obj (PUT) and returns it as stored. obj.ResourceVersion,
// when set, must be the current one or the server answers 409 Conflict.
func (r *Resource[T, L]) Update(ctx context.Context, obj T) (T, error) {
	if err := r.check("update", obj.GetName()); err != nil {
		var zero T
		return zero, err
	}
	out, err := r.typed.Update(ctx, obj, metav1.UpdateOptions{})
	return r.result(out, err, obj.GetName())
}

// Patch changes the object called name with data, a patch of type pt:
// types.MergePatchType (RFC 7386), types.JSONPatchType (RFC 6902) or
// types.ApplyYAMLPatchType (server-side apply; use the clientset for its
// PatchOptions.FieldManager).
func (r *Resource[T, L]) Patch(ctx context.Context, name string, pt types.PatchType, data []byte) (T, error) {
	var zero T
	if pt == "" {
		return zero, errors.New("client: patch: a patch type is required")
	}
	if err := r.check("patch", name); err != nil {
		return zero, err
	}
	out, err := r.typed.Patch(ctx, name, pt, data, metav1.PatchOptions{})
	return r.result(out, err, name)
}

// Delete deletes the object called name.
func (r *Resource[T, L]) Delete(ctx context.Context, name string) error {
	if err := r.check("delete", name); err != nil {
		return err
	}
	return r.about(r.typed.Delete(ctx, name, metav1.DeleteOptions{}), name)
}

// Watch streams the changes to the objects opts selects (GET ?watch=true).
// Event objects are of the client's kind (for example *pkgapi.PackageRevision),
// or a *metav1.Status for watch.Error events; a 410 Gone Status there means
// opts.ResourceVersion is too old: list again and watch from the list's
// resourceVersion. The result channel closes when the server ends the stream,
// when ctx is done or when Stop is called. For a cache of objects kept up to
// date, use the informers of pkg/generated/informers instead.
func (r *Resource[T, L]) Watch(ctx context.Context, opts ListOptions) (watch.Interface, error) {
	w, err := r.typed.Watch(ctx, opts.meta())
	if err != nil {
		return nil, r.about(err, "")
	}
	return newQuietWatch(ctx, w), nil
}

// result finishes the answer of a call about the object name: its kind
// set, or the error's details completed.
func (r *Resource[T, L]) result(out T, err error, name string) (T, error) {
	if err != nil {
		return out, r.about(err, name)
	}
	out.GetObjectKind().SetGroupVersionKind(r.kind)
	return out, nil
}

// about completes the details of a Status error from the request, when the
// server (or a proxy before it) left them out.
func (r *Resource[T, L]) about(err error, name string) error {
	var se *apierrors.StatusError
	if !errors.As(err, &se) {
		return err
	}
	d := se.ErrStatus.Details
	if d == nil {
		d = &metav1.StatusDetails{}
		se.ErrStatus.Details = d
	}
	if d.Name == "" {
		d.Name = name
	}
	if d.Group == "" {
		d.Group = r.group
	}
	if d.Kind == "" {
		d.Kind = r.plural
	}
	return err
}

// errNoCreateDelete: contents come and go with their PackageRevision.
var errNoCreateDelete = errors.New("client: packagerevisionresources are created and deleted with their PackageRevision")

// noCreateDelete completes the generated client of PackageRevisionResources,
// which has no create or delete, to the common typedClient.
type noCreateDelete struct {
	typedpkg.PackageRevisionResourcesInterface
}

func (noCreateDelete) Create(context.Context, *pkgapi.PackageRevisionResources, metav1.CreateOptions) (*pkgapi.PackageRevisionResources, error) {
	return nil, errNoCreateDelete
}

func (noCreateDelete) Delete(context.Context, string, metav1.DeleteOptions) error {
	return errNoCreateDelete
}
