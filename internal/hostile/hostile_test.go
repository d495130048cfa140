package hostile

import "testing"

func TestDenseSize(t *testing.T) {
	for _, n := range []int{100, 101, 1 << 20, 1<<20 + 1} {
		if got := len(Dense(n)); got != n {
			t.Errorf("Dense(%d) is %d bytes", n, got)
		}
		if got := len(DenseMap(n)); got != n {
			t.Errorf("DenseMap(%d) is %d bytes", n, got)
		}
	}
}
