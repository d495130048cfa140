package engine

import (
	"encoding/json"
	"strings"
	"time"
	"unique"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	pkgapi "pkgserver.dev/pkgserver/api/pkg/v1alpha1"
	"pkgserver.dev/pkgserver/pkg/format"
)

// revMeta is what a revision's manifest says, kept small because the index
// holds one per revision: scalars as strings (interned when many revisions
// share them), structured annotations as their canonical JSON, which the
// API writes out as is. It never changes once built.
type revMeta struct {
	artifactType string
	lifecycle    pkgapi.Lifecycle
	target       string
	realm        string
	pkg          string
	workspace    string
	revision     string
	uid          string
	description  string
	publishedBy  string
	created      int64 // unix seconds; 0: unset
	publishedAt  int64
	tasks        string // canonical JSON (json.Marshal of the decoded value), "" when absent
	*revExtra           // what many revisions do not have; nil when none of it
}

// revExtra is the part of revMeta many revisions lack.
type revExtra struct {
	source string
	// Canonical JSON, "" when absent.
	upstream, upstreamLock, gates, conditions, labels, annotations, managedFields string
	// upstreamName is the upstream's object name, for lineage and selectors.
	upstreamName string
	// userLabels are the labels, sorted by key (key, value, key, value, ...).
	userLabels []string
}

// noExtra stands in for a missing revExtra.
var noExtra = &revExtra{}

// x returns the extra part (empty when none).
func (m *revMeta) x() *revExtra {
	if m.revExtra == nil {
		return noExtra
	}
	return m.revExtra
}

// intern returns the one copy of s the process keeps: revisions share their
// package's, task's and publisher's strings. Unused copies are collected.
func intern(s string) string {
	if s == "" {
		return ""
	}
	return unique.Make(s).Value()
}

// canonical is v as json.Marshal writes it, "" for an empty value.
func canonical(v any, empty bool) string {
	if empty {
		return ""
	}
	b, err := json.Marshal(v)
	if err != nil {
		return ""
	}
	return string(b)
}

// newRevMeta reads a revision manifest's artifact type and annotations
// (leniently, as format.Decode does).
func newRevMeta(artifactType string, annotations map[string]string) *revMeta {
	return metaFrom(artifactType, format.Decode(annotations))
}

// metaFrom keeps decoded metadata compactly.
func metaFrom(artifactType string, d format.Meta) *revMeta {
	m := &revMeta{
		artifactType: intern(artifactType),
		lifecycle:    pkgapi.Lifecycle(intern(string(d.Lifecycle))),
		target:       intern(d.Target),
		realm:        intern(d.Realm),
		pkg:          intern(d.Package),
		workspace:    intern(d.Workspace),
		revision:     intern(d.Revision),
		uid:          strings.Clone(d.UID), // not the decoder's buffer
		description:  intern(d.Description),
		publishedBy:  intern(d.PublishedBy),
		created:      unix(d.Created),
		publishedAt:  unix(d.PublishedAt),
		tasks:        intern(canonical(d.Tasks, len(d.Tasks) == 0)),
	}
	x := revExtra{
		source:        intern(d.Source),
		upstream:      intern(canonical(d.Upstream, d.Upstream == nil)),
		upstreamLock:  intern(canonical(d.UpstreamLock, d.UpstreamLock == nil)),
		gates:         intern(canonical(d.ReadinessGates, len(d.ReadinessGates) == 0)),
		conditions:    canonical(d.Conditions, len(d.Conditions) == 0),
		labels:        intern(canonical(d.Labels, len(d.Labels) == 0)),
		annotations:   intern(canonical(d.Annotations, len(d.Annotations) == 0)),
		managedFields: canonical(d.ManagedFields, len(d.ManagedFields) == 0),
	}
	if d.Upstream != nil {
		x.upstreamName = intern(d.Upstream.Name)
	}
	for _, k := range sortedKeys(d.Labels) {
		x.userLabels = append(x.userLabels, intern(k), intern(d.Labels[k]))
	}
	if x.source != "" || x.upstream != "" || x.upstreamLock != "" || x.gates != "" || x.conditions != "" ||
		x.labels != "" || x.annotations != "" || x.managedFields != "" {
		m.revExtra = &x
	}
	return m
}

func unix(t time.Time) int64 {
	if t.IsZero() {
		return 0
	}
	return t.Unix()
}

func fromUnix(s int64) time.Time {
	if s == 0 {
		return time.Time{}
	}
	return time.Unix(s, 0).UTC()
}

// meta decodes the metadata for a write or a full object.
func (m *revMeta) meta() format.Meta {
	x := m.x()
	d := format.Meta{
		Lifecycle: m.lifecycle, Target: m.target, Realm: m.realm, Package: m.pkg,
		Workspace: m.workspace, Revision: m.revision, UID: m.uid, Description: m.description,
		Source: x.source, PublishedBy: m.publishedBy, Created: fromUnix(m.created), PublishedAt: fromUnix(m.publishedAt),
	}
	unmarshal(m.tasks, &d.Tasks)
	unmarshal(x.upstream, &d.Upstream)
	unmarshal(x.upstreamLock, &d.UpstreamLock)
	unmarshal(x.gates, &d.ReadinessGates)
	unmarshal(x.conditions, &d.Conditions)
	unmarshal(x.labels, &d.Labels)
	unmarshal(x.annotations, &d.Annotations)
	unmarshal(x.managedFields, &d.ManagedFields)
	return d
}

func unmarshal[T any](s string, v *T) {
	if s != "" {
		_ = json.Unmarshal([]byte(s), v) // canonical JSON of the same type
	}
}

// upstreamRef is the decoded upstream (nil when none).
func (m *revMeta) upstreamRef() *pkgapi.Upstream {
	var u *pkgapi.Upstream
	unmarshal(m.x().upstream, &u)
	return u
}

// conditionList is the decoded conditions.
func (m *revMeta) conditionList() []metav1.Condition {
	var c []metav1.Condition
	unmarshal(m.x().conditions, &c)
	return c
}

// gateList is the decoded readiness gates.
func (m *revMeta) gateList() []pkgapi.ReadinessGate {
	var g []pkgapi.ReadinessGate
	unmarshal(m.x().gates, &g)
	return g
}

func sortedKeys(m map[string]string) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sortStrings(keys)
	return keys
}
