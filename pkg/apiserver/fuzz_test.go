package apiserver

import (
	"encoding/json"
	"net/http"
	"net/url"
	"testing"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	pkgapi "pkgserver.dev/pkgserver/api/pkg/v1alpha1"
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

		if _, err := parseListQuery(q, packageRevisionFields(&pkgapi.PackageRevision{})); err != nil {
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
