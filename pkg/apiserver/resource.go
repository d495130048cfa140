package apiserver

import (
	"context"
	"errors"
	"maps"
	"net/http"
	"slices"

	"github.com/labstack/echo/v4"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/fields"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"

	"pkgserver.dev/pkgserver/pkg/engine"
	"pkgserver.dev/pkgserver/pkg/errdef"
)

// object is a pointer to a served kind: a struct embedding metav1.TypeMeta and
// metav1.ObjectMeta.
type object[T any] interface {
	*T
	metav1.Object
	runtime.Object
}

// servedResource is one resource as the router and discovery see it.
type servedResource interface {
	register(e *echo.Echo, s *server)
	apiResources() []metav1.APIResource
	openAPI(b *schemaBuilder, paths jsonObj)
}

// resource serves one kind over the engine's functions for it. A nil
// function leaves that verb out of the routes and of discovery.
type resource[T any, P object[T]] struct {
	gvk        schema.GroupVersionKind
	plural     string
	singular   string
	shortNames []string
	categories []string
	// fieldsOf gives the values a fieldSelector can match; its keys on a
	// zero object are the fields allowed.
	fieldsOf func(P) fields.Set

	// columns are the server-side table columns kubectl prints.
	columns []column[P]
	// watchKind is the engine event kind this resource's watch follows, and
	// fromEvent turns an event's object into this resource (false: skip it).
	watchKind string
	fromEvent func(ctx context.Context, ev engine.Event) (*T, bool)
	// peek turns an event's object (or its old state) into this resource
	// without reading anything, for selectors; nil: a type assertion.
	peek func(obj any) (*T, bool)

	list    func(ctx context.Context, namespace string) ([]T, error)
	get     func(ctx context.Context, namespace, name string) (*T, error)
	create  func(ctx context.Context, obj *T) (*T, error)
	update  func(ctx context.Context, obj *T) (*T, error)
	delete  func(ctx context.Context, namespace, name string) error
	approve func(ctx context.Context, obj *T, user string) (*T, error)
	// status writes the status subresource.
	status func(ctx context.Context, obj *T) (*T, error)
	// refresh serves POST on the refresh subresource (rescan one repository).
	refresh func(ctx context.Context, namespace, name string) (*T, error)
	// pager, when set, pages and selects in the engine (handlePagedList).
	pager func(ctx context.Context, opts engine.ListOptions) (*engine.RevisionPage, error)
	// reads are GET-only subresources by name (history, diff).
	reads map[string]readFunc

	// refuse, when set, sees every written body as JSON before it is
	// decoded and may turn it down (objects this server does not serve).
	refuse func(doc []byte) error
	// untracked kinds keep no managed fields of their own: their metadata
	// is another object's (PackageRevisionResources, its revision's).
	untracked bool
	// fm are the field managers, set when the routes are registered.
	fm fieldManagers
}

// readFunc serves a GET on a read-only subresource; errors go to the error table.
type readFunc func(c echo.Context, namespace, name string) error

// list is the wire shape of every <Kind>List.
type list[T any] struct {
	metav1.TypeMeta `json:",inline"`
	metav1.ListMeta `json:"metadata"`
	Items           []T `json:"items"`
}

func (r *resource[T, P]) register(e *echo.Echo, s *server) {
	fm, err := newFieldManagers(s.typeConverter, r.gvk, r.status != nil)
	if err != nil {
		panic(err) // the schemas come from the compiled types
	}
	r.fm = fm
	gv := "/apis/" + r.gvk.Group + "/" + r.gvk.Version
	coll := gv + "/namespaces/:namespace/" + r.plural
	item := coll + "/:name"

	list := func(c echo.Context) error { return r.handleList(c, s) }
	e.GET(gv+"/"+r.plural, list) // all namespaces
	e.GET(coll, list)
	get := func(c echo.Context) error { return r.handleGet(c, s) }
	e.GET(item, get)
	if r.create != nil {
		e.POST(coll, func(c echo.Context) error { return r.handleCreate(c, s) })
	}
	if r.update != nil {
		e.PUT(item, func(c echo.Context) error { return r.handleWrite(c, s, r.update, "") })
		e.PATCH(item, func(c echo.Context) error { return r.handlePatch(c, s, r.update, "") })
	}
	for sub, read := range r.reads {
		e.GET(item+"/"+sub, func(c echo.Context) error {
			name := c.Param("name")
			return r.about(read(c, c.Param("namespace"), name), name)
		})
	}
	if r.refresh != nil {
		e.POST(item+"/refresh", func(c echo.Context) error {
			name := c.Param("name")
			out, err := r.refresh(c.Request().Context(), c.Param("namespace"), name)
			if err != nil {
				return r.about(err, name)
			}
			return r.respond(c, http.StatusOK, out)
		})
	}
	if r.status != nil {
		e.GET(item+"/status", get)
		e.PUT(item+"/status", func(c echo.Context) error { return r.handleWrite(c, s, r.status, "status") })
		e.PATCH(item+"/status", func(c echo.Context) error { return r.handlePatch(c, s, r.status, "status") })
	}
	if r.delete != nil {
		e.DELETE(item, func(c echo.Context) error { return r.handleDelete(c, s) })
	}
	if r.approve != nil {
		e.GET(item+"/approval", get)
		e.PUT(item+"/approval", func(c echo.Context) error {
			// publishedBy is the authenticated identity of the approver.
			user := userName(c.Request())
			return r.handleWrite(c, s, func(ctx context.Context, obj *T) (*T, error) {
				return r.approve(ctx, obj, user)
			}, "approval")
		})
	}
}

// peekObject is r.peek or a type assertion.
func (r *resource[T, P]) peekObject(obj any) (*T, bool) {
	if r.peek != nil {
		return r.peek(obj)
	}
	t, ok := obj.(*T)
	return t, ok
}

func (r *resource[T, P]) apiResources() []metav1.APIResource {
	verbs := metav1.Verbs{"get", "list"}
	if r.create != nil {
		verbs = append(verbs, "create")
	}
	if r.update != nil {
		verbs = append(verbs, "update", "patch")
	}
	if r.watchKind != "" {
		verbs = append(verbs, "watch")
	}
	if r.delete != nil {
		verbs = append(verbs, "delete")
	}
	out := []metav1.APIResource{{
		Name:         r.plural,
		SingularName: r.singular,
		Namespaced:   true,
		Kind:         r.gvk.Kind,
		Verbs:        verbs,
		ShortNames:   r.shortNames,
		Categories:   r.categories,
	}}
	if r.approve != nil {
		out = append(out, metav1.APIResource{
			Name:       r.plural + "/approval",
			Namespaced: true,
			Kind:       r.gvk.Kind,
			Verbs:      metav1.Verbs{"get", "update"},
		})
	}
	for _, sub := range slices.Sorted(maps.Keys(r.reads)) {
		out = append(out, metav1.APIResource{Name: r.plural + "/" + sub, Namespaced: true, Kind: r.gvk.Kind, Verbs: metav1.Verbs{"get"}})
	}
	if r.refresh != nil {
		out = append(out, metav1.APIResource{
			Name:       r.plural + "/refresh",
			Namespaced: true,
			Kind:       r.gvk.Kind,
			Verbs:      metav1.Verbs{"create"},
		})
	}
	if r.status != nil {
		out = append(out, metav1.APIResource{
			Name:       r.plural + "/status",
			Namespaced: true,
			Kind:       r.gvk.Kind,
			Verbs:      metav1.Verbs{"get", "update", "patch"},
		})
	}
	return out
}

func (r *resource[T, P]) handleList(c echo.Context, s *server) error {
	q, err := parseListQuery(c.QueryParams(), r.fieldsOf(P(new(T))))
	if err != nil {
		return r.about(err, "")
	}
	if q.watch {
		return r.handleWatch(c, s, q)
	}
	if err := awaitListVersion(c.Request().Context(), s.svc, q); err != nil {
		return r.about(err, "")
	}
	rv := ""
	if w, ok := s.svc.(engine.Watcher); ok {
		rv = w.ResourceVersion() // before listing: a watch from here misses nothing
	}
	table := wantsTable(c.Request().Header.Get(echo.HeaderAccept)) && r.columns != nil
	if r.pager != nil {
		return r.handlePagedList(c, q, table)
	}
	items, err := r.list(c.Request().Context(), c.Param("namespace"))
	if err != nil {
		return r.about(err, "")
	}
	kept, next := page(items, q, r.fieldsOf)
	meta := metav1.ListMeta{Continue: next, ResourceVersion: rv}
	if table {
		return c.JSON(http.StatusOK, toTable(r.columns, kept, c.QueryParam("includeObject"), meta, r.setKind))
	}
	for i := range kept {
		r.setKind(&kept[i])
	}
	return c.JSON(http.StatusOK, &list[T]{
		TypeMeta: metav1.TypeMeta{APIVersion: r.gvk.GroupVersion().String(), Kind: r.gvk.Kind + "List"},
		ListMeta: meta,
		Items:    kept,
	})
}

// awaitListVersion makes a list with a resourceVersion as fresh as it asks:
// "not older than" (the default) waits a moment for this replica to catch
// up; Exact is served only for the current one (no history is kept).
func awaitListVersion(ctx context.Context, svc engine.Service, q listQuery) error {
	switch q.resourceVersion {
	case "":
		return awaitCurrent(ctx, svc)
	case "0":
		return nil // any state will do
	}
	w, ok := svc.(engine.Watcher)
	if !ok {
		return nil
	}
	if q.resourceVersionMatch == "Exact" {
		if q.resourceVersion != w.ResourceVersion() {
			return newError(errdef.ErrGone, "resourceVersion %s: only the current state (%s) can be listed exactly", q.resourceVersion, w.ResourceVersion())
		}
		return nil
	}
	if a, ok := svc.(interface {
		AwaitResourceVersion(context.Context, string) error
	}); ok {
		return a.AwaitResourceVersion(ctx, q.resourceVersion)
	}
	return nil
}

// awaitCurrent makes a read without a resourceVersion consistent: it sees
// every write acknowledged before it, on any replica.
func awaitCurrent(ctx context.Context, svc engine.Service) error {
	if a, ok := svc.(interface{ AwaitCurrent(context.Context) error }); ok {
		return a.AwaitCurrent(ctx)
	}
	return nil
}

func (r *resource[T, P]) handleGet(c echo.Context, s *server) error {
	name := c.Param("name")
	if c.QueryParam("resourceVersion") == "" {
		if err := awaitCurrent(c.Request().Context(), s.svc); err != nil {
			return r.about(err, name)
		}
	}
	obj, err := r.get(c.Request().Context(), c.Param("namespace"), name)
	if err != nil {
		return r.about(err, name)
	}
	if wantsTable(c.Request().Header.Get(echo.HeaderAccept)) && r.columns != nil {
		return c.JSON(http.StatusOK, toTable(r.columns, []T{*obj}, c.QueryParam("includeObject"), metav1.ListMeta{}, r.setKind))
	}
	return r.respond(c, http.StatusOK, obj)
}

func (r *resource[T, P]) handleCreate(c echo.Context, s *server) error {
	opts, err := createOptions(c)
	if err != nil {
		return r.about(err, "")
	}
	obj := new(T)
	if err := s.decodeBody(c, obj, r.refuse); err != nil {
		return r.about(err, "")
	}
	name := P(obj).GetName()
	if err := r.checkBody(obj, c.Param("namespace"), ""); err != nil {
		return r.about(err, name)
	}
	obj = r.track(r.fm.object, nil, obj, opts.manager)
	out, err := r.create(opts.context(c.Request().Context()), obj)
	if err != nil {
		return r.about(err, name)
	}
	return r.respond(c, http.StatusCreated, out)
}

// handleWrite serves a PUT on the object or a subresource of it ("" for the
// object).
func (r *resource[T, P]) handleWrite(c echo.Context, s *server, write func(context.Context, *T) (*T, error), sub string) error {
	name := c.Param("name")
	opts, err := updateOptions(c)
	if err != nil {
		return r.about(err, name)
	}
	obj := new(T)
	if err := s.decodeBody(c, obj, r.refuse); err != nil {
		return r.about(err, name)
	}
	if err := r.checkBody(obj, c.Param("namespace"), name); err != nil {
		return r.about(err, name)
	}
	if fm := r.fm.forSubresource(sub); fm != nil && !r.untracked {
		// The change is tracked against the current object; when there is
		// none, the write itself says why.
		if live, err := r.get(c.Request().Context(), c.Param("namespace"), name); err == nil {
			obj = r.track(fm, live, obj, opts.manager)
		}
	}
	out, err := write(opts.context(c.Request().Context()), obj)
	if err != nil {
		return r.about(err, name)
	}
	return r.respond(c, http.StatusOK, out)
}

// handleDelete answers with a Success Status, as Kubernetes does when it
// does not return the object. The DeleteOptions' dryRun and preconditions
// go to the engine.
func (r *resource[T, P]) handleDelete(c echo.Context, s *server) error {
	name := c.Param("name")
	opts, err := deleteOptions(c, s.maxBody)
	if err != nil {
		return r.about(err, name)
	}
	ctx := engine.WithWriteOptions(c.Request().Context(), opts)
	if err := r.delete(ctx, c.Param("namespace"), name); err != nil {
		return r.about(err, name)
	}
	return c.JSON(http.StatusOK, &metav1.Status{
		TypeMeta: metav1.TypeMeta{Kind: "Status", APIVersion: "v1"},
		Status:   metav1.StatusSuccess,
		Code:     http.StatusOK,
		Details:  &metav1.StatusDetails{Name: name, Group: r.gvk.Group, Kind: r.plural},
	})
}

// checkBody makes the body agree with the request: apiVersion and kind, when
// given, must be this resource's; namespace and name, when given, must match
// the path, and are filled in from it when not.
func (r *resource[T, P]) checkBody(obj *T, namespace, name string) error {
	tm := r.typeMeta(obj)
	if gv := r.gvk.GroupVersion().String(); tm.APIVersion != "" && tm.APIVersion != gv {
		return newError(errdef.ErrBadRequest, "apiVersion %q does not match the request: want %q", tm.APIVersion, gv)
	}
	if tm.Kind != "" && tm.Kind != r.gvk.Kind {
		return newError(errdef.ErrBadRequest, "kind %q does not match the request: want %q", tm.Kind, r.gvk.Kind)
	}
	p := P(obj)
	switch ns := p.GetNamespace(); {
	case ns == "":
		p.SetNamespace(namespace)
	case ns != namespace:
		return newError(errdef.ErrBadRequest, "metadata.namespace %q does not match the namespace of the request %q", ns, namespace)
	}
	if name == "" {
		return nil
	}
	switch n := p.GetName(); {
	case n == "":
		p.SetName(name)
	case n != name:
		return newError(errdef.ErrBadRequest, "metadata.name %q does not match the name of the request %q", n, name)
	}
	return nil
}

// respond writes obj with its apiVersion and kind set.
func (r *resource[T, P]) respond(c echo.Context, code int, obj *T) error {
	if obj == nil {
		return errors.New("engine returned no object and no error")
	}
	r.setKind(obj)
	return c.JSON(code, obj)
}

func (r *resource[T, P]) setKind(obj *T) {
	tm := r.typeMeta(obj)
	tm.APIVersion, tm.Kind = r.gvk.GroupVersion().String(), r.gvk.Kind
}

func (r *resource[T, P]) about(err error, name string) error {
	return aboutObject(err, r.gvk.Group, r.plural, name)
}

// typeMeta reaches the embedded TypeMeta: its GetObjectKind returns itself.
func (r *resource[T, P]) typeMeta(obj *T) *metav1.TypeMeta {
	return P(obj).GetObjectKind().(*metav1.TypeMeta)
}
