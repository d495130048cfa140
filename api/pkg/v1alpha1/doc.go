// +k8s:deepcopy-gen=package
// +groupName=pkg.pkgserver.dev

package v1alpha1
