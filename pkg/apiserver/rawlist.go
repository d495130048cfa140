package apiserver

import (
	"bytes"
	"context"
	"net/http"
	"strconv"

	"github.com/labstack/echo/v4"
	"k8s.io/apimachinery/pkg/labels"

	"pkgserver.dev/pkgserver/pkg/engine"
)

// handleRawList serves a plain JSON list from objects the engine has already
// encoded: the bytes are copied, not built and encoded again per request.
func (r *resource[T, P]) handleRawList(c echo.Context, q listQuery, rv string) error {
	raws, err := r.listRaw(c.Request().Context(), c.Param("namespace"))
	if err != nil {
		return r.about(err, "")
	}
	matchLabels, matchFields := !q.labels.Empty(), !q.fields.Empty()
	var buf bytes.Buffer
	buf.WriteString(`{"kind":"` + r.gvk.Kind + `List","apiVersion":"` + r.gvk.GroupVersion().String() + `","metadata":{`)
	items := 0
	next := ""
	var lastPos position
	var body bytes.Buffer
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
			next = encodeContinue(lastPos)
			break
		}
		if items > 0 {
			body.WriteByte(',')
		}
		body.Write(raw.JSON)
		items++
		lastPos = at
	}
	if rv != "" {
		buf.WriteString(`"resourceVersion":` + strconv.Quote(rv))
	}
	if next != "" {
		if rv != "" {
			buf.WriteByte(',')
		}
		buf.WriteString(`"continue":` + strconv.Quote(next))
	}
	buf.WriteString(`},"items":[`)
	buf.Write(body.Bytes())
	buf.WriteString("]}\n")
	return c.Blob(http.StatusOK, echo.MIMEApplicationJSON, buf.Bytes())
}

// rawLister returns the pre-encoded list of svc, if it has one.
func rawLister(svc engine.Service) func(ctx context.Context, namespace string) ([]engine.RawObject, error) {
	if l, ok := svc.(engine.RawLister); ok {
		return l.ListPackageRevisionsRaw
	}
	return nil
}
