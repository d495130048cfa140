package apiserver

import (
	"bufio"
	"context"
	"net/http"
	"strconv"

	"github.com/labstack/echo/v4"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"pkgserver.dev/pkgserver/pkg/engine"
)

// handlePagedList serves a list the engine pages and selects from its
// index: only the page's objects are built, and a plain JSON list is written
// object by object as the engine encodes them, at the speed of copying bytes.
func (r *resource[T, P]) handlePagedList(c echo.Context, q listQuery, table bool) error {
	page, err := r.pager(c.Request().Context(), engine.ListOptions{
		Namespace: c.Param("namespace"),
		After:     engine.Position{Namespace: q.after.namespace, Name: q.after.name},
		Limit:     q.limit, Labels: q.labels, Fields: q.fields,
	})
	if err != nil {
		return r.about(err, "")
	}
	meta := metav1.ListMeta{ResourceVersion: page.ResourceVersion}
	if page.More && len(page.Items) > 0 {
		last := page.Items[len(page.Items)-1]
		meta.Continue = encodeContinue(position{namespace: last.Namespace(), name: last.Name()})
	}
	if table {
		items := make([]T, 0, len(page.Items))
		for _, it := range page.Items {
			if obj, ok := any(it.Object()).(P); ok {
				items = append(items, *obj)
			}
		}
		return c.JSON(http.StatusOK, toTable(r.columns, items, c.QueryParam("includeObject"), meta, r.setKind))
	}
	res := c.Response()
	res.Header().Set(echo.HeaderContentType, echo.MIMEApplicationJSON)
	res.WriteHeader(http.StatusOK)
	w := bufio.NewWriterSize(res, 64<<10)
	w.WriteString(`{"kind":"` + r.gvk.Kind + `List","apiVersion":"` + r.gvk.GroupVersion().String() + `","metadata":{"resourceVersion":` + strconv.Quote(meta.ResourceVersion))
	if meta.Continue != "" {
		w.WriteString(`,"continue":` + strconv.Quote(meta.Continue))
	}
	w.WriteString(`},"items":[`)
	var buf []byte
	for i, it := range page.Items {
		if i > 0 {
			w.WriteByte(',')
		}
		buf = it.AppendJSON(buf[:0])
		if _, err := w.Write(buf); err != nil {
			return nil // the client left; nothing to answer
		}
	}
	w.WriteString("]}\n")
	return w.Flush()
}

// pagerOf returns the paged list of svc, if it has one.
func pagerOf(svc engine.Service) func(context.Context, engine.ListOptions) (*engine.RevisionPage, error) {
	if p, ok := svc.(engine.RevisionPager); ok {
		return p.ListRevisionPage
	}
	return nil
}
