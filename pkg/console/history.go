package console

import (
	"net/http"

	pkgapi "pkgserver.dev/pkgserver/api/pkg/v1alpha1"
)

// historyRow is one revision of the package with the revisions made from
// it (lineage downward; its upstream is lineage upward).
type historyRow struct {
	pkgapi.HistoryEntry
	Downstream     []pkgapi.PackageRevision
	MoreDownstream bool
}

type historyData struct {
	Name    string // the revision the page was opened from
	Package pkgapi.PackageRevID
	Rows    []historyRow
}

// maxDownstreamLookups bounds the lists of downstream revisions one
// history page makes (one per published revision, newest first).
const maxDownstreamLookups = 50

func (c *Console) history(v *visit) error {
	ns, name := v.r.PathValue("ns"), v.r.PathValue("name")
	ctx := v.r.Context()
	h, err := v.api.history(ctx, ns, name)
	if err != nil {
		return err
	}
	d := historyData{Name: name, Package: h.Package}
	lookups := 0
	for i := len(h.Revisions) - 1; i >= 0; i-- {
		e := h.Revisions[i]
		row := historyRow{HistoryEntry: e}
		if e.Lifecycle == pkgapi.LifecyclePublished || e.Lifecycle == pkgapi.LifecycleDeletionProposed {
			if lookups < maxDownstreamLookups {
				lookups++
				if items, more, err := v.api.downstream(ctx, ns, e.Name); err == nil {
					row.Downstream, row.MoreDownstream = items, more
				}
			}
		}
		d.Rows = append(d.Rows, row)
	}
	return c.render(v, http.StatusOK, "history", v.newPage("History of "+h.Package.Package, "revisions", d))
}
