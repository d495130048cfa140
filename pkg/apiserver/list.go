package apiserver

import (
	"encoding/base64"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"

	"k8s.io/apimachinery/pkg/fields"
	"k8s.io/apimachinery/pkg/labels"

	"pkgserver.dev/pkgserver/pkg/errdef"
)

// listQuery is the parsed query of a list request.
type listQuery struct {
	labels labels.Selector
	fields fields.Selector
	// limit is the page size; 0 means everything.
	limit int
	// after is the namespace/name of the last item of the previous page; empty
	// on the first page.
	after position
	// watch asks for a stream of changes instead of a list.
	watch bool
	// resourceVersion is where a watch starts, or how fresh a list must be.
	resourceVersion string
	// resourceVersionMatch is "", NotOlderThan or Exact.
	resourceVersionMatch string
	// sendInitialEvents asks a watch to start with the current objects and
	// a bookmark after them (WatchList).
	sendInitialEvents bool
	// bookmarks asks for BOOKMARK events; timeout ends a watch (0: never).
	bookmarks bool
	timeout   time.Duration
}

// position is where a page ended: items sort by namespace, then name.
type position struct{ namespace, name string }

func (p position) less(q position) bool {
	if p.namespace != q.namespace {
		return p.namespace < q.namespace
	}
	return p.name < q.name
}

// parseListQuery reads labelSelector, fieldSelector, limit and continue.
// Field selectors may only name the fields in allowed; every problem is a
// 400 naming the parameter at fault.
func parseListQuery(q url.Values, allowed fields.Set) (listQuery, error) {
	var lq listQuery
	var err error
	if w := q.Get("watch"); w != "" {
		on, err := strconv.ParseBool(w)
		if err != nil {
			return lq, newError(errdef.ErrBadRequest, "invalid watch %q: want true or false", w)
		}
		lq.watch = on
	}
	lq.resourceVersion = q.Get("resourceVersion")
	if b := q.Get("allowWatchBookmarks"); b != "" {
		lq.bookmarks, _ = strconv.ParseBool(b)
	}
	switch m := q.Get("resourceVersionMatch"); m {
	case "", "NotOlderThan", "Exact":
		lq.resourceVersionMatch = m
	default:
		return lq, newError(errdef.ErrBadRequest, "invalid resourceVersionMatch %q: want NotOlderThan or Exact", m)
	}
	// As Kubernetes: a list needs a resourceVersion to match; a WatchList
	// without one starts from the current state (client-go sends that).
	if lq.resourceVersionMatch != "" && lq.resourceVersion == "" && !lq.watch {
		return lq, newError(errdef.ErrBadRequest, "resourceVersionMatch is forbidden unless resourceVersion is set")
	}
	if s := q.Get("sendInitialEvents"); s != "" {
		on, err := strconv.ParseBool(s)
		if err != nil {
			return lq, newError(errdef.ErrBadRequest, "invalid sendInitialEvents %q: want true or false", s)
		}
		lq.sendInitialEvents = on
		// As Kubernetes: the initial events end with a bookmark, which the
		// client must accept, and the start is "not older than" rv.
		if !lq.watch {
			return lq, newError(errdef.ErrBadRequest, "sendInitialEvents is forbidden for list")
		}
		if on && !lq.bookmarks {
			return lq, newError(errdef.ErrBadRequest, "sendInitialEvents requires allowWatchBookmarks=true")
		}
		if lq.resourceVersionMatch != "NotOlderThan" {
			return lq, newError(errdef.ErrBadRequest, "sendInitialEvents requires resourceVersionMatch=NotOlderThan")
		}
	} else if lq.watch && lq.resourceVersionMatch != "" {
		return lq, newError(errdef.ErrBadRequest, "resourceVersionMatch is forbidden for watch unless sendInitialEvents is set")
	}
	if s := q.Get("timeoutSeconds"); s != "" {
		n, err := strconv.Atoi(s)
		if err != nil || n < 0 {
			return lq, newError(errdef.ErrBadRequest, "invalid timeoutSeconds %q: want a whole number, 0 or more", s)
		}
		lq.timeout = time.Duration(n) * time.Second
	}
	if lq.labels, err = labels.Parse(q.Get("labelSelector")); err != nil {
		return lq, newError(errdef.ErrBadRequest, "invalid labelSelector: %v", err)
	}
	if lq.fields, err = fields.ParseSelector(q.Get("fieldSelector")); err != nil {
		return lq, newError(errdef.ErrBadRequest, "invalid fieldSelector: %v", err)
	}
	for _, r := range lq.fields.Requirements() {
		if !allowed.Has(r.Field) {
			return lq, newError(errdef.ErrBadRequest, "invalid fieldSelector: field %q is not supported; use one of %s",
				r.Field, strings.Join(sortedKeys(allowed), ", "))
		}
	}
	if s := q.Get("limit"); s != "" {
		n, err := strconv.Atoi(s)
		if err != nil || n < 0 {
			return lq, newError(errdef.ErrBadRequest, "invalid limit %q: want a whole number, 0 or more", s)
		}
		lq.limit = n
	}
	if s := q.Get("continue"); s != "" {
		if lq.after, err = decodeContinue(s); err != nil {
			return lq, err
		}
	}
	return lq, nil
}

// encodeContinue makes the opaque continue token that resumes after p.
// Namespaces cannot hold "/", so the first one splits the two parts.
func encodeContinue(p position) string {
	return base64.RawURLEncoding.EncodeToString([]byte(p.namespace + "/" + p.name))
}

func decodeContinue(s string) (position, error) {
	b, err := base64.RawURLEncoding.DecodeString(s)
	if err != nil {
		return position{}, newError(errdef.ErrBadRequest, "invalid continue token: not from this server")
	}
	ns, name, ok := strings.Cut(string(b), "/")
	if !ok || name == "" {
		return position{}, newError(errdef.ErrBadRequest, "invalid continue token: not from this server")
	}
	return position{namespace: ns, name: name}, nil
}

// page applies q to items: skips up to q.after, keeps those matching the
// selectors, and stops at q.limit. It returns the kept items and, when more
// match beyond them, the continue token for the next page.
func page[T any, P object[T]](items []T, q listQuery, fieldsOf func(P) fields.Set) ([]T, string) {
	pos := func(t *T) position {
		p := P(t)
		return position{namespace: p.GetNamespace(), name: p.GetName()}
	}
	// The engine sorts already; sorting again keeps paging right if it did not.
	// Compare through pointers: the items are large structs.
	sorted := true
	for i := 1; i < len(items) && sorted; i++ {
		sorted = !pos(&items[i]).less(pos(&items[i-1]))
	}
	if !sorted {
		slices.SortStableFunc(items, func(a, b T) int {
			pa, pb := pos(&a), pos(&b)
			switch {
			case pa.less(pb):
				return -1
			case pb.less(pa):
				return 1
			}
			return 0
		})
	}
	matchLabels, matchFields := !q.labels.Empty(), !q.fields.Empty()
	if !matchLabels && !matchFields && q.limit == 0 && q.after == (position{}) {
		return items, ""
	}
	size := len(items)
	if q.limit > 0 && q.limit < size {
		size = q.limit
	}
	out := make([]T, 0, size)
	for i := range items {
		p := P(&items[i])
		if q.after != (position{}) && !q.after.less(pos(&items[i])) {
			continue
		}
		// Building the field set costs a map per item: only when asked.
		if matchLabels && !q.labels.Matches(labels.Set(p.GetLabels())) || matchFields && !q.fields.Matches(fieldsOf(p)) {
			continue
		}
		if q.limit > 0 && len(out) == q.limit {
			return out, encodeContinue(pos(&out[len(out)-1]))
		}
		out = append(out, items[i])
	}
	return out, ""
}

func sortedKeys(s fields.Set) []string {
	keys := make([]string, 0, len(s))
	for k := range s {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}
