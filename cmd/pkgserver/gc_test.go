package main

import (
	"testing"

	"pkgserver.dev/pkgserver/pkg/store/layout"
)

func TestGCMain(t *testing.T) {
	dir := t.TempDir()
	s, err := layout.Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	s.Close()
	tests := []struct {
		args []string
		code int
	}{
		{nil, 2},
		{[]string{"--server", "http://127.0.0.1:1", "--data-dir", dir}, 2},
		{[]string{"--data-dir", dir, "extra"}, 2},
		{[]string{"--data-dir", dir, "--grace-period", "0"}, 2},
		{[]string{"--data-dir", dir}, 0},
		{[]string{"--data-dir", dir + "/missing"}, 1},
	}
	for _, tt := range tests {
		if got := gcMain(tt.args); got != tt.code {
			t.Errorf("pkgserver gc %q = %d, want %d", tt.args, got, tt.code)
		}
	}
}
