package etcdproc

import "testing"

// StartForTest starts a cluster with its data in t.TempDir(), fails t when
// the binary is missing or the cluster does not come up, and stops it in
// t.Cleanup. The members' output is logged when t has failed.
func StartForTest(t testing.TB, opts Options) *Cluster {
	t.Helper()
	bin, err := Binary()
	if err != nil {
		t.Fatal(err)
	}
	c, err := Start(bin, t.TempDir(), opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		c.Stop()
		if t.Failed() {
			t.Log(c.Output())
		}
	})
	return c
}
