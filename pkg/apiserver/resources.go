package apiserver

import (
	"context"
	"net/http"
	"strconv"
	"strings"

	"github.com/labstack/echo/v4"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/fields"
	"k8s.io/apimachinery/pkg/runtime/schema"

	configapi "pkgserver.dev/pkgserver/api/config/v1alpha1"
	pkgapi "pkgserver.dev/pkgserver/api/pkg/v1alpha1"
	"pkgserver.dev/pkgserver/pkg/engine"
	"pkgserver.dev/pkgserver/pkg/krm"
)

// category groups every kind of pkgserver for `kubectl get pkgserver`.
const category = "pkgserver"

// apiGroup is one API group at one version and what it serves.
type apiGroup struct {
	name, version string
	resources     []servedResource
}

// apiGroups is the one list of what is served; routes and discovery both
// come from it. Package contents are checked against lim.
func apiGroups(svc engine.Service, lim krm.Limits) []apiGroup {
	return []apiGroup{
		{
			name: configapi.Group, version: configapi.Version,
			resources: []servedResource{
				&resource[configapi.Repository, *configapi.Repository]{
					gvk:        schema.GroupVersionKind{Group: configapi.Group, Version: configapi.Version, Kind: configapi.RepositoryKind},
					plural:     configapi.RepositoryResource,
					singular:   "repository",
					shortNames: []string{"repo"},
					categories: []string{category},
					fieldsOf:   repositoryFields,
					columns:    repositoryColumns,
					watchKind:  configapi.RepositoryKind,
					fromEvent:  eventObject[configapi.Repository],
					list:       svc.ListRepositories,
					get:        svc.GetRepository,
					create:     svc.CreateRepository,
					update:     svc.UpdateRepository,
					delete:     svc.DeleteRepository,
					refresh:    refresher(svc),
					refuse:     refuseGitRepository,
				},
			},
		},
		{
			name: pkgapi.Group, version: pkgapi.Version,
			resources: []servedResource{
				&resource[pkgapi.PackageRevision, *pkgapi.PackageRevision]{
					gvk:        schema.GroupVersionKind{Group: pkgapi.Group, Version: pkgapi.Version, Kind: pkgapi.PackageRevisionKind},
					plural:     pkgapi.PackageRevisionResource,
					singular:   "packagerevision",
					shortNames: []string{"pr"},
					categories: []string{category},
					fieldsOf:   engine.RevisionFields,
					columns:    packageRevisionColumns,
					watchKind:  pkgapi.PackageRevisionKind,
					fromEvent:  eventObject[pkgapi.PackageRevision],
					list:       svc.ListPackageRevisions,
					pager:      pagerOf(svc),
					get:        svc.GetPackageRevision,
					create:     svc.CreatePackageRevision,
					update:     svc.UpdatePackageRevision,
					delete:     svc.DeletePackageRevision,
					approve:    svc.ApprovePackageRevision,
					status:     statusWriter(svc),
					reads:      packageRevisionReads(svc),
				},
				// Contents exist only with their revision: no create or delete.
				&resource[pkgapi.PackageRevisionResources, *pkgapi.PackageRevisionResources]{
					gvk:        schema.GroupVersionKind{Group: pkgapi.Group, Version: pkgapi.Version, Kind: pkgapi.PackageRevisionResourcesKind},
					plural:     pkgapi.PackageRevisionResourcesResource,
					singular:   "packagerevisionresources",
					shortNames: []string{"prr"},
					categories: []string{category},
					fieldsOf:   packageRevisionResourcesFields,
					columns:    packageRevisionResourcesColumns,
					watchKind:  pkgapi.PackageRevisionKind,
					fromEvent:  resourcesFromEvent(svc),
					peek:       resourcesOf,
					list:       svc.ListPackageRevisionResources,
					get:        svc.GetPackageRevisionResources,
					update:     checkedResources(lim, svc.UpdatePackageRevisionResources),
					untracked:  true,
				},
			},
		},
	}
}

// The field selectors each kind supports, with the value of each field.

func repositoryFields(r *configapi.Repository) fields.Set {
	return fields.Set{
		"metadata.name":      r.Name,
		"metadata.namespace": r.Namespace,
		"spec.deployment":    strconv.FormatBool(r.Spec.Deployment),
	}
}

func packageRevisionResourcesFields(prr *pkgapi.PackageRevisionResources) fields.Set {
	return packageRevIDFields(prr.Name, prr.Namespace, prr.Spec.PackageRevID)
}

func packageRevIDFields(name, namespace string, id pkgapi.PackageRevID) fields.Set {
	return fields.Set{
		"metadata.name":                name,
		"metadata.namespace":           namespace,
		"spec.packageRevID.target":     id.Target,
		"spec.packageRevID.repository": id.Repository,
		"spec.packageRevID.realm":      id.Realm,
		"spec.packageRevID.package":    id.Package,
		"spec.packageRevID.workspace":  id.Workspace,
		"spec.packageRevID.revision":   id.Revision,
	}
}

// statusWriter returns the status writer of svc, if it has one.
func statusWriter(svc engine.Service) func(context.Context, *pkgapi.PackageRevision) (*pkgapi.PackageRevision, error) {
	if u, ok := svc.(engine.StatusUpdater); ok {
		return u.UpdatePackageRevisionStatus
	}
	return nil
}

// eventObject takes an event's object as is.
func eventObject[T any](_ context.Context, ev engine.Event) (*T, bool) {
	obj, ok := ev.Object.(*T)
	return obj, ok
}

// resourcesFromEvent turns a PackageRevision event into its contents view.
func resourcesFromEvent(svc engine.Service) func(context.Context, engine.Event) (*pkgapi.PackageRevisionResources, bool) {
	return func(ctx context.Context, ev engine.Event) (*pkgapi.PackageRevisionResources, bool) {
		pr, ok := ev.Object.(*pkgapi.PackageRevision)
		if !ok {
			return nil, false
		}
		if ev.Type != "DELETED" {
			prr, err := svc.GetPackageRevisionResources(ctx, pr.Namespace, pr.Name)
			if err == nil {
				return prr, true
			}
		}
		return resourcesOf(pr)
	}
}

// resourcesOf is the contents view of a revision without its files: what
// selectors of PackageRevisionResources look at.
func resourcesOf(obj any) (*pkgapi.PackageRevisionResources, bool) {
	pr, ok := obj.(*pkgapi.PackageRevision)
	if !ok {
		return nil, false
	}
	return &pkgapi.PackageRevisionResources{ObjectMeta: pr.ObjectMeta, Spec: pkgapi.PackageRevisionResourcesSpec{PackageRevID: pr.Spec.PackageRevID}}, true
}

// The server-side table columns of each kind (kubectl get, -o wide).

var repositoryColumns = []column[*configapi.Repository]{
	col("Name", "string", "Name of the repository.", 0, func(r *configapi.Repository) any { return r.Name }),
	col("Type", "string", "Repository type (oci).", 0, func(r *configapi.Repository) any { return r.Spec.Type }),
	col("Deployment", "boolean", "True for a deployment repository, false for a catalog.", 0, func(r *configapi.Repository) any { return r.Spec.Deployment }),
	col("Address", "string", "Registry namespace holding the packages.", 0, func(r *configapi.Repository) any { return r.Status.Address }),
	col("Ready", "string", "Whether the registry answers.", 0, func(r *configapi.Repository) any { return conditionStatus(r.Status.Conditions, "Ready") }),
	ageColumn[*configapi.Repository](),
	col("Description", "string", "Description of the repository.", 1, func(r *configapi.Repository) any { return r.Spec.Description }),
	col("Packages", "integer", "Packages in the repository.", 1, func(r *configapi.Repository) any { return r.Status.PackageCount }),
	col("Revisions", "integer", "Package revisions in the repository.", 1, func(r *configapi.Repository) any { return r.Status.RevisionCount }),
}

var packageRevisionColumns = []column[*pkgapi.PackageRevision]{
	col("Name", "string", "Name of the package revision.", 0, func(p *pkgapi.PackageRevision) any { return p.Name }),
	col("Ready", "string", "Whether every readiness gate is met.", 0, func(p *pkgapi.PackageRevision) any { return gatesReady(p) }),
	col("Repository", "string", "Repository of the package.", 0, func(p *pkgapi.PackageRevision) any { return p.Spec.PackageRevID.Repository }),
	col("Target", "string", "Deployment target (catalog for catalog packages).", 0, func(p *pkgapi.PackageRevision) any { return p.Spec.PackageRevID.Target }),
	col("Realm", "string", "Grouping path of the package.", 0, func(p *pkgapi.PackageRevision) any { return p.Spec.PackageRevID.Realm }),
	col("Package", "string", "Package name.", 0, func(p *pkgapi.PackageRevision) any { return p.Spec.PackageRevID.Package }),
	col("Revision", "string", "vN once published.", 0, func(p *pkgapi.PackageRevision) any { return p.Spec.PackageRevID.Revision }),
	col("Workspace", "string", "Workspace of the revision.", 0, func(p *pkgapi.PackageRevision) any { return p.Spec.PackageRevID.Workspace }),
	col("Lifecycle", "string", "draft, proposed, published or deletionProposed.", 0, func(p *pkgapi.PackageRevision) any { return string(p.Spec.Lifecycle) }),
	col("Latest", "boolean", "Whether this is the newest published revision.", 1, func(p *pkgapi.PackageRevision) any { return p.Labels[pkgapi.LatestRevisionLabel] == "true" }),
	col("Digest", "string", "Manifest digest of the revision.", 1, func(p *pkgapi.PackageRevision) any {
		if p.Status.OCI == nil {
			return ""
		}
		return p.Status.OCI.Digest
	}),
	ageColumn[*pkgapi.PackageRevision](),
}

var packageRevisionResourcesColumns = []column[*pkgapi.PackageRevisionResources]{
	col("Name", "string", "Name of the package revision.", 0, func(p *pkgapi.PackageRevisionResources) any { return p.Name }),
	col("Repository", "string", "Repository of the package.", 0, func(p *pkgapi.PackageRevisionResources) any { return p.Spec.PackageRevID.Repository }),
	col("Package", "string", "Package name.", 0, func(p *pkgapi.PackageRevisionResources) any { return p.Spec.PackageRevID.Package }),
	col("Revision", "string", "vN once published.", 0, func(p *pkgapi.PackageRevisionResources) any { return p.Spec.PackageRevID.Revision }),
	col("Workspace", "string", "Workspace of the revision.", 0, func(p *pkgapi.PackageRevisionResources) any { return p.Spec.PackageRevID.Workspace }),
	col("Files", "integer", "Number of files.", 0, func(p *pkgapi.PackageRevisionResources) any { return len(p.Spec.Resources) }),
}

func conditionStatus(conds []metav1.Condition, typ string) string {
	for _, c := range conds {
		if c.Type == typ {
			return string(c.Status)
		}
	}
	return "Unknown"
}

// gatesReady is "True" when every readiness gate's condition is True.
func gatesReady(p *pkgapi.PackageRevision) string {
	for _, g := range p.Spec.ReadinessGates {
		if conditionStatus(p.Status.Conditions, g.ConditionType) != "True" {
			return "False"
		}
	}
	return "True"
}

// refresher returns the on-demand rescan of svc, if it has one.
func refresher(svc engine.Service) func(context.Context, string, string) (*configapi.Repository, error) {
	if r, ok := svc.(engine.Refresher); ok {
		return r.RefreshRepository
	}
	return nil
}

// packageRevisionReads are the read-only subresources of a package revision
// the engine offers: history and diff.
func packageRevisionReads(svc engine.Service) map[string]readFunc {
	out := map[string]readFunc{}
	if h, ok := svc.(engine.Historian); ok {
		out["history"] = func(c echo.Context, ns, name string) error {
			hist, err := h.History(c.Request().Context(), ns, name)
			if err != nil {
				return err
			}
			return c.JSON(http.StatusOK, hist)
		}
	}
	if d, ok := svc.(engine.Differ); ok {
		out["diff"] = func(c echo.Context, ns, name string) error {
			res, err := d.Diff(c.Request().Context(), ns, name, c.QueryParam("against"))
			if err != nil {
				return err
			}
			if c.QueryParam("format") == "unified" || strings.Contains(c.Request().Header.Get(echo.HeaderAccept), "text/x-diff") {
				var b strings.Builder
				for _, f := range res.Files {
					b.WriteString(f.Unified)
				}
				return c.Blob(http.StatusOK, "text/x-diff; charset=utf-8", []byte(b.String()))
			}
			return c.JSON(http.StatusOK, res)
		}
	}
	return out
}
