package cli

import (
	"errors"
	"fmt"
	"net/url"
	"strings"

	apierrors "k8s.io/apimachinery/pkg/api/errors"

	configapi "pkgserver.dev/pkgserver/api/config/v1alpha1"
	pkgapi "pkgserver.dev/pkgserver/api/pkg/v1alpha1"
	"pkgserver.dev/pkgserver/pkg/client"
)

// opError is a failed operation on one object, for a message in plain words.
type opError struct {
	verb string // "delete", "approve", ...
	kind string // "package revision", "repository"
	name string
	err  error
}

func (e *opError) Error() string {
	return fmt.Sprintf("cannot %s %s %q: %v", e.verb, e.kind, e.name, e.err)
}
func (e *opError) Unwrap() error { return e.err }

func failed(verb, kind, name string, err error) error {
	if err == nil {
		return nil
	}
	return &opError{verb: verb, kind: kind, name: name, err: err}
}

// Kinds in words.
const (
	kindRepo = "repository"
	kindPR   = "package revision"
)

// kindWords names a resource of a Status in words.
func kindWords(resource string) string {
	switch resource {
	case configapi.RepositoryResource:
		return kindRepo
	case pkgapi.PackageRevisionResource, pkgapi.PackageRevisionResourcesResource:
		return kindPR
	}
	return resource
}

// describe says what went wrong in plain words; run prints it after "pkgctl: ".
func (a *app) describe(err error) string {
	var ue *url.Error
	if errors.As(err, &ue) {
		return fmt.Sprintf("cannot reach the server at %s: %v (set --server or %s)", a.server, ue.Err, EnvServer)
	}
	var le *client.LifecycleError
	if errors.As(err, &le) {
		return le.Error()
	}
	var op *opError
	errors.As(err, &op)
	var se *apierrors.StatusError
	if !errors.As(err, &se) {
		return err.Error()
	}
	st := se.Status()
	if apierrors.IsNotFound(err) {
		kind, name := "", ""
		if st.Details != nil {
			kind, name = kindWords(st.Details.Kind), st.Details.Name
		}
		if op != nil {
			kind, name = op.kind, op.name
		}
		if name != "" {
			return fmt.Sprintf("%s %q not found in namespace %q", kind, name, a.namespace)
		}
		return fmt.Sprintf("%s (is %s a pkgserver?)", st.Message, a.server)
	}
	msg := st.Message
	if msg == "" {
		msg = string(st.Reason)
	}
	if op == nil {
		return msg
	}
	// The server often starts with what the message is about; say it once.
	msg = strings.TrimPrefix(msg, fmt.Sprintf("%s %q: ", op.kind, op.name))
	return fmt.Sprintf("cannot %s %s %q: %s", op.verb, op.kind, op.name, msg)
}
