package registry_test

import (
	"context"
	"errors"
	"slices"
	"strings"
	"testing"

	ocispec "github.com/opencontainers/image-spec/specs-go/v1"

	"pkgserver.dev/pkgserver/pkg/registry"
)

// TestGuard checks that every guarded operation asks the Guard with the
// right request and that a refusal is DENIED (403) with the Guard's message
// and changes nothing.
func TestGuard(t *testing.T) {
	var calls []registry.Request
	deny := false
	f := newFixture(t, registry.Options{Guard: func(_ context.Context, req registry.Request) error {
		calls = append(calls, req)
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
		want   registry.Request
	}{
		{"put by tag", "PUT", "/v2/a/b/c/manifests/v2", ct, s.imageBody, registry.Request{Repo: "a/b/c", Op: registry.OpPutTag, Tag: "v2", Tags: []string{"v2"}, Digest: img}},
		{"put by digest with tags", "PUT", "/v2/a/b/c/manifests/" + img.String() + "?tag=x&tag=y", ct, s.imageBody,
			registry.Request{Repo: "a/b/c", Op: registry.OpPutTag, Tag: "x", Tags: []string{"x", "y"}, Digest: img}},
		{"tag delete", "DELETE", "/v2/a/b/c/manifests/v1", nil, nil, registry.Request{Repo: "a/b/c", Op: registry.OpDeleteTag, Tag: "v1", Digest: img}},
		{"manifest delete", "DELETE", "/v2/a/b/c/manifests/" + img.String(), nil, nil, registry.Request{Repo: "a/b/c", Op: registry.OpDeleteManifest, Digest: img}},
		{"manifest delete through the blob route", "DELETE", "/v2/a/b/c/blobs/" + img.String(), nil, nil, registry.Request{Repo: "a/b/c", Op: registry.OpDeleteManifest, Digest: img}},
		{"blob delete", "DELETE", "/v2/a/b/c/blobs/" + s.layer.Digest.String(), nil, nil, registry.Request{Repo: "a/b/c", Op: registry.OpDeleteBlob, Digest: s.layer.Digest}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			calls, deny = nil, true
			r := f.do(tt.method, tt.path, tt.header, tt.body)
			if r.status != 403 || errorCode(r.body) != "DENIED" || !strings.Contains(string(r.body), "no, not today") {
				t.Fatalf("got %d %s, want 403 DENIED with the guard's message", r.status, r.body)
			}
			if len(calls) < 1 {
				t.Fatal("guard not called")
			}
			got := calls[0]
			if got.Repo != tt.want.Repo || got.Op != tt.want.Op || got.Tag != tt.want.Tag || got.Digest != tt.want.Digest || !slices.Equal(got.Tags, tt.want.Tags) {
				t.Errorf("guard request = %+v, want %+v", got, tt.want)
			}
			if tt.method == "PUT" && string(got.Manifest) != string(tt.body) {
				t.Errorf("guard got manifest %q, want the request body", got.Manifest)
			}
		})
	}
	// Nothing changed while denied: tags, manifest and blob are all there.
	if r := f.do("GET", "/v2/a/b/c/tags/list", nil, nil); strings.TrimSpace(string(r.body)) != `{"name":"a/b/c","tags":["v1"]}` {
		t.Errorf("tags after denied changes: %s", r.body)
	}
	for _, p := range []string{"/v2/a/b/c/manifests/" + img.String(), "/v2/a/b/c/blobs/" + s.layer.Digest.String()} {
		if r := f.do("GET", p, nil, nil); r.status != 200 {
			t.Errorf("GET %s after denied changes: %d", p, r.status)
		}
	}
	// Allowed: the change happens.
	calls, deny = nil, false
	if r := f.do("PUT", "/v2/a/b/c/manifests/"+img.String()+"?tag=x&tag=y", ct, s.imageBody); r.status != 201 || len(calls) != 2 {
		t.Errorf("allowed put: %d, calls %v", r.status, calls)
	}
}

// TestLockHeldAroundGuardAndWrite: every guarded write runs with the
// repository's lock held, from the Guard's check to the change, and the
// unlock says whether something changed.
func TestLockHeldAroundGuardAndWrite(t *testing.T) {
	var held, locks int
	var changes []bool
	var guardedWithoutLock bool
	deny := false
	f := newFixture(t, registry.Options{
		Lock: func(_ context.Context, repo string) (func(bool), error) {
			if repo != "a/b/c" {
				t.Errorf("lock of %q", repo)
			}
			held++
			locks++
			return func(changed bool) { held--; changes = append(changes, changed) }, nil
		},
		Guard: func(context.Context, registry.Request) error {
			guardedWithoutLock = guardedWithoutLock || held != 1
			if deny {
				return errors.New("denied")
			}
			return nil
		},
	})
	s := f.seed()
	locks, changes = 0, nil // seeding writes too
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
	deny = true
	if r := f.do("PUT", "/v2/a/b/c/manifests/v10", ct, s.imageBody); r.status != 403 {
		t.Fatalf("denied put: %d %s", r.status, r.body)
	}
	if locks != 3 || held != 0 || guardedWithoutLock || !slices.Equal(changes, []bool{true, true, false}) {
		t.Fatalf("locks %d, still held %d, guard ran without the lock: %v, changes %v", locks, held, guardedWithoutLock, changes)
	}
}
