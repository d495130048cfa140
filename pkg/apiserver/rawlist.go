package apiserver

import (
	"bufio"
	"context"
	"io"
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
	if err := writeItems(w, page.Items); err != nil {
		return nil // the client left; nothing to answer
	}
	w.WriteString("]}\n")
	return w.Flush()
}

// chunkSize is how much of a list is encoded before it is handed to the
// writer.
const chunkSize = 256 << 10

// writeItems writes items as JSON separated by commas. A long list is
// encoded on one core while the other writes it out: encoding and copying
// to the socket take about as long, so the list goes at the speed of one.
func writeItems[T interface{ AppendJSON([]byte) []byte }](w io.Writer, items []T) error {
	if len(items) < 1000 {
		var buf []byte
		for i, it := range items {
			if i > 0 {
				buf = append(buf, ',')
			}
			buf = it.AppendJSON(buf)
		}
		_, err := w.Write(buf)
		return err
	}
	full := make(chan []byte, 2)
	free := make(chan []byte, 3)
	for range 3 {
		free <- make([]byte, 0, chunkSize+8<<10)
	}
	done := make(chan struct{})
	go func() {
		defer close(full)
		buf := <-free
		for i, it := range items {
			if i > 0 {
				buf = append(buf, ',')
			}
			buf = it.AppendJSON(buf)
			if len(buf) >= chunkSize {
				select {
				case full <- buf:
				case <-done:
					return
				}
				select {
				case b := <-free:
					buf = b[:0]
				case <-done:
					return
				}
			}
		}
		select {
		case full <- buf:
		case <-done:
		}
	}()
	defer close(done)
	for buf := range full {
		if _, err := w.Write(buf); err != nil {
			return err
		}
		free <- buf
	}
	return nil
}

// pagerOf returns the paged list of svc, if it has one.
func pagerOf(svc engine.Service) func(context.Context, engine.ListOptions) (*engine.RevisionPage, error) {
	if p, ok := svc.(engine.RevisionPager); ok {
		return p.ListRevisionPage
	}
	return nil
}
