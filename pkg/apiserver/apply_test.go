package apiserver

import (
	"encoding/json"
	"slices"
	"strings"
	"testing"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// scenario is a sequence of calls against one server, and what the engine
// must hold afterwards.
type scenario struct {
	name  string
	steps []call
	after func(t *testing.T, f *fakeEngine)
}

func runScenarios(t *testing.T, scenarios []scenario) {
	t.Helper()
	for _, sc := range scenarios {
		t.Run(sc.name, func(t *testing.T) {
			f := newFake()
			h := New(f, Options{})
			for i, c := range sc.steps {
				if c.name == "" {
					c.name = "step " + string(rune('1'+i))
				}
				if c.setup != nil {
					c.setup(f)
				}
				c.verify(t, serve(t, h, c))
			}
			if sc.after != nil {
				sc.after(t, f)
			}
		})
	}
}

var applyHeader = map[string]string{"Content-Type": "application/apply-patch+yaml"}

// applied is an apply request to path by manager.
func applied(path, manager, yaml string, code int) call {
	return call{method: "PATCH", path: path + "?fieldManager=" + manager, header: applyHeader, body: yaml, code: code}
}

// wantManagers checks which managers own fields of the object in a response,
// by manager name and operation (and subresource, after a slash).
func wantManagers(want ...string) func(t *testing.T, body []byte) {
	return func(t *testing.T, body []byte) {
		t.Helper()
		var obj struct {
			Metadata metav1.ObjectMeta `json:"metadata"`
		}
		if err := json.Unmarshal(body, &obj); err != nil {
			t.Fatal(err)
		}
		var got []string
		for _, m := range obj.Metadata.ManagedFields {
			s := m.Manager + ":" + string(m.Operation)
			if m.Subresource != "" {
				s += "/" + m.Subresource
			}
			got = append(got, s)
		}
		slices.Sort(got)
		want = slices.Sorted(slices.Values(want))
		if !slices.Equal(got, want) {
			t.Errorf("managers = %q, want %q: %s", got, want, body)
		}
	}
}

const repoYAML = `apiVersion: config.pkg.pkgserver.dev/v1alpha1
kind: Repository
metadata:
  name: applied
spec:
  deployment: true
  description: %s
`

func repoApply(desc string) string { return strings.Replace(repoYAML, "%s", desc, 1) }

func TestServerSideApply(t *testing.T) {
	runScenarios(t, []scenario{
		{
			name: "apply creates, applying again changes nothing",
			steps: []call{
				func() call {
					c := applied(repos+"/applied", "kubectl", repoApply("first"), 201)
					c.check = wantManagers("kubectl:Apply")
					return c
				}(),
				func() call {
					c := applied(repos+"/applied", "kubectl", repoApply("first"), 200)
					c.contains = []string{`"description":"first"`, `"f:description":{}`}
					c.check = wantManagers("kubectl:Apply")
					return c
				}(),
			},
			after: func(t *testing.T, f *fakeEngine) {
				if r := f.repos[key("default", "applied")]; r == nil || len(r.ManagedFields) != 1 {
					t.Errorf("stored repository = %+v, want it with one managed fields entry", r)
				}
			},
		},
		{
			name: "a second manager conflicts, then forces",
			steps: []call{
				applied(repos+"/applied", "alice", repoApply("alice's"), 201),
				func() call {
					c := applied(repos+"/applied", "bob", repoApply("bob's"), 409)
					c.reason = metav1.StatusReasonConflict
					c.contains = []string{`"reason":"FieldManagerConflict"`, `"field":".spec.description"`, `conflict with \"alice\"`}
					return c
				}(),
				func() call {
					c := applied(repos+"/applied", "bob", repoApply("bob's"), 200)
					c.path += "&force=true"
					c.contains = []string{`"description":"bob's"`}
					// alice keeps spec.deployment, which both applied with the same value.
					c.check = wantManagers("alice:Apply", "bob:Apply")
					return c
				}(),
			},
		},
		{
			name: "the same value from two managers is shared, not a conflict",
			steps: []call{
				applied(repos+"/applied", "alice", repoApply("same"), 201),
				func() call {
					c := applied(repos+"/applied", "bob", repoApply("same"), 200)
					c.check = wantManagers("alice:Apply", "bob:Apply")
					return c
				}(),
			},
		},
		{
			name: "updates and patches record their managers",
			steps: []call{
				applied(repos+"/applied", "kubectl", repoApply("applied"), 201),
				{name: "replace", method: "PUT", path: repos + "/applied?fieldManager=kubectl-replace", code: 200,
					body: `{"metadata":{"name":"applied"},"spec":{"deployment":true,"description":"replaced"}}`},
				{name: "patch by user agent", method: "PATCH", path: repos + "/applied", code: 200,
					header: map[string]string{"Content-Type": "application/merge-patch+json", "User-Agent": "kubectl/v1.35.0 (linux/amd64) kubernetes/0000000"},
					body:   `{"metadata":{"labels":{"team":"web"}}}`,
					check:  wantManagers("kubectl:Apply", "kubectl-replace:Update", "kubectl:Update")},
				{name: "JSON patch", method: "PATCH", path: repos + "/applied?fieldManager=kubectl-patch", code: 200,
					header: map[string]string{"Content-Type": "application/json-patch+json"},
					body:   `[{"op":"add","path":"/metadata/annotations","value":{"note":"x"}}]`,
					check:  wantManagers("kubectl:Apply", "kubectl-replace:Update", "kubectl:Update", "kubectl-patch:Update")},
				// The field the replace took over from the apply is a conflict now.
				func() call {
					c := applied(repos+"/applied", "kubectl", repoApply("applied again"), 409)
					c.contains = []string{`conflict with \"kubectl-replace\" using config.pkg.pkgserver.dev/v1alpha1`}
					return c
				}(),
			},
		},
		{
			name: "create records its manager",
			steps: []call{
				{method: "POST", path: repos + "?fieldManager=kubectl-create", code: 201,
					body:  `{"metadata":{"name":"made"},"spec":{"description":"made"}}`,
					check: wantManagers("kubectl-create:Update")},
			},
		},
		{
			name: "create and apply a package revision",
			steps: []call{
				func() call {
					c := applied(prs+"/catalog.blueprints.base.web.main", "kubectl", `apiVersion: pkg.pkgserver.dev/v1alpha1
kind: PackageRevision
metadata:
  name: catalog.blueprints.base.web.main
  labels: {team: web}
spec:
  packageRevID: {target: catalog, repository: blueprints, realm: base, package: web, workspace: main}
  readinessGates: [{conditionType: Tested}]
`, 201)
					c.check = wantManagers("kubectl:Apply")
					return c
				}(),
				func() call {
					c := applied(prs+"/catalog.blueprints.base.web.main", "other", `apiVersion: pkg.pkgserver.dev/v1alpha1
kind: PackageRevision
metadata:
  name: catalog.blueprints.base.web.main
  labels: {team: db}
`, 409)
					c.contains = []string{`.metadata.labels.team`}
					return c
				}(),
				// A gate is merged by its conditionType: a second one is added, not a conflict.
				func() call {
					c := applied(prs+"/catalog.blueprints.base.web.main", "other", `apiVersion: pkg.pkgserver.dev/v1alpha1
kind: PackageRevision
metadata:
  name: catalog.blueprints.base.web.main
spec:
  readinessGates: [{conditionType: Scanned}]
`, 200)
					c.contains = []string{`"conditionType":"Tested"`, `"conditionType":"Scanned"`}
					return c
				}(),
			},
		},
		{
			name: "status apply owns status only",
			steps: []call{
				func() call {
					c := applied(prs+"/"+site1+"/status", "checker", `apiVersion: pkg.pkgserver.dev/v1alpha1
kind: PackageRevision
metadata:
  name: `+site1+`
status:
  conditions:
  - {type: Tested, status: "True", reason: CI, message: ok, lastTransitionTime: "2026-01-01T00:00:00Z"}
`, 200)
					c.contains = []string{`"type":"Tested"`, `"subresource":"status"`}
					return c
				}(),
			},
		},
		{
			name: "applied contents are the whole file set, and record no managers",
			steps: []call{
				func() call {
					c := applied(prrs+"/"+redis, "kubectl", `apiVersion: pkg.pkgserver.dev/v1alpha1
kind: PackageRevisionResources
metadata:
  name: `+redis+`
spec:
  resources:
    cm.yaml: "kind: ConfigMap\n"
`, 200)
					c.contains = []string{`"resources":{"cm.yaml":"kind: ConfigMap\n"}`}
					c.check = wantManagers()
					return c
				}(),
			},
		},
	})
}

func TestApplyRefused(t *testing.T) {
	withRepo := func(c call) scenario {
		return scenario{name: c.name, steps: []call{applied(repos+"/applied", "kubectl", repoApply("x"), 201), c}}
	}
	runScenarios(t, []scenario{
		withRepo(call{name: "no field manager", method: "PATCH", path: repos + "/applied", header: applyHeader, body: repoApply("second"),
			code: 422, reason: metav1.StatusReasonInvalid, contains: []string{`"field":"fieldManager"`}}),
		withRepo(call{name: "force on a merge patch", method: "PATCH", path: repos + "/applied?force=true",
			header: map[string]string{"Content-Type": "application/merge-patch+json"}, body: `{}`,
			code: 422, reason: metav1.StatusReasonInvalid, contains: []string{`"field":"force"`}}),
		withRepo(call{name: "wrong apiVersion", method: "PATCH", path: repos + "/applied?fieldManager=m", header: applyHeader,
			body: "apiVersion: v1\nkind: Repository\nmetadata: {name: applied}\n", code: 400, reason: metav1.StatusReasonBadRequest,
			contains: []string{"apiVersion"}}),
		withRepo(call{name: "unknown field", method: "PATCH", path: repos + "/applied?fieldManager=m", header: applyHeader,
			body: strings.Replace(repoApply("second"), "spec:", "spec:\n  typo: 1", 1), code: 422, reason: metav1.StatusReasonInvalid,
			contains: []string{"typo"}}),
		withRepo(call{name: "wrong type", method: "PATCH", path: repos + "/applied?fieldManager=m", header: applyHeader,
			body: strings.Replace(repoApply("second"), "deployment: true", "deployment: [1]", 1), code: 422, reason: metav1.StatusReasonInvalid}),
		withRepo(call{name: "managed fields in the patch", method: "PATCH", path: repos + "/applied?fieldManager=m", header: applyHeader,
			body: strings.Replace(repoApply("second"), "name: applied", "name: applied\n  managedFields: [{manager: m}]", 1),
			code: 400, reason: metav1.StatusReasonBadRequest, contains: []string{"managedFields must be nil"}}),
		withRepo(call{name: "malformed YAML", method: "PATCH", path: repos + "/applied?fieldManager=m", header: applyHeader,
			body: "spec: [", code: 400, reason: metav1.StatusReasonBadRequest}),
		withRepo(call{name: "name not the path's", method: "PATCH", path: repos + "/applied?fieldManager=m", header: applyHeader,
			body: strings.Replace(repoApply("second"), "name: applied", "name: other", 1), code: 400, reason: metav1.StatusReasonBadRequest}),
		withRepo(call{name: "namespace not the path's", method: "PATCH", path: repos + "/applied?fieldManager=m", header: applyHeader,
			body: strings.Replace(repoApply("second"), "name: applied", "name: applied\n  namespace: elsewhere", 1), code: 400, reason: metav1.StatusReasonBadRequest}),
		withRepo(call{name: "no kind", method: "PATCH", path: repos + "/applied?fieldManager=m", header: applyHeader,
			body: "apiVersion: config.pkg.pkgserver.dev/v1alpha1\nspec: {description: x}\n", code: 400, reason: metav1.StatusReasonBadRequest}),
		{name: "no create through a subresource", steps: []call{
			applied(prs+"/catalog.blueprints.base.nope.main/status", "m", "apiVersion: pkg.pkgserver.dev/v1alpha1\nkind: PackageRevision\n", 404)}},
		{name: "no create of contents", steps: []call{
			applied(prrs+"/catalog.blueprints.base.nope.main", "m", "apiVersion: pkg.pkgserver.dev/v1alpha1\nkind: PackageRevisionResources\n", 404)}},
	})
}

func TestManagerOf(t *testing.T) {
	for _, c := range []struct{ fieldManager, userAgent, want string }{
		{"kubectl-edit", "kubectl/v1.35.0 (linux/amd64)", "kubectl-edit"},
		{"", "kubectl/v1.35.0 (linux/amd64) kubernetes/abc", "kubectl"},
		{"", "approval-bot", "approval-bot"},
		{"", "bad\x00agent/1", "badagent"},
		{"", strings.Repeat("x", 200), strings.Repeat("x", 128)},
		{"", "", ""},
	} {
		if got := managerOf(c.fieldManager, c.userAgent); got != c.want {
			t.Errorf("managerOf(%q, %q) = %q, want %q", c.fieldManager, c.userAgent, got, c.want)
		}
	}
}
