package main

import (
	"context"
	"fmt"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/log"

	pkgapi "pkgserver.dev/pkgserver/api/pkg/v1alpha1"
)

// Reconciler approves proposed package revisions whose readiness gates are
// all True: it publishes them through the approval subresource.
type Reconciler struct {
	// Reader reads revisions, normally from the manager's cache.
	Reader client.Reader
	// Approve publishes a revision; see ApproveWith.
	Approve func(ctx context.Context, pr *pkgapi.PackageRevision) error
	// WithoutGates also approves proposed revisions that have no gates.
	WithoutGates bool
}

// ApproveWith returns an Approve that writes to the approval subresource
// (PUT .../packagerevisions/NAME/approval) through c. The write carries the
// resourceVersion that was read, so a revision changed since is not
// published: the server answers 409 and the revision is looked at again.
func ApproveWith(c client.Client) func(context.Context, *pkgapi.PackageRevision) error {
	return func(ctx context.Context, pr *pkgapi.PackageRevision) error {
		pr = pr.DeepCopy()
		pr.Spec.Lifecycle = pkgapi.LifecyclePublished
		return c.SubResource("approval").Update(ctx, pr)
	}
}

// Reconcile implements reconcile.Reconciler.
func (r *Reconciler) Reconcile(ctx context.Context, req ctrl.Request) (ctrl.Result, error) {
	logger := log.FromContext(ctx)
	var pr pkgapi.PackageRevision
	if err := r.Reader.Get(ctx, req.NamespacedName, &pr); err != nil {
		return ctrl.Result{}, client.IgnoreNotFound(err)
	}
	if ok, why := r.ready(&pr); !ok {
		logger.V(1).Info("not approving", "reason", why)
		return ctrl.Result{}, nil
	}
	if err := r.Approve(ctx, &pr); err != nil {
		if apierrors.IsConflict(err) || apierrors.IsNotFound(err) {
			// Changed or gone since the cache saw it: its next event brings
			// the current state.
			logger.Info("revision changed before approval; waiting for its next change", "error", err.Error())
			return ctrl.Result{}, nil
		}
		return ctrl.Result{}, fmt.Errorf("approving %s: %w", req.NamespacedName, err)
	}
	logger.Info("approved", "package", pr.Spec.PackageRevID.Package, "workspace", pr.Spec.PackageRevID.Workspace)
	return ctrl.Result{}, nil
}

// ready reports whether pr is to be approved, and why not when it is not.
func (r *Reconciler) ready(pr *pkgapi.PackageRevision) (bool, string) {
	if pr.Spec.Lifecycle != pkgapi.LifecycleProposed {
		return false, "lifecycle is " + string(pr.Spec.Lifecycle)
	}
	if len(pr.Spec.ReadinessGates) == 0 && !r.WithoutGates {
		return false, "no readiness gates"
	}
	for _, g := range pr.Spec.ReadinessGates {
		if !conditionTrue(pr, g.ConditionType) {
			return false, "gate " + g.ConditionType + " is not True"
		}
	}
	return true, ""
}

func conditionTrue(pr *pkgapi.PackageRevision, typ string) bool {
	for _, c := range pr.Status.Conditions {
		if c.Type == typ {
			return c.Status == "True"
		}
	}
	return false
}
