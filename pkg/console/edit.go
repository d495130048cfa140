package console

import (
	"errors"
	"fmt"
	"html/template"
	"net/http"
	"net/url"
	"strings"

	"pkgserver.dev/pkgserver/pkg/errdef"
	"pkgserver.dev/pkgserver/pkg/krm"
)

// editData is the editor of one file of a draft.
type editData struct {
	Name string // the revision
	// Path is the file's path now; Original the one it had (empty: a new file).
	Path, Original string
	Content        string
	RV             string
	// Problems are the API's validation errors of this file, and Others
	// those about the rest of the package or about no file.
	Problems []FileProblem
	Others   []string
	// Preview is the submitted text with the lines at fault marked.
	Preview template.HTML
	// Conflict: the draft changed since the editor was opened.
	Conflict bool
	// Failed: the save failed for another reason (Others says which).
	Failed bool
}

func (c *Console) editPage(v *visit) error {
	ns, name := v.r.PathValue("ns"), v.r.PathValue("name")
	prr, err := v.api.resources(v.r.Context(), ns, name)
	if err != nil {
		return err
	}
	p := v.r.URL.Query().Get("file")
	d := editData{Name: name, RV: prr.ResourceVersion}
	if content, ok := prr.Spec.Resources[p]; ok {
		d.Path, d.Original, d.Content = p, p, content
	}
	return c.render(v, http.StatusOK, "edit", v.newPage("Edit "+d.Path, "revisions", d))
}

// edit saves one file of a draft with a PUT of its resources carrying the
// resourceVersion the editor was opened at: nothing else changes, and a
// draft changed meanwhile is a conflict, not a lost update. The API
// validates; its errors come back at the file and line.
func (c *Console) edit(v *visit) error {
	ns, name := v.r.PathValue("ns"), v.r.PathValue("name")
	f := v.r.PostForm
	d := editData{Name: name, Path: strings.TrimSpace(f.Get("path")), Original: f.Get("original"), RV: f.Get("rv"),
		Content: normalizeNewlines(f.Get("content"))}
	if d.Path == "" {
		d.Others = []string{"The file needs a path, such as deploy/app.yaml."}
		return c.renderEdit(v, d, http.StatusUnprocessableEntity)
	}
	ctx := v.r.Context()
	prr, err := v.api.resources(ctx, ns, name)
	if err != nil {
		return c.editFailed(v, d, err)
	}
	if prr.ResourceVersion != d.RV {
		d.Conflict = true
		return c.renderEdit(v, d, http.StatusConflict)
	}
	if prr.Spec.Resources == nil {
		prr.Spec.Resources = map[string]string{}
	}
	if _, taken := prr.Spec.Resources[d.Path]; taken && d.Path != d.Original {
		d.Others = []string{fmt.Sprintf("The draft has a file %s already: edit that one, or choose another path.", d.Path)}
		return c.renderEdit(v, d, http.StatusConflict)
	}
	if d.Original != "" && d.Original != d.Path {
		delete(prr.Spec.Resources, d.Original)
	}
	prr.Spec.Resources[d.Path] = d.Content
	err = v.api.updateResources(ctx, prr)
	switch {
	case err == nil:
		return v.redirect(withDone(revURL(ns, name)+"?file="+url.QueryEscape(d.Path), "saved"))
	case errors.Is(err, errdef.ErrConflict):
		d.Conflict = true
		return c.renderEdit(v, d, http.StatusConflict)
	case errors.Is(err, errdef.ErrInvalid), errors.Is(err, errdef.ErrTooLarge):
		files, others := fileProblems(err)
		for _, p := range files {
			if p.Path == d.Path {
				d.Problems = append(d.Problems, p)
			} else {
				others = append(others, fmt.Sprintf("%s: %s", p.Path, p.Message))
			}
		}
		d.Others = others
		return c.renderEdit(v, d, http.StatusUnprocessableEntity)
	}
	return c.editFailed(v, d, err)
}

// editFailed shows the editor again with the text and why it was not
// saved (the draft was deleted, the user may not save, the registry is
// down): what the user typed is never lost to an error page.
func (c *Console) editFailed(v *visit, d editData, err error) error {
	if errors.Is(err, errdef.ErrUnauthorized) {
		return err
	}
	code := codeOf(err)
	if code >= http.StatusInternalServerError {
		c.log.Error("console request failed", "method", v.r.Method, "path", v.r.URL.Path, "err", err)
	}
	d.Failed = true
	d.Others = append(d.Others, "Nothing was saved: "+err.Error())
	return c.renderEdit(v, d, code)
}

// maxExcerpts bounds the problems shown with the lines around them.
const maxExcerpts = 10

// renderEdit shows the editor again with what was submitted.
func (c *Console) renderEdit(v *visit, d editData, code int) error {
	var marked []int
	for i, p := range d.Problems {
		if p.Line > 0 {
			marked = append(marked, p.Line)
			if i < maxExcerpts {
				d.Problems[i].Excerpt = excerpt(d.Path, d.Content, p.Line)
			}
		}
	}
	if krm.ValidatePath(d.Path) == nil {
		d.Preview = highlight(d.Path, d.Content, marked...)
	} else {
		d.Preview = highlight("", d.Content, marked...)
	}
	return c.render(v, code, "edit", v.newPage("Edit "+d.Path, "revisions", d))
}

// removeFile deletes one file of a draft (after the editor's confirmation).
func (c *Console) removeFile(v *visit) error {
	ns, name := v.r.PathValue("ns"), v.r.PathValue("name")
	f := v.r.PostForm
	if f.Get("confirmed") != "yes" {
		return fmt.Errorf("%w: removing a file needs its confirmation", errdef.ErrBadRequest)
	}
	ctx := v.r.Context()
	prr, err := v.api.resources(ctx, ns, name)
	if err != nil {
		return err
	}
	if prr.ResourceVersion != f.Get("rv") {
		return fmt.Errorf("%w: the draft changed since the page was shown; look at it again", errdef.ErrConflict)
	}
	p := f.Get("path")
	if _, ok := prr.Spec.Resources[p]; !ok {
		return fmt.Errorf("%w: no file %q", errdef.ErrNotFound, p)
	}
	delete(prr.Spec.Resources, p)
	if err := v.api.updateResources(ctx, prr); err != nil {
		return err
	}
	return v.redirect(withDone(revURL(ns, name), "removed"))
}

// normalizeNewlines undoes what browsers do to a textarea: CRLF line ends.
func normalizeNewlines(s string) string { return strings.ReplaceAll(s, "\r\n", "\n") }
