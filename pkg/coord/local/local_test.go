package local_test

import (
	"testing"

	"pkgserver.dev/pkgserver/pkg/coord"
	"pkgserver.dev/pkgserver/pkg/coord/coordtest"
	"pkgserver.dev/pkgserver/pkg/coord/local"
)

func TestConformance(t *testing.T) {
	coordtest.Run(t, func(t *testing.T) coord.Coordinator {
		c, err := local.Open(t.TempDir())
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { c.Close() })
		return c
	}, false)
}

// TestSequenceSurvivesRestart: numbers handed out before a restart are never
// handed out again.
func TestSequenceSurvivesRestart(t *testing.T) {
	dir := t.TempDir()
	c, err := local.Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	h, _ := c.Lock(t.Context(), "k")
	s, err := h.Publish(t.Context(), []coord.Record{{Key: "a", Value: []byte("1")}})
	if err != nil {
		t.Fatal(err)
	}
	if err := h.SetIntent(t.Context(), []byte("x")); err != nil {
		t.Fatal(err)
	}
	h.Unlock()
	c.Close()
	c, err = local.Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	cur, _ := c.Current(t.Context())
	if cur < s {
		t.Fatalf("after restart the sequence is at %d, before it handed out %d", cur, s)
	}
	h, _ = c.Lock(t.Context(), "k")
	defer h.Unlock()
	if s2, _ := h.Publish(t.Context(), []coord.Record{{Key: "b", Value: []byte("1")}}); s2 <= s {
		t.Fatalf("after restart a batch got %d, not after %d", s2, s)
	}
	if keys, _ := c.Intents(t.Context()); len(keys) != 0 {
		t.Fatalf("intent still there after the publish that clears it: %v", keys)
	}
}
