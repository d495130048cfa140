package console

import (
	"errors"
	"html/template"
	"maps"
	"net/http"
	"slices"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/fields"

	configapi "pkgserver.dev/pkgserver/api/config/v1alpha1"
	pkgapi "pkgserver.dev/pkgserver/api/pkg/v1alpha1"
	"pkgserver.dev/pkgserver/pkg/errdef"
)

// pair is a label or an annotation.
type pair struct{ Key, Value string }

func pairs(m map[string]string) []pair {
	out := make([]pair, 0, len(m))
	for _, k := range slices.Sorted(maps.Keys(m)) {
		out = append(out, pair{k, m[k]})
	}
	return out
}

// revisionData is the revision page.
type revisionData struct {
	PR          *pkgapi.PackageRevision
	Badges      []badge
	Gates       []gate
	Conditions  []metav1.Condition
	Labels      []pair
	Annotations []pair
	Task        *pkgapi.Task
	Downstream  []pkgapi.PackageRevision
	// MoreDownstream: more revisions than the page lists are made from it.
	MoreDownstream bool
	// Files; FilesError says why they are not shown.
	Tree       []*fileNode
	FileCount  int
	FilesError string
	File       string
	FileHTML   template.HTML
	Resources  []krmResource
	// MoreResources: the package has more than the page lists.
	MoreResources bool
	Actions       actions
	Snippets      []snippet
}

func (c *Console) revision(v *visit) error {
	ns, name := v.r.PathValue("ns"), v.r.PathValue("name")
	if c.waitLive(v, "revision", revisionsPath(ns), listQuery(fields.Set{"metadata.name": name}, 0, "")) {
		return nil
	}
	ctx := v.r.Context()
	pr, rv, err := v.api.revision(ctx, ns, name)
	if err != nil {
		return err
	}
	d := &revisionData{PR: pr, Badges: badgesOf(pr), Gates: gatesOf(pr), Conditions: pr.Status.Conditions,
		Labels: pairs(pr.Labels), Annotations: pairs(pr.Annotations)}
	if len(pr.Spec.Tasks) > 0 {
		d.Task = &pr.Spec.Tasks[0]
	}
	if items, more, err := v.api.downstream(ctx, ns, name); err == nil {
		d.Downstream, d.MoreDownstream = items, more
	}
	prr, err := v.api.resources(ctx, ns, name)
	switch {
	case err == nil:
		files := prr.Spec.Resources
		d.FileCount = len(files)
		d.Tree = fileTree(slices.Collect(maps.Keys(files)))
		d.File = v.r.URL.Query().Get("file")
		if _, ok := files[d.File]; !ok {
			d.File = defaultFile(files)
		}
		if d.File != "" {
			d.FileHTML = highlight(d.File, files[d.File])
		}
		d.Resources, d.MoreResources = resourcesOf(files, maxResources)
	case errors.Is(err, errdef.ErrForbidden):
		d.FilesError = "You may not read the files of this revision."
	default:
		d.FilesError = "The files cannot be read: " + err.Error()
	}
	d.Actions = v.actionsFor(pr)
	if pr.Spec.Lifecycle == pkgapi.LifecyclePublished {
		var repo *configapi.Repository
		if r, err := v.api.repository(ctx, ns, pr.Spec.PackageRevID.Repository); err == nil {
			repo = r
		}
		d.Snippets = snippetsFor(pr, repo, v.c.opts.TLS)
	}
	p := v.newPage(name, "revisions", d)
	p.Live = liveURL(v.r, rv)
	return c.render(v, http.StatusOK, "revision", p)
}

// defaultFile is the file shown first: the Kptfile, else the first one.
func defaultFile(files map[string]string) string {
	if _, ok := files["Kptfile"]; ok {
		return "Kptfile"
	}
	keys := slices.Sorted(maps.Keys(files))
	if len(keys) == 0 {
		return ""
	}
	return keys[0]
}
