package engine

import (
	"errors"
	"testing"
	"time"

	configapi "pkgserver.dev/pkgserver/api/config/v1alpha1"
)

// TestReadyTransitions: Ready's lastTransitionTime moves when the registry
// goes from listed to failing or back, not on every scan.
func TestReadyTransitions(t *testing.T) {
	t0 := time.Date(2025, 6, 1, 12, 0, 0, 0, time.UTC)
	at := func(s int) time.Time { return t0.Add(time.Duration(s) * time.Second) }
	down := errors.New("connection refused")
	steps := []struct {
		err        error
		status     string
		transition time.Time
	}{
		{nil, "True", at(0)},
		{nil, "True", at(0)},
		{down, "False", at(2)},
		{down, "False", at(2)},
		{nil, "True", at(4)},
		{nil, "True", at(4)},
	}
	rs := &repoState{status: &repoStatus{}, obj: configapi.Repository{}}
	for i, s := range steps {
		rs.status.set(s.err, at(i))
		c := rs.object(1).Status.Conditions[0]
		if string(c.Status) != s.status || !c.LastTransitionTime.Time.Equal(s.transition) {
			t.Errorf("scan %d: Ready=%s since %v, want %s since %v", i, c.Status, c.LastTransitionTime, s.status, s.transition)
		}
		if last := rs.object(1).Status.LastScanTime; s.err == nil && (last == nil || !last.Time.Equal(at(i))) {
			t.Errorf("scan %d: lastScanTime %v, want %v", i, last, at(i))
		}
	}
}
