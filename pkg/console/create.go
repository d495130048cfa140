package console

import (
	"errors"
	"fmt"
	"net/http"
	"strings"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	configapi "pkgserver.dev/pkgserver/api/config/v1alpha1"
	pkgapi "pkgserver.dev/pkgserver/api/pkg/v1alpha1"
	"pkgserver.dev/pkgserver/pkg/errdef"
)

// The ways to make a draft from a published revision (spec.tasks[0]).
const (
	taskClone   = string(pkgapi.TaskTypeClone)
	taskEdit    = string(pkgapi.TaskTypeEdit)
	taskUpgrade = string(pkgapi.TaskTypeUpgrade)
)

// upgradeStrategies are the upgrade task's strategies, the default first.
var upgradeStrategies = []string{"resource-merge", "fast-forward", "force-delete-replace", "copy-merge"}

// createData is the form that makes a draft from revision Source.
type createData struct {
	Task   string
	Source *pkgapi.PackageRevision
	// The new revision's identity, as the form has it.
	ID pkgapi.PackageRevID
	// Repos are the repositories a clone may go to.
	Repos      []configapi.Repository
	Strategy   string
	Strategies []string
	Error      string
}

func (c *Console) createPage(v *visit) error {
	d, err := c.createForm(v)
	if err != nil {
		return err
	}
	return c.render(v, http.StatusOK, "create", v.newPage("New draft", "revisions", d))
}

// createForm reads the source revision and fills the form's defaults.
func (c *Console) createForm(v *visit) (*createData, error) {
	ns, name, task := v.r.PathValue("ns"), v.r.PathValue("name"), v.r.PathValue("task")
	if task != taskClone && task != taskEdit && task != taskUpgrade {
		return nil, fmt.Errorf("%w: no way to make a draft named %q", errdef.ErrNotFound, task)
	}
	ctx := v.r.Context()
	src, err := v.api.getRevision(ctx, ns, name)
	if err != nil {
		return nil, err
	}
	if src.Spec.Lifecycle != pkgapi.LifecyclePublished {
		return nil, fmt.Errorf("%w: drafts are made from published revisions; %s is %s", errdef.ErrInvalid, name, src.Spec.Lifecycle)
	}
	if task == taskUpgrade && src.Status.UpgradeAvailable == nil {
		return nil, fmt.Errorf("%w: %s has no newer upstream revision", errdef.ErrInvalid, name)
	}
	id := src.Spec.PackageRevID
	id.Revision, id.Workspace = "", ""
	d := &createData{Task: task, Source: src, ID: id, Strategy: upgradeStrategies[0], Strategies: upgradeStrategies}
	if task == taskClone {
		if l, err := v.api.repositories(ctx, ns); err == nil {
			d.Repos = l.Items
		}
	}
	return d, nil
}

// create makes the draft with a POST of the API and opens it.
func (c *Console) create(v *visit) error {
	d, err := c.createForm(v)
	if err != nil {
		return err
	}
	f := v.r.PostForm
	d.ID.Workspace = strings.TrimSpace(f.Get("workspace"))
	ns, src := v.r.PathValue("ns"), d.Source
	var task pkgapi.Task
	switch d.Task {
	case taskClone:
		d.ID = pkgapi.PackageRevID{Repository: f.Get("repository"), Target: strings.TrimSpace(f.Get("target")),
			Realm: strings.TrimSpace(f.Get("realm")), Package: strings.TrimSpace(f.Get("package")), Workspace: d.ID.Workspace}
		for _, r := range d.Repos {
			if r.Name == d.ID.Repository && !r.Spec.Deployment {
				d.ID.Target = pkgapi.CatalogTarget
			}
		}
		task = pkgapi.Task{Type: pkgapi.TaskTypeClone, Clone: &pkgapi.CloneTask{Upstream: pkgapi.UpstreamRef{Name: src.Name}}}
	case taskEdit:
		task = pkgapi.Task{Type: pkgapi.TaskTypeEdit, Edit: &pkgapi.EditTask{Source: pkgapi.UpstreamRef{Name: src.Name}}}
	case taskUpgrade:
		d.Strategy = f.Get("strategy")
		task = pkgapi.Task{Type: pkgapi.TaskTypeUpgrade, Upgrade: &pkgapi.UpgradeTask{
			NewUpstream:             pkgapi.UpstreamRef{Name: src.Status.UpgradeAvailable.Name},
			LocalPackageRevisionRef: pkgapi.UpstreamRef{Name: src.Name},
			Strategy:                d.Strategy,
		}}
	}
	pr := &pkgapi.PackageRevision{
		TypeMeta:   metav1.TypeMeta{APIVersion: pkgapi.SchemeGroupVersion.String(), Kind: pkgapi.PackageRevisionKind},
		ObjectMeta: metav1.ObjectMeta{Namespace: ns},
		Spec:       pkgapi.PackageRevisionSpec{PackageRevID: d.ID, Lifecycle: pkgapi.LifecycleDraft, Tasks: []pkgapi.Task{task}},
	}
	out, err := v.api.createRevision(v.r.Context(), pr)
	if err != nil {
		if errors.Is(err, errdef.ErrInvalid) || errors.Is(err, errdef.ErrAlreadyExists) || errors.Is(err, errdef.ErrBadRequest) {
			d.Error = err.Error()
			return c.render(v, codeOf(err), "create", v.newPage("New draft", "revisions", d))
		}
		return err
	}
	return v.redirect(withDone(revURL(ns, out.Name), "created"))
}
