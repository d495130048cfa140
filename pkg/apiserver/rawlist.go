package apiserver

import (
	"bufio"
	"context"
	"net/http"
	"strconv"

	"github.com/labstack/echo/v4"
	"k8s.io/apimachinery/pkg/labels"

	"pkgserver.dev/pkgserver/pkg/engine"
)

// handleRawList serves a plain JSON list from objects the engine has already
// encoded: the bytes are streamed, not built and encoded again per request.
// metadata comes after items: only then is the continue token known.
func (r *resource[T, P]) handleRawList(c echo.Context, q listQuery, rv string) error {
	raws, err := r.listRaw(c.Request().Context(), c.Param("namespace"))
	if err != nil {
		return r.about(err, "")
	}
	res := c.Response()
	res.Header().Set(echo.HeaderContentType, echo.MIMEApplicationJSON)
	res.WriteHeader(http.StatusOK)
	w := bufio.NewWriterSize(res, 64<<10)
	w.WriteString(`{"kind":"` + r.gvk.Kind + `List","apiVersion":"` + r.gvk.GroupVersion().String() + `","items":[`)
	matchLabels, matchFields := !q.labels.Empty(), !q.fields.Empty()
	items, next := 0, ""
	var last position
	for _, raw := range raws {
		p, ok := any(raw.Object).(P)
		if !ok {
			continue
		}
		at := position{namespace: p.GetNamespace(), name: p.GetName()}
		if q.after != (position{}) && !q.after.less(at) {
			continue
		}
		if matchLabels && !q.labels.Matches(labels.Set(p.GetLabels())) || matchFields && !q.fields.Matches(r.fieldsOf(p)) {
			continue
		}
		if q.limit > 0 && items == q.limit {
			next = encodeContinue(last)
			break
		}
		if items > 0 {
			w.WriteByte(',')
		}
		w.Write(raw.JSON)
		items++
		last = at
	}
	w.WriteString(`],"metadata":{`)
	sep := ""
	if rv != "" {
		w.WriteString(`"resourceVersion":` + strconv.Quote(rv))
		sep = ","
	}
	if next != "" {
		w.WriteString(sep + `"continue":` + strconv.Quote(next))
	}
	w.WriteString("}}\n")
	return w.Flush() // a failed write means the client left; nothing to answer
}

// rawLister returns the pre-encoded list of svc, if it has one.
func rawLister(svc engine.Service) func(ctx context.Context, namespace string) ([]engine.RawObject, error) {
	if l, ok := svc.(engine.RawLister); ok {
		return l.ListPackageRevisionsRaw
	}
	return nil
}
