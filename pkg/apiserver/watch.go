package apiserver

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"strconv"
	"time"

	"github.com/labstack/echo/v4"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/runtime"

	"pkgserver.dev/pkgserver/pkg/engine"
)

// bookmarkInterval is how often a watch that allows bookmarks gets one.
const bookmarkInterval = 10 * time.Second

// initialEventsEnd marks the bookmark that ends a WatchList's initial events.
const initialEventsEnd = "k8s.io/initial-events-end"

// handleWatch streams watch events in the Kubernetes shape, one JSON object a
// line: {"type": "ADDED|MODIFIED|DELETED|BOOKMARK|ERROR", "object": {...}}.
// Without a resourceVersion it starts with an ADDED event for every object
// that exists, as Kubernetes does; with sendInitialEvents those end with a
// bookmark annotated k8s.io/initial-events-end (WatchList); with a
// resourceVersion it resumes after it.
func (r *resource[T, P]) handleWatch(c echo.Context, s *server, q listQuery) error {
	w, ok := s.svc.(engine.Watcher)
	if !ok || r.watchKind == "" {
		return echo.NewHTTPError(http.StatusMethodNotAllowed, "watch is not supported for "+r.plural)
	}
	ctx, cancel := context.WithTimeout(c.Request().Context(), watchDuration(q.timeout))
	defer cancel()
	ns := c.Param("namespace")
	var initial []any
	var startRV string
	var cur engine.Cursor
	var err error
	switch {
	case q.sendInitialEvents || q.resourceVersion == "" || q.resourceVersion == "0":
		if q.resourceVersion == "" {
			if err := awaitCurrent(ctx, s.svc); err != nil {
				return r.about(err, "")
			}
		}
		if q.sendInitialEvents && q.resourceVersion != "" && q.resourceVersion != "0" {
			if a, ok := s.svc.(interface {
				AwaitResourceVersion(context.Context, string) error
			}); ok {
				if err := a.AwaitResourceVersion(ctx, q.resourceVersion); err != nil {
					return r.about(err, "")
				}
			}
		}
		initial, startRV, cur, err = w.Snapshot(ctx, r.watchKind, ns)
	default:
		cur, err = w.Watch(ctx, r.watchKind, q.resourceVersion)
	}
	if err != nil {
		return r.about(err, "")
	}
	table := wantsTable(c.Request().Header.Get(echo.HeaderAccept)) && r.columns != nil
	res := c.Response()
	res.Header().Set(echo.HeaderContentType, echo.MIMEApplicationJSON)
	res.Header().Set("Transfer-Encoding", "chunked")
	res.WriteHeader(http.StatusOK)
	res.Flush()
	defer s.reaper.add(cur, res)()
	stall := stallGuard{rc: http.NewResponseController(res)}
	defer stall.disarm() // the connection may serve other requests after this one
	enc := json.NewEncoder(res)
	var line []byte // reused; an idle watch holds none

	matches := func(obj *T) bool {
		p := P(obj)
		if ns != "" && p.GetNamespace() != ns {
			return false
		}
		return q.labels.Matches(labels.Set(p.GetLabels())) && q.fields.Matches(r.fieldsOf(p))
	}
	// write sends one event; shared, when set, is the object's JSON the
	// engine encoded once for every watcher.
	write := func(typ string, obj *T, shared []byte) error {
		raw := shared
		switch {
		case table:
			raw = mustJSON(toTable(r.columns, []T{*obj}, c.QueryParam("includeObject"), metav1.ListMeta{}, r.setKind))
		case raw == nil:
			// Event objects are shared by every watcher: set the kind on a copy.
			cp := *obj
			r.setKind(&cp)
			raw = mustJSON(&cp)
		}
		// As json.Encoder writes a metav1.WatchEvent, without reading raw again.
		line = append(append(append(append(line[:0], `{"type":`...), strconv.Quote(typ)...), `,"object":`...), raw...)
		line = append(line, "}\n"...)
		stall.arm(len(line))
		_, err := res.Write(line)
		return err
	}
	bookmark := func(rv string, annotations map[string]any) error {
		md := map[string]any{"resourceVersion": rv}
		if annotations != nil {
			md["annotations"] = annotations
		}
		bm := map[string]any{"apiVersion": r.gvk.GroupVersion().String(), "kind": r.gvk.Kind, "metadata": md}
		stall.arm(0)
		if err := enc.Encode(metav1.WatchEvent{Type: "BOOKMARK", Object: runtime.RawExtension{Raw: mustJSON(bm)}}); err != nil {
			return err
		}
		res.Flush()
		return nil
	}
	for _, o := range initial {
		select {
		case <-ctx.Done():
			return nil // no initial-events-end: the client lists again
		case <-s.stop:
			return nil // a large snapshot to a slow client would hold the shutdown
		default:
		}
		obj, ok := r.fromEvent(ctx, engine.Event{Type: "ADDED", Kind: r.watchKind, Object: o})
		if !ok || !matches(obj) {
			continue
		}
		if err := write("ADDED", obj, nil); err != nil {
			return nil // client went away
		}
	}
	if q.sendInitialEvents {
		if err := bookmark(startRV, map[string]any{initialEventsEnd: "true"}); err != nil {
			return nil
		}
	}
	res.Flush()
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
		case <-s.stop:
			return nil // the server stops; the client watches again
		case <-stall.idle():
			stall.rested()
		case <-tick:
			if err := bookmark(cur.Head(), nil); err != nil {
				return nil
			}
		case <-cur.Ready():
			evs, err := cur.Take()
			if err != nil {
				// Fell behind the window: end the watch with 410, as
				// Kubernetes does; the client lists again.
				if !errors.Is(err, context.Canceled) {
					s.log.Debug("watch dropped", "resource", r.plural, "err", err)
					st := statusOf(err)
					stall.arm(0)
					enc.Encode(metav1.WatchEvent{Type: "ERROR", Object: runtime.RawExtension{Raw: mustJSON(st)}})
				}
				return nil
			}
			for _, ev := range evs {
				if err := r.sendEvent(ctx, ev, matches, write); err != nil {
					return nil
				}
			}
			res.Flush()
		}
	}
}

// sendEvent writes one event as a watcher with selectors sees it: an object
// that enters the selection is ADDED, one that leaves it is DELETED.
func (r *resource[T, P]) sendEvent(ctx context.Context, ev engine.Event, matches func(*T) bool, write func(string, *T, []byte) error) error {
	now, ok := r.peekObject(ev.Object)
	if !ok {
		return nil
	}
	before := false
	switch ev.Type {
	case "ADDED":
	case "DELETED":
		before, now = matches(now), nil
	default:
		// Without the old state (a replay after a restart) the client may
		// hold the object: one that does not match any more is DELETED.
		before = true
		if old, ok := r.peekObject(ev.Old); ok {
			before = matches(old)
		}
	}
	after := now != nil && matches(now)
	typ := ev.Type
	switch {
	case after && !before:
		typ = "ADDED"
	case !after && before:
		typ = "DELETED"
	case !after:
		return nil
	}
	obj, ok := r.fromEvent(ctx, ev)
	if !ok {
		return nil
	}
	if any(obj) == ev.Object {
		return write(typ, obj, ev.ObjectJSON())
	}
	return write(typ, obj, nil)
}

// stallTimeout is how long a watch may stay blocked writing to a client that
// reads nothing before it is dropped, as Kubernetes drops unresponsive
// watchers: the connection closes and the client watches again. A variable
// for tests.
var stallTimeout = 10 * time.Second

// stallRate is the slowest reading a large event is given time for (a
// PackageRevisionResources event carries the files), on top of stallTimeout.
const stallRate = 64 << 10 // bytes a second

// stallGuard keeps a write deadline stallTimeout ahead of every write, moved
// at most a few times a second so that a busy stream costs no timer per
// event; a write larger than stallRate bytes gets its own. A watch that goes
// idle clears it (see idle): over HTTP/2 a write deadline is a timer that
// resets the stream when it fires, whether a write is under way or not.
type stallGuard struct {
	rc     *http.ResponseController
	armed  time.Time   // when the deadline was last moved; zero while none is set
	rest   *time.Timer // fires restAt, to clear the deadline of an idle watch
	restAt time.Time
}

func (g *stallGuard) arm(n int) {
	now := time.Now()
	if n <= stallRate && now.Sub(g.armed) < min(time.Second, stallTimeout/4) {
		return
	}
	g.armed = now
	extra := time.Duration(n) * time.Second / stallRate
	_ = g.rc.SetWriteDeadline(now.Add(stallTimeout + extra))
}

// idle returns what to wait on, beside events, while the watch writes
// nothing: it fires half a stallTimeout after the deadline was last moved,
// well before the deadline, and the watch then calls rested. Nil while no
// deadline is set. The timer moves only when the deadline did.
func (g *stallGuard) idle() <-chan time.Time {
	if g.armed.IsZero() {
		return nil
	}
	at := g.armed.Add(stallTimeout / 2)
	if at != g.restAt {
		g.restAt = at
		if g.rest == nil {
			g.rest = time.NewTimer(time.Until(at))
		} else {
			g.rest.Reset(time.Until(at))
		}
	}
	return g.rest.C
}

// rested clears the deadline of a watch that has been idle since it was
// set; the next write sets it again.
func (g *stallGuard) rested() {
	g.disarm()
	g.armed, g.restAt = time.Time{}, time.Time{}
}

func (g *stallGuard) disarm() {
	if g.rest != nil {
		g.rest.Stop()
	}
	if !g.armed.IsZero() {
		_ = g.rc.SetWriteDeadline(time.Time{})
	}
}
