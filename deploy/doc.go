// Package deploy holds pkgserver's Kubernetes manifests: pkgserver.yaml (one
// replica on the embedded store) and ha/ (three replicas coordinated by an
// etcd cluster). It has no code; its tests check every manifest offline with
// kubectl and with the Kubernetes API types.
package deploy
