package registry_test

import (
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"

	"pkgserver.dev/pkgserver/pkg/registry"
)

// TestGuard checks that every guarded operation asks the Guard with the right
// arguments and that a refusal is DENIED (403) with the Guard's message.
func TestGuard(t *testing.T) {
	type call struct {
		repo, tag string
		op        registry.Op
		digest    digest.Digest
	}
	var calls []call
	deny := false
	f := newFixture(t, registry.Options{Guard: func(_ context.Context, repo, tag string, op registry.Op, d digest.Digest) error {
		calls = append(calls, call{repo, tag, op, d})
		if deny {
			return errors.New("no, not today")
		}
		return nil
	}})
	s := f.seed()
	img := s.image.Digest
	ct := map[string]string{"Content-Type": ocispec.MediaTypeImageManifest}
	tests := []struct {
		name   string
		method string
		path   string
		header map[string]string
		body   []byte
		want   []call
	}{
		{"put by tag", "PUT", "/v2/a/b/c/manifests/v2", ct, s.imageBody, []call{{"a/b/c", "v2", registry.OpPutTag, img}}},
		{"put by digest with tags", "PUT", "/v2/a/b/c/manifests/" + img.String() + "?tag=x&tag=y", ct, s.imageBody,
			[]call{{"a/b/c", "x", registry.OpPutTag, img}, {"a/b/c", "y", registry.OpPutTag, img}}},
		{"tag delete", "DELETE", "/v2/a/b/c/manifests/v1", nil, nil, []call{{"a/b/c", "v1", registry.OpDeleteTag, img}}},
		{"manifest delete", "DELETE", "/v2/a/b/c/manifests/" + img.String(), nil, nil, []call{{"a/b/c", "", registry.OpDeleteManifest, img}}},
		{"manifest delete through the blob route", "DELETE", "/v2/a/b/c/blobs/" + img.String(), nil, nil, []call{{"a/b/c", "", registry.OpDeleteManifest, img}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			calls, deny = nil, true
			r := f.do(tt.method, tt.path, tt.header, tt.body)
			if r.status != 403 || errorCode(r.body) != "DENIED" || !strings.Contains(string(r.body), "no, not today") {
				t.Fatalf("got %d %s, want 403 DENIED with the guard's message", r.status, r.body)
			}
			if len(calls) < 1 || calls[0] != tt.want[0] {
				t.Errorf("guard calls = %+v, want %+v", calls, tt.want)
			}
		})
	}
	// Nothing changed while denied.
	if r := f.do("GET", "/v2/a/b/c/tags/list", nil, nil); strings.TrimSpace(string(r.body)) != `{"name":"a/b/c","tags":["v1"]}` {
		t.Errorf("tags after denied changes: %s", r.body)
	}
	// Allowed: the change happens.
	calls, deny = nil, false
	if r := f.do("PUT", "/v2/a/b/c/manifests/"+img.String()+"?tag=x&tag=y", ct, s.imageBody); r.status != 201 || len(calls) != 2 {
		t.Errorf("allowed put: %d, calls %v", r.status, calls)
	}
	// Blob pushes and deletes of plain blobs are not guarded.
	calls, deny = nil, true
	if r := f.do("DELETE", "/v2/a/b/c/blobs/"+s.layer.Digest.String(), nil, nil); r.status != 202 || len(calls) != 0 {
		t.Errorf("blob delete: %d, guard calls %v", r.status, calls)
	}
}

// TestGuardFrom checks the mapping from Op to the engine's check arguments.
func TestGuardFrom(t *testing.T) {
	type args struct {
		repo, tag string
		dgst      digest.Digest
		deleteTag bool
	}
	var got args
	g := registry.GuardFrom(func(_ context.Context, repo, tag string, dgst digest.Digest, deleteTag bool) error {
		got = args{repo, tag, dgst, deleteTag}
		return nil
	})
	d := digest.FromString("m")
	for _, c := range []struct {
		op   registry.Op
		tag  string
		want args
	}{
		{registry.OpPutTag, "v1", args{"r", "v1", d, false}},
		{registry.OpDeleteTag, "v1", args{"r", "v1", d, true}},
		{registry.OpDeleteManifest, "", args{"r", "", d, false}},
	} {
		if err := g(context.Background(), "r", c.tag, c.op, d); err != nil || got != c.want {
			t.Errorf("%v: check got %+v, want %+v (%v)", c.op, got, c.want, err)
		}
	}
}

// TestLockHeldAroundGuardAndWrite: every guarded write runs with the
// repository's lock held, from the Guard's check to the change.
func TestLockHeldAroundGuardAndWrite(t *testing.T) {
	var held, locks int
	var guardedWithoutLock bool
	f := newFixture(t, registry.Options{
		Lock: func(repo string) func() {
			if repo != "a/b/c" {
				t.Errorf("lock of %q", repo)
			}
			held++
			locks++
			return func() { held-- }
		},
		Guard: func(context.Context, string, string, registry.Op, digest.Digest) error {
			guardedWithoutLock = guardedWithoutLock || held != 1
			return nil
		},
	})
	s := f.seed()
	locks = 0 // seeding writes too
	ct := map[string]string{"Content-Type": ocispec.MediaTypeImageManifest}
	for _, req := range []struct{ method, path string }{
		{"PUT", "/v2/a/b/c/manifests/v9"},
		{"DELETE", "/v2/a/b/c/manifests/v9"},
	} {
		var body []byte
		if req.method == "PUT" {
			body = s.imageBody
		}
		if r := f.do(req.method, req.path, ct, body); r.status >= 300 {
			t.Fatalf("%s %s: %d %s", req.method, req.path, r.status, r.body)
		}
	}
	if locks != 2 || held != 0 || guardedWithoutLock {
		t.Fatalf("locks %d, still held %d, guard ran without the lock: %v", locks, held, guardedWithoutLock)
	}
}
