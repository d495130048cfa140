package console

import (
	"net/http"
	"net/url"
	"strings"

	"k8s.io/apimachinery/pkg/fields"

	pkgapi "pkgserver.dev/pkgserver/api/pkg/v1alpha1"
)

// Page sizes of the revisions list: rows shown, and revisions read per
// API page while a text filter looks for matches.
const (
	pageRows      = 100
	scanPageSize  = 500
	maxScanPages  = 10
	lifecycleName = "lifecycle"
)

// filter is the revisions list's filter form.
type filter struct {
	Repository, Realm, Lifecycle, Q string
}

// selector is the part of the filter the API applies.
func (f filter) selector() fields.Set {
	return fields.Set{
		"spec.packageRevID.repository": f.Repository,
		"spec.packageRevID.realm":      f.Realm,
		"spec.lifecycle":               f.Lifecycle,
	}
}

// matches applies the text filter, which the API has no selector for.
func (f filter) matches(pr *pkgapi.PackageRevision) bool {
	if f.Q == "" {
		return true
	}
	q := strings.ToLower(f.Q)
	id := pr.Spec.PackageRevID
	for _, s := range []string{pr.Name, id.Package, id.Realm, id.Workspace, id.Revision, id.Target, pr.Status.PublishedBy} {
		if strings.Contains(strings.ToLower(s), q) {
			return true
		}
	}
	return false
}

// badge is a marker on a revision.
type badge struct {
	Text, Class, Title string
}

// badgesOf marks what needs attention: a proposal waiting for approval,
// a readiness gate that is not met, a newer upstream revision.
func badgesOf(pr *pkgapi.PackageRevision) []badge {
	var out []badge
	switch pr.Spec.Lifecycle {
	case pkgapi.LifecycleProposed:
		out = append(out, badge{Text: "waiting for approval", Class: "wait", Title: "proposed: an approver can publish or reject it"})
	case pkgapi.LifecycleDeletionProposed:
		out = append(out, badge{Text: "deletion waiting for approval", Class: "wait", Title: "an approver can keep it, or it can be deleted"})
	}
	if pr.Spec.Lifecycle == pkgapi.LifecycleDraft || pr.Spec.Lifecycle == pkgapi.LifecycleProposed {
		for _, g := range gatesOf(pr) {
			switch g.Status {
			case "True":
			case "False":
				out = append(out, badge{Text: "gate failing", Class: "fail", Title: g.Type + ": " + g.Message})
			default:
				out = append(out, badge{Text: "gate pending", Class: "pending", Title: g.Type + " has no result yet"})
			}
		}
	}
	if u := pr.Status.UpgradeAvailable; u != nil {
		out = append(out, badge{Text: "upgrade available", Class: "upgrade", Title: "upstream " + u.Name + " (" + u.Revision + ")"})
	}
	return out
}

// gate is a readiness gate with its condition.
type gate struct {
	Type, Status, Reason, Message string
}

func gatesOf(pr *pkgapi.PackageRevision) []gate {
	var out []gate
	for _, g := range pr.Spec.ReadinessGates {
		x := gate{Type: g.ConditionType, Status: "Unknown"}
		for _, c := range pr.Status.Conditions {
			if c.Type == g.ConditionType {
				x.Status, x.Reason, x.Message = string(c.Status), c.Reason, c.Message
			}
		}
		out = append(out, x)
	}
	return out
}

// revRow is a revision in a list.
type revRow struct {
	*pkgapi.PackageRevision
	Badges []badge
}

type revisionsData struct {
	Filter     filter
	Repos      []string // for the filter; nil when they cannot be listed
	Lifecycles []pkgapi.Lifecycle
	Rows       []revRow
	// Next is the URL of the next page, when there is one.
	Next string
}

var lifecycles = []pkgapi.Lifecycle{pkgapi.LifecycleDraft, pkgapi.LifecycleProposed, pkgapi.LifecyclePublished, pkgapi.LifecycleDeletionProposed}

func (c *Console) revisions(v *visit) error {
	ns := v.r.PathValue("ns")
	q := v.r.URL.Query()
	f := filter{Repository: q.Get("repository"), Realm: q.Get("realm"), Lifecycle: q.Get(lifecycleName), Q: strings.TrimSpace(q.Get("q"))}
	cont := q.Get("continue")
	sel := listQuery(f.selector(), 0, "")
	if cont == "" && c.waitLive(v, "revisions", revisionsPath(ns), sel) {
		return nil
	}
	d := revisionsData{Filter: f, Lifecycles: lifecycles}
	ctx := v.r.Context()
	rv := ""
	size := pageRows
	if f.Q != "" {
		size = scanPageSize
	}
	for range maxScanPages {
		l, err := v.api.revisions(ctx, ns, listQuery(f.selector(), size, cont))
		if err != nil {
			return err
		}
		if rv == "" {
			rv = l.ResourceVersion
		}
		for i := range l.Items {
			if pr := &l.Items[i]; f.matches(pr) {
				d.Rows = append(d.Rows, revRow{PackageRevision: pr, Badges: badgesOf(pr)})
			}
		}
		cont = l.Continue
		if cont == "" || len(d.Rows) >= pageRows {
			break
		}
	}
	if cont != "" {
		nq := cloneValues(q)
		nq.Del("wait")
		nq.Del("done")
		nq.Set("continue", cont)
		d.Next = (&url.URL{Path: v.r.URL.Path, RawQuery: nq.Encode()}).RequestURI()
	}
	if repos, err := v.api.repositories(ctx, ns); err == nil {
		for _, r := range repos.Items {
			d.Repos = append(d.Repos, r.Name)
		}
	}
	p := v.newPage("Packages", "revisions", d)
	if q.Get("continue") == "" {
		p.Live = liveURL(v.r, rv)
	}
	return c.render(v, http.StatusOK, "revisions", p)
}
