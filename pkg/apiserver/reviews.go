package apiserver

import (
	"bytes"
	"mime"
	"net/http"

	"github.com/labstack/echo/v4"
	authnv1 "k8s.io/api/authentication/v1"
	authzv1 "k8s.io/api/authorization/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apiserver/pkg/authentication/user"

	"pkgserver.dev/pkgserver/pkg/auth/audit"
	"pkgserver.dev/pkgserver/pkg/auth/authn"
	"pkgserver.dev/pkgserver/pkg/auth/authz"
	"pkgserver.dev/pkgserver/pkg/errdef"
)

// registerReviews serves the self reviews of the authentication.k8s.io and
// authorization.k8s.io groups, so `kubectl auth whoami`, `kubectl auth
// can-i` and `kubectl auth can-i --list` work. They are not in discovery:
// kubectl posts to them directly.
func registerReviews(e *echo.Echo, s *server) {
	e.POST("/apis/authentication.k8s.io/v1/selfsubjectreviews", s.selfSubjectReview)
	e.POST("/apis/authorization.k8s.io/v1/selfsubjectaccessreviews", s.selfSubjectAccessReview)
	e.POST("/apis/authorization.k8s.io/v1/selfsubjectrulesreviews", s.selfSubjectRulesReview)
}

// protobufMagic starts the Kubernetes protobuf envelope (runtime.Unknown).
var protobufMagic = []byte{0x6b, 0x38, 0x73, 0x00}

// decodeReview reads a review body: JSON or YAML like every body, or the
// protobuf kubectl sends for these built-in kinds (it does not fall back to
// JSON when refused).
func (s *server) decodeReview(c echo.Context, v interface{ Unmarshal([]byte) error }) error {
	mt, _, _ := mime.ParseMediaType(c.Request().Header.Get(echo.HeaderContentType))
	if mt != "application/vnd.kubernetes.protobuf" {
		return s.decodeBody(c, v, nil)
	}
	data, err := readBody(c.Request(), s.maxBody)
	if err != nil {
		return err
	}
	raw, ok := bytes.CutPrefix(data, protobufMagic)
	var u runtime.Unknown
	if !ok || u.Unmarshal(raw) != nil || v.Unmarshal(u.Raw) != nil {
		return newError(errdef.ErrBadRequest, "the protobuf body is not a Kubernetes object")
	}
	return nil
}

func requestUser(c echo.Context) user.Info {
	if u, ok := authn.UserFrom(c.Request().Context()); ok {
		return u
	}
	return authn.Anonymous()
}

func (s *server) selfSubjectReview(c echo.Context) error {
	var in authnv1.SelfSubjectReview
	if err := s.decodeReview(c, &in); err != nil {
		return err
	}
	out := authnv1.SelfSubjectReview{
		TypeMeta:   metav1.TypeMeta{APIVersion: authnv1.SchemeGroupVersion.String(), Kind: "SelfSubjectReview"},
		ObjectMeta: metav1.ObjectMeta{CreationTimestamp: metav1.Now()},
		Status:     authnv1.SelfSubjectReviewStatus{UserInfo: audit.UserInfo(requestUser(c))},
	}
	return c.JSON(http.StatusCreated, &out)
}

func (s *server) selfSubjectAccessReview(c echo.Context) error {
	var in authzv1.SelfSubjectAccessReview
	if err := s.decodeReview(c, &in); err != nil {
		return err
	}
	ra, nra := in.Spec.ResourceAttributes, in.Spec.NonResourceAttributes
	if (ra == nil) == (nra == nil) {
		return newError(errdef.ErrInvalid, "spec: exactly one of resourceAttributes or nonResourceAttributes must be set")
	}
	a := authz.Attributes{User: requestUser(c)}
	if ra != nil {
		a.ResourceRequest = true
		a.Verb, a.APIGroup, a.Resource, a.Subresource, a.Namespace, a.Name = ra.Verb, ra.Group, ra.Resource, ra.Subresource, ra.Namespace, ra.Name
	} else {
		a.Verb, a.Path = nra.Verb, nra.Path
	}
	d, err := s.auth.authorizer().Authorize(c.Request().Context(), a)
	if err != nil {
		return err
	}
	out := authzv1.SelfSubjectAccessReview{
		TypeMeta:   metav1.TypeMeta{APIVersion: authzv1.SchemeGroupVersion.String(), Kind: "SelfSubjectAccessReview"},
		ObjectMeta: metav1.ObjectMeta{CreationTimestamp: metav1.Now()},
		Spec:       in.Spec,
		Status:     authzv1.SubjectAccessReviewStatus{Allowed: d.Allowed, Reason: d.Reason},
	}
	return c.JSON(http.StatusCreated, &out)
}

func (s *server) selfSubjectRulesReview(c echo.Context) error {
	var in authzv1.SelfSubjectRulesReview
	if err := s.decodeReview(c, &in); err != nil {
		return err
	}
	out := authzv1.SelfSubjectRulesReview{
		TypeMeta:   metav1.TypeMeta{APIVersion: authzv1.SchemeGroupVersion.String(), Kind: "SelfSubjectRulesReview"},
		ObjectMeta: metav1.ObjectMeta{CreationTimestamp: metav1.Now()},
		Spec:       in.Spec,
		Status:     authzv1.SubjectRulesReviewStatus{ResourceRules: []authzv1.ResourceRule{}, NonResourceRules: []authzv1.NonResourceRule{}},
	}
	rr, ok := s.auth.authorizer().(authz.RuleResolver)
	if !ok {
		out.Status.Incomplete = true
		out.Status.EvaluationError = "the authorizer cannot list rules"
		return c.JSON(http.StatusCreated, &out)
	}
	for _, r := range rr.RulesFor(requestUser(c), in.Spec.Namespace) {
		if len(r.NonResourceURLs) > 0 {
			out.Status.NonResourceRules = append(out.Status.NonResourceRules, authzv1.NonResourceRule{Verbs: r.Verbs, NonResourceURLs: r.NonResourceURLs})
			continue
		}
		out.Status.ResourceRules = append(out.Status.ResourceRules, authzv1.ResourceRule{Verbs: r.Verbs, APIGroups: r.APIGroups, Resources: r.Resources, ResourceNames: r.ResourceNames})
	}
	return c.JSON(http.StatusCreated, &out)
}
