package console

import (
	"fmt"
	"strings"

	configapi "pkgserver.dev/pkgserver/api/config/v1alpha1"
	pkgapi "pkgserver.dev/pkgserver/api/pkg/v1alpha1"
)

// snippet is a copy-ready way to get a published revision.
type snippet struct {
	ID, Title, Text string
}

// ociRef splits status.oci.reference (host/path:tag) into the repository
// and the tag.
func ociRef(ref string) (repo, tag string) {
	slash := strings.LastIndex(ref, "/")
	if i := strings.LastIndex(ref, ":"); i > slash {
		return ref[:i], ref[i+1:]
	}
	return ref, ""
}

// snippetsFor writes how to pull a published revision with oras, read it
// with kubectl, and deploy it with Flux or Argo CD. The layer is a tar of
// <package>/..., so the GitOps paths point at ./<package> (docs/format.md).
// plainHTTP: the registry is reached without TLS (the embedded one of a
// server without TLS, or a Repository with spec.oci.plainHTTP).
func snippetsFor(pr *pkgapi.PackageRevision, repo *configapi.Repository, serverTLS bool) []snippet {
	if pr.Status.OCI == nil || pr.Status.OCI.Reference == "" {
		return nil
	}
	ref, dig := pr.Status.OCI.Reference, pr.Status.OCI.Digest
	repoPath, tag := ociRef(ref)
	id := pr.Spec.PackageRevID
	plain := !serverTLS
	if repo != nil && repo.Spec.OCI != nil && repo.Spec.OCI.Registry != "" {
		plain = repo.Spec.OCI.PlainHTTP
	}
	orasFlag, fluxInsecure, argoNote := "", "", ""
	if plain {
		orasFlag = "--plain-http "
		fluxInsecure = "\n  insecure: true # the registry speaks plain HTTP"
		argoNote = "\n# The registry speaks plain HTTP: register it in Argo CD as an OCI repository with insecureOCIForceHttp: \"true\"."
	}
	name := id.Package
	if id.Target != pkgapi.CatalogTarget {
		name = id.Target + "-" + id.Package
	}
	digestRef := ""
	if dig != "" {
		digestRef = "\n    digest: " + dig
	}
	return []snippet{
		{ID: "oras", Title: "oras pull", Text: fmt.Sprintf("oras pull %s%s -o .\n# writes ./%s/…", orasFlag, ref, id.Package)},
		{ID: "kubectl", Title: "kubectl", Text: fmt.Sprintf(
			"kubectl get packagerevisions.%[1]s %[2]s --namespace %[3]s -o yaml\nkubectl get packagerevisionresources.%[1]s %[2]s --namespace %[3]s -o jsonpath='{.spec.resources}'",
			pkgapi.Group, pr.Name, pr.Namespace)},
		{ID: "flux", Title: "Flux OCIRepository", Text: fmt.Sprintf(`apiVersion: source.toolkit.fluxcd.io/v1
kind: OCIRepository
metadata:
  name: %[1]s
  namespace: flux-system
spec:
  interval: 10m
  url: oci://%[2]s
  ref:
    tag: %[3]s # published revisions never change%[4]s
  layerSelector:
    mediaType: application/vnd.oci.image.layer.v1.tar+gzip
    operation: extract%[5]s
---
apiVersion: kustomize.toolkit.fluxcd.io/v1
kind: Kustomization
metadata:
  name: %[1]s
  namespace: flux-system
spec:
  interval: 10m
  sourceRef:
    kind: OCIRepository
    name: %[1]s
  path: ./%[6]s
  prune: true
`, name, repoPath, tag, digestRef, fluxInsecure, id.Package)},
		{ID: "argocd", Title: "Argo CD Application", Text: fmt.Sprintf(`apiVersion: argoproj.io/v1alpha1
kind: Application
metadata:
  name: %[1]s
  namespace: argocd
spec:
  project: default
  source:
    repoURL: oci://%[2]s
    targetRevision: %[3]s
    path: %[4]s
  destination:
    server: https://kubernetes.default.svc
    namespace: default
  syncPolicy:
    automated: {}%[5]s
`, name, repoPath, tag, id.Package, argoNote)},
	}
}
