// Package faultstore wraps store.Stores so that tests can stop their writes
// at a chosen point: a Plan counts the writes of every store it wraps, the
// k-th fails (before or after it reaches the store) and every write after it
// fails too, as if the process had died there. Reads always pass. Tests use
// it to crash a multi-step write of the engine after each of its registry
// steps.
package faultstore

import (
	"context"
	"errors"
	"fmt"
	"io"
	"sync"
	"time"

	ocispec "github.com/opencontainers/image-spec/specs-go/v1"

	"pkgserver.dev/pkgserver/pkg/errdef"
	"pkgserver.dev/pkgserver/pkg/store"
)

// Mode says what the failing write does.
type Mode int

const (
	// Before: the write does not reach the store.
	Before Mode = iota
	// After: the write reaches the store and its answer is lost.
	After
)

func (m Mode) String() string {
	if m == After {
		return "after"
	}
	return "before"
}

// ErrInjected is wrapped by every failure the Store makes; it matches
// errdef.ErrUnavailable, as a registry that went away does.
var ErrInjected = fmt.Errorf("%w: injected store failure", errdef.ErrUnavailable)

// Plan counts the writes of every store it wraps and fails the one it is
// armed for, so that one crash can span the embedded store and remote ones.
type Plan struct {
	mu     sync.Mutex
	count  int // writes since Arm
	failAt int // 0: never
	mode   Mode
	dead   bool
	writes []string
	// refuse, when set, fails the writes it matches for good (see Refuse).
	refuse    func(what string) bool
	refuseErr error
}

// Store is a store.Store whose writes go through a Plan.
type Store struct {
	p     *Plan
	inner store.Store
}

// New returns a plan that fails nothing until armed.
func New() *Plan { return &Plan{} }

// Wrap returns inner with its writes going through the plan.
func (p *Plan) Wrap(inner store.Store) *Store { return &Store{p: p, inner: inner} }

// Arm makes the k-th write from now fail (k >= 1) in the given mode, and
// every later write; k == 0 disarms. It resets the write log.
func (s *Plan) Arm(k int, m Mode) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.count, s.failAt, s.mode, s.dead, s.writes = 0, k, m, false, nil
}

// Refuse makes every write whose description ("op repository reference",
// as Writes lists them) match fails with err without reaching the store, as
// a registry that refuses it for good would (a blob deleted behind the
// server's back, a tag it cannot delete), until Refuse(nil, nil). Unlike
// Arm it kills nothing: other writes pass. Arm keeps it.
func (s *Plan) Refuse(match func(what string) bool, err error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.refuse, s.refuseErr = match, err
}

// Dead reports whether the armed failure happened.
func (s *Plan) Dead() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.dead
}

// Writes lists the writes since Arm, as "op repository reference", the
// failed one included.
func (s *Plan) Writes() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]string(nil), s.writes...)
}

// write runs one write through the fault plan.
func (s *Plan) write(what string, do func() error) error {
	s.mu.Lock()
	s.count++
	s.writes = append(s.writes, what)
	n, dead := s.count, s.dead
	fail := dead || s.failAt > 0 && n >= s.failAt
	if fail {
		s.dead = true
	}
	mode := s.mode
	refused := !fail && s.refuse != nil && s.refuse(what)
	refuseErr := s.refuseErr
	s.mu.Unlock()
	if refused {
		return fmt.Errorf("faultstore: write %d (%s) refused: %w", n, what, refuseErr)
	}
	if !fail {
		return do()
	}
	if !dead && mode == After {
		if err := do(); err != nil {
			return err
		}
	}
	return fmt.Errorf("%w: write %d (%s)", ErrInjected, n, what)
}

// Repository implements store.Store.
func (s *Store) Repository(ctx context.Context, name string) (store.Repository, error) {
	r, err := s.inner.Repository(ctx, name)
	if err != nil {
		return nil, err
	}
	return &repository{s: s.p, name: name, inner: r}, nil
}

// Repositories implements store.Lister when the wrapped store does.
func (s *Store) Repositories(ctx context.Context, last string, fn func([]string) error) error {
	l, ok := s.inner.(store.Lister)
	if !ok {
		return fmt.Errorf("%w: the registry cannot list repositories", errdef.ErrUnavailable)
	}
	return l.Repositories(ctx, last, fn)
}

// ChangedSince implements store.ChangeDetector; a store that cannot tell
// is said to have changed.
func (s *Store) ChangedSince(ctx context.Context, t time.Time) (bool, error) {
	if d, ok := s.inner.(store.ChangeDetector); ok {
		return d.ChangedSince(ctx, t)
	}
	return true, nil
}

// Ping implements store.Pinger.
func (s *Store) Ping(ctx context.Context) error {
	if p, ok := s.inner.(store.Pinger); ok {
		return p.Ping(ctx)
	}
	return nil
}

var (
	_ store.Store          = (*Store)(nil)
	_ store.Lister         = (*Store)(nil)
	_ store.ChangeDetector = (*Store)(nil)
	_ store.Pinger         = (*Store)(nil)
)

// repository counts the writes of one OCI repository of the store.
type repository struct {
	s     *Plan
	name  string
	inner store.Repository
}

var (
	_ store.Repository         = (*repository)(nil)
	_ store.ReferencePusher    = (*repository)(nil)
	_ store.Untagger           = (*repository)(nil)
	_ store.SubjectlessDeleter = (*repository)(nil)
	_ store.ReferenceFetcher   = (*repository)(nil)
	_ store.ReferrerLister     = (*repository)(nil)
	_ store.Mounter            = (*repository)(nil)
)

func (r *repository) what(op string, d ocispec.Descriptor, ref string) string {
	if ref == "" {
		ref = d.Digest.String()
	}
	return op + " " + r.name + " " + ref
}

func (r *repository) Fetch(ctx context.Context, d ocispec.Descriptor) (io.ReadCloser, error) {
	return r.inner.Fetch(ctx, d)
}

func (r *repository) Exists(ctx context.Context, d ocispec.Descriptor) (bool, error) {
	return r.inner.Exists(ctx, d)
}

func (r *repository) Resolve(ctx context.Context, ref string) (ocispec.Descriptor, error) {
	return r.inner.Resolve(ctx, ref)
}

func (r *repository) Tags(ctx context.Context, last string, fn func([]string) error) error {
	return r.inner.Tags(ctx, last, fn)
}

func (r *repository) Push(ctx context.Context, d ocispec.Descriptor, rd io.Reader) error {
	return r.s.write(r.what("push", d, ""), func() error { return r.inner.Push(ctx, d, rd) })
}

func (r *repository) Tag(ctx context.Context, d ocispec.Descriptor, ref string) error {
	return r.s.write(r.what("tag", d, ref), func() error { return r.inner.Tag(ctx, d, ref) })
}

func (r *repository) Delete(ctx context.Context, d ocispec.Descriptor) error {
	return r.s.write(r.what("delete", d, ""), func() error { return r.inner.Delete(ctx, d) })
}

// PushReference is one write, as on a registry (one PUT).
func (r *repository) PushReference(ctx context.Context, d ocispec.Descriptor, rd io.Reader, ref string) error {
	return r.s.write(r.what("push", d, ref), func() error {
		if p, ok := r.inner.(store.ReferencePusher); ok {
			return p.PushReference(ctx, d, rd, ref)
		}
		if err := r.inner.Push(ctx, d, rd); err != nil {
			return err
		}
		return r.inner.Tag(ctx, d, ref)
	})
}

func (r *repository) Untag(ctx context.Context, tag string) error {
	return r.s.write("untag "+r.name+" "+tag, func() error {
		if u, ok := r.inner.(store.Untagger); ok {
			return u.Untag(ctx, tag)
		}
		return fmt.Errorf("%w: this registry cannot delete a tag alone", errdef.ErrForbidden)
	})
}

func (r *repository) DeleteSubjectless(ctx context.Context, d ocispec.Descriptor) error {
	return r.s.write(r.what("delete", d, ""), func() error {
		if sd, ok := r.inner.(store.SubjectlessDeleter); ok {
			return sd.DeleteSubjectless(ctx, d)
		}
		return r.inner.Delete(ctx, d)
	})
}

func (r *repository) FetchReference(ctx context.Context, ref string) (ocispec.Descriptor, io.ReadCloser, error) {
	if f, ok := r.inner.(store.ReferenceFetcher); ok {
		return f.FetchReference(ctx, ref)
	}
	d, err := r.inner.Resolve(ctx, ref)
	if err != nil {
		return d, nil, err
	}
	rc, err := r.inner.Fetch(ctx, d)
	return d, rc, err
}

func (r *repository) Referrers(ctx context.Context, subject ocispec.Descriptor, artifactType string, fn func([]ocispec.Descriptor) error) error {
	if l, ok := r.inner.(store.ReferrerLister); ok {
		return l.Referrers(ctx, subject, artifactType, fn)
	}
	return errors.New("faultstore: the wrapped repository lists no referrers")
}

func (r *repository) Mount(ctx context.Context, d ocispec.Descriptor, from string, get func() (io.ReadCloser, error)) error {
	return r.s.write(r.what("mount", d, ""), func() error {
		if m, ok := r.inner.(store.Mounter); ok {
			return m.Mount(ctx, d, from, get)
		}
		rc, err := get()
		if err != nil {
			return err
		}
		defer rc.Close()
		return r.inner.Push(ctx, d, rc)
	})
}
