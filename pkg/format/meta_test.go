package format

import (
	"reflect"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	pkgapi "pkgserver.dev/pkgserver/api/pkg/v1alpha1"
)

// fullMeta sets every field of Meta, so a round trip that drops one fails.
func fullMeta() Meta {
	at := time.Date(2025, 3, 4, 5, 6, 7, 0, time.UTC)
	return Meta{
		Lifecycle:   pkgapi.LifecyclePublished,
		Target:      "edge-1",
		Realm:       "net/core",
		Package:     "router",
		Workspace:   "ws1",
		Revision:    "v3",
		UID:         "0b7c9c1e-1111-2222-3333-444455556666",
		Created:     at,
		Description: "a router",
		Source:      "example.com/cat/router:v1",
		Tasks: []pkgapi.Task{{Type: pkgapi.TaskTypeClone, Clone: &pkgapi.CloneTask{
			Upstream: pkgapi.UpstreamRef{Name: "catalog.cat.net:core.router.main"}}}},
		Upstream: &pkgapi.Upstream{Name: "catalog.cat.net:core.router.main",
			PackageRevID: pkgapi.PackageRevID{Target: "catalog", Repository: "cat", Realm: "net/core", Package: "router", Workspace: "main", Revision: "v1"}},
		UpstreamLock:   &pkgapi.UpstreamLock{Reference: "example.com/cat/router:v1", Digest: "sha256:" + string(make64('a'))},
		ReadinessGates: []pkgapi.ReadinessGate{{ConditionType: "Tested"}},
		Conditions: []metav1.Condition{{Type: "Tested", Status: metav1.ConditionTrue, Reason: "CI",
			Message: "ok", LastTransitionTime: metav1.NewTime(at)}},
		PublishedBy: "alice",
		PublishedAt: at.Add(time.Hour),
		Labels:      map[string]string{"team": "net"},
		Annotations: map[string]string{"note": "x"},
	}
}

// utc puts condition times in UTC: metav1.Time decodes in the local zone.
func utc(m Meta) Meta {
	for i := range m.Conditions {
		m.Conditions[i].LastTransitionTime = metav1.NewTime(m.Conditions[i].LastTransitionTime.UTC())
	}
	return m
}

func make64(c byte) []byte {
	b := make([]byte, 64)
	for i := range b {
		b[i] = c
	}
	return b
}

func TestEncodeDecodeRoundTrip(t *testing.T) {
	full := fullMeta()
	// One case per field: only that field set (plus the package, which the
	// title annotation also carries), so a field lost in either direction shows.
	cases := map[string]func(m *Meta){
		"lifecycle":      func(m *Meta) { m.Lifecycle = full.Lifecycle },
		"target":         func(m *Meta) { m.Target = full.Target },
		"realm":          func(m *Meta) { m.Realm = full.Realm },
		"workspace":      func(m *Meta) { m.Workspace = full.Workspace },
		"revision":       func(m *Meta) { m.Revision = full.Revision },
		"uid":            func(m *Meta) { m.UID = full.UID },
		"created":        func(m *Meta) { m.Created = full.Created },
		"description":    func(m *Meta) { m.Description = full.Description },
		"source":         func(m *Meta) { m.Source = full.Source },
		"tasks":          func(m *Meta) { m.Tasks = full.Tasks },
		"upstream":       func(m *Meta) { m.Upstream = full.Upstream },
		"upstreamLock":   func(m *Meta) { m.UpstreamLock = full.UpstreamLock },
		"readinessGates": func(m *Meta) { m.ReadinessGates = full.ReadinessGates },
		"conditions":     func(m *Meta) { m.Conditions = full.Conditions },
		"publishedBy":    func(m *Meta) { m.PublishedBy = full.PublishedBy },
		"publishedAt":    func(m *Meta) { m.PublishedAt = full.PublishedAt },
		"labels":         func(m *Meta) { m.Labels = full.Labels },
		"annotations":    func(m *Meta) { m.Annotations = full.Annotations },
		"every field":    func(m *Meta) { *m = full },
	}
	for name, set := range cases {
		t.Run(name, func(t *testing.T) {
			in := Meta{Package: "router"}
			set(&in)
			a := in.Encode()
			if a[AnnotationFormat] != Version {
				t.Errorf("format annotation = %q, want %q", a[AnnotationFormat], Version)
			}
			got := Decode(a)
			if !reflect.DeepEqual(utc(got), in) {
				t.Errorf("Decode(Encode(m)) =\n%+v\nwant\n%+v", got, in)
			}
		})
	}
}

func TestEncodeOmitsEmptyAndIsStable(t *testing.T) {
	a := Meta{}.Encode()
	if len(a) != 1 || a[AnnotationFormat] != Version {
		t.Errorf("Encode of empty Meta = %v, want only the format annotation", a)
	}
	m := fullMeta()
	if !reflect.DeepEqual(m.Encode(), m.Encode()) {
		t.Error("Encode is not stable")
	}
	// Times are written in UTC, second precision, whatever the zone given.
	m.Created = time.Date(2025, 3, 4, 7, 6, 7, 0, time.FixedZone("x", 2*3600))
	if got := m.Encode()[AnnotationCreated]; got != "2025-03-04T05:06:07Z" {
		t.Errorf("created = %q", got)
	}
	if got := m.Encode()[AnnotationTitle]; got != "router" {
		t.Errorf("title = %q, want the package name", got)
	}
}

func TestDecodeLenient(t *testing.T) {
	tests := []struct {
		name string
		in   map[string]string
		want Meta
	}{
		{name: "nil map", in: nil, want: Meta{}},
		{name: "plain oras push (only created)", in: map[string]string{AnnotationCreated: "2025-01-02T03:04:05Z"},
			want: Meta{Created: time.Date(2025, 1, 2, 3, 4, 5, 0, time.UTC)}},
		{name: "title is the package when package is missing", in: map[string]string{AnnotationTitle: "app"},
			want: Meta{Package: "app"}},
		{name: "package wins over title", in: map[string]string{AnnotationTitle: "t", AnnotationPackage: "p"},
			want: Meta{Package: "p"}},
		{name: "bad times read as zero", in: map[string]string{AnnotationCreated: "yesterday", AnnotationPublishedAt: "2025-13-01T00:00:00Z"},
			want: Meta{}},
		{name: "bad JSON reads as absent", in: map[string]string{
			AnnotationTasks: "[", AnnotationUpstream: "{", AnnotationUpstreamLock: "nope",
			AnnotationGates: "{}", AnnotationConditions: "1", AnnotationLabels: "[]", AnnotationAnnotations: `"x"`},
			want: Meta{}},
		{name: "JSON of the wrong shape reads as absent", in: map[string]string{
			AnnotationTasks:  `[{"type":"init"},7]`,
			AnnotationLabels: `{"a":"b","c":1}`,
			AnnotationGates:  `[{"conditionType":"A"},"B"]`},
			want: Meta{}},
		{name: "unknown keys ignored", in: map[string]string{"com.example.x": "y", AnnotationLifecycle: "draft"},
			want: Meta{Lifecycle: pkgapi.LifecycleDraft}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := Decode(tt.in)
			if !reflect.DeepEqual(got, tt.want) {
				t.Errorf("Decode(%v) =\n%+v\nwant\n%+v", tt.in, got, tt.want)
			}
		})
	}
}

func FuzzDecode(f *testing.F) {
	full := fullMeta().Encode()
	f.Add(AnnotationTasks, full[AnnotationTasks], AnnotationCreated, full[AnnotationCreated])
	f.Add(AnnotationConditions, full[AnnotationConditions], AnnotationUpstream, "{")
	f.Add(AnnotationLabels, `{"a":1}`, AnnotationPublishedAt, "2025-01-01T00:00:00+02:00")
	f.Fuzz(func(t *testing.T, k1, v1, k2, v2 string) {
		a := fullMeta().Encode()
		a[k1] = v1
		a[k2] = v2
		m := Decode(a) // must not panic
		// What Decode returns encodes and decodes to itself (times aside,
		// which Encode rounds to seconds in UTC).
		m.Created, m.PublishedAt = time.Time{}, time.Time{}
		back := Decode(m.Encode())
		back.Created, back.PublishedAt = time.Time{}, time.Time{}
		if got, want := back.Encode(), m.Encode(); !reflect.DeepEqual(got, want) {
			t.Errorf("re-encoding is not stable:\n%v\n%v", got, want)
		}
	})
}
