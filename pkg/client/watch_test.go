package client

import (
	"context"
	"fmt"
	"net/http"
	"testing"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/watch"

	configapi "pkgserver.dev/pkgserver/api/config/v1alpha1"
)

func TestWatchEvents(t *testing.T) {
	// Every object names its apiVersion and kind, as the server sends them.
	const tm = `"apiVersion":"config.pkg.pkgserver.dev/v1alpha1","kind":"Repository",`
	stream := `{"type":"ADDED","object":{` + tm + `"metadata":{"name":"a","resourceVersion":"1"}}}
{"type":"MODIFIED","object":{` + tm + `"metadata":{"name":"a","resourceVersion":"2"},"spec":{"deployment":true}}}
{"type":"BOOKMARK","object":{` + tm + `"metadata":{"resourceVersion":"3"}}}
{"type":"DELETED","object":{` + tm + `"metadata":{"name":"a","resourceVersion":"4"}}}
{"type":"ERROR","object":{"apiVersion":"v1","kind":"Status","status":"Failure","reason":"Expired","code":410,"message":"too old resource version"}}
`
	c := newTestClient(t, &recorder{code: 200, body: stream})
	w, err := c.Repositories("ns1").Watch(context.Background(), ListOptions{})
	if err != nil {
		t.Fatal(err)
	}
	defer w.Stop()
	var got []string
	for ev := range w.ResultChan() {
		switch o := ev.Object.(type) {
		case *configapi.Repository:
			got = append(got, fmt.Sprintf("%s %s %s %v", ev.Type, o.Name, o.ResourceVersion, o.Spec.Deployment))
		case *metav1.Status:
			got = append(got, fmt.Sprintf("%s %d %s", ev.Type, o.Code, o.Reason))
			if !apierrors.IsResourceExpired(apierrors.FromObject(o)) {
				t.Errorf("ERROR event %+v is not IsResourceExpired", o)
			}
		default:
			t.Fatalf("event object %T", ev.Object)
		}
	}
	want := []string{"ADDED a 1 false", "MODIFIED a 2 true", "BOOKMARK  3 false", "DELETED a 4 false", "ERROR 410 Expired"}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("events:\n got %q\nwant %q", got, want)
	}
}

func TestWatchBadEvent(t *testing.T) {
	c := newTestClient(t, &recorder{code: 200, body: `{"type":"SURPRISE","object":{}}` + "\n"})
	w, err := c.Repositories("ns1").Watch(context.Background(), ListOptions{})
	if err != nil {
		t.Fatal(err)
	}
	defer w.Stop()
	ev, ok := <-w.ResultChan()
	if !ok || ev.Type != watch.Error {
		t.Fatalf("event = %+v, %v; want an ERROR event", ev, ok)
	}
	if _, ok := <-w.ResultChan(); ok {
		t.Error("channel still open after a decoding error")
	}
}

func TestWatchRefused(t *testing.T) {
	c := newTestClient(t, &recorder{code: 405, body: `{"kind":"Status","status":"Failure","message":"watch is not supported","reason":"MethodNotAllowed","code":405}`})
	_, err := c.PackageRevisions("ns1").Watch(context.Background(), ListOptions{})
	if !apierrors.IsMethodNotSupported(err) {
		t.Fatalf("err = %v, want MethodNotAllowed", err)
	}
}

// hang streams one event and then holds the connection open.
type hang struct{}

func (hang) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Content-Type", "application/json")
	fmt.Fprintln(w, `{"type":"ADDED","object":{"apiVersion":"config.pkg.pkgserver.dev/v1alpha1","kind":"Repository","metadata":{"name":"a"}}}`)
	w.(http.Flusher).Flush()
	<-r.Context().Done()
}

func TestWatchStops(t *testing.T) {
	for _, how := range []string{"Stop", "context"} {
		t.Run(how, func(t *testing.T) {
			c := newTestClient(t, hang{})
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			w, err := c.Repositories("ns1").Watch(ctx, ListOptions{})
			if err != nil {
				t.Fatal(err)
			}
			if ev := <-w.ResultChan(); ev.Type != watch.Added {
				t.Fatalf("first event = %+v", ev)
			}
			if how == "Stop" {
				w.Stop()
			} else {
				cancel()
			}
			select {
			case ev, ok := <-w.ResultChan():
				if ok {
					t.Fatalf("event after %s: %+v", how, ev)
				}
			case <-time.After(5 * time.Second):
				t.Fatalf("channel not closed after %s", how)
			}
		})
	}
}
