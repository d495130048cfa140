// +k8s:deepcopy-gen=package
// +groupName=config.pkg.pkgserver.dev

package v1alpha1
