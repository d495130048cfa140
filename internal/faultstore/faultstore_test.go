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
