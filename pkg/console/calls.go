package console

import (
	"context"
	"fmt"
	"net/http"
	"net/url"
	"strconv"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/fields"

	configapi "pkgserver.dev/pkgserver/api/config/v1alpha1"
	pkgapi "pkgserver.dev/pkgserver/api/pkg/v1alpha1"
	"pkgserver.dev/pkgserver/pkg/errdef"
)

// The API paths the console calls.

func repositoriesPath(ns string) string {
	return "/apis/" + configapi.Group + "/" + configapi.Version + "/namespaces/" + url.PathEscape(ns) + "/" + configapi.RepositoryResource
}

func revisionsPath(ns string) string {
	return "/apis/" + pkgapi.Group + "/" + pkgapi.Version + "/namespaces/" + url.PathEscape(ns) + "/" + pkgapi.PackageRevisionResource
}

func revisionPath(ns, name string, sub ...string) string {
	p := revisionsPath(ns) + "/" + url.PathEscape(name)
	for _, s := range sub {
		p += "/" + s
	}
	return p
}

func resourcesPath(ns, name string) string {
	return "/apis/" + pkgapi.Group + "/" + pkgapi.Version + "/namespaces/" + url.PathEscape(ns) + "/" + pkgapi.PackageRevisionResourcesResource + "/" + url.PathEscape(name)
}

func (c *caller) repositories(ctx context.Context, ns string) (*configapi.RepositoryList, error) {
	var l configapi.RepositoryList
	return &l, c.do(ctx, http.MethodGet, repositoriesPath(ns), nil, nil, &l)
}

func (c *caller) repository(ctx context.Context, ns, name string) (*configapi.Repository, error) {
	var r configapi.Repository
	return &r, c.do(ctx, http.MethodGet, repositoriesPath(ns)+"/"+url.PathEscape(name), nil, nil, &r)
}

func (c *caller) refreshRepository(ctx context.Context, ns, name string) error {
	return c.do(ctx, http.MethodPost, repositoriesPath(ns)+"/"+url.PathEscape(name)+"/refresh", nil, nil, nil)
}

// listQuery is the query of a list of revisions with these field
// selectors (empty values are left out).
func listQuery(sel fields.Set, limit int, cont string) url.Values {
	q := url.Values{}
	set := fields.Set{}
	for k, v := range sel {
		if v != "" {
			set[k] = v
		}
	}
	if len(set) > 0 {
		q.Set("fieldSelector", set.AsSelector().String())
	}
	if limit > 0 {
		q.Set("limit", strconv.Itoa(limit))
	}
	if cont != "" {
		q.Set("continue", cont)
	}
	return q
}

func (c *caller) revisions(ctx context.Context, ns string, q url.Values) (*pkgapi.PackageRevisionList, error) {
	var l pkgapi.PackageRevisionList
	return &l, c.do(ctx, http.MethodGet, revisionsPath(ns), q, nil, &l)
}

// revision reads one revision through a list by name, whose
// resourceVersion a watch of the page can start from.
func (c *caller) revision(ctx context.Context, ns, name string) (*pkgapi.PackageRevision, string, error) {
	l, err := c.revisions(ctx, ns, listQuery(fields.Set{"metadata.name": name}, 0, ""))
	if err != nil {
		return nil, "", err
	}
	if len(l.Items) != 1 {
		return nil, "", fmt.Errorf("%w: packagerevisions.%s %q in the namespace %q", errdef.ErrNotFound, pkgapi.Group, name, ns)
	}
	return &l.Items[0], l.ResourceVersion, nil
}

// maxDownstream bounds the revisions a page lists as made from one.
const maxDownstream = 100

// downstream lists the revisions whose upstream is name; more says there
// are others past maxDownstream.
func (c *caller) downstream(ctx context.Context, ns, name string) (items []pkgapi.PackageRevision, more bool, err error) {
	l, err := c.revisions(ctx, ns, listQuery(fields.Set{"spec.upstream.name": name}, maxDownstream, ""))
	if err != nil {
		return nil, false, err
	}
	return l.Items, l.Continue != "", nil
}

func (c *caller) getRevision(ctx context.Context, ns, name string) (*pkgapi.PackageRevision, error) {
	var pr pkgapi.PackageRevision
	return &pr, c.do(ctx, http.MethodGet, revisionPath(ns, name), nil, nil, &pr)
}

func (c *caller) resources(ctx context.Context, ns, name string) (*pkgapi.PackageRevisionResources, error) {
	var prr pkgapi.PackageRevisionResources
	return &prr, c.do(ctx, http.MethodGet, resourcesPath(ns, name), nil, nil, &prr)
}

func (c *caller) history(ctx context.Context, ns, name string) (*pkgapi.PackageRevisionHistory, error) {
	var h pkgapi.PackageRevisionHistory
	return &h, c.do(ctx, http.MethodGet, revisionPath(ns, name, "history"), nil, nil, &h)
}

func (c *caller) diff(ctx context.Context, ns, name, against string) (*pkgapi.PackageRevisionDiff, error) {
	q := url.Values{}
	if against != "" {
		q.Set("against", against)
	}
	var d pkgapi.PackageRevisionDiff
	return &d, c.do(ctx, http.MethodGet, revisionPath(ns, name, "diff"), q, nil, &d)
}

func (c *caller) createRevision(ctx context.Context, pr *pkgapi.PackageRevision) (*pkgapi.PackageRevision, error) {
	var out pkgapi.PackageRevision
	return &out, c.do(ctx, http.MethodPost, revisionsPath(pr.Namespace), nil, pr, &out)
}

// updateRevision is a PUT of the object (draft <-> proposed), or of its
// approval subresource.
func (c *caller) updateRevision(ctx context.Context, pr *pkgapi.PackageRevision, approval bool) (*pkgapi.PackageRevision, error) {
	var sub []string
	if approval {
		sub = []string{"approval"}
	}
	var out pkgapi.PackageRevision
	return &out, c.do(ctx, http.MethodPut, revisionPath(pr.Namespace, pr.Name, sub...), nil, pr, &out)
}

// deleteRevision deletes a revision if it is still at resourceVersion rv
// (a precondition of the DeleteOptions: a changed revision is a 409).
func (c *caller) deleteRevision(ctx context.Context, ns, name, rv string) error {
	opts := metav1.DeleteOptions{TypeMeta: metav1.TypeMeta{APIVersion: "v1", Kind: "DeleteOptions"},
		Preconditions: &metav1.Preconditions{ResourceVersion: &rv}}
	return c.do(ctx, http.MethodDelete, revisionPath(ns, name), nil, opts, nil)
}

func (c *caller) updateResources(ctx context.Context, prr *pkgapi.PackageRevisionResources) error {
	return c.do(ctx, http.MethodPut, resourcesPath(prr.Namespace, prr.Name), nil, prr, nil)
}
