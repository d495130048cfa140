// Package audit writes the audit log (--audit-log-path): one JSON line per
// audit.k8s.io/v1 Event at Metadata level (who, what, on which object, with
// which answer; never bodies), for every request that changes something and
// every denial, through the API and /v2/.
package audit

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"slices"
	"sync"
	"time"

	"github.com/google/uuid"
	authnv1 "k8s.io/api/authentication/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	auditv1 "k8s.io/apiserver/pkg/apis/audit/v1"
	"k8s.io/apiserver/pkg/authentication/user"
)

// Annotation keys set on events.
const (
	// AnnotationDecision is "allow" or "forbid", as kube-apiserver writes it.
	AnnotationDecision = "authorization.k8s.io/decision"
	// AnnotationReason is why the request was allowed (the binding) or refused.
	AnnotationReason = "authorization.k8s.io/reason"
	// AnnotationRegistry* describe /v2/ requests.
	AnnotationRegistryRepository = "registry.pkgserver.dev/repository"
	AnnotationRegistryReference  = "registry.pkgserver.dev/reference"
)

// Log appends events as JSON lines. It is safe for concurrent use.
type Log struct {
	mu sync.Mutex
	w  io.Writer
	c  io.Closer
}

// Open appends to path ("-" is standard output); the file is created with
// mode 0600, since the log names users and objects.
func Open(path string) (*Log, error) {
	if path == "-" {
		return &Log{w: os.Stdout}, nil
	}
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o600)
	if err != nil {
		return nil, fmt.Errorf("--audit-log-path: %w", err)
	}
	return &Log{w: f, c: f}, nil
}

// New writes to w (tests).
func New(w io.Writer) *Log { return &Log{w: w} }

// Write appends one event. Writes are whole lines, so concurrent requests
// never interleave.
func (l *Log) Write(ev *auditv1.Event) error {
	b, err := json.Marshal(ev)
	if err != nil {
		return err
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	_, err = l.w.Write(append(b, '\n'))
	return err
}

// Close closes the file.
func (l *Log) Close() error {
	if l == nil || l.c == nil {
		return nil
	}
	return l.c.Close()
}

// NewEvent starts the event of r, received at t.
func NewEvent(r *http.Request, t time.Time) *auditv1.Event {
	return &auditv1.Event{
		TypeMeta:                 metav1.TypeMeta{APIVersion: auditv1.SchemeGroupVersion.String(), Kind: "Event"},
		Level:                    auditv1.LevelMetadata,
		AuditID:                  types.UID(uuid.NewString()),
		Stage:                    auditv1.StageResponseComplete,
		RequestURI:               r.URL.RequestURI(),
		Verb:                     r.Method, // replaced by the Kubernetes verb once known
		SourceIPs:                sourceIPs(r),
		UserAgent:                r.UserAgent(),
		RequestReceivedTimestamp: metav1.NewMicroTime(t),
	}
}

// UserInfo is u as the event records it.
func UserInfo(u user.Info) authnv1.UserInfo {
	if u == nil {
		return authnv1.UserInfo{}
	}
	out := authnv1.UserInfo{Username: u.GetName(), UID: u.GetUID(), Groups: slices.Clone(u.GetGroups())}
	for k, v := range u.GetExtra() {
		if out.Extra == nil {
			out.Extra = map[string]authnv1.ExtraValue{}
		}
		out.Extra[k] = slices.Clone(v)
	}
	return out
}

// Annotate sets an annotation on ev.
func Annotate(ev *auditv1.Event, key, value string) {
	if ev == nil {
		return
	}
	if ev.Annotations == nil {
		ev.Annotations = map[string]string{}
	}
	ev.Annotations[key] = value
}

// sourceIPs is the peer address. X-Forwarded-For is not trusted: anyone can
// send it.
func sourceIPs(r *http.Request) []string {
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		host = r.RemoteAddr
	}
	if host == "" {
		return nil
	}
	return []string{host}
}

type eventKey struct{}

// WithEvent returns ctx carrying ev, so handlers that learn more about the
// request (the /v2/ authorizer) can fill it in.
func WithEvent(ctx context.Context, ev *auditv1.Event) context.Context {
	return context.WithValue(ctx, eventKey{}, ev)
}

// EventFrom returns the event of ctx, or nil.
func EventFrom(ctx context.Context) *auditv1.Event {
	ev, _ := ctx.Value(eventKey{}).(*auditv1.Event)
	return ev
}

// Mutating reports whether verb changes something (an API verb, or the
// lower-case HTTP method of a path).
func Mutating(verb string) bool {
	switch verb {
	case "create", "update", "patch", "delete", "deletecollection", "post", "put":
		return true
	}
	return false
}
