package console

import (
	"bytes"
	"embed"
	"fmt"
	"html/template"
	"io/fs"
	"net/http"
	"path"
	"strings"

	"pkgserver.dev/pkgserver/pkg/auth/authn"
)

//go:embed templates/*.html
var templateFS embed.FS

// page is what every page template gets.
type page struct {
	Title string
	// Section is the navigation entry to mark current.
	Section string
	// NS is the namespace the page is about.
	NS string
	// User is who the page is rendered for; empty when nobody is.
	User      string
	Anonymous bool
	SignedIn  bool
	CanSignIn bool
	// CSRF is the token every form carries.
	CSRF string
	// Live, when set, is the URL the page polls for changes.
	Live string
	// Notice is a message about what was just done.
	Notice string
	// Data is the page's own.
	Data any
}

// parsePages parses each page with the layout and the partials (files
// starting with "_").
func parsePages() (map[string]*template.Template, error) {
	names, err := fs.Glob(templateFS, "templates/*.html")
	if err != nil {
		return nil, err
	}
	var shared []string
	for _, n := range names {
		if strings.HasPrefix(path.Base(n), "_") {
			shared = append(shared, n)
		}
	}
	pages := map[string]*template.Template{}
	for _, n := range names {
		base := strings.TrimSuffix(path.Base(n), ".html")
		if strings.HasPrefix(base, "_") {
			continue
		}
		t, err := template.New(base).Funcs(funcs).ParseFS(templateFS, append([]string{n}, shared...)...)
		if err != nil {
			return nil, fmt.Errorf("console template %s: %w", n, err)
		}
		pages[base] = t
	}
	return pages, nil
}

// newPage fills what every page shows about the visit.
func (v *visit) newPage(title, section string, data any) *page {
	p := &page{Title: title, Section: section, NS: v.r.PathValue("ns"), CSRF: v.c.seal.csrfToken(v.sess),
		CanSignIn: v.c.canSignIn(), SignedIn: v.signedIn, Data: data, Notice: notices[v.r.URL.Query().Get("done")]}
	if v.user != nil {
		p.User = v.user.GetName()
		p.Anonymous = authn.IsAnonymous(v.user)
	}
	return p
}

// render writes a page; a template error is a 500 before anything is sent.
func (c *Console) render(v *visit, code int, name string, p *page) error {
	return c.renderTemplate(v, code, name, "layout", p)
}

// renderTemplate executes one template of page name (the whole layout, or
// a fragment) into the answer.
func (c *Console) renderTemplate(v *visit, code int, name, tmpl string, data any) error {
	t, ok := c.pages[name]
	if !ok {
		return fmt.Errorf("console: no page %q", name)
	}
	var b bytes.Buffer
	if err := t.ExecuteTemplate(&b, tmpl, data); err != nil {
		return fmt.Errorf("rendering %s: %w", name, err)
	}
	v.save()
	h := v.w.Header()
	h.Set("Content-Type", "text/html; charset=utf-8")
	noStore(h)
	v.w.WriteHeader(code)
	_, err := v.w.Write(b.Bytes())
	if err != nil {
		c.log.Debug("writing a console page", "err", err)
	}
	return nil
}

// errorPage is the data of the error page.
type errorPage struct {
	Code    int
	Status  string
	Message string
	// Back is the revision the failed request was about.
	Back string
}

func (c *Console) renderError(v *visit, code int, msg string) {
	d := errorPage{Code: code, Status: http.StatusText(code), Message: msg}
	if ns, name := v.r.PathValue("ns"), v.r.PathValue("name"); ns != "" && name != "" && v.r.Method == http.MethodPost {
		d.Back = revURL(ns, name)
	}
	p := v.newPage(http.StatusText(code), "", d)
	if err := c.render(v, code, "error", p); err != nil {
		c.log.Error("rendering the error page", "err", err)
		http.Error(v.w, msg, code)
	}
}

// redirect sends the browser to target (a console path) after a form.
func (v *visit) redirect(target string) error {
	v.save()
	http.Redirect(v.w, v.r, target, http.StatusSeeOther)
	return nil
}

// notices are the messages a redirect after an action may ask for
// (?done=...); unknown ones show nothing.
var notices = map[string]string{
	"proposed":         "Proposed: the revision waits for approval.",
	"withdrawn":        "The proposal was withdrawn; the revision is a draft again.",
	"approved":         "Approved: the revision is published.",
	"rejected":         "Rejected: the revision is a draft again.",
	"deletionProposed": "Deletion proposed: it waits for approval.",
	"kept":             "The deletion proposal was withdrawn; the revision stays published.",
	"deleted":          "The revision was deleted.",
	"saved":            "Saved.",
	"removed":          "The file was removed.",
	"created":          "The draft was created.",
	"refreshed":        "The repository's registry was listed again.",
	"signedin":         "Signed in.",
	"signedout":        "Signed out.",
}
