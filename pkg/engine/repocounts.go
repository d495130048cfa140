package engine

import (
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	configapi "pkgserver.dev/pkgserver/api/config/v1alpha1"
)

// repoObject is rs as the API shows it at rv, with what the index holds of
// it: its package and revision counts. The caller holds x.mu.
func (x *index) repoObject(rs *repoState, rv uint64) configapi.Repository {
	r := rs.object(rv)
	pkgs := x.byRepoPkg[rs.key]
	r.Status.PackageCount = len(pkgs)
	for _, objs := range pkgs {
		r.Status.RevisionCount += len(objs)
	}
	return r
}

// lastScan is the time of rs's last complete scan, nil before the first.
func (rs *repoState) lastScan() *metav1.Time {
	rs.status.mu.Lock()
	defer rs.status.mu.Unlock()
	if rs.status.listed.IsZero() {
		return nil
	}
	t := metav1.NewTime(rs.status.listed)
	return &t
}
