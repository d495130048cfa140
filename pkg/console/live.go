package console

import (
	"context"
	"net/http"
	"net/url"
)

// Live pages: a page that shows a list's resourceVersion carries a small
// element that htmx loads at once (hx-trigger="load") with ?wait=<rv>.
// That request watches the page's API list from rv, as the user, and
// answers when something in it changes: the whole page, of which htmx
// swaps in #main (HX-Retarget, HX-Reselect), with a new element waiting
// from the new resourceVersion. When nothing changed within LiveWait it
// answers the same element, which asks again. Without JavaScript the
// element does nothing and the page is a plain page.

// liveURL is the page's own URL asking to wait for changes after rv.
func liveURL(r *http.Request, rv string) string {
	if rv == "" {
		return ""
	}
	q := r.URL.Query()
	q.Del("done")
	q.Set("wait", rv)
	u := url.URL{Path: r.URL.Path, RawQuery: q.Encode()}
	return u.RequestURI()
}

// waitLive serves the wait of a live page whose API list is apiPath with
// the query sel. answered: the answer was written (nothing changed, or
// live updates end here); otherwise the page changed and the caller
// renders it whole.
func (c *Console) waitLive(v *visit, page, apiPath string, sel url.Values) (answered bool) {
	rv := v.r.URL.Query().Get("wait")
	if rv == "" {
		return false
	}
	ctx, cancel := context.WithCancel(v.r.Context())
	defer cancel()
	defer context.AfterFunc(c.stopCtx, cancel)()
	changed, err := v.api.waitChange(ctx, apiPath, sel, rv, c.opts.LiveWait)
	switch {
	case err != nil || c.stopCtx.Err() != nil:
		// No more waiting (the user may not watch, the server stops): htmx
		// swaps nothing on 204, so the page stays as it is.
		if err != nil {
			c.log.Debug("console live update ends", "path", v.r.URL.Path, "err", err)
		}
		v.save()
		v.w.WriteHeader(http.StatusNoContent)
		return true
	case !changed:
		if err := c.renderTemplate(v, http.StatusOK, page, "live", v.r.URL.RequestURI()); err != nil {
			c.log.Error("rendering a live element", "err", err)
		}
		return true
	}
	h := v.w.Header()
	h.Set("HX-Retarget", "#main")
	h.Set("HX-Reselect", "#main")
	h.Set("HX-Reswap", "outerHTML")
	return false
}
