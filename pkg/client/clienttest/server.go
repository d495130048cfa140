// Package clienttest is an in-memory fake of the pkgserver HTTP API for tests
// of code that uses package client (the pkgctl CLI, controllers, scripts).
//
// It serves the same paths, list selectors, lifecycle rules (pkg/lifecycle),
// optimistic concurrency and metav1.Status errors as the real server, from
// maps instead of an OCI registry. It does not serve watch or patch.
//
//	fake := clienttest.NewServer()
//	fake.AddRepository("default", "blueprints", false)
//	srv := httptest.NewServer(fake)
//	defer srv.Close()
//	c, _ := client.New(srv.URL)
package clienttest

import (
	"cmp"
	"encoding/json"
	"fmt"
	"maps"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"sync"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/fields"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/runtime/schema"

	configapi "pkgserver.dev/pkgserver/api/config/v1alpha1"
	pkgapi "pkgserver.dev/pkgserver/api/pkg/v1alpha1"
	"pkgserver.dev/pkgserver/pkg/errdef"
	"pkgserver.dev/pkgserver/pkg/krm"
	"pkgserver.dev/pkgserver/pkg/lifecycle"
	"pkgserver.dev/pkgserver/pkg/names"
)

// Server is the fake API. It is an http.Handler; serve it with httptest.
type Server struct {
	mu    sync.Mutex
	rv    int
	repos map[key]*configapi.Repository
	prs   map[key]*pkgapi.PackageRevision
	files map[key]map[string]string
	log   []string
}

type key struct{ ns, name string }

var prType = metav1.TypeMeta{APIVersion: pkgapi.SchemeGroupVersion.String(), Kind: pkgapi.PackageRevisionKind}

// NewServer returns an empty fake.
func NewServer() *Server {
	return &Server{
		repos: map[key]*configapi.Repository{},
		prs:   map[key]*pkgapi.PackageRevision{},
		files: map[key]map[string]string{},
	}
}

// Requests returns "METHOD path[?query]" of every request served so far.
func (s *Server) Requests() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.log)
}

// AddRepository stores a repository; deployment false makes a catalog.
func (s *Server) AddRepository(ns, name string, deployment bool) *configapi.Repository {
	s.mu.Lock()
	defer s.mu.Unlock()
	r := &configapi.Repository{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: ns},
		Spec:       configapi.RepositorySpec{Type: configapi.RepositoryTypeOCI, Deployment: deployment},
	}
	s.storeRepo(r)
	return r.DeepCopy()
}

// AddPackageRevision stores a revision in the given lifecycle with files,
// bypassing the lifecycle rules. Its repository must exist. A published one
// gets the next revision number of its package.
func (s *Server) AddPackageRevision(ns string, id names.ID, l pkgapi.Lifecycle, files map[string]string) *pkgapi.PackageRevision {
	s.mu.Lock()
	defer s.mu.Unlock()
	pr := &pkgapi.PackageRevision{
		TypeMeta:   prType,
		ObjectMeta: metav1.ObjectMeta{Name: id.Name(), Namespace: ns},
		Spec: pkgapi.PackageRevisionSpec{
			PackageRevID: revID(id),
			Lifecycle:    pkgapi.LifecycleDraft,
			Tasks:        []pkgapi.Task{{Type: pkgapi.TaskTypeInit, Init: &pkgapi.InitTask{}}},
		},
	}
	k := key{ns, pr.Name}
	s.prs[k] = pr
	s.files[k] = maps.Clone(files)
	if l == pkgapi.LifecyclePublished || l == pkgapi.LifecycleDeletionProposed {
		s.publish(pr, "fake")
	}
	pr.Spec.Lifecycle = l
	s.bump(&pr.ObjectMeta)
	return pr.DeepCopy()
}

// ServeHTTP implements http.Handler.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	s.mu.Lock()
	defer s.mu.Unlock()
	entry := r.Method + " " + r.URL.Path
	if r.URL.RawQuery != "" {
		entry += "?" + r.URL.RawQuery
	}
	s.log = append(s.log, entry)
	out, code, err := s.route(r)
	if err != nil {
		writeStatus(w, err)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	_ = json.NewEncoder(w).Encode(out)
}

// route parses /apis/<group>/v1alpha1[/namespaces/<ns>]/<plural>[/<name>[/approval]].
func (s *Server) route(r *http.Request) (any, int, error) {
	parts := strings.Split(strings.TrimPrefix(r.URL.Path, "/apis/"), "/")
	if len(parts) < 3 || parts[1] != "v1alpha1" {
		return nil, 0, echoErr(http.StatusNotFound, "the server could not find the requested resource")
	}
	group, rest := parts[0], parts[2:]
	ns := ""
	if rest[0] == "namespaces" && len(rest) >= 3 {
		ns, rest = rest[1], rest[2:]
	}
	plural, name, sub := rest[0], "", ""
	if len(rest) > 1 {
		name = rest[1]
	}
	if len(rest) > 2 {
		sub = rest[2]
	}
	if len(rest) > 3 || (sub != "" && sub != "approval") || (ns == "" && name != "") {
		return nil, 0, echoErr(http.StatusNotFound, "the server could not find the requested resource")
	}
	if r.URL.Query().Get("watch") == "true" {
		return nil, 0, echoErr(http.StatusMethodNotAllowed, "watch is not supported")
	}
	switch {
	case group == configapi.Group && plural == configapi.RepositoryResource && sub == "":
		return s.repositories(r, ns, name)
	case group == pkgapi.Group && plural == pkgapi.PackageRevisionResource:
		return s.packageRevisions(r, ns, name, sub)
	case group == pkgapi.Group && plural == pkgapi.PackageRevisionResourcesResource && sub == "":
		return s.resources(r, ns, name)
	}
	return nil, 0, echoErr(http.StatusNotFound, "the server could not find the requested resource")
}

func (s *Server) repositories(r *http.Request, ns, name string) (any, int, error) {
	k := key{ns, name}
	switch {
	case r.Method == http.MethodGet && name == "":
		var items []configapi.Repository
		for _, repo := range sorted(s.repos) {
			if ns == "" || repo.Namespace == ns {
				items = append(items, *repo)
			}
		}
		return &configapi.RepositoryList{TypeMeta: listMeta(configapi.SchemeGroupVersion, configapi.RepositoryKind), Items: items}, 200, nil
	case r.Method == http.MethodGet:
		if repo, ok := s.repos[k]; ok {
			return repo, 200, nil
		}
		return nil, 0, notFound("repository", name)
	case r.Method == http.MethodPost && name == "":
		in := &configapi.Repository{}
		if err := decode(r, in, ns); err != nil {
			return nil, 0, err
		}
		if err := names.ValidateRepositoryName(in.Name); err != nil {
			return nil, 0, fmt.Errorf("metadata.name: %w", err)
		}
		if _, ok := s.repos[key{ns, in.Name}]; ok {
			return nil, 0, fmt.Errorf("%w: repository %q", errdef.ErrAlreadyExists, in.Name)
		}
		in.Spec.Type = cmp.Or(in.Spec.Type, configapi.RepositoryTypeOCI)
		s.storeRepo(in)
		return in, http.StatusCreated, nil
	case r.Method == http.MethodDelete && name != "":
		if _, ok := s.repos[k]; !ok {
			return nil, 0, notFound("repository", name)
		}
		delete(s.repos, k)
		return success(name, configapi.Group, configapi.RepositoryResource), 200, nil
	}
	return nil, 0, echoErr(http.StatusMethodNotAllowed, "method not allowed")
}

func (s *Server) packageRevisions(r *http.Request, ns, name, sub string) (any, int, error) {
	k := key{ns, name}
	switch {
	case r.Method == http.MethodGet && name == "":
		sel, err := selectors(r)
		if err != nil {
			return nil, 0, err
		}
		var items []pkgapi.PackageRevision
		for _, pr := range sorted(s.prs) {
			if (ns == "" || pr.Namespace == ns) && sel.matches(pr.Labels, prFields(pr)) {
				items = append(items, *pr)
			}
		}
		return &pkgapi.PackageRevisionList{TypeMeta: listMeta(pkgapi.SchemeGroupVersion, pkgapi.PackageRevisionKind), Items: items}, 200, nil
	case r.Method == http.MethodGet:
		if pr, ok := s.prs[k]; ok {
			return pr, 200, nil
		}
		return nil, 0, notFound("package revision", name)
	case r.Method == http.MethodPost && name == "" && sub == "":
		in := &pkgapi.PackageRevision{}
		if err := decode(r, in, ns); err != nil {
			return nil, 0, err
		}
		return s.createRevision(in)
	case r.Method == http.MethodPut && name != "":
		in := &pkgapi.PackageRevision{}
		if err := decode(r, in, ns); err != nil {
			return nil, 0, err
		}
		cur, err := s.forWrite(k, in.ResourceVersion)
		if err != nil {
			return nil, 0, err
		}
		if sub == "approval" {
			if err := lifecycle.CheckApproval(cur.Spec.Lifecycle, in.Spec.Lifecycle); err != nil {
				return nil, 0, err
			}
			if cur.Spec.Lifecycle == pkgapi.LifecycleProposed && in.Spec.Lifecycle == pkgapi.LifecyclePublished {
				s.publish(cur, r.Header.Get("Impersonate-User")) // pkg/client WithUser
			}
		} else if err := lifecycle.CheckUpdate(cur.Spec.Lifecycle, cmp.Or(in.Spec.Lifecycle, cur.Spec.Lifecycle)); err != nil {
			return nil, 0, err
		}
		cur.Spec.Lifecycle = cmp.Or(in.Spec.Lifecycle, cur.Spec.Lifecycle)
		s.bump(&cur.ObjectMeta)
		return cur, 200, nil
	case r.Method == http.MethodDelete && name != "" && sub == "":
		cur, err := s.forWrite(k, "")
		if err != nil {
			return nil, 0, err
		}
		if err := lifecycle.CheckDelete(cur.Spec.Lifecycle); err != nil {
			return nil, 0, fmt.Errorf("package revision %q: %w", name, err)
		}
		delete(s.prs, k)
		delete(s.files, k)
		return success(name, pkgapi.Group, pkgapi.PackageRevisionResource), 200, nil
	}
	return nil, 0, echoErr(http.StatusMethodNotAllowed, "method not allowed")
}

func (s *Server) createRevision(in *pkgapi.PackageRevision) (any, int, error) {
	id := names.ID{Target: in.Spec.PackageRevID.Target, Repository: in.Spec.PackageRevID.Repository,
		Realm: in.Spec.PackageRevID.Realm, Package: in.Spec.PackageRevID.Package, Workspace: in.Spec.PackageRevID.Workspace}
	if id == (names.ID{}) && in.Name != "" {
		var err error
		if id, err = names.Parse(in.Name); err != nil {
			return nil, 0, err
		}
	}
	if err := id.Validate(); err != nil {
		return nil, 0, err
	}
	if err := lifecycle.CheckCreate(in.Spec.Lifecycle); err != nil {
		return nil, 0, err
	}
	repo, ok := s.repos[key{in.Namespace, id.Repository}]
	if !ok {
		return nil, 0, fmt.Errorf("%w: spec.packageRevID.repository: repository %q not found", errdef.ErrInvalid, id.Repository)
	}
	if repo.Spec.Deployment == (id.Target == pkgapi.CatalogTarget) {
		return nil, 0, fmt.Errorf("%w: spec.packageRevID.target: %q does not fit repository %q", errdef.ErrInvalid, id.Target, id.Repository)
	}
	k := key{in.Namespace, id.Name()}
	if _, ok := s.prs[k]; ok {
		return nil, 0, fmt.Errorf("%w: package %q already has a revision with workspace %q", errdef.ErrAlreadyExists, id.Package, id.Workspace)
	}
	tasks := in.Spec.Tasks
	if len(tasks) == 0 {
		tasks = []pkgapi.Task{{Type: pkgapi.TaskTypeInit, Init: &pkgapi.InitTask{}}}
	}
	pr := &pkgapi.PackageRevision{
		TypeMeta:   prType,
		ObjectMeta: metav1.ObjectMeta{Name: id.Name(), Namespace: in.Namespace, Labels: in.Labels, Annotations: in.Annotations},
		Spec:       pkgapi.PackageRevisionSpec{PackageRevID: revID(id), Lifecycle: pkgapi.LifecycleDraft, Tasks: tasks},
	}
	var files map[string]string
	switch t := tasks[0]; t.Type {
	case pkgapi.TaskTypeInit:
		desc := ""
		if t.Init != nil {
			desc = t.Init.Description
		}
		files = map[string]string{"Kptfile": krm.NewKptfile(id.Package, desc)}
	case pkgapi.TaskTypeClone, pkgapi.TaskTypeEdit:
		var src string
		if t.Clone != nil {
			src = t.Clone.Upstream.Name
		}
		if t.Edit != nil {
			src = t.Edit.Source.Name
		}
		up, ok := s.prs[key{in.Namespace, src}]
		if !ok || up.Spec.Lifecycle != pkgapi.LifecyclePublished {
			return nil, 0, fmt.Errorf("%w: spec.tasks[0]: %q is not a published package revision", errdef.ErrInvalid, src)
		}
		if t.Type == pkgapi.TaskTypeEdit && (up.Spec.PackageRevID.Package != id.Package || up.Spec.PackageRevID.Repository != id.Repository) {
			return nil, 0, fmt.Errorf("%w: spec.tasks[0].edit.source.name: %q is not a revision of package %q", errdef.ErrInvalid, src, id.Package)
		}
		if t.Type == pkgapi.TaskTypeClone {
			pr.Spec.Upstream = &pkgapi.Upstream{Name: up.Name, PackageRevID: up.Spec.PackageRevID}
		}
		files = maps.Clone(s.files[key{in.Namespace, src}])
	default:
		return nil, 0, fmt.Errorf("%w: spec.tasks[0].type: %q is not one of init, clone, edit", errdef.ErrInvalid, t.Type)
	}
	s.prs[k] = pr
	s.files[k] = files
	s.bump(&pr.ObjectMeta)
	return pr, http.StatusCreated, nil
}

func (s *Server) resources(r *http.Request, ns, name string) (any, int, error) {
	k := key{ns, name}
	switch {
	case r.Method == http.MethodGet && name == "":
		var items []pkgapi.PackageRevisionResources
		for _, pr := range sorted(s.prs) {
			if ns == "" || pr.Namespace == ns {
				items = append(items, *s.prr(pr))
			}
		}
		return &pkgapi.PackageRevisionResourcesList{TypeMeta: listMeta(pkgapi.SchemeGroupVersion, pkgapi.PackageRevisionResourcesKind), Items: items}, 200, nil
	case r.Method == http.MethodGet:
		if pr, ok := s.prs[k]; ok {
			return s.prr(pr), 200, nil
		}
		return nil, 0, notFound("package revision", name)
	case r.Method == http.MethodPut && name != "":
		in := &pkgapi.PackageRevisionResources{}
		if err := decode(r, in, ns); err != nil {
			return nil, 0, err
		}
		cur, err := s.forWrite(k, in.ResourceVersion)
		if err != nil {
			return nil, 0, err
		}
		if err := lifecycle.CheckContents(cur.Spec.Lifecycle); err != nil {
			return nil, 0, fmt.Errorf("package revision %q: %w", name, err)
		}
		if err := krm.Validate(in.Spec.Resources); err != nil {
			return nil, 0, err
		}
		if !maps.Equal(s.files[k], in.Spec.Resources) {
			s.files[k] = maps.Clone(in.Spec.Resources)
			s.bump(&cur.ObjectMeta)
		}
		return s.prr(cur), 200, nil
	}
	return nil, 0, echoErr(http.StatusMethodNotAllowed, "method not allowed")
}

// forWrite finds a revision and checks the resourceVersion a write carries.
func (s *Server) forWrite(k key, rv string) (*pkgapi.PackageRevision, error) {
	cur, ok := s.prs[k]
	if !ok {
		return nil, notFound("package revision", k.name)
	}
	if rv != "" && rv != cur.ResourceVersion {
		return nil, fmt.Errorf("%w: the object has been modified (resourceVersion %q, current %q); read it again and apply your change to the latest version",
			errdef.ErrConflict, rv, cur.ResourceVersion)
	}
	return cur, nil
}

// publish gives pr the next revision number of its package and the latest label.
func (s *Server) publish(pr *pkgapi.PackageRevision, user string) {
	n := 0
	for _, o := range s.prs {
		if o.Namespace == pr.Namespace && samePackage(o.Spec.PackageRevID, pr.Spec.PackageRevID) {
			if m, ok := names.ParseRevision(o.Spec.PackageRevID.Revision); ok && m > n {
				n = m
			}
			if o.Labels[pkgapi.LatestRevisionLabel] != "" {
				delete(o.Labels, pkgapi.LatestRevisionLabel)
				s.bump(&o.ObjectMeta)
			}
		}
	}
	pr.Spec.PackageRevID.Revision = names.RevisionTag(n + 1)
	if pr.Labels == nil {
		pr.Labels = map[string]string{}
	}
	pr.Labels[pkgapi.LatestRevisionLabel] = "true"
	pr.Status.PublishedBy = user
}

func (s *Server) prr(pr *pkgapi.PackageRevision) *pkgapi.PackageRevisionResources {
	return &pkgapi.PackageRevisionResources{
		TypeMeta: metav1.TypeMeta{APIVersion: pkgapi.SchemeGroupVersion.String(), Kind: pkgapi.PackageRevisionResourcesKind},
		ObjectMeta: metav1.ObjectMeta{Name: pr.Name, Namespace: pr.Namespace, ResourceVersion: pr.ResourceVersion,
			CreationTimestamp: pr.CreationTimestamp},
		Spec: pkgapi.PackageRevisionResourcesSpec{PackageRevID: pr.Spec.PackageRevID, Resources: maps.Clone(s.files[key{pr.Namespace, pr.Name}])},
	}
}

func (s *Server) storeRepo(r *configapi.Repository) {
	r.TypeMeta = metav1.TypeMeta{APIVersion: configapi.SchemeGroupVersion.String(), Kind: configapi.RepositoryKind}
	r.Status.Address = "fake.registry/" + r.Namespace + "/" + r.Name
	if r.Spec.OCI != nil && r.Spec.OCI.Registry != "" {
		r.Status.Address = r.Spec.OCI.Registry
	}
	r.Status.Conditions = []metav1.Condition{{Type: "Ready", Status: metav1.ConditionTrue, Reason: "Ready", Message: "registry reachable"}}
	s.bump(&r.ObjectMeta)
	s.repos[key{r.Namespace, r.Name}] = r
}

func (s *Server) bump(m *metav1.ObjectMeta) {
	s.rv++
	m.ResourceVersion = strconv.Itoa(s.rv)
}

func samePackage(a, b pkgapi.PackageRevID) bool {
	return a.Target == b.Target && a.Repository == b.Repository && a.Realm == b.Realm && a.Package == b.Package
}

func revID(id names.ID) pkgapi.PackageRevID {
	return pkgapi.PackageRevID{Target: id.Target, Repository: id.Repository, Realm: id.Realm, Package: id.Package, Workspace: id.Workspace}
}

func prFields(pr *pkgapi.PackageRevision) fields.Set {
	id := pr.Spec.PackageRevID
	return fields.Set{
		"metadata.name": pr.Name, "metadata.namespace": pr.Namespace,
		"spec.packageRevID.target": id.Target, "spec.packageRevID.repository": id.Repository,
		"spec.packageRevID.realm": id.Realm, "spec.packageRevID.package": id.Package,
		"spec.packageRevID.workspace": id.Workspace, "spec.packageRevID.revision": id.Revision,
		"spec.lifecycle": string(pr.Spec.Lifecycle),
	}
}

type selector struct {
	labels labels.Selector
	fields fields.Selector
}

func selectors(r *http.Request) (selector, error) {
	var sel selector
	var err error
	q := r.URL.Query()
	if sel.labels, err = labels.Parse(q.Get("labelSelector")); err != nil {
		return sel, fmt.Errorf("%w: invalid labelSelector: %v", errdef.ErrBadRequest, err)
	}
	if sel.fields, err = fields.ParseSelector(q.Get("fieldSelector")); err != nil {
		return sel, fmt.Errorf("%w: invalid fieldSelector: %v", errdef.ErrBadRequest, err)
	}
	allowed := prFields(&pkgapi.PackageRevision{})
	for _, req := range sel.fields.Requirements() {
		if !allowed.Has(req.Field) {
			return sel, fmt.Errorf("%w: invalid fieldSelector: field %q is not supported", errdef.ErrBadRequest, req.Field)
		}
	}
	return sel, nil
}

func (s selector) matches(l map[string]string, f fields.Set) bool {
	return s.labels.Matches(labels.Set(l)) && s.fields.Matches(f)
}

// sorted returns the values of m ordered by namespace and name, as the server lists.
func sorted[T any](m map[key]*T) []*T {
	keys := slices.SortedFunc(maps.Keys(m), func(a, b key) int {
		return cmp.Or(cmp.Compare(a.ns, b.ns), cmp.Compare(a.name, b.name))
	})
	out := make([]*T, len(keys))
	for i, k := range keys {
		out[i] = m[k]
	}
	return out
}

func listMeta(gv schema.GroupVersion, kind string) metav1.TypeMeta {
	return metav1.TypeMeta{APIVersion: gv.String(), Kind: kind + "List"}
}

// decode reads a JSON body and fills in the namespace of the path.
func decode(r *http.Request, obj metav1.Object, ns string) error {
	if err := json.NewDecoder(r.Body).Decode(obj); err != nil {
		return fmt.Errorf("%w: decoding the body: %v", errdef.ErrBadRequest, err)
	}
	switch {
	case obj.GetNamespace() == "":
		obj.SetNamespace(ns)
	case obj.GetNamespace() != ns:
		return fmt.Errorf("%w: metadata.namespace %q does not match the namespace of the request %q", errdef.ErrBadRequest, obj.GetNamespace(), ns)
	}
	return nil
}
