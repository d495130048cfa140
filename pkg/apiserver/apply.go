package apiserver

import (
	"encoding/json"
	"errors"
	"fmt"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	utiljson "k8s.io/apimachinery/pkg/util/json"
	"k8s.io/apimachinery/pkg/util/managedfields"
	utilruntime "k8s.io/apimachinery/pkg/util/runtime"
	"k8s.io/kube-openapi/pkg/validation/spec"
	"sigs.k8s.io/structured-merge-diff/v6/fieldpath"

	configapi "pkgserver.dev/pkgserver/api/config/v1alpha1"
	pkgapi "pkgserver.dev/pkgserver/api/pkg/v1alpha1"
	"pkgserver.dev/pkgserver/pkg/errdef"
)

// Server-side apply and managed fields, as kube-apiserver does them with
// apimachinery's managedfields package: every create, update and patch
// records its field manager in metadata.managedFields, and an apply patch is
// merged by structured-merge-diff, with conflicts between managers (409)
// unless forced. The merge follows the same schemas the OpenAPI documents
// serve, so kubectl and the server agree on list and map semantics.

// scheme knows the served kinds; the field managers convert and create
// objects with it.
var scheme = func() *runtime.Scheme {
	s := runtime.NewScheme()
	utilruntime.Must(configapi.AddToScheme(s))
	utilruntime.Must(pkgapi.AddToScheme(s))
	return s
}()

// newTypeConverter builds the structured-merge-diff types of every served
// kind from the schemas of the OpenAPI documents.
func newTypeConverter(groups []apiGroup) (managedfields.TypeConverter, error) {
	b := &schemaBuilder{docs: parseDocs(configapi.Source, pkgapi.Source), schemas: jsonObj{}}
	for _, g := range groups {
		for _, r := range g.resources {
			r.openAPI(b, jsonObj{})
		}
	}
	raw, err := json.Marshal(b.schemas)
	if err != nil {
		return nil, err
	}
	var schemas map[string]*spec.Schema
	if err := json.Unmarshal(raw, &schemas); err != nil {
		return nil, err
	}
	return managedfields.NewTypeConverter(schemas, false)
}

// fieldManagers are the field managers of one kind: for the object, and
// for its status subresource.
type fieldManagers struct {
	object, status *managedfields.FieldManager
}

// newFieldManagers returns the field managers of gvk. As for a custom
// resource with a status subresource, status is not the object's to set and
// spec is not the status subresource's (their changes are ignored there, so
// they never make a conflict).
func newFieldManagers(tc managedfields.TypeConverter, gvk schema.GroupVersionKind, hasStatus bool) (fieldManagers, error) {
	version := fieldpath.APIVersion(gvk.GroupVersion().String())
	var objectReset, statusReset map[fieldpath.APIVersion]fieldpath.Filter
	if hasStatus {
		objectReset = map[fieldpath.APIVersion]fieldpath.Filter{
			version: fieldpath.NewExcludeSetFilter(fieldpath.NewSet(fieldpath.MakePathOrDie("status"))),
		}
		statusReset = map[fieldpath.APIVersion]fieldpath.Filter{
			version: fieldpath.NewExcludeSetFilter(fieldpath.NewSet(fieldpath.MakePathOrDie("spec"))),
		}
	}
	var fm fieldManagers
	var err error
	fm.object, err = managedfields.NewDefaultFieldManager(tc, scheme, scheme, scheme, gvk, gvk.GroupVersion(), "", objectReset)
	if err != nil {
		return fm, err
	}
	if hasStatus {
		fm.status, err = managedfields.NewDefaultFieldManager(tc, scheme, scheme, scheme, gvk, gvk.GroupVersion(), "status", statusReset)
	}
	return fm, err
}

// forSubresource returns the field manager of a subresource ("" for the
// object); nil means the subresource records no managed fields (approval).
func (fm fieldManagers) forSubresource(sub string) *managedfields.FieldManager {
	switch sub {
	case "":
		return fm.object
	case "status":
		return fm.status
	}
	return nil
}

// track records in obj's managedFields what manager changed from live
// (nil: a create), as every write does. Failing to track never fails the
// write: the live object's managed fields are kept, as kube-apiserver does.
func (r *resource[T, P]) track(fm *managedfields.FieldManager, live, obj *T, manager string) *T {
	if fm == nil || r.untracked {
		return obj
	}
	if live == nil {
		live = new(T)
	}
	out, err := r.fromRuntime(fm.UpdateNoErrors(P(live), P(obj), manager))
	if err != nil {
		return obj
	}
	return out
}

// apply merges an apply patch (YAML or JSON) for the object namespace/name
// into live (a new object when live is nil: create on apply) for manager.
func (r *resource[T, P]) apply(fm *managedfields.FieldManager, live *T, namespace, name string, patch []byte, manager string, force bool, lim limits) (*T, error) {
	if fm == nil {
		return nil, newError(errdef.ErrBadRequest, "server-side apply is not served on this subresource")
	}
	doc, err := yamlToJSON(patch, lim.pkg.YAML)
	if err != nil {
		return nil, err
	}
	if r.refuse != nil {
		if err := r.refuse(doc); err != nil {
			return nil, err
		}
	}
	applied := &unstructured.Unstructured{}
	// apimachinery's JSON keeps whole numbers as int64, as the merge expects.
	if err := utiljson.Unmarshal(doc, &applied.Object); err != nil || applied.Object == nil {
		return nil, newError(errdef.ErrBadRequest, "apply patch: not a YAML or JSON object: %v", err)
	}
	if err := r.checkApplied(applied, namespace, name); err != nil {
		return nil, err
	}
	if live == nil {
		live = new(T)
	}
	if r.untracked {
		// With no owners recorded there is nobody to conflict with: the
		// applied configuration wins, as a PUT would.
		live = r.withoutManagedFields(live)
		force = true
	}
	out, err := fm.Apply(P(live), applied, manager, force)
	if err != nil {
		return nil, applyError(err)
	}
	obj, err := r.fromRuntime(out)
	if err != nil {
		return nil, err
	}
	if r.untracked {
		P(obj).SetManagedFields(nil)
	}
	return obj, nil
}

// checkApplied refuses an applied configuration of another kind or object
// with the same words as any other body that does not match its request.
// Unlike other bodies, it must name its apiVersion and kind.
func (r *resource[T, P]) checkApplied(u *unstructured.Unstructured, namespace, name string) error {
	gv := r.gvk.GroupVersion().String()
	switch {
	case u.GetAPIVersion() != gv:
		return newError(errdef.ErrBadRequest, "apiVersion %q does not match the request: want %q", u.GetAPIVersion(), gv)
	case u.GetKind() != r.gvk.Kind:
		return newError(errdef.ErrBadRequest, "kind %q does not match the request: want %q", u.GetKind(), r.gvk.Kind)
	case u.GetNamespace() != "" && u.GetNamespace() != namespace:
		return newError(errdef.ErrBadRequest, "metadata.namespace %q does not match the namespace of the request %q", u.GetNamespace(), namespace)
	case u.GetName() != "" && u.GetName() != name:
		return newError(errdef.ErrBadRequest, "metadata.name %q does not match the name of the request %q", u.GetName(), name)
	}
	return nil
}

// withoutManagedFields returns a copy of obj with no managed fields.
func (r *resource[T, P]) withoutManagedFields(obj *T) *T {
	c := P(obj).DeepCopyObject().(P)
	c.SetManagedFields(nil)
	return (*T)(c)
}

// fromRuntime turns what a field manager returns into *T.
func (r *resource[T, P]) fromRuntime(o runtime.Object) (*T, error) {
	switch v := o.(type) {
	case P:
		return (*T)(v), nil
	case *unstructured.Unstructured:
		out := new(T)
		if err := runtime.DefaultUnstructuredConverter.FromUnstructured(v.Object, out); err != nil {
			return nil, newError(errdef.ErrInvalid, "applied object: %v", err)
		}
		return out, nil
	}
	return nil, fmt.Errorf("field manager returned a %T, want a %s", o, r.gvk.Kind)
}

// applyError maps what the field manager refuses onto the error table: the
// conflicts with their fields and managers as causes (kubectl prints them
// and suggests --force-conflicts); a patch that does not fit the schema is
// invalid.
func applyError(err error) error {
	var se *apierrors.StatusError
	if errors.As(err, &se) {
		st := se.Status()
		var causes []metav1.StatusCause
		if st.Details != nil {
			causes = st.Details.Causes
		}
		switch st.Reason {
		case metav1.StatusReasonConflict:
			return newCausedError(errdef.ErrConflict, causes, "%s", st.Message)
		case metav1.StatusReasonBadRequest:
			return newError(errdef.ErrBadRequest, "%s", st.Message)
		}
	}
	return newError(errdef.ErrInvalid, "apply patch: %v", err)
}
