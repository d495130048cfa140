// Package client is a typed Go client for the pkgserver HTTP API: the
// Repository kind of config.pkg.pkgserver.dev/v1alpha1 and the PackageRevision
// and PackageRevisionResources kinds of pkg.pkgserver.dev/v1alpha1.
//
// It is a thin layer over the generated client-go clientset
// (pkgserver.dev/pkgserver/pkg/generated/clientset/versioned), adding the
// lifecycle helpers and checks made before a request is sent. Programs that
// want informers, listers or a kubeconfig use the clientset directly
// ([Client.Clientset], [NewFromClientset]); see docs/controllers.md.
//
// A [Client] hands out one sub-client per kind and namespace:
//
//	c, err := client.New("http://127.0.0.1:8080", client.WithUser("alice"))
//	prs := c.PackageRevisions("default")
//	list, err := prs.List(ctx, client.ListOptions{FieldSelector: "spec.lifecycle=draft"})
//	pr, err := prs.Propose(ctx, "catalog.blueprints..vpc.v1")
//
// Every sub-client has List, Get, Create, Update, Patch, Delete and Watch,
// following the Kubernetes API conventions the server implements;
// [PackageRevisionClient] adds the lifecycle helpers Propose, Approve, Reject
// and ProposeDelete.
//
// Errors the server reports are [*k8s.io/apimachinery/pkg/api/errors.StatusError]
// values decoded from its metav1.Status body, so the helpers of that package
// (apierrors.IsNotFound, IsConflict, IsInvalid, IsForbidden, IsAlreadyExists,
// ReasonForError) work on them. A lifecycle helper called on a revision in the
// wrong state returns a [*LifecycleError] without sending a write. Failures to
// reach the server are returned as the *url.Error of net/http.
package client
