package client

import (
	"context"
	"slices"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	pkgapi "pkgserver.dev/pkgserver/api/pkg/v1alpha1"
)

// PackageRevisionClient reads and writes PackageRevision objects and moves
// them through their lifecycle:
//
//	draft ──► proposed ──(approval)──► published ──(approval)──► deletionProposed ──► deleted
//	  ▲           │                        ▲                            │
//	  └─(reject)──┘                        └────────(reject)────────────┘
//
// Each helper reads the revision, checks its lifecycle, and writes the change
// with the resourceVersion it read, so a concurrent change fails with a 409
// Conflict instead of being overwritten.
type PackageRevisionClient struct {
	*Resource[*pkgapi.PackageRevision, *pkgapi.PackageRevisionList]
	approval approvalUpdater
}

// approvalUpdater is the generated client's method for the approval subresource.
type approvalUpdater interface {
	UpdateApproval(ctx context.Context, name string, pr *pkgapi.PackageRevision, opts metav1.UpdateOptions) (*pkgapi.PackageRevision, error)
}

// ApprovalSubresource is the subresource that publishes and proposes
// deletion of package revisions.
const ApprovalSubresource = "approval"

// UpdateApproval writes pr to the approval subresource (PUT .../{name}/approval),
// the only way to move a revision to or from published and deletionProposed.
func (c *PackageRevisionClient) UpdateApproval(ctx context.Context, pr *pkgapi.PackageRevision) (*pkgapi.PackageRevision, error) {
	if err := c.check("update approval of", pr.Name); err != nil {
		return nil, err
	}
	out, err := c.approval.UpdateApproval(ctx, pr.Name, pr, metav1.UpdateOptions{})
	return c.result(out, err, pr.Name)
}

// Propose moves a draft revision to proposed, with an ordinary update.
func (c *PackageRevisionClient) Propose(ctx context.Context, name string) (*pkgapi.PackageRevision, error) {
	return c.move(ctx, name, "propose", false, transition{pkgapi.LifecycleDraft, pkgapi.LifecycleProposed})
}

// Approve publishes a proposed revision through the approval subresource;
// the server gives it the next revision number.
func (c *PackageRevisionClient) Approve(ctx context.Context, name string) (*pkgapi.PackageRevision, error) {
	return c.move(ctx, name, "approve", true, transition{pkgapi.LifecycleProposed, pkgapi.LifecyclePublished})
}

// Reject sends a proposed revision back to draft, or keeps a revision
// proposed for deletion published, through the approval subresource.
func (c *PackageRevisionClient) Reject(ctx context.Context, name string) (*pkgapi.PackageRevision, error) {
	return c.move(ctx, name, "reject", true,
		transition{pkgapi.LifecycleProposed, pkgapi.LifecycleDraft},
		transition{pkgapi.LifecycleDeletionProposed, pkgapi.LifecyclePublished})
}

// ProposeDelete moves a published revision to deletionProposed through the
// approval subresource; it can then be deleted.
func (c *PackageRevisionClient) ProposeDelete(ctx context.Context, name string) (*pkgapi.PackageRevision, error) {
	return c.move(ctx, name, "propose for deletion", true, transition{pkgapi.LifecyclePublished, pkgapi.LifecycleDeletionProposed})
}

type transition struct{ from, to pkgapi.Lifecycle }

// move reads the revision, finds the transition from its lifecycle and writes it.
func (c *PackageRevisionClient) move(ctx context.Context, name, action string, approval bool, ts ...transition) (*pkgapi.PackageRevision, error) {
	pr, err := c.Get(ctx, name)
	if err != nil {
		return nil, err
	}
	i := slices.IndexFunc(ts, func(t transition) bool { return t.from == pr.Spec.Lifecycle })
	if i < 0 {
		e := &LifecycleError{Name: name, Action: action, Lifecycle: pr.Spec.Lifecycle}
		for _, t := range ts {
			e.Want = append(e.Want, t.from)
		}
		return nil, e
	}
	pr.Spec.Lifecycle = ts[i].to
	if approval {
		return c.UpdateApproval(ctx, pr)
	}
	return c.Update(ctx, pr)
}
