package console

import (
	"net/http"

	pkgapi "pkgserver.dev/pkgserver/api/pkg/v1alpha1"
)

// fileDiffView is one changed file, both ways of showing it.
type fileDiffView struct {
	pkgapi.FileDiff
	Lines []diffLine
	Rows  []sideRow
	// Hidden lines of the diff are past what the page shows.
	Hidden int
}

// againstOption is a revision the diff can compare with.
type againstOption struct {
	Name, Label string
}

type diffData struct {
	PR      *pkgapi.PackageRevision
	Diff    *pkgapi.PackageRevisionDiff
	Files   []fileDiffView
	Split   bool
	Against string
	Options []againstOption
}

// diff compares a revision with another: by default (no ?against) its
// upstream, else the published revision before it, as the API chooses.
func (c *Console) diff(v *visit) error {
	ns, name := v.r.PathValue("ns"), v.r.PathValue("name")
	q := v.r.URL.Query()
	ctx := v.r.Context()
	pr, err := v.api.getRevision(ctx, ns, name)
	if err != nil {
		return err
	}
	d := diffData{PR: pr, Split: q.Get("view") == "split", Against: q.Get("against")}
	if d.Diff, err = v.api.diff(ctx, ns, name, d.Against); err != nil {
		return err
	}
	budget := newDiffBudget()
	for _, f := range d.Diff.Files {
		lines, hidden := parseUnified(f.Unified, budget)
		d.Files = append(d.Files, fileDiffView{FileDiff: f, Lines: lines, Rows: sideBySide(lines), Hidden: hidden})
	}
	d.Options = againstOptions(v, pr)
	return c.render(v, http.StatusOK, "diff", v.newPage("Diff of "+name, "revisions", d))
}

// againstOptions are the upstream and the package's other revisions.
func againstOptions(v *visit, pr *pkgapi.PackageRevision) []againstOption {
	var out []againstOption
	if u := pr.Spec.Upstream; u != nil && u.Name != "" {
		out = append(out, againstOption{Name: u.Name, Label: "upstream " + u.Name})
	}
	h, err := v.api.history(v.r.Context(), pr.Namespace, pr.Name)
	if err != nil {
		return out
	}
	for _, e := range h.Revisions {
		if e.Name == pr.Name {
			continue
		}
		label := e.Name + " (" + string(e.Lifecycle) + ")"
		if e.Revision != "" {
			label = e.Revision + ": " + label
		}
		out = append(out, againstOption{Name: e.Name, Label: label})
	}
	return out
}
