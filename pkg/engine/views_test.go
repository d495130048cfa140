package engine_test

import (
	"bytes"
	"encoding/json"
	"slices"
	"testing"

	"k8s.io/apimachinery/pkg/fields"
	"k8s.io/apimachinery/pkg/labels"

	pkgapi "pkgserver.dev/pkgserver/api/pkg/v1alpha1"
	"pkgserver.dev/pkgserver/pkg/engine"
)

// TestListRevisionPage: every page of every selector, walked with every
// limit, holds exactly what filtering the whole list gives, in order, and
// each item encodes to what encoding/json writes for it. Selectors the
// secondary indexes answer (lifecycle, package, upstream, latest) and ones
// they cannot are both here, so a stale or missing index entry shows.
func TestListRevisionPage(t *testing.T) {
	h := newHarness(t, embeddedBackend())
	h.createRepo("blueprints", false)
	h.createRepo("deploy", true)
	init := pkgapi.Task{Type: pkgapi.TaskTypeInit, Init: &pkgapi.InitTask{Description: "d"}}
	cat := func(pkg, ws string) pkgapi.PackageRevID {
		return pkgapi.PackageRevID{Target: pkgapi.CatalogTarget, Repository: "blueprints", Package: pkg, Workspace: ws}
	}
	// app: v1, v2 published (v2 latest), one proposed; db: v1 and a draft.
	for _, ws := range []string{"a", "b"} {
		h.mustCreate(cat("app", ws), init)
		h.publish(nameOf(cat("app", ws)))
	}
	h.mustCreate(cat("app", "c"), init)
	if _, err := h.setLifecycle(nameOf(cat("app", "c")), pkgapi.LifecycleProposed); err != nil {
		t.Fatal(err)
	}
	h.mustCreate(cat("db", "a"), init)
	h.publish(nameOf(cat("db", "a")))
	h.mustCreate(cat("db", "b"), init)
	// A labelled draft and a clone of app v1 (its upgrade is available).
	pr := h.get(nameOf(cat("db", "b")))
	pr.Labels = map[string]string{"team": "red", "tier": "1"}
	if _, err := h.eng.UpdatePackageRevision(h.ctx, pr); err != nil {
		t.Fatal(err)
	}
	dep := pkgapi.PackageRevID{Target: "edge", Repository: "deploy", Package: "app", Workspace: "w"}
	h.mustCreate(dep, pkgapi.Task{Type: pkgapi.TaskTypeClone, Clone: &pkgapi.CloneTask{Upstream: pkgapi.UpstreamRef{Name: nameOf(cat("app", "a"))}}})
	h.publish(nameOf(dep))

	all, err := h.eng.ListPackageRevisions(h.ctx, "")
	if err != nil {
		t.Fatal(err)
	}
	if len(all) != 6 {
		t.Fatalf("%d revisions, want 6", len(all))
	}
	upstream := nameOf(cat("app", "a"))
	selectors := []struct{ labels, fields string }{
		{"", ""},
		{pkgapi.LatestRevisionLabel + "=true", ""},
		{pkgapi.LatestRevisionLabel + "!=true", ""},
		{"team=red", ""},
		{"team in (red,blue),tier", ""},
		{"!team", "spec.lifecycle=draft"},
		{"", "spec.lifecycle=published"},
		{"", "spec.lifecycle==proposed"},
		{"", "spec.lifecycle!=published"},
		{"", "spec.lifecycle=deletionProposed"},
		{"", "spec.packageRevID.package=app"},
		{"", "spec.packageRevID.package=app,spec.lifecycle=published"},
		{pkgapi.LatestRevisionLabel + "=true", "spec.packageRevID.package=db"},
		{"", "spec.upstream.name=" + upstream},
		{"", "spec.upstream.name="},
		{"", "status.upgradeAvailable=true"},
		{"", "spec.packageRevID.target=edge"},
		{"", "metadata.name=" + nameOf(cat("app", "b"))},
		{"", "spec.packageRevID.package=nothing"},
	}
	for _, sel := range selectors {
		ls, err := labels.Parse(sel.labels)
		if err != nil {
			t.Fatal(err)
		}
		fs, err := fields.ParseSelector(sel.fields)
		if err != nil {
			t.Fatal(err)
		}
		var want []string
		for i := range all {
			if ls.Matches(labels.Set(all[i].Labels)) && fs.Matches(engine.RevisionFields(&all[i])) {
				want = append(want, all[i].Namespace+"/"+all[i].Name)
			}
		}
		for _, limit := range []int{0, 1, 2, 5} {
			var got []string
			opts := engine.ListOptions{Limit: limit, Labels: ls, Fields: fs}
			for pages := 0; ; pages++ {
				if pages > len(all)+1 {
					t.Fatalf("%v limit %d: pages never end", sel, limit)
				}
				page, err := h.eng.ListRevisionPage(h.ctx, opts)
				if err != nil {
					t.Fatal(err)
				}
				if limit > 0 && len(page.Items) > limit {
					t.Fatalf("%v: %d items over limit %d", sel, len(page.Items), limit)
				}
				for _, it := range page.Items {
					got = append(got, it.Namespace()+"/"+it.Name())
					obj := it.Object()
					obj.APIVersion, obj.Kind = pkgapi.SchemeGroupVersion.String(), pkgapi.PackageRevisionKind
					wantJSON, _ := json.Marshal(obj)
					if gotJSON := it.AppendJSON(nil); !bytes.Equal(gotJSON, wantJSON) {
						t.Errorf("%s encodes as\n%s\nwant\n%s", it.Name(), gotJSON, wantJSON)
					}
				}
				if !page.More {
					break
				}
				last := page.Items[len(page.Items)-1]
				opts.After = engine.Position{Namespace: last.Namespace(), Name: last.Name()}
			}
			if !slices.Equal(got, want) {
				t.Errorf("labels %q fields %q limit %d:\n got %v\nwant %v", sel.labels, sel.fields, limit, got, want)
			}
		}
	}
}

// TestListRevisionPageTail: a page that continues near the end of a
// cluster-wide list is sized for what it holds, not for the whole index (a
// continue token without a limit made every such page allocate a slot for
// every revision there is, for an answer of one).
func TestListRevisionPageTail(t *testing.T) {
	h := newHarness(t, embeddedBackend())
	h.createRepo("blueprints", false)
	init := pkgapi.Task{Type: pkgapi.TaskTypeInit, Init: &pkgapi.InitTask{Description: "d"}}
	for _, pkg := range []string{"a", "b", "c", "d", "e", "f", "g", "h"} {
		h.mustCreate(pkgapi.PackageRevID{Target: pkgapi.CatalogTarget, Repository: "blueprints", Package: pkg, Workspace: "w"}, init)
	}
	all, err := h.eng.ListRevisionPage(h.ctx, engine.ListOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if len(all.Items) != 8 {
		t.Fatalf("%d revisions, want 8", len(all.Items))
	}
	last := all.Items[len(all.Items)-2]
	for _, limit := range []int{0, 100} {
		page, err := h.eng.ListRevisionPage(h.ctx, engine.ListOptions{Limit: limit, After: engine.Position{Namespace: last.Namespace(), Name: last.Name()}})
		if err != nil {
			t.Fatal(err)
		}
		if len(page.Items) != 1 || page.More {
			t.Fatalf("limit %d: %d items (more %v) after the last but one, want 1", limit, len(page.Items), page.More)
		}
		if c := cap(page.Items); c > 2 {
			t.Errorf("limit %d: a page of 1 item has room for %d", limit, c)
		}
	}
}
