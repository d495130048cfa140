package format

import (
	"encoding/json"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	pkgapi "pkgserver.dev/pkgserver/api/pkg/v1alpha1"
)

// Meta is everything about a revision that lives in its manifest annotations.
// Repository and, for plain pushes, the package identity come from where the
// artifact is, not from here: a registry mirrored elsewhere stays valid.
type Meta struct {
	Lifecycle      pkgapi.Lifecycle
	Target         string
	Realm          string
	Package        string
	Workspace      string
	Revision       string
	UID            string
	Created        time.Time
	Description    string
	Source         string
	Tasks          []pkgapi.Task
	Upstream       *pkgapi.Upstream
	UpstreamLock   *pkgapi.UpstreamLock
	ReadinessGates []pkgapi.ReadinessGate
	Conditions     []metav1.Condition
	PublishedBy    string
	PublishedAt    time.Time
	Labels         map[string]string
	Annotations    map[string]string
	// ManagedFields are the server-side apply field owners of the revision.
	ManagedFields []metav1.ManagedFieldsEntry
}

// Encode returns the manifest annotations for m. Empty fields are left out so
// that the same metadata always gives the same annotations (and digest).
func (m Meta) Encode() map[string]string {
	a := map[string]string{AnnotationFormat: Version}
	set := func(k, v string) {
		if v != "" {
			a[k] = v
		}
	}
	setJSON := func(k string, v any, empty bool) {
		if empty {
			return
		}
		b, err := json.Marshal(v)
		if err == nil { // the types here always marshal
			a[k] = string(b)
		}
	}
	set(AnnotationLifecycle, string(m.Lifecycle))
	set(AnnotationTarget, m.Target)
	set(AnnotationRealm, m.Realm)
	set(AnnotationPackage, m.Package)
	set(AnnotationTitle, m.Package)
	set(AnnotationWorkspace, m.Workspace)
	set(AnnotationVersion, m.Revision)
	set(AnnotationUID, m.UID)
	if !m.Created.IsZero() {
		a[AnnotationCreated] = m.Created.UTC().Format(time.RFC3339)
	}
	set(AnnotationDescription, m.Description)
	set(AnnotationSource, m.Source)
	setJSON(AnnotationTasks, m.Tasks, len(m.Tasks) == 0)
	setJSON(AnnotationUpstream, m.Upstream, m.Upstream == nil)
	setJSON(AnnotationUpstreamLock, m.UpstreamLock, m.UpstreamLock == nil)
	setJSON(AnnotationGates, m.ReadinessGates, len(m.ReadinessGates) == 0)
	setJSON(AnnotationConditions, m.Conditions, len(m.Conditions) == 0)
	set(AnnotationPublishedBy, m.PublishedBy)
	if !m.PublishedAt.IsZero() {
		a[AnnotationPublishedAt] = m.PublishedAt.UTC().Format(time.RFC3339)
	}
	setJSON(AnnotationLabels, m.Labels, len(m.Labels) == 0)
	setJSON(AnnotationAnnotations, m.Annotations, len(m.Annotations) == 0)
	setJSON(AnnotationManagedFields, m.ManagedFields, len(m.ManagedFields) == 0)
	return a
}

// Decode reads annotations leniently: a missing or unreadable field is left at
// its zero value, so artifacts pushed by other tools still read (docs/format.md
// lists the defaults the engine then applies).
func Decode(a map[string]string) Meta {
	m := Meta{
		Lifecycle:   pkgapi.Lifecycle(a[AnnotationLifecycle]),
		Target:      a[AnnotationTarget],
		Realm:       a[AnnotationRealm],
		Package:     a[AnnotationPackage],
		Workspace:   a[AnnotationWorkspace],
		Revision:    a[AnnotationVersion],
		UID:         a[AnnotationUID],
		Description: a[AnnotationDescription],
		Source:      a[AnnotationSource],
		PublishedBy: a[AnnotationPublishedBy],
	}
	if m.Package == "" {
		m.Package = a[AnnotationTitle]
	}
	m.Created = parseTime(a[AnnotationCreated])
	m.PublishedAt = parseTime(a[AnnotationPublishedAt])
	getJSON(a, AnnotationTasks, &m.Tasks)
	getJSON(a, AnnotationUpstream, &m.Upstream)
	getJSON(a, AnnotationUpstreamLock, &m.UpstreamLock)
	getJSON(a, AnnotationGates, &m.ReadinessGates)
	getJSON(a, AnnotationConditions, &m.Conditions)
	getJSON(a, AnnotationLabels, &m.Labels)
	getJSON(a, AnnotationAnnotations, &m.Annotations)
	getJSON(a, AnnotationManagedFields, &m.ManagedFields)
	return m
}

// getJSON decodes annotation k into *v, leniently: bad JSON, or JSON of the
// wrong shape, reads as absent. It decodes into a fresh value first because
// json.Unmarshal fills what it can before reporting a type error, and a
// half-read list of tasks or gates must not pass for the real thing.
func getJSON[T any](a map[string]string, k string, v *T) {
	s, ok := a[k]
	if !ok {
		return
	}
	var fresh T
	if err := json.Unmarshal([]byte(s), &fresh); err == nil {
		*v = fresh
	}
}

func parseTime(s string) time.Time {
	if s == "" {
		return time.Time{}
	}
	t, err := time.Parse(time.RFC3339, s)
	if err != nil {
		return time.Time{}
	}
	return t
}
