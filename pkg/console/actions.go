package console

import (
	"fmt"
	"net/http"

	pkgapi "pkgserver.dev/pkgserver/api/pkg/v1alpha1"
	"pkgserver.dev/pkgserver/pkg/errdef"
)

// actions are what the user may do with a revision in its lifecycle: the
// authorizer answers for each, as `kubectl auth can-i` does, so nothing is
// offered that the API would refuse for lack of a right.
type actions struct {
	Propose, Withdraw, Approve, Reject, ProposeDeletion, Keep, Delete bool
	EditFiles                                                         bool
	NewDraft, Clone, Upgrade                                          bool
}

// Any reports whether there is any action to show.
func (a actions) Any() bool {
	return a.Propose || a.Withdraw || a.Approve || a.Reject || a.ProposeDeletion || a.Keep || a.Delete ||
		a.EditFiles || a.NewDraft || a.Clone || a.Upgrade
}

const revisions = pkgapi.PackageRevisionResource

func (v *visit) actionsFor(pr *pkgapi.PackageRevision) actions {
	g, n := pkgapi.Group, pr.Name
	var a actions
	switch pr.Spec.Lifecycle {
	case pkgapi.LifecycleDraft, "":
		a.Propose = v.can("update", g, revisions, "", n)
		a.EditFiles = v.can("update", g, pkgapi.PackageRevisionResourcesResource, "", n)
		a.Delete = v.can("delete", g, revisions, "", n)
	case pkgapi.LifecycleProposed:
		a.Withdraw = v.can("update", g, revisions, "", n)
		a.Approve = v.can("update", g, revisions, "approval", n)
		a.Reject = a.Approve
		a.Delete = v.can("delete", g, revisions, "", n)
	case pkgapi.LifecyclePublished:
		a.ProposeDeletion = v.can("update", g, revisions, "approval", n)
		create := v.can("create", g, revisions, "", "")
		a.NewDraft, a.Clone = create, create
		a.Upgrade = create && pr.Status.UpgradeAvailable != nil
	case pkgapi.LifecycleDeletionProposed:
		a.Keep = v.can("update", g, revisions, "approval", n)
		a.Delete = v.can("delete", g, revisions, "", n)
	}
	return a
}

// transition is a lifecycle change the console offers.
type transition struct {
	from, to pkgapi.Lifecycle
	approval bool   // through the approval subresource
	done     string // the notice afterwards
	// confirm: irreversible or far-reaching, so a page asks first.
	confirm bool
}

// deleteAction deletes the revision.
const deleteAction = "delete"

var transitions = map[string]transition{
	"propose":          {from: pkgapi.LifecycleDraft, to: pkgapi.LifecycleProposed, done: "proposed"},
	"withdraw":         {from: pkgapi.LifecycleProposed, to: pkgapi.LifecycleDraft, done: "withdrawn"},
	"approve":          {from: pkgapi.LifecycleProposed, to: pkgapi.LifecyclePublished, approval: true, done: "approved", confirm: true},
	"reject":           {from: pkgapi.LifecycleProposed, to: pkgapi.LifecycleDraft, approval: true, done: "rejected"},
	"propose-deletion": {from: pkgapi.LifecyclePublished, to: pkgapi.LifecycleDeletionProposed, approval: true, done: "deletionProposed", confirm: true},
	"keep":             {from: pkgapi.LifecycleDeletionProposed, to: pkgapi.LifecyclePublished, approval: true, done: "kept"},
	deleteAction:       {done: "deleted", confirm: true},
}

// current reads the revision an action is about and checks that it is
// still what the user saw (the form's resourceVersion).
func (v *visit) current(rv string) (*pkgapi.PackageRevision, error) {
	pr, err := v.api.getRevision(v.r.Context(), v.r.PathValue("ns"), v.r.PathValue("name"))
	if err != nil {
		return nil, err
	}
	if rv == "" || pr.ResourceVersion != rv {
		return nil, fmt.Errorf("%w: the revision changed since the page was shown (it is %s now); look at it again before you act", errdef.ErrConflict, pr.Spec.Lifecycle)
	}
	return pr, nil
}

// lifecycle applies an action of the revision page or of a confirmation.
func (c *Console) lifecycle(v *visit) error {
	ns, name := v.r.PathValue("ns"), v.r.PathValue("name")
	action := v.r.PostForm.Get("action")
	t, ok := transitions[action]
	if !ok {
		return fmt.Errorf("%w: no action %q", errdef.ErrBadRequest, action)
	}
	if t.confirm && v.r.PostForm.Get("confirmed") != "yes" {
		return fmt.Errorf("%w: %s needs the confirmation page", errdef.ErrBadRequest, action)
	}
	pr, err := v.current(v.r.PostForm.Get("rv"))
	if err != nil {
		return err
	}
	ctx := v.r.Context()
	if action == deleteAction {
		if err := v.api.deleteRevision(ctx, ns, name, pr.ResourceVersion); err != nil {
			return err
		}
		return v.redirect(withDone(nsURL(ns, "revisions"), t.done))
	}
	if pr.Spec.Lifecycle != t.from {
		return fmt.Errorf("%w: the revision is %s, not %s", errdef.ErrConflict, pr.Spec.Lifecycle, t.from)
	}
	pr.Spec.Lifecycle = t.to
	if _, err := v.api.updateRevision(ctx, pr, t.approval); err != nil {
		return err
	}
	return v.redirect(withDone(revURL(ns, name), t.done))
}

// confirmData is the page that asks before an irreversible step.
type confirmData struct {
	Action string
	PR     *pkgapi.PackageRevision
	Diff   *pkgapi.PackageRevisionDiff
	// Downstream revisions use this one as their upstream.
	Downstream []pkgapi.PackageRevision
}

func (c *Console) confirm(v *visit) error {
	ns, name, action := v.r.PathValue("ns"), v.r.PathValue("name"), v.r.PathValue("action")
	if t, ok := transitions[action]; !ok || !t.confirm {
		return fmt.Errorf("%w: no action %q to confirm", errdef.ErrNotFound, action)
	}
	ctx := v.r.Context()
	pr, err := v.api.getRevision(ctx, ns, name)
	if err != nil {
		return err
	}
	d := confirmData{Action: action, PR: pr}
	if action == "approve" {
		if diff, err := v.api.diff(ctx, ns, name, ""); err == nil {
			d.Diff = diff
		}
	}
	if items, _, err := v.api.downstream(ctx, ns, name); err == nil {
		d.Downstream = items
	}
	return c.render(v, http.StatusOK, "confirm", v.newPage("Confirm: "+action, "revisions", d))
}
