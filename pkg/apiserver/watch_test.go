package apiserver

import (
	"bufio"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"testing"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	pkgapi "pkgserver.dev/pkgserver/api/pkg/v1alpha1"
	"pkgserver.dev/pkgserver/pkg/engine"
)

type watchLine struct {
	Type   string          `json:"type"`
	Object json.RawMessage `json:"object"`
}

func TestWatch(t *testing.T) {
	f := newFake()
	srv := httptest.NewServer(New(f, Options{}))
	defer srv.Close()
	base := srv.URL + "/apis/pkg.pkgserver.dev/v1alpha1/namespaces/default/packagerevisions"

	tests := []struct {
		name    string
		query   string
		accept  string
		initial int // ADDED events expected before the fed ones
		fed     []engine.Event
		want    []string // types of the fed events that pass the filters
		table   bool
	}{
		{name: "from now with initial state", query: "?watch=true", initial: 3,
			fed:  []engine.Event{{Type: "MODIFIED", Object: prIn("default", "a")}, {Type: "DELETED", Object: prIn("default", "b")}},
			want: []string{"MODIFIED", "DELETED"}},
		{name: "resume skips initial state, filters namespace", query: "?watch=1&resourceVersion=40", initial: 0,
			fed:  []engine.Event{{Type: "ADDED", Object: prIn("team-b", "x")}, {Type: "ADDED", Object: prIn("default", "y")}},
			want: []string{"ADDED"}},
		{name: "label selector", query: "?watch=true&resourceVersion=41&labelSelector=app%3Dweb",
			fed:  []engine.Event{{Type: "ADDED", Object: prIn("default", "y")}, {Type: "ADDED", Object: withLabel(prIn("default", "z"), "app", "web")}},
			want: []string{"ADDED"}},
		{name: "objects leaving and entering the selection", query: "?watch=true&resourceVersion=41&labelSelector=app%3Dweb",
			fed: []engine.Event{
				{Type: "MODIFIED", Object: withLabel(prIn("default", "z"), "app", "web"), Old: prIn("default", "z")}, // enters: ADDED
				{Type: "MODIFIED", Object: prIn("default", "z"), Old: withLabel(prIn("default", "z"), "app", "web")}, // leaves: DELETED
				{Type: "DELETED", Object: prIn("default", "z")},                                                      // not selected: nothing
				{Type: "MODIFIED", Object: withLabel(prIn("default", "w"), "app", "web"), Old: prIn("default", "w")}, // enters: ADDED
				{Type: "MODIFIED", Object: withLabel(prIn("default", "w"), "app", "web"), Old: withLabel(prIn("default", "w"), "app", "web")},
			},
			want: []string{"ADDED", "DELETED", "ADDED", "MODIFIED"}},
		{name: "table events for kubectl get -w", query: "?watch=true&resourceVersion=41", table: true,
			accept: "application/json;as=Table;v=v1;g=meta.k8s.io,application/json",
			fed:    []engine.Event{{Type: "MODIFIED", Object: prIn("default", "a")}},
			want:   []string{"MODIFIED"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			req, _ := http.NewRequest("GET", base+tt.query+"&timeoutSeconds=5", nil)
			if tt.accept != "" {
				req.Header.Set("Accept", tt.accept)
			}
			res, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			defer res.Body.Close()
			if res.StatusCode != 200 {
				t.Fatalf("status %d", res.StatusCode)
			}
			sc := bufio.NewScanner(res.Body)
			next := func() watchLine {
				t.Helper()
				if !sc.Scan() {
					t.Fatalf("stream ended: %v", sc.Err())
				}
				var l watchLine
				if err := json.Unmarshal(sc.Bytes(), &l); err != nil {
					t.Fatalf("bad event %s: %v", sc.Bytes(), err)
				}
				return l
			}
			for i := 0; i < tt.initial; i++ {
				if l := next(); l.Type != "ADDED" {
					t.Fatalf("initial event %d is %s", i, l.Type)
				}
			}
			ch := f.watchOf(t)
			for _, ev := range tt.fed {
				ev.Kind = pkgapi.PackageRevisionKind
				ch <- ev
			}
			for _, w := range tt.want {
				l := next()
				if l.Type != w {
					t.Fatalf("event type %s, want %s", l.Type, w)
				}
				var tm metav1.TypeMeta
				_ = json.Unmarshal(l.Object, &tm)
				if tt.table && tm.Kind != "Table" || !tt.table && tm.Kind != pkgapi.PackageRevisionKind {
					t.Fatalf("event object kind %q: %s", tm.Kind, l.Object)
				}
			}
			f.mu.Lock()
			delete(f.events, pkgapi.PackageRevisionKind)
			f.mu.Unlock()
		})
	}
}

// TestWatchFallsBehind: a watcher the window left behind gets an ERROR
// event with a 410 Status, as from Kubernetes, and the stream ends.
func TestWatchFallsBehind(t *testing.T) {
	f := newFake()
	srv := httptest.NewServer(New(f, Options{}))
	defer srv.Close()
	res, err := http.Get(srv.URL + "/apis/pkg.pkgserver.dev/v1alpha1/namespaces/default/packagerevisions?watch=true&resourceVersion=41&timeoutSeconds=5")
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	ch := f.watchOf(t)
	ch <- engine.Event{Type: "MODIFIED", Kind: pkgapi.PackageRevisionKind, Object: prIn("default", "a")}
	ch <- engine.Event{Type: "GONE"}
	dec := json.NewDecoder(res.Body)
	var types []string
	var last watchLine
	for dec.More() {
		if err := dec.Decode(&last); err != nil {
			t.Fatal(err)
		}
		types = append(types, last.Type)
	}
	var st metav1.Status
	if err := json.Unmarshal(last.Object, &st); err != nil || last.Type != "ERROR" || st.Code != 410 || st.Reason != metav1.StatusReasonExpired {
		t.Fatalf("events %v, last %s: %v", types, last.Object, err)
	}
}

func TestWatchTooOld(t *testing.T) {
	rec := serve(t, New(newFake(), Options{}), call{method: "GET", path: "/apis/pkg.pkgserver.dev/v1alpha1/namespaces/default/packagerevisions?watch=true&resourceVersion=1"})
	call{code: 410, reason: metav1.StatusReasonExpired}.verify(t, rec)
}

func prIn(ns, name string) *pkgapi.PackageRevision {
	return &pkgapi.PackageRevision{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name}}
}

func withLabel(pr *pkgapi.PackageRevision, k, v string) *pkgapi.PackageRevision {
	pr.Labels = map[string]string{k: v}
	return pr
}
