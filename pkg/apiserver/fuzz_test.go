package apiserver

import (
	"encoding/json"
	"net/http"
	"net/url"
	"testing"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	pkgapi "pkgserver.dev/pkgserver/api/pkg/v1alpha1"
	"pkgserver.dev/pkgserver/internal/hostile"
	"pkgserver.dev/pkgserver/pkg/engine"
)

// FuzzListQuery feeds outside input to the list query parser and the list
// handler: whatever comes in, the answer is a list or a 4xx Status, never a
// panic or a 500.
func FuzzListQuery(f *testing.F) {
	f.Add("", "", "", "")
	f.Add("pkg.pkgserver.dev/latest-revision=true", "spec.lifecycle=draft", "2", "")
	f.Add("a in (b,c),!d", "metadata.name!=x,spec.packageRevID.realm=a/b", "1", encodeContinue(position{"default", "a"}))
	f.Add("x=", "spec.color=red", "-1", "%%%")
	f.Add("", `metadata.name=a\,b`, "99999999999999999999", "Lw")
	f.Add("!!", "=", "0", "////")

	e := New(newFake(), Options{})
	f.Fuzz(func(t *testing.T, labelSel, fieldSel, limit, cont string) {
		q := url.Values{}
		q.Set("labelSelector", labelSel)
		q.Set("fieldSelector", fieldSel)
		q.Set("limit", limit)
		q.Set("continue", cont)

		if _, err := parseListQuery(q, engine.RevisionFields(&pkgapi.PackageRevision{})); err != nil {
			if code, _ := classify(err); code != http.StatusBadRequest {
				t.Fatalf("parse error %v has code %d", err, code)
			}
		}

		rec := serve(t, e, call{method: "GET", path: allPRs + "?" + q.Encode()})
		switch rec.Code {
		case http.StatusOK:
			var l struct {
				Items    []json.RawMessage `json:"items"`
				Metadata metav1.ListMeta   `json:"metadata"`
			}
			if err := json.Unmarshal(rec.Body.Bytes(), &l); err != nil || l.Items == nil {
				t.Fatalf("bad list %v: %s", err, rec.Body)
			}
		case http.StatusBadRequest:
			call{code: 400, reason: metav1.StatusReasonBadRequest}.verify(t, rec)
		default:
			t.Fatalf("code %d for %v: %s", rec.Code, q, rec.Body)
		}
	})
}

// FuzzPatch applies arbitrary patch bodies of every patch media type to a
// PackageRevisionResources: the answer is the patched object or a 4xx Status
// (never a panic or a 500), and nothing over the limits gets through.
func FuzzPatch(f *testing.F) {
	types := []string{mergePatch, jsonPatch, applyPatch, strategicPatch, "text/plain"}
	f.Add(uint8(0), `{"spec":{"resources":{"a.yaml":"x: 1"}}}`)
	f.Add(uint8(1), `[{"op":"add","path":"/spec/resources/b","value":"y"}]`)
	f.Add(uint8(1), `[{"op":"copy","from":"/spec","path":"/spec/c"},{"op":"move","from":"/spec/c","path":"/x"}]`)
	f.Add(uint8(1), `[{"op":"remove","path":"/metadata"}]`)
	f.Add(uint8(1), hostile.CopyPatch("/spec/x", 12))
	f.Add(uint8(1), testOps(40))
	f.Add(uint8(2), "spec:\n  resources:\n    a.yaml: |\n      x: 1\n")
	f.Add(uint8(2), hostile.AliasBomb(6, 6))
	f.Add(uint8(2), hostile.Nested(12))
	f.Add(uint8(0), `{"spec":{"resources":{"bomb.yaml":`+jsonOf(hostile.AliasBomb(4, 6))+`}}}`)
	f.Add(uint8(0), `null`)
	f.Fuzz(func(t *testing.T, typ uint8, body string) {
		mt := types[int(typ)%len(types)]
		e := New(newFake(), smallLimits)
		rec := serve(t, e, call{method: "PATCH", path: prrs + "/" + redis, body: body, header: map[string]string{"Content-Type": mt}})
		switch {
		case rec.Code == 200:
			if rec.Body.Len() > int(smallLimits.MaxBodyBytes)+1024 {
				t.Fatalf("patched object of %d bytes", rec.Body.Len())
			}
		case rec.Code >= 400 && rec.Code < 500:
			var st metav1.Status
			if err := json.Unmarshal(rec.Body.Bytes(), &st); err != nil || int(st.Code) != rec.Code {
				t.Fatalf("code %d without a Status: %s", rec.Code, rec.Body)
			}
		default:
			t.Fatalf("code %d for %s %q: %s", rec.Code, mt, body, rec.Body)
		}
	})
}

// FuzzWrites feeds outside input to the write paths this server parses
// beyond JSON decoding: apply patches (field manager, schema), DeleteOptions
// bodies and the write options of the query. Whatever comes in, the answer is
// a success or a 4xx Status, never a panic or a 500.
func FuzzWrites(f *testing.F) {
	f.Add("apply", "fieldManager=m", "apiVersion: config.pkg.pkgserver.dev/v1alpha1\nkind: Repository\nspec: {description: x}\n")
	f.Add("apply", "fieldManager=m&force=true&dryRun=All", "apiVersion: config.pkg.pkgserver.dev/v1alpha1\nkind: Repository\nmetadata: {labels: {a: b}}\nspec: {oci: {packages: [a, b]}}\n")
	f.Add("apply", "fieldManager=m", "apiVersion: config.pkg.pkgserver.dev/v1alpha1\nkind: Repository\nspec: {type: git, git: {repo: r}}\n")
	f.Add("apply", "fieldManager=m", "{\"apiVersion\":\"config.pkg.pkgserver.dev/v1alpha1\",\"kind\":\"Repository\",\"status\":{\"conditions\":[{\"type\":\"A\"},{\"type\":\"A\"}]}}")
	f.Add("apply", "", "[1, 2]")
	f.Add("delete", "dryRun=All", `{"kind":"DeleteOptions","preconditions":{"resourceVersion":"1","uid":""}}`)
	f.Add("delete", "propagationPolicy=Orphan", `{"gracePeriodSeconds":-1,"orphanDependents":true,"propagationPolicy":"Background"}`)
	f.Add("delete", "", `null`)
	f.Add("merge", "fieldManager=%00&dryRun=All", `{"metadata":{"managedFields":[{"manager":"x","fieldsType":"FieldsV1","fieldsV1":{"f:spec":{}}}]}}`)
	f.Add("merge", "fieldValidation=Strict", `{"spec":{"git":{}}}`)

	f.Fuzz(func(t *testing.T, verb, query, body string) {
		q, err := url.ParseQuery(query)
		if err != nil {
			return // not a query a client can send
		}
		c := call{path: repos + "/deploy?" + q.Encode(), body: body, header: map[string]string{}}
		switch verb {
		case "apply":
			c.method, c.header["Content-Type"] = "PATCH", applyPatch
		case "merge":
			c.method, c.header["Content-Type"] = "PATCH", mergePatch
		case "delete":
			c.method = "DELETE"
		default:
			c.method = "PUT"
		}
		rec := serve(t, New(newFake(), Options{}), c)
		if rec.Code >= 500 || rec.Code < 200 {
			t.Fatalf("%s %s: code %d: %s", c.method, c.path, rec.Code, rec.Body)
		}
		if rec.Code >= 400 {
			var st metav1.Status
			if err := json.Unmarshal(rec.Body.Bytes(), &st); err != nil || st.Kind != "Status" || int(st.Code) != rec.Code {
				t.Fatalf("%s %s: %d without a Status: %s", c.method, c.path, rec.Code, rec.Body)
			}
		}
	})
}
