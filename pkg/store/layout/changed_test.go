package layout_test

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"time"

	"pkgserver.dev/pkgserver/pkg/store/layout"
)

// TestChangedSince: a store with many repositories reports a change made
// after a moment to any one of them (a new tag, a new repository, a file
// copied in with an old modification time), and nothing when nothing
// changed.
func TestChangedSince(t *testing.T) {
	ctx := context.Background()
	for _, tc := range []struct {
		name   string
		change func(t *testing.T, s *layout.Store, dir string)
		want   bool
	}{
		{"nothing", func(*testing.T, *layout.Store, string) {}, false},
		{"a new tag in the last repository", func(t *testing.T, s *layout.Store, _ string) {
			repo, _ := s.Repository(ctx, "team/r39")
			if err := repo.Tag(ctx, pushManifest(t, repo, "new", nil), "v9"); err != nil {
				t.Fatal(err)
			}
		}, true},
		{"a new repository deep down", func(t *testing.T, s *layout.Store, _ string) {
			repo, _ := s.Repository(ctx, "team/r3/sub/deeper")
			if err := repo.Tag(ctx, pushManifest(t, repo, "new", nil), "v1"); err != nil {
				t.Fatal(err)
			}
		}, true},
		{"an index.json copied in with an old time", func(t *testing.T, _ *layout.Store, dir string) {
			p := filepath.Join(layout.RepositoryDir(dir, "team/r17"), "index.json")
			data, err := os.ReadFile(p)
			if err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(p, data, 0o644); err != nil {
				t.Fatal(err)
			}
			old := time.Now().Add(-time.Hour)
			if err := os.Chtimes(p, old, old); err != nil {
				t.Fatal(err)
			}
		}, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			s := open(t, dir)
			for i := range 40 {
				repo, _ := s.Repository(ctx, fmt.Sprintf("team/r%d", i))
				if err := repo.Tag(ctx, pushManifest(t, repo, "x", nil), "v1"); err != nil {
					t.Fatal(err)
				}
			}
			time.Sleep(20 * time.Millisecond) // change times have a coarse clock on some systems
			at := time.Now()
			time.Sleep(20 * time.Millisecond)
			tc.change(t, s, dir)
			got, err := s.ChangedSince(ctx, at)
			if err != nil || got != tc.want {
				t.Errorf("ChangedSince = %v, %v; want %v", got, err, tc.want)
			}
		})
	}
}
