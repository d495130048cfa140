package client

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/watch"
)

// Watch streams the changes to the objects opts selects (GET ?watch=true).
// Event objects are of the client's kind (for example *pkgapi.PackageRevision),
// or a *metav1.Status for watch.Error events; a 410 Gone Status there means
// opts.ResourceVersion is too old: list again and watch from the list's
// resourceVersion. The result channel closes when the server ends the stream,
// when ctx is done or when Stop is called.
func (r *Resource[T, L]) Watch(ctx context.Context, opts ListOptions) (watch.Interface, error) {
	q := opts.query()
	q.Set("watch", "true")
	req := &request{method: http.MethodGet, path: r.pathOf("", ""), query: q, group: r.group, resource: r.plural}
	resp, err := r.c.send(ctx, req)
	if err != nil {
		return nil, err
	}
	d := &watchDecoder[T]{ctx: ctx, body: resp.Body, dec: json.NewDecoder(resp.Body), newObj: r.newObj}
	reporter := apierrors.NewClientErrorReporter(http.StatusInternalServerError, http.MethodGet, "ClientWatchDecoding")
	return watch.NewStreamWatcher(d, reporter), nil
}

// watchEvent is one event of a Kubernetes watch stream (metav1.WatchEvent).
type watchEvent struct {
	Type   watch.EventType `json:"type"`
	Object json.RawMessage `json:"object"`
}

// watchDecoder reads a stream of JSON watch events, one after the other.
type watchDecoder[T Object] struct {
	ctx    context.Context
	body   io.ReadCloser
	dec    *json.Decoder
	newObj func() T
}

// Decode implements watch.Decoder.
func (d *watchDecoder[T]) Decode() (watch.EventType, runtime.Object, error) {
	var ev watchEvent
	if err := d.dec.Decode(&ev); err != nil {
		if d.ctx.Err() != nil {
			return "", nil, io.EOF // the caller is done: end quietly
		}
		return "", nil, err
	}
	switch ev.Type {
	case watch.Added, watch.Modified, watch.Deleted, watch.Bookmark:
		obj := d.newObj()
		if err := json.Unmarshal(ev.Object, obj); err != nil {
			return "", nil, fmt.Errorf("decoding the object of a %s event: %w", ev.Type, err)
		}
		return ev.Type, obj, nil
	case watch.Error:
		st := &metav1.Status{}
		if err := json.Unmarshal(ev.Object, st); err != nil {
			return "", nil, fmt.Errorf("decoding the Status of an ERROR event: %w", err)
		}
		return ev.Type, st, nil
	}
	return "", nil, fmt.Errorf("unknown watch event type %q", ev.Type)
}

// Close implements watch.Decoder.
func (d *watchDecoder[T]) Close() { _ = d.body.Close() }
