package faultstore_test

import (
	"bytes"
	"context"
	"errors"
	"testing"

	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"

	"pkgserver.dev/pkgserver/internal/faultstore"
	"pkgserver.dev/pkgserver/pkg/errdef"
	"pkgserver.dev/pkgserver/pkg/store/layout"
)

// TestArm: the k-th write fails before or after it lands, every later
// write fails without landing, reads pass, and the log names each write.
func TestArm(t *testing.T) {
	ctx := context.Background()
	blob := func(s string) (ocispec.Descriptor, []byte) {
		b := []byte(s)
		return ocispec.Descriptor{MediaType: "application/octet-stream", Digest: digest.FromBytes(b), Size: int64(len(b))}, b
	}
	tests := []struct {
		mode     faultstore.Mode
		wantHave []bool // which of the three blobs are stored afterwards
	}{
		{faultstore.Before, []bool{true, false, false}},
		{faultstore.After, []bool{true, true, false}},
	}
	for _, tt := range tests {
		t.Run(tt.mode.String(), func(t *testing.T) {
			l, err := layout.Open(t.TempDir())
			if err != nil {
				t.Fatal(err)
			}
			defer l.Close()
			s := faultstore.New()
			repo, err := s.Wrap(l).Repository(ctx, "a/b")
			if err != nil {
				t.Fatal(err)
			}
			s.Arm(2, tt.mode)
			var descs []ocispec.Descriptor
			for i, v := range []string{"one", "two", "three"} {
				d, b := blob(v)
				descs = append(descs, d)
				err := repo.Push(ctx, d, bytes.NewReader(b))
				if wantErr := i >= 1; (err != nil) != wantErr || wantErr && !errors.Is(err, errdef.ErrUnavailable) {
					t.Fatalf("write %d: %v", i+1, err)
				}
			}
			for i, d := range descs {
				ok, err := repo.Exists(ctx, d)
				if err != nil || ok != tt.wantHave[i] {
					t.Errorf("blob %d stored: %v %v, want %v", i+1, ok, err, tt.wantHave[i])
				}
			}
			if !s.Dead() || len(s.Writes()) != 3 {
				t.Errorf("dead %v, writes %v", s.Dead(), s.Writes())
			}
			s.Arm(0, faultstore.Before)
			if err := repo.Push(ctx, descs[2], bytes.NewReader([]byte("three"))); err != nil {
				t.Fatalf("after disarming: %v", err)
			}
		})
	}
}

// TestRefuse: a refused write fails with the given error and does not land,
// other writes pass, nothing is dead, and Refuse(nil, nil) lets it through.
func TestRefuse(t *testing.T) {
	ctx := context.Background()
	l, err := layout.Open(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	s := faultstore.New()
	repo, err := s.Wrap(l).Repository(ctx, "a/b")
	if err != nil {
		t.Fatal(err)
	}
	one, two := []byte("one"), []byte("two")
	d1 := ocispec.Descriptor{MediaType: "application/octet-stream", Digest: digest.FromBytes(one), Size: 3}
	d2 := ocispec.Descriptor{MediaType: "application/octet-stream", Digest: digest.FromBytes(two), Size: 3}
	s.Refuse(func(what string) bool { return what == "push a/b "+d1.Digest.String() }, errdef.ErrForbidden)
	if err := repo.Push(ctx, d1, bytes.NewReader(one)); !errors.Is(err, errdef.ErrForbidden) {
		t.Fatalf("refused push: %v, want errdef.ErrForbidden", err)
	}
	if err := repo.Push(ctx, d2, bytes.NewReader(two)); err != nil {
		t.Fatalf("other push: %v", err)
	}
	if ok, _ := repo.Exists(ctx, d1); ok || s.Dead() {
		t.Fatalf("refused blob stored %v, dead %v", ok, s.Dead())
	}
	s.Refuse(nil, nil)
	if err := repo.Push(ctx, d1, bytes.NewReader(one)); err != nil {
		t.Fatalf("after Refuse(nil, nil): %v", err)
	}
}
