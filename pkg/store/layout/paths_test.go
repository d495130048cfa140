package layout_test

import (
	"context"
	"slices"
	"testing"

	"pkgserver.dev/pkgserver/pkg/store"
)

// TestNamesThatLookLikeLayoutFiles: a repository named like a file of another
// repository's layout is a repository of its own; neither hides the other and
// pushes to both keep working (issue 9: a path segment named oci-layout or
// index.json hid packages and made pushes fail).
func TestNamesThatLookLikeLayoutFiles(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	s := open(t, dir)
	names := []string{"a", "a/oci-layout", "a/index.json", "a/blobs", "a/blobs/sha256", "a/blobs/sha256/x", "a/blobs/sha256/x/index.json"}
	push := func(s store.Store, round string) {
		t.Helper()
		for _, n := range names {
			repo, err := s.Repository(ctx, n)
			if err != nil {
				t.Fatal(err)
			}
			desc := pushManifest(t, repo, n+round, nil)
			if err := repo.Tag(ctx, desc, "v"+round); err != nil {
				t.Fatalf("Tag %s:v%s: %v", n, round, err)
			}
		}
	}
	check := func(s store.Store, rounds ...string) {
		t.Helper()
		var listed []string
		err := s.(store.Lister).Repositories(ctx, "", func(p []string) error {
			listed = append(listed, p...)
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
		want := slices.Sorted(slices.Values(names))
		if !slices.Equal(listed, want) {
			t.Fatalf("Repositories = %v, want %v", listed, want)
		}
		for _, n := range names {
			repo, _ := s.Repository(ctx, n)
			for _, round := range rounds {
				desc, err := repo.Resolve(ctx, "v"+round)
				if err != nil {
					t.Fatalf("Resolve %s:v%s: %v", n, round, err)
				}
				if want, _ := manifest(t, n+round, nil); desc.Digest != want.Digest {
					t.Fatalf("%s:v%s = %s, want %s", n, round, desc.Digest, want.Digest)
				}
				rc, err := repo.Fetch(ctx, desc)
				if err != nil {
					t.Fatalf("Fetch %s:v%s: %v", n, round, err)
				}
				rc.Close()
			}
		}
	}
	push(s, "1")
	check(s, "1")
	push(s, "2")
	check(s, "1", "2")
	s.Close()
	check(open(t, dir), "1", "2")
}
