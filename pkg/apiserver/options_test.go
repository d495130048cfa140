package apiserver

import (
	"testing"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// unchanged checks that the fixtures the dry runs aimed at are as newFake made them.
func unchanged(t *testing.T, f *fakeEngine) {
	t.Helper()
	if _, ok := f.repos[key("default", "dry")]; ok {
		t.Error("a dry run created repository dry")
	}
	if _, ok := f.prs[key("default", "catalog.blueprints.base.dry.main")]; ok {
		t.Error("a dry run created a package revision")
	}
	if r := f.repos[key("default", "deploy")]; r == nil || r.Spec.Description != "" || r.ResourceVersion != "1" || len(r.Labels) > 0 {
		t.Errorf("a dry run changed repository deploy: %+v", r)
	}
	if pr := f.prs[key("default", site1)]; pr == nil || pr.Spec.Lifecycle != "proposed" || len(pr.Status.Conditions) > 0 {
		t.Errorf("a dry run changed %s: %+v", site1, pr)
	}
	if prr := f.prrs[key("default", redis)]; prr == nil || len(prr.Spec.Resources) != 1 {
		t.Errorf("a dry run changed the files of %s: %+v", redis, prr)
	}
	if f.prs[key("default", redis)] == nil {
		t.Errorf("a dry run deleted %s", redis)
	}
}

func TestDryRun(t *testing.T) {
	merge := map[string]string{"Content-Type": "application/merge-patch+json"}
	runScenarios(t, []scenario{
		{name: "create", after: unchanged, steps: []call{
			{method: "POST", path: repos + "?dryRun=All", body: `{"metadata":{"name":"dry"}}`, code: 201, contains: []string{`"name":"dry"`}},
			{method: "GET", path: repos + "/dry", code: 404},
		}},
		{name: "create a package revision", after: unchanged, steps: []call{
			{method: "POST", path: prs + "?dryRun=All", code: 201,
				body: `{"metadata":{"name":"catalog.blueprints.base.dry.main"},"spec":{"packageRevID":{"target":"catalog","repository":"blueprints","realm":"base","package":"dry","workspace":"main"}}}`},
		}},
		{name: "a dry run is still validated", after: unchanged, steps: []call{
			{method: "POST", path: prs + "?dryRun=All", code: 422, reason: metav1.StatusReasonInvalid,
				body: `{"metadata":{"name":"catalog.blueprints.base.dry.main"},"spec":{"lifecycle":"published"}}`},
		}},
		{name: "update", after: unchanged, steps: []call{
			{method: "PUT", path: repos + "/deploy?dryRun=All", body: `{"spec":{"deployment":true,"description":"dry"}}`, code: 200,
				contains: []string{`"description":"dry"`}},
		}},
		{name: "merge patch", after: unchanged, steps: []call{
			{method: "PATCH", path: repos + "/deploy?dryRun=All", header: merge, body: `{"metadata":{"labels":{"a":"b"}}}`, code: 200,
				contains: []string{`"a":"b"`}},
		}},
		{name: "apply", after: unchanged, steps: []call{
			{method: "PATCH", path: repos + "/dry?dryRun=All&fieldManager=kubectl", header: applyHeader, code: 201,
				body: "apiVersion: config.pkg.pkgserver.dev/v1alpha1\nkind: Repository\nmetadata: {name: dry}\n"},
			{method: "PATCH", path: repos + "/deploy?dryRun=All&fieldManager=kubectl", header: applyHeader, code: 200,
				body: "apiVersion: config.pkg.pkgserver.dev/v1alpha1\nkind: Repository\nmetadata: {name: deploy}\nspec: {description: dry}\n"},
		}},
		{name: "status", after: unchanged, steps: []call{
			{method: "PUT", path: prs + "/" + site1 + "/status?dryRun=All", code: 200,
				body: `{"status":{"conditions":[{"type":"Tested","status":"True","reason":"CI","message":"ok","lastTransitionTime":"2026-01-01T00:00:00Z"}]}}`},
		}},
		{name: "approval", after: unchanged, steps: []call{
			{method: "PUT", path: prs + "/" + site1 + "/approval?dryRun=All", code: 200, body: prBody(site1, "published", ""),
				contains: []string{`"lifecycle":"published"`}},
		}},
		{name: "contents", after: unchanged, steps: []call{
			{method: "PUT", path: prrs + "/" + redis + "?dryRun=All", code: 200, body: `{"spec":{"resources":{"a.yaml":"kind: A\n","b.yaml":"kind: B\n"}}}`},
		}},
		{name: "delete in the query", after: unchanged, steps: []call{
			{method: "DELETE", path: prs + "/" + redis + "?dryRun=All", code: 200, contains: []string{`"status":"Success"`}},
		}},
		{name: "delete in DeleteOptions", after: unchanged, steps: []call{
			{method: "DELETE", path: prs + "/" + redis, code: 200,
				body: `{"kind":"DeleteOptions","apiVersion":"v1","propagationPolicy":"Background","dryRun":["All"]}`},
		}},
		{name: "a dry delete is still checked", after: unchanged, steps: []call{
			{method: "DELETE", path: prs + "/" + nginx + "?dryRun=All", code: 403, reason: metav1.StatusReasonForbidden},
		}},
		{name: "other values are refused", after: unchanged, steps: []call{
			{method: "POST", path: repos + "?dryRun=Some", body: `{"metadata":{"name":"dry"}}`, code: 422, reason: metav1.StatusReasonInvalid,
				contains: []string{`CreateOptions`, `"field":"dryRun"`}},
			{method: "PUT", path: repos + "/deploy?dryRun=true", body: `{}`, code: 422, reason: metav1.StatusReasonInvalid,
				contains: []string{`UpdateOptions`}},
			{method: "PATCH", path: repos + "/deploy?dryRun=x", header: merge, body: `{}`, code: 422, reason: metav1.StatusReasonInvalid,
				contains: []string{`PatchOptions`}},
			{method: "DELETE", path: prs + "/" + redis, body: `{"dryRun":["Everything"]}`, code: 422, reason: metav1.StatusReasonInvalid,
				contains: []string{`DeleteOptions`, `"field":"dryRun"`}},
		}},
	})
}

func TestDeleteOptions(t *testing.T) {
	deleted := func(t *testing.T, f *fakeEngine) {
		if f.prs[key("default", redis)] != nil {
			t.Errorf("%s was not deleted", redis)
		}
	}
	kept := func(t *testing.T, f *fakeEngine) {
		if f.prs[key("default", redis)] == nil {
			t.Errorf("%s was deleted", redis)
		}
	}
	withUID := func(f *fakeEngine) { f.prs[key("default", redis)].UID = "u-1" }
	runScenarios(t, []scenario{
		{name: "no body", after: deleted, steps: []call{{method: "DELETE", path: prs + "/" + redis, code: 200}}},
		{name: "what kubectl sends", after: deleted, steps: []call{{method: "DELETE", path: prs + "/" + redis, code: 200,
			body: `{"kind":"DeleteOptions","apiVersion":"v1","propagationPolicy":"Background"}`}}},
		{name: "grace and orphans are ignored", after: deleted, steps: []call{{method: "DELETE", path: prs + "/" + redis, code: 200,
			body: `{"gracePeriodSeconds":0,"propagationPolicy":"Orphan"}`}}},
		{name: "current resourceVersion", after: deleted, steps: []call{{method: "DELETE", path: prs + "/" + redis, code: 200,
			body: `{"preconditions":{"resourceVersion":"1"}}`}}},
		{name: "stale resourceVersion", after: kept, steps: []call{{method: "DELETE", path: prs + "/" + redis, code: 409,
			reason: metav1.StatusReasonConflict, body: `{"preconditions":{"resourceVersion":"0"}}`, contains: []string{"precondition"}}}},
		{name: "stale resourceVersion of a repository", steps: []call{{method: "DELETE", path: repos + "/deploy", code: 409,
			reason: metav1.StatusReasonConflict, body: `{"preconditions":{"resourceVersion":"7"}}`}}},
		{name: "other uid", after: kept, steps: []call{{name: "uid", setup: withUID, method: "DELETE", path: prs + "/" + redis, code: 409,
			reason: metav1.StatusReasonConflict, body: `{"preconditions":{"uid":"u-2"}}`}}},
		{name: "bad propagation policy", after: kept, steps: []call{{method: "DELETE", path: prs + "/" + redis, code: 422,
			reason: metav1.StatusReasonInvalid, body: `{"propagationPolicy":"Now"}`, contains: []string{"propagationPolicy"}}}},
		{name: "malformed body", after: kept, steps: []call{{method: "DELETE", path: prs + "/" + redis, code: 400,
			reason: metav1.StatusReasonBadRequest, body: `{"preconditions":`}}},
		{name: "not DeleteOptions", after: kept, steps: []call{{method: "DELETE", path: prs + "/" + redis, code: 400,
			reason: metav1.StatusReasonBadRequest, body: `{"kind":"PackageRevision"}`}}},
	})
}
