package apiserver

import (
	"encoding/json"
	"strings"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	configapi "pkgserver.dev/pkgserver/api/config/v1alpha1"
	"pkgserver.dev/pkgserver/pkg/errdef"
)

// refuseGitRepository answers a Repository written for the original
// pkgserver, whose packages live in git (spec.type: git, spec.git), with a
// 422 that says what to use instead. It runs on the request's JSON before
// decoding, so the answer is the same under fieldValidation=Strict (where
// spec.git would be an unknown field) and for every verb.
func refuseGitRepository(doc []byte) error {
	var r struct {
		Metadata struct {
			Name string `json:"name"`
		} `json:"metadata"`
		Spec struct {
			Type string          `json:"type"`
			Git  json.RawMessage `json:"git"`
		} `json:"spec"`
	}
	if json.Unmarshal(doc, &r) != nil {
		return nil // not this check's business: decoding says what is wrong
	}
	field := "spec.type"
	switch {
	case strings.EqualFold(r.Spec.Type, "git"):
	case len(r.Spec.Git) > 0 && string(r.Spec.Git) != "null":
		field = "spec.git"
	default:
		return nil
	}
	const msg = "git repositories are not served: this pkgserver keeps packages in OCI registries; " +
		"use spec.type: oci with spec.oci.registry: host[:port]/path of a registry namespace " +
		"(or no spec.oci.registry for the embedded registry), and push the packages there"
	err := newCausedError(errdef.ErrInvalid, []metav1.StatusCause{{
		Type: metav1.CauseTypeFieldValueNotSupported, Field: field, Message: msg,
	}}, "%s: %s", field, msg)
	// Named here: a create learns the name only from the body.
	return aboutObject(err, configapi.Group, configapi.RepositoryResource, r.Metadata.Name)
}
