package console

import (
	"fmt"
	"net/http"
	"strings"

	configapi "pkgserver.dev/pkgserver/api/config/v1alpha1"
	"pkgserver.dev/pkgserver/pkg/errdef"
	"pkgserver.dev/pkgserver/pkg/names"
)

// defaultNamespace is where the console starts.
const defaultNamespace = "default"

// home goes to the packages of a namespace (?namespace=, else default).
func (c *Console) home(v *visit) error {
	ns := strings.TrimSpace(v.r.URL.Query().Get("namespace"))
	if ns == "" {
		ns = defaultNamespace
	}
	if err := names.ValidateNamespace(ns); err != nil {
		return fmt.Errorf("%w: %v", errdef.ErrBadRequest, err)
	}
	return v.redirect(nsURL(ns, "revisions"))
}

// repoRow is one repository as the page shows it.
type repoRow struct {
	configapi.Repository
	Kind       string
	Ready      string // True, False or Unknown
	ReadyText  string
	CanRefresh bool
}

func (c *Console) repositories(v *visit) error {
	ns := v.r.PathValue("ns")
	l, err := v.api.repositories(v.r.Context(), ns)
	if err != nil {
		return err
	}
	rows := make([]repoRow, 0, len(l.Items))
	for _, r := range l.Items {
		row := repoRow{Repository: r, Kind: "catalog", Ready: "Unknown", CanRefresh: v.can("create", configapi.Group, configapi.RepositoryResource, "refresh", r.Name)}
		if r.Spec.Deployment {
			row.Kind = "deployment"
		}
		for _, cd := range r.Status.Conditions {
			if cd.Type == "Ready" {
				row.Ready, row.ReadyText = string(cd.Status), cd.Message
			}
		}
		rows = append(rows, row)
	}
	return c.render(v, http.StatusOK, "repositories", v.newPage("Repositories", "repositories", rows))
}

func (c *Console) refreshRepository(v *visit) error {
	ns, name := v.r.PathValue("ns"), v.r.PathValue("name")
	if err := v.api.refreshRepository(v.r.Context(), ns, name); err != nil {
		return err
	}
	return v.redirect(withDone(nsURL(ns, "repositories"), "refreshed"))
}
