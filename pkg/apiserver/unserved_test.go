package apiserver

import (
	"testing"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// A Repository as the original pkgserver took it: packages in git.
const gitRepoYAML = `apiVersion: config.pkg.pkgserver.dev/v1alpha1
kind: Repository
metadata:
  name: blueprints-git
spec:
  type: git
  deployment: false
  git:
    repo: https://example.invalid/blueprints.git
    branch: main
    directory: /
`

func TestGitRepositoryRefused(t *testing.T) {
	yamlBody := map[string]string{"Content-Type": "application/yaml"}
	merge := map[string]string{"Content-Type": "application/merge-patch+json"}
	says := []string{"git repositories are not served", "spec.type: oci", "spec.oci.registry"}
	refused := func(c call) call {
		c.code, c.reason = 422, metav1.StatusReasonInvalid
		c.contains = append(says, c.contains...)
		return c
	}
	for _, c := range []call{
		refused(call{name: "create", method: "POST", path: repos, header: yamlBody, body: gitRepoYAML,
			contains: []string{`"field":"spec.type"`, `"name":"blueprints-git"`}}),
		refused(call{name: "create with strict field validation", method: "POST", path: repos + "?fieldValidation=Strict", header: yamlBody, body: gitRepoYAML}),
		refused(call{name: "create as JSON, strict", method: "POST", path: repos + "?fieldValidation=Strict",
			body: `{"metadata":{"name":"g"},"spec":{"type":"git","git":{"repo":"https://example.invalid/r.git"}}}`}),
		refused(call{name: "spec.git without a type", method: "POST", path: repos + "?fieldValidation=Strict",
			body: `{"metadata":{"name":"g"},"spec":{"git":{"repo":"https://example.invalid/r.git"}}}`, contains: []string{`"field":"spec.git"`}}),
		refused(call{name: "server-side apply", method: "PATCH", path: repos + "/blueprints-git?fieldManager=kubectl&fieldValidation=Strict",
			header: applyHeader, body: gitRepoYAML}),
		refused(call{name: "update", method: "PUT", path: repos + "/deploy", body: `{"spec":{"type":"git"}}`}),
		refused(call{name: "merge patch", method: "PATCH", path: repos + "/deploy", header: merge, body: `{"spec":{"git":{"repo":"r"}}}`}),
		{name: "git null is nothing", method: "POST", path: repos, body: `{"metadata":{"name":"x"},"spec":{"git":null}}`, code: 201},
		{name: "malformed JSON is still a 400", method: "POST", path: repos, body: `{"spec":`, code: 400, reason: metav1.StatusReasonBadRequest},
	} {
		t.Run(c.name, func(t *testing.T) {
			f := newFake()
			c.verify(t, serve(t, New(f, Options{}), c))
			if len(f.repos) != 3 && c.code != 201 {
				t.Errorf("a refused write stored something: %d repositories", len(f.repos))
			}
		})
	}
}
