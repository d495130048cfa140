package apiserver

import (
	"context"
	"encoding/json"
	"net/http"
	"time"

	"github.com/labstack/echo/v4"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/runtime"

	"pkgserver.dev/pkgserver/pkg/engine"
)

// bookmarkInterval is how often a watch that allows bookmarks gets one.
const bookmarkInterval = 15 * time.Second

// handleWatch streams watch events in the Kubernetes shape, one JSON object a
// line: {"type": "ADDED|MODIFIED|DELETED|BOOKMARK|ERROR", "object": {...}}.
// Without a resourceVersion it starts with an ADDED event for every object
// that exists, as Kubernetes does.
func (r *resource[T, P]) handleWatch(c echo.Context, s *server, q listQuery) error {
	w, ok := s.svc.(engine.Watcher)
	if !ok || r.watchKind == "" {
		return echo.NewHTTPError(http.StatusMethodNotAllowed, "watch is not supported for "+r.plural)
	}
	ctx := c.Request().Context()
	if q.timeout > 0 {
		var cancel func()
		ctx, cancel = context.WithTimeout(ctx, q.timeout)
		defer cancel()
	}
	ns := c.Param("namespace")
	start := q.resourceVersion
	var initial []T
	if start == "" || start == "0" {
		start = w.ResourceVersion()
		items, err := r.list(ctx, ns)
		if err != nil {
			return r.about(err, "")
		}
		initial = items
	}
	events, err := w.Watch(ctx, r.watchKind, start)
	if err != nil {
		return r.about(err, "")
	}
	table := wantsTable(c.Request().Header.Get(echo.HeaderAccept)) && r.columns != nil
	res := c.Response()
	res.Header().Set(echo.HeaderContentType, echo.MIMEApplicationJSON)
	res.Header().Set("Transfer-Encoding", "chunked")
	res.WriteHeader(http.StatusOK)
	res.Flush()
	enc := json.NewEncoder(res)

	// in tracks what this watch has shown, so an object that leaves or
	// enters the selection is sent as DELETED or ADDED, as Kubernetes does.
	selective := !q.labels.Empty() || !q.fields.Empty()
	in := map[string]bool{}
	send := func(typ string, obj *T) error {
		p := P(obj)
		if ns != "" && p.GetNamespace() != ns {
			return nil
		}
		key := p.GetNamespace() + "/" + p.GetName()
		matches := !selective || q.labels.Matches(labels.Set(p.GetLabels())) && q.fields.Matches(r.fieldsOf(p))
		switch {
		case !selective:
		case typ == "DELETED" && !in[key]:
			return nil
		case typ == "DELETED":
			delete(in, key)
		case !matches && !in[key]:
			return nil
		case !matches:
			typ = "DELETED"
			delete(in, key)
		case !in[key]:
			typ = "ADDED"
			in[key] = true
		}
		var raw []byte
		if table {
			raw = mustJSON(toTable(r.columns, []T{*obj}, c.QueryParam("includeObject"), metav1.ListMeta{}, r.setKind))
		} else {
			// Event objects are shared by every watcher: set the kind on a copy.
			cp := *obj
			r.setKind(&cp)
			raw = mustJSON(&cp)
		}
		if err := enc.Encode(metav1.WatchEvent{Type: typ, Object: runtime.RawExtension{Raw: raw}}); err != nil {
			return err
		}
		res.Flush()
		return nil
	}
	for i := range initial {
		if err := send("ADDED", &initial[i]); err != nil {
			return nil // client went away
		}
	}
	var tick <-chan time.Time
	if q.bookmarks {
		t := time.NewTicker(bookmarkInterval)
		defer t.Stop()
		tick = t.C
	}
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-tick:
			bm := map[string]any{
				"apiVersion": r.gvk.GroupVersion().String(), "kind": r.gvk.Kind,
				"metadata": map[string]any{"resourceVersion": w.ResourceVersion()},
			}
			if err := enc.Encode(metav1.WatchEvent{Type: "BOOKMARK", Object: runtime.RawExtension{Raw: mustJSON(bm)}}); err != nil {
				return nil
			}
			res.Flush()
		case ev, ok := <-events:
			if !ok {
				return nil // dropped as too slow; the client watches again
			}
			obj, ok := r.fromEvent(ctx, ev)
			if !ok {
				continue
			}
			if err := send(ev.Type, obj); err != nil {
				return nil
			}
		}
	}
}
