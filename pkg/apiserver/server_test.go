package apiserver

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"testing"

	"github.com/labstack/echo/v4"
	"github.com/prometheus/client_golang/prometheus"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	configapi "pkgserver.dev/pkgserver/api/config/v1alpha1"
	pkgapi "pkgserver.dev/pkgserver/api/pkg/v1alpha1"
	"pkgserver.dev/pkgserver/pkg/errdef"
)

const (
	repos  = "/apis/config.pkg.pkgserver.dev/v1alpha1/namespaces/default/repositories"
	prs    = "/apis/pkg.pkgserver.dev/v1alpha1/namespaces/default/packagerevisions"
	prrs   = "/apis/pkg.pkgserver.dev/v1alpha1/namespaces/default/packagerevisionresources"
	nginx  = "catalog.blueprints.base.nginx.main" // published
	redis  = "catalog.blueprints.base.redis.main" // draft
	site1  = "site1.deploy.apps.nginx.ws1"        // proposed
	allPRs = "/apis/pkg.pkgserver.dev/v1alpha1/packagerevisions"
)

// call is one request and what must come back.
type call struct {
	name   string
	setup  func(*fakeEngine)
	method string
	path   string
	body   string
	header map[string]string

	code int
	// reason, when set, means the body is a Status with this reason.
	reason metav1.StatusReason
	// contains are substrings the body must hold.
	contains []string
	// items, when not nil, are the namespace/name of the list's items, in order.
	items []string
	// next says whether the list has a continue token.
	next bool
	// check looks further at the body.
	check func(t *testing.T, body []byte)
}

func serve(t *testing.T, h http.Handler, c call) *httptest.ResponseRecorder {
	t.Helper()
	var body io.Reader
	if c.body != "" {
		body = strings.NewReader(c.body)
	}
	req := httptest.NewRequest(c.method, c.path, body)
	if c.body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	for k, v := range c.header {
		req.Header.Set(k, v)
	}
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	return rec
}

func (c call) verify(t *testing.T, rec *httptest.ResponseRecorder) {
	t.Helper()
	body := rec.Body.Bytes()
	if rec.Code != c.code {
		t.Fatalf("%s %s: code %d, want %d; body %s", c.method, c.path, rec.Code, c.code, body)
	}
	if c.reason != "" {
		var st metav1.Status
		if err := json.Unmarshal(body, &st); err != nil {
			t.Fatalf("body is not a Status: %v: %s", err, body)
		}
		if st.Kind != "Status" || st.APIVersion != "v1" || st.Status != metav1.StatusFailure ||
			st.Reason != c.reason || int(st.Code) != c.code || st.Message == "" {
			t.Errorf("Status = %+v, want Failure %s %d with a message", st, c.reason, c.code)
		}
	}
	for _, s := range c.contains {
		if !bytes.Contains(body, []byte(s)) {
			t.Errorf("body lacks %q: %s", s, body)
		}
	}
	if c.items != nil {
		var l struct {
			Kind       string `json:"kind"`
			APIVersion string `json:"apiVersion"`
			Metadata   metav1.ListMeta
			Items      []struct {
				Kind       string `json:"kind"`
				APIVersion string `json:"apiVersion"`
				Metadata   metav1.ObjectMeta
			} `json:"items"`
		}
		if err := json.Unmarshal(body, &l); err != nil {
			t.Fatal(err)
		}
		if !strings.HasSuffix(l.Kind, "List") || l.APIVersion == "" || l.Items == nil {
			t.Errorf("list has kind %q apiVersion %q items %v", l.Kind, l.APIVersion, l.Items)
		}
		got := []string{}
		for _, it := range l.Items {
			got = append(got, it.Metadata.Namespace+"/"+it.Metadata.Name)
			if it.Kind+"List" != l.Kind || it.APIVersion != l.APIVersion {
				t.Errorf("item %s has kind %q apiVersion %q", it.Metadata.Name, it.Kind, it.APIVersion)
			}
		}
		if !slices.Equal(got, c.items) {
			t.Errorf("items = %q, want %q", got, c.items)
		}
		if (l.Metadata.Continue != "") != c.next {
			t.Errorf("continue = %q, want set: %v", l.Metadata.Continue, c.next)
		}
	}
	if c.check != nil {
		c.check(t, body)
	}
}

func decode[T any](t *testing.T, body []byte) *T {
	t.Helper()
	v := new(T)
	if err := json.Unmarshal(body, v); err != nil {
		t.Fatalf("decoding %T: %v: %s", v, err, body)
	}
	return v
}

func jsonOf(v any) string {
	b, err := json.Marshal(v)
	if err != nil {
		panic(err)
	}
	return string(b)
}

func prBody(name string, lc pkgapi.Lifecycle, rv string) string {
	return jsonOf(pkgapi.PackageRevision{
		TypeMeta:   metav1.TypeMeta{APIVersion: "pkg.pkgserver.dev/v1alpha1", Kind: "PackageRevision"},
		ObjectMeta: metav1.ObjectMeta{Name: name, ResourceVersion: rv},
		Spec:       pkgapi.PackageRevisionSpec{Lifecycle: lc},
	})
}

func TestCalls(t *testing.T) {
	all := func(ns string, names ...string) []string {
		out := []string{}
		for _, n := range names {
			out = append(out, ns+"/"+n)
		}
		return out
	}
	defaultPRs := all("default", nginx, redis, site1)
	teamB := "team-b/site2.edge.apps:web.nginx.ws"

	calls := []call{
		// Health.
		{name: "healthz", method: "GET", path: "/healthz", code: 200, contains: []string{"ok"}},
		{name: "readyz", method: "GET", path: "/readyz", code: 200, contains: []string{"ok"}},

		// Repositories.
		{name: "list repositories", method: "GET", path: repos, code: 200, items: all("default", "blueprints", "deploy"),
			contains: []string{`"kind":"RepositoryList"`, `"apiVersion":"config.pkg.pkgserver.dev/v1alpha1"`}},
		{name: "list repositories all namespaces", method: "GET", path: "/apis/config.pkg.pkgserver.dev/v1alpha1/repositories", code: 200,
			items: []string{"default/blueprints", "default/deploy", "team-b/edge"}},
		{name: "list repositories empty namespace", method: "GET", path: "/apis/config.pkg.pkgserver.dev/v1alpha1/namespaces/nobody/repositories", code: 200,
			items: []string{}, contains: []string{`"items":[]`}},
		{name: "list repositories spec.deployment", method: "GET", path: "/apis/config.pkg.pkgserver.dev/v1alpha1/repositories?fieldSelector=spec.deployment=true", code: 200,
			items: []string{"default/deploy", "team-b/edge"}},
		{name: "list repositories bad field", method: "GET", path: repos + "?fieldSelector=spec.lifecycle=draft", code: 400, reason: metav1.StatusReasonBadRequest,
			contains: []string{`spec.lifecycle`}},
		{name: "get repository", method: "GET", path: repos + "/deploy", code: 200,
			contains: []string{`"kind":"Repository"`, `"apiVersion":"config.pkg.pkgserver.dev/v1alpha1"`, `"deployment":true`}},
		{name: "get repository missing", method: "GET", path: repos + "/nope", code: 404, reason: metav1.StatusReasonNotFound,
			check: func(t *testing.T, b []byte) {
				st := decode[metav1.Status](t, b)
				if st.Details == nil || st.Details.Name != "nope" || st.Details.Group != configapi.Group || st.Details.Kind != "repositories" {
					t.Errorf("details = %+v", st.Details)
				}
			}},
		{name: "create repository", method: "POST", path: repos, code: 201,
			body:     `{"apiVersion":"config.pkg.pkgserver.dev/v1alpha1","kind":"Repository","metadata":{"name":"new"},"spec":{"type":"oci"},"extra":"ignored"}`,
			contains: []string{`"name":"new"`, `"namespace":"default"`, `"kind":"Repository"`}},
		{name: "create repository without apiVersion and kind", method: "POST", path: repos, code: 201,
			body: `{"metadata":{"name":"new","namespace":"default"}}`, contains: []string{`"kind":"Repository"`}},
		{name: "create repository yaml", method: "POST", path: repos, code: 201,
			header: map[string]string{"Content-Type": "application/yaml"},
			body:   "apiVersion: config.pkg.pkgserver.dev/v1alpha1\nkind: Repository\nmetadata:\n  name: fromyaml\nspec:\n  deployment: true\n",
			check: func(t *testing.T, b []byte) {
				r := decode[configapi.Repository](t, b)
				if r.Name != "fromyaml" || r.Namespace != "default" || !r.Spec.Deployment {
					t.Errorf("created %+v", r)
				}
			}},
		{name: "create repository malformed yaml", method: "POST", path: repos, code: 400, reason: metav1.StatusReasonBadRequest,
			header: map[string]string{"Content-Type": "application/yaml"}, body: "metadata:\n  name: [unclosed\n", contains: []string{"YAML"}},
		{name: "create repository exists", method: "POST", path: repos, code: 409, reason: metav1.StatusReasonAlreadyExists,
			body: `{"metadata":{"name":"deploy"}}`, contains: []string{`"name":"deploy"`}},
		{name: "create repository invalid", method: "POST", path: repos, code: 422, reason: metav1.StatusReasonInvalid,
			body: `{"metadata":{}}`},
		{name: "create repository wrong apiVersion", method: "POST", path: repos, code: 400, reason: metav1.StatusReasonBadRequest,
			body: `{"apiVersion":"v1","kind":"Repository","metadata":{"name":"x"}}`, contains: []string{"apiVersion"}},
		{name: "create repository wrong kind", method: "POST", path: repos, code: 400, reason: metav1.StatusReasonBadRequest,
			body: `{"apiVersion":"config.pkg.pkgserver.dev/v1alpha1","kind":"ConfigMap","metadata":{"name":"x"}}`, contains: []string{"kind"}},
		{name: "create repository namespace mismatch", method: "POST", path: repos, code: 400, reason: metav1.StatusReasonBadRequest,
			body: `{"metadata":{"name":"x","namespace":"other"}}`, contains: []string{"namespace"}},
		{name: "create repository malformed json", method: "POST", path: repos, code: 400, reason: metav1.StatusReasonBadRequest,
			body: "{\n  \"metadata\": {\"name\": x}\n}", contains: []string{"line 2, column 24"}},
		{name: "create repository wrong json type", method: "POST", path: repos, code: 400, reason: metav1.StatusReasonBadRequest,
			body: `{"spec":{"deployment":"yes"}}`, contains: []string{"line 1", "spec.deployment"}},
		{name: "create repository truncated json", method: "POST", path: repos, code: 400, reason: metav1.StatusReasonBadRequest,
			body: `{"metadata":`, contains: []string{"malformed JSON"}},
		{name: "create repository array body", method: "POST", path: repos, code: 400, reason: metav1.StatusReasonBadRequest,
			body: `[]`},
		{name: "create repository empty body", method: "POST", path: repos, code: 400, reason: metav1.StatusReasonBadRequest,
			contains: []string{"empty"}},
		{name: "create repository protobuf", method: "POST", path: repos, code: 415, reason: metav1.StatusReasonUnsupportedMediaType,
			header: map[string]string{"Content-Type": "application/vnd.kubernetes.protobuf"}, body: "\x00"},
		{name: "update repository", method: "PUT", path: repos + "/deploy", code: 200,
			body:     `{"metadata":{"name":"deploy","resourceVersion":"1"},"spec":{"description":"d"}}`,
			contains: []string{`"resourceVersion":"2"`, `"description":"d"`, `"kind":"Repository"`}},
		{name: "update repository name from path", method: "PUT", path: repos + "/deploy", code: 200,
			body: `{"spec":{"description":"d"}}`, contains: []string{`"name":"deploy"`}},
		{name: "update repository stale", method: "PUT", path: repos + "/deploy", code: 409, reason: metav1.StatusReasonConflict,
			body: `{"metadata":{"name":"deploy","resourceVersion":"7"}}`},
		{name: "update repository name mismatch", method: "PUT", path: repos + "/deploy", code: 400, reason: metav1.StatusReasonBadRequest,
			body: `{"metadata":{"name":"other"}}`, contains: []string{"other", "deploy"}},
		{name: "update repository missing", method: "PUT", path: repos + "/nope", code: 404, reason: metav1.StatusReasonNotFound,
			body: `{"metadata":{"name":"nope"}}`},
		{name: "delete repository", method: "DELETE", path: repos + "/deploy", code: 200,
			check: func(t *testing.T, b []byte) {
				st := decode[metav1.Status](t, b)
				if st.Kind != "Status" || st.Status != metav1.StatusSuccess || st.Code != 200 ||
					st.Details == nil || st.Details.Name != "deploy" || st.Details.Kind != "repositories" {
					t.Errorf("Status = %+v", st)
				}
			}},
		{name: "delete repository missing", method: "DELETE", path: repos + "/nope", code: 404, reason: metav1.StatusReasonNotFound},
		{name: "merge patch repository", method: "PATCH", path: repos + "/deploy", code: 200,
			header: map[string]string{"Content-Type": "application/merge-patch+json"},
			body:   `{"spec":{"description":"patched"}}`, contains: []string{`"description":"patched"`, `"deployment":true`}},
		{name: "JSON patch repository", method: "PATCH", path: repos + "/deploy", code: 200,
			header: map[string]string{"Content-Type": "application/json-patch+json"},
			body:   `[{"op":"replace","path":"/spec/deployment","value":false}]`,
			check: func(t *testing.T, b []byte) {
				if bytes.Contains(b, []byte(`"deployment":true`)) {
					t.Errorf("JSON patch not applied: %s", b)
				}
			}},
		{name: "JSON patch failing test op", method: "PATCH", path: repos + "/deploy", code: 422, reason: metav1.StatusReasonInvalid,
			header: map[string]string{"Content-Type": "application/json-patch+json"},
			body:   `[{"op":"test","path":"/spec/type","value":"git"}]`},
		{name: "merge patch with stale resourceVersion", method: "PATCH", path: repos + "/deploy", code: 409, reason: metav1.StatusReasonConflict,
			header: map[string]string{"Content-Type": "application/merge-patch+json"},
			body:   `{"metadata":{"resourceVersion":"stale"}}`},
		{name: "dry run of an unknown kind", method: "POST", path: repos + "?dryRun=Some", code: 422, reason: metav1.StatusReasonInvalid,
			body: `{"metadata":{"name":"dry"}}`, contains: []string{`"field":"dryRun"`, `supported values: \"All\"`}},
		{name: "namespace lookup", method: "GET", path: "/api/v1/namespaces/team-b", code: 200, contains: []string{`"kind":"Namespace"`, `"name":"team-b"`, `"Active"`}},
		{name: "metrics", method: "GET", path: "/metrics", code: 200, contains: []string{"go_goroutines", "process_resident_memory_bytes"}},
		{name: "refresh repository", method: "POST", path: repos + "/deploy/refresh", code: 200, contains: []string{`"name":"deploy"`}},
		{name: "refresh missing repository", method: "POST", path: repos + "/nope/refresh", code: 404, reason: metav1.StatusReasonNotFound},
		{name: "strategic patch refused", method: "PATCH", path: repos + "/deploy", code: 415, reason: metav1.StatusReasonUnsupportedMediaType,
			header: map[string]string{"Content-Type": "application/strategic-merge-patch+json"}, body: `{}`},
		{name: "patch missing", method: "PATCH", path: repos + "/nope", code: 404, reason: metav1.StatusReasonNotFound,
			header: map[string]string{"Content-Type": "application/merge-patch+json"}, body: `{}`},
		{name: "strict field validation", method: "POST", path: repos + "?fieldValidation=Strict", code: 400, reason: metav1.StatusReasonBadRequest,
			body: `{"metadata":{"name":"x"},"spec":{"typo":1}}`, contains: []string{"typo"}},
		{name: "repository table", method: "GET", path: repos, code: 200,
			header:   map[string]string{"Accept": "application/json;as=Table;v=v1;g=meta.k8s.io,application/json"},
			contains: []string{`"kind":"Table"`, `"name":"Deployment"`, `"PartialObjectMetadata"`}},

		// Package revisions.
		{name: "list package revisions", method: "GET", path: prs, code: 200, items: defaultPRs,
			contains: []string{`"kind":"PackageRevisionList"`, `"apiVersion":"pkg.pkgserver.dev/v1alpha1"`}},
		{name: "list package revisions all namespaces", method: "GET", path: allPRs, code: 200,
			items: append(slices.Clone(defaultPRs), teamB)},
		{name: "list by label", method: "GET", path: allPRs + "?labelSelector=pkg.pkgserver.dev/latest-revision%3Dtrue", code: 200,
			items: all("default", nginx)},
		{name: "list by label absent", method: "GET", path: prs + "?labelSelector=!pkg.pkgserver.dev/latest-revision", code: 200,
			items: all("default", redis, site1)},
		{name: "list by bad label", method: "GET", path: prs + "?labelSelector=a%20b%20c", code: 400, reason: metav1.StatusReasonBadRequest,
			contains: []string{"labelSelector"}},
		{name: "list by lifecycle", method: "GET", path: allPRs + "?fieldSelector=spec.lifecycle%3Ddraft", code: 200,
			items: []string{"default/" + redis, teamB}},
		{name: "list by lifecycle not", method: "GET", path: prs + "?fieldSelector=spec.lifecycle!%3Ddraft", code: 200,
			items: all("default", nginx, site1)},
		{name: "list by package and target", method: "GET", path: allPRs + "?fieldSelector=spec.packageRevID.package%3Dnginx,spec.packageRevID.target%3Dcatalog", code: 200,
			items: all("default", nginx)},
		{name: "list by repository", method: "GET", path: allPRs + "?fieldSelector=spec.packageRevID.repository%3Dedge", code: 200,
			items: []string{teamB}},
		{name: "list by realm", method: "GET", path: allPRs + "?fieldSelector=spec.packageRevID.realm%3Dapps/web", code: 200,
			items: []string{teamB}},
		{name: "list by workspace and revision", method: "GET", path: allPRs + "?fieldSelector=spec.packageRevID.workspace%3Dmain,spec.packageRevID.revision%3Dv1", code: 200,
			items: all("default", nginx)},
		{name: "list by metadata", method: "GET", path: allPRs + "?fieldSelector=metadata.namespace%3Dteam-b", code: 200,
			items: []string{teamB}},
		{name: "list by name", method: "GET", path: allPRs + "?fieldSelector=metadata.name%3D" + redis, code: 200,
			items: all("default", redis)},
		{name: "list by unknown field", method: "GET", path: prs + "?fieldSelector=spec.color%3Dred", code: 400, reason: metav1.StatusReasonBadRequest,
			contains: []string{`spec.color`}},
		{name: "list by malformed field", method: "GET", path: prs + "?fieldSelector=nooperator", code: 400, reason: metav1.StatusReasonBadRequest,
			contains: []string{"fieldSelector"}},
		{name: "list limit", method: "GET", path: prs + "?limit=2", code: 200, items: all("default", nginx, redis), next: true},
		{name: "list limit exact", method: "GET", path: prs + "?limit=3", code: 200, items: defaultPRs},
		{name: "list limit with selector", method: "GET", path: allPRs + "?limit=1&fieldSelector=spec.lifecycle%3Ddraft", code: 200,
			items: all("default", redis), next: true},
		{name: "list continue", method: "GET", path: prs + "?limit=2&continue=" + encodeContinue(position{"default", redis}), code: 200,
			items: all("default", site1)},
		{name: "list bad limit", method: "GET", path: prs + "?limit=-1", code: 400, reason: metav1.StatusReasonBadRequest, contains: []string{"limit"}},
		{name: "list bad limit text", method: "GET", path: prs + "?limit=ten", code: 400, reason: metav1.StatusReasonBadRequest},
		{name: "list bad continue", method: "GET", path: prs + "?continue=%25%25%25", code: 400, reason: metav1.StatusReasonBadRequest, contains: []string{"continue"}},
		{name: "list continue without slash", method: "GET", path: prs + "?continue=" + "YWJj", code: 400, reason: metav1.StatusReasonBadRequest},
		{name: "list watch", method: "GET", path: prs + "?watch=true&timeoutSeconds=1", code: 200, contains: []string{`{"type":"ADDED","object":{"kind":"PackageRevision"`}},
		{name: "list watch bad timeout", method: "GET", path: prs + "?watch=true&timeoutSeconds=x", code: 400, reason: metav1.StatusReasonBadRequest},
		{name: "list watch bad", method: "GET", path: prs + "?watch=maybe", code: 400, reason: metav1.StatusReasonBadRequest},
		{name: "list watch empty", method: "GET", path: prs + "?watch=", code: 200, items: defaultPRs},
		{name: "list watch false", method: "GET", path: prs + "?watch=false", code: 200, items: defaultPRs},
		{name: "get package revision", method: "GET", path: prs + "/" + nginx, code: 200,
			check: func(t *testing.T, b []byte) {
				pr := decode[pkgapi.PackageRevision](t, b)
				if pr.Kind != "PackageRevision" || pr.APIVersion != "pkg.pkgserver.dev/v1alpha1" || pr.Spec.PackageRevID.Revision != "v1" {
					t.Errorf("got %+v", pr)
				}
			}},
		{name: "get package revision missing", method: "GET", path: prs + "/x.y.z.w.v", code: 404, reason: metav1.StatusReasonNotFound},
		{name: "create package revision", method: "POST", path: prs, code: 201,
			body:     prBody("catalog.blueprints.base.new.main", "", ""),
			contains: []string{`"lifecycle":"draft"`, `"namespace":"default"`, `"kind":"PackageRevision"`}},
		{name: "create package revision not draft", method: "POST", path: prs, code: 422, reason: metav1.StatusReasonInvalid,
			body: prBody("catalog.blueprints.base.new.main", pkgapi.LifecyclePublished, ""), contains: []string{"spec.lifecycle"}},
		{name: "create package revision exists", method: "POST", path: prs, code: 409, reason: metav1.StatusReasonAlreadyExists,
			body: prBody(nginx, "", "")},
		{name: "create package revision wrong kind", method: "POST", path: prs, code: 400, reason: metav1.StatusReasonBadRequest,
			body: `{"apiVersion":"pkg.pkgserver.dev/v1alpha1","kind":"PackageRevisionResources","metadata":{"name":"a"}}`},
		{name: "propose package revision", method: "PUT", path: prs + "/" + redis, code: 200,
			body: prBody(redis, pkgapi.LifecycleProposed, "1"), contains: []string{`"lifecycle":"proposed"`, `"resourceVersion":"2"`}},
		{name: "update published package revision", method: "PUT", path: prs + "/" + nginx, code: 403, reason: metav1.StatusReasonForbidden,
			body: prBody(nginx, pkgapi.LifecycleDraft, "")},
		{name: "publish through update", method: "PUT", path: prs + "/" + site1, code: 422, reason: metav1.StatusReasonInvalid,
			body: prBody(site1, pkgapi.LifecyclePublished, "")},
		{name: "update package revision stale", method: "PUT", path: prs + "/" + redis, code: 409, reason: metav1.StatusReasonConflict,
			body: prBody(redis, pkgapi.LifecycleProposed, "9")},
		// X-Remote-User is only believed from a front proxy (none here).
		{name: "approve", method: "PUT", path: prs + "/" + site1 + "/approval", code: 200,
			header: map[string]string{"X-Remote-User": "alice", "Impersonate-User": "bob"},
			body:   prBody(site1, pkgapi.LifecyclePublished, "1"),
			check: func(t *testing.T, b []byte) {
				pr := decode[pkgapi.PackageRevision](t, b)
				if pr.Kind != "PackageRevision" || pr.Spec.Lifecycle != pkgapi.LifecyclePublished || pr.Status.PublishedBy != "bob" {
					t.Errorf("got %+v", pr)
				}
			}},
		{name: "approve impersonated", method: "PUT", path: prs + "/" + site1 + "/approval", code: 200,
			header: map[string]string{"Impersonate-User": "bob"}, body: prBody(site1, pkgapi.LifecyclePublished, ""),
			contains: []string{`"publishedBy":"bob"`}},
		{name: "approve anonymous", method: "PUT", path: prs + "/" + site1 + "/approval", code: 200,
			body: prBody(site1, pkgapi.LifecyclePublished, ""), contains: []string{`"publishedBy":"system:anonymous"`}},
		{name: "approve draft", method: "PUT", path: prs + "/" + redis + "/approval", code: 422, reason: metav1.StatusReasonInvalid,
			body: prBody(redis, pkgapi.LifecyclePublished, "")},
		{name: "approve name mismatch", method: "PUT", path: prs + "/" + site1 + "/approval", code: 400, reason: metav1.StatusReasonBadRequest,
			body: prBody(redis, pkgapi.LifecyclePublished, "")},
		{name: "approve missing", method: "PUT", path: prs + "/nope/approval", code: 404, reason: metav1.StatusReasonNotFound,
			body: prBody("nope", pkgapi.LifecyclePublished, "")},
		{name: "get approval", method: "GET", path: prs + "/" + site1 + "/approval", code: 200, contains: []string{`"kind":"PackageRevision"`}},
		{name: "delete package revision", method: "DELETE", path: prs + "/" + redis, code: 200,
			contains: []string{`"status":"Success"`, `"kind":"packagerevisions"`, `"group":"pkg.pkgserver.dev"`}},
		{name: "delete published package revision", method: "DELETE", path: prs + "/" + nginx, code: 403, reason: metav1.StatusReasonForbidden},

		// Package revision resources.
		{name: "list package revision resources", method: "GET", path: prrs, code: 200, items: defaultPRs,
			contains: []string{`"kind":"PackageRevisionResourcesList"`, `"Kptfile"`}},
		{name: "list package revision resources all namespaces", method: "GET", path: "/apis/pkg.pkgserver.dev/v1alpha1/packagerevisionresources?limit=1&continue=" + encodeContinue(position{"default", site1}), code: 200,
			items: []string{teamB}},
		{name: "list package revision resources by id", method: "GET", path: prrs + "?fieldSelector=spec.packageRevID.package%3Dredis", code: 200,
			items: all("default", redis)},
		{name: "list package revision resources no lifecycle", method: "GET", path: prrs + "?fieldSelector=spec.lifecycle%3Ddraft", code: 400,
			reason: metav1.StatusReasonBadRequest, contains: []string{"spec.lifecycle"}},
		{name: "get package revision resources", method: "GET", path: prrs + "/" + redis, code: 200,
			contains: []string{`"kind":"PackageRevisionResources"`, `"Kptfile"`}},
		{name: "update package revision resources", method: "PUT", path: prrs + "/" + redis, code: 200,
			body:     `{"apiVersion":"pkg.pkgserver.dev/v1alpha1","kind":"PackageRevisionResources","metadata":{"name":"` + redis + `"},"spec":{"resources":{"cm.yaml":"kind: ConfigMap\n"}}}`,
			contains: []string{`"cm.yaml"`, `"kind":"PackageRevisionResources"`}},
		{name: "update package revision resources published", method: "PUT", path: prrs + "/" + nginx, code: 403, reason: metav1.StatusReasonForbidden,
			body: `{"spec":{"resources":{"a.yaml":""}}}`},
		{name: "update package revision resources bad path", method: "PUT", path: prrs + "/" + redis, code: 422, reason: metav1.StatusReasonInvalid,
			body: `{"spec":{"resources":{"../a.yaml":""}}}`, contains: []string{"../a.yaml", `"causes":[{"reason":"FieldValueInvalid"`}},
		{name: "create package revision resources", method: "POST", path: prrs, code: 405, reason: metav1.StatusReasonMethodNotAllowed,
			body: `{}`},
		{name: "delete package revision resources", method: "DELETE", path: prrs + "/" + redis, code: 405, reason: metav1.StatusReasonMethodNotAllowed},

		// Unknown paths.
		{name: "unknown group", method: "GET", path: "/apis/apps", code: 404, reason: metav1.StatusReasonNotFound},
		{name: "unknown resource", method: "GET", path: "/apis/pkg.pkgserver.dev/v1alpha1/namespaces/default/widgets", code: 404, reason: metav1.StatusReasonNotFound},
		{name: "unknown version", method: "GET", path: "/apis/pkg.pkgserver.dev/v1", code: 404, reason: metav1.StatusReasonNotFound},
		{name: "unknown subresource", method: "PUT", path: prs + "/" + site1 + "/nothing", code: 404, reason: metav1.StatusReasonNotFound, body: `{}`},
		{name: "put status", method: "PUT", path: prs + "/" + site1 + "/status", code: 200,
			body:     `{"status":{"conditions":[{"type":"Tested","status":"True","reason":"CI","message":"ok","lastTransitionTime":"2026-01-01T00:00:00Z"}]}}`,
			contains: []string{`"type":"Tested"`}},
		{name: "merge patch status", method: "PATCH", path: prs + "/" + site1 + "/status", code: 200,
			header:   map[string]string{"Content-Type": "application/merge-patch+json"},
			body:     `{"status":{"conditions":[{"type":"Linted","status":"False","reason":"CI","message":"no","lastTransitionTime":"2026-01-01T00:00:00Z"}]}}`,
			contains: []string{`"type":"Linted"`}},
		{name: "package revision table wide columns", method: "GET", path: prs + "/" + site1, code: 200,
			header:   map[string]string{"Accept": "application/json;as=Table;v=v1;g=meta.k8s.io"},
			contains: []string{`"name":"Lifecycle"`, `"name":"Workspace"`, `"name":"Realm"`, `"name":"Ready"`, `"priority":1`, `"proposed"`}},
		{name: "unknown top level", method: "GET", path: "/nothing", code: 404, reason: metav1.StatusReasonNotFound,
			contains: []string{"the server could not find the requested resource"}},

		// Failures injected in the engine.
		{name: "engine panics", setup: func(f *fakeEngine) { f.panicWith = "secret detail" }, method: "GET", path: prs, code: 500,
			reason: metav1.StatusReasonInternalError,
			check: func(t *testing.T, b []byte) {
				if bytes.Contains(b, []byte("secret detail")) {
					t.Errorf("panic value leaked: %s", b)
				}
			}},
		{name: "engine unavailable on list", setup: func(f *fakeEngine) { f.err = fmt.Errorf("registry: %w", errdef.ErrUnavailable) },
			method: "GET", path: prs, code: 503, reason: metav1.StatusReasonServiceUnavailable},
	}
	for _, c := range calls {
		t.Run(c.name, func(t *testing.T) {
			f := newFake()
			if c.setup != nil {
				c.setup(f)
			}
			c.verify(t, serve(t, New(f, Options{}), c))
		})
	}
}

// TestErrorTable runs every row of the error table through a handler.
func TestErrorTable(t *testing.T) {
	for _, c := range []struct {
		err    error
		code   int
		reason metav1.StatusReason
	}{
		{errdef.ErrNotFound, 404, metav1.StatusReasonNotFound},
		// A blob a revision needs is gone from the registry: the stored state
		// conflicts with the request, which is not invalid, and retrying
		// will not help (not 503); the message names the blob.
		{errdef.ErrMissingContent, 409, metav1.StatusReasonConflict},
		{fmt.Errorf("layout: %w: %w", errdef.ErrMissingContent, errdef.ErrNotFound), 409, metav1.StatusReasonConflict},
		{errdef.ErrAlreadyExists, 409, metav1.StatusReasonAlreadyExists},
		{errdef.ErrConflict, 409, metav1.StatusReasonConflict},
		{errdef.ErrInvalid, 422, metav1.StatusReasonInvalid},
		{errdef.ErrBadRequest, 400, metav1.StatusReasonBadRequest},
		{errdef.ErrForbidden, 403, metav1.StatusReasonForbidden},
		{errdef.ErrTooLarge, 413, metav1.StatusReasonRequestEntityTooLarge},
		{errdef.ErrUnavailable, 503, metav1.StatusReasonServiceUnavailable},
		{echo.NewHTTPError(http.StatusTeapot, "short and stout"), 418, metav1.StatusReasonUnknown},
		{echo.NewHTTPError(http.StatusMethodNotAllowed, "no"), 405, metav1.StatusReasonMethodNotAllowed},
		{errors.New("disk on fire"), 500, metav1.StatusReasonInternalError},
		{errdef.ErrLocked, 500, metav1.StatusReasonInternalError},
	} {
		t.Run(c.err.Error(), func(t *testing.T) {
			f := newFake()
			f.err = fmt.Errorf("packagerevision default/%s: %w", nginx, c.err)
			rec := serve(t, New(f, Options{}), call{method: "GET", path: prs + "/" + nginx})
			call{method: "GET", path: prs, code: c.code, reason: c.reason}.verify(t, rec)
			st := decode[metav1.Status](t, rec.Body.Bytes())
			if st.Details == nil || st.Details.Name != nginx || st.Details.Group != pkgapi.Group || st.Details.Kind != "packagerevisions" {
				t.Errorf("details = %+v", st.Details)
			}
			if _, isHTTP := c.err.(*echo.HTTPError); !isHTTP && !strings.Contains(st.Message, c.err.Error()) {
				t.Errorf("message %q lacks %q", st.Message, c.err.Error())
			}
		})
	}
}

func TestBodyLimit(t *testing.T) {
	const limit = 64
	e := New(newFake(), Options{MaxBodyBytes: limit})
	fits := `{"metadata":{"name":"r"}}`
	big := `{"metadata":{"name":"r"},"spec":{"description":"` + strings.Repeat("x", limit) + `"}}`
	for _, c := range []struct {
		name    string
		body    string
		chunked bool // no Content-Length: only the LimitReader can stop it
		code    int
	}{
		{"fits", fits, false, 201},
		{"fits chunked", fits, true, 201},
		{"exactly the limit", fits + strings.Repeat(" ", limit-len(fits)), true, 201},
		{"one byte over", fits + strings.Repeat(" ", limit-len(fits)+1), true, 413},
		{"too large", big, false, 413},
		{"too large chunked", big, true, 413},
	} {
		t.Run(c.name, func(t *testing.T) {
			req := httptest.NewRequest("POST", repos, strings.NewReader(c.body))
			req.Header.Set("Content-Type", "application/json")
			if c.chunked {
				req.ContentLength = -1
			}
			rec := httptest.NewRecorder()
			e.ServeHTTP(rec, req)
			want := call{code: c.code}
			if c.code == 413 {
				want.reason = metav1.StatusReasonRequestEntityTooLarge
			}
			want.verify(t, rec)
			// A 201 consumed a repository name; free it for the next case.
			f := newFake()
			e = New(f, Options{MaxBodyBytes: limit})
		})
	}
	// Content-Length alone is enough to refuse, before reading anything.
	req := httptest.NewRequest("PUT", repos+"/deploy", failingReader{})
	req.ContentLength = limit + 1
	rec := httptest.NewRecorder()
	e.ServeHTTP(rec, req)
	call{code: 413, reason: metav1.StatusReasonRequestEntityTooLarge}.verify(t, rec)
}

// failingReader fails the test's expectations if anyone reads it.
type failingReader struct{}

func (failingReader) Read([]byte) (int, error) { return 0, errors.New("body was read") }

func TestDefaultBodyLimit(t *testing.T) {
	big := `{"metadata":{"name":"r"},"spec":{"description":"` + strings.Repeat("x", int(DefaultMaxBodyBytes)) + `"}}`
	rec := serve(t, New(newFake(), Options{}), call{method: "POST", path: repos, body: big})
	call{code: 413, reason: metav1.StatusReasonRequestEntityTooLarge}.verify(t, rec)
}

func TestReadyz(t *testing.T) {
	e := New(newFake(), Options{Ready: func() error { return errors.New("index still loading") }})
	rec := serve(t, e, call{method: "GET", path: "/readyz"})
	call{code: 503, reason: metav1.StatusReasonServiceUnavailable, contains: []string{"index still loading"}}.verify(t, rec)
}

func TestMount(t *testing.T) {
	e := New(newFake(), Options{Mount: func(e *echo.Echo) {
		e.GET("/v2/", func(c echo.Context) error { return c.JSON(http.StatusOK, map[string]string{}) })
	}})
	call{code: 200}.verify(t, serve(t, e, call{method: "GET", path: "/v2/"}))
	call{code: 200}.verify(t, serve(t, e, call{method: "GET", path: prs}))
}

func TestRequestLog(t *testing.T) {
	var buf bytes.Buffer
	log := slog.New(slog.NewTextHandler(&buf, &slog.HandlerOptions{Level: slog.LevelDebug}))
	e := New(newFake(), Options{Logger: log})
	serve(t, e, call{method: "GET", path: prs + "/nope", header: map[string]string{"Impersonate-User": "alice"}})
	out := buf.String()
	for _, want := range []string{"level=DEBUG", "method=GET", "status=404", "user=alice", "/nope"} {
		if !strings.Contains(out, want) {
			t.Errorf("log lacks %q: %s", want, out)
		}
	}
}

// TestListPaging walks every page at every size and checks nothing is lost
// or repeated.
func TestListPaging(t *testing.T) {
	f := newFake()
	for i := range 7 {
		name := fmt.Sprintf("catalog.blueprints.base.p%d.main", i)
		f.prs[key("default", name)] = &pkgapi.PackageRevision{
			ObjectMeta: metav1.ObjectMeta{Namespace: "default", Name: name, Labels: map[string]string{"n": fmt.Sprint(i % 2)}},
		}
	}
	e := New(f, Options{})
	for _, query := range []string{"", "&labelSelector=n%3D1", "&fieldSelector=metadata.namespace%3Ddefault"} {
		full := decode[pkgapi.PackageRevisionList](t, serve(t, e, call{method: "GET", path: allPRs + "?limit=0" + query}).Body.Bytes())
		for limit := 1; limit <= len(full.Items)+1; limit++ {
			var got []string
			token := ""
			for pages := 0; ; pages++ {
				if pages > len(full.Items)+1 {
					t.Fatalf("limit %d%s: paging does not end", limit, query)
				}
				rec := serve(t, e, call{method: "GET", path: fmt.Sprintf("%s?limit=%d&continue=%s%s", allPRs, limit, token, query)})
				if rec.Code != 200 {
					t.Fatalf("code %d: %s", rec.Code, rec.Body)
				}
				l := decode[pkgapi.PackageRevisionList](t, rec.Body.Bytes())
				if len(l.Items) > limit {
					t.Fatalf("limit %d: page of %d", limit, len(l.Items))
				}
				for _, it := range l.Items {
					got = append(got, it.Namespace+"/"+it.Name)
				}
				if token = l.Continue; token == "" {
					break
				}
			}
			var want []string
			for _, it := range full.Items {
				want = append(want, it.Namespace+"/"+it.Name)
			}
			if !slices.Equal(got, want) {
				t.Errorf("limit %d%s: paged %q, want %q", limit, query, got, want)
			}
		}
	}
}

func TestLineCol(t *testing.T) {
	for _, c := range []struct {
		prefix    string
		line, col int
	}{
		{"", 1, 1},
		{"x", 1, 1},
		{"abc", 1, 3},
		{"a\n", 2, 1},
		{"a\nbc", 2, 2},
	} {
		if l, col := lineCol([]byte(c.prefix)); l != c.line || col != c.col {
			t.Errorf("lineCol(%q) = %d,%d, want %d,%d", c.prefix, l, col, c.line, c.col)
		}
	}
}

// TestMetricsCountRequests: a served request shows in /metrics by route and code.
func TestMetricsCountRequests(t *testing.T) {
	h := New(newFake(), Options{})
	serve(t, h, call{method: "GET", path: "/apis/pkg.pkgserver.dev/v1alpha1/namespaces/default/packagerevisions/nope"})
	rec := serve(t, h, call{method: "GET", path: "/metrics"})
	want := `pkgserver_http_requests_total{code="404",method="GET",route="/apis/pkg.pkgserver.dev/v1alpha1/namespaces/:namespace/packagerevisions/:name"} 1`
	if !strings.Contains(rec.Body.String(), want) {
		t.Fatalf("metrics lack %s:\n%s", want, rec.Body.String())
	}
}

// TestMetricsCollectors: Options.Collectors are served on /metrics.
func TestMetricsCollectors(t *testing.T) {
	c := prometheus.NewCounter(prometheus.CounterOpts{Name: "pkgserver_test_extra_total", Help: "A test counter."})
	c.Add(3)
	rec := serve(t, New(newFake(), Options{Collectors: []prometheus.Collector{c}}), call{method: "GET", path: "/metrics"})
	if want := "pkgserver_test_extra_total 3"; !strings.Contains(rec.Body.String(), want) {
		t.Fatalf("metrics lack %s:\n%s", want, rec.Body.String())
	}
}
