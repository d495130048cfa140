package engine

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"

	ocispec "github.com/opencontainers/image-spec/specs-go/v1"

	"pkgserver.dev/pkgserver/pkg/coord"
	"pkgserver.dev/pkgserver/pkg/errdef"
	"pkgserver.dev/pkgserver/pkg/names"
	"pkgserver.dev/pkgserver/pkg/store"
)

// recoverAll finishes every write that a crash interrupted (at start).
func (e *Engine) recoverAll(ctx context.Context) error {
	keys, err := e.coord.Intents(ctx)
	if err != nil {
		return err
	}
	for _, k := range keys {
		t, err := e.lock(ctx, k) // lock recovers what it finds
		if err != nil {
			return fmt.Errorf("finish the interrupted write of %s: %w", k, err)
		}
		t.unlock()
	}
	return nil
}

// recoverHeld finishes the write the previous holder of h left, if any: it
// completes the registry steps the intent names (or finds none was done),
// then publishes the package as the registry now has it.
func (e *Engine) recoverHeld(ctx context.Context, h coord.Held) error {
	data, err := h.Intent(ctx)
	if err != nil {
		return fmt.Errorf("%w: read intent: %v", errdef.ErrUnavailable, err)
	}
	if data == nil {
		return nil
	}
	var in intent
	if err := json.Unmarshal(data, &in); err != nil {
		e.log.Error("dropping an unreadable intent", "err", err)
		return e.publish(ctx, h, nil)
	}
	k := pkgKey{store: in.Store, path: in.Path}
	s, err := e.storeOf(k)
	if err != nil {
		return err
	}
	repo, err := s.Repository(ctx, in.Path)
	if err != nil {
		return err
	}
	switch in.Op {
	case "publish":
		err = e.finishPublish(ctx, s, repo, k, in)
	case "delete":
		err = e.finishDelete(ctx, s, repo, k, in)
	default:
		e.log.Error("dropping an intent of an unknown kind", "op", in.Op)
	}
	if err != nil {
		return fmt.Errorf("finish the interrupted %s of %s:%s: %w", in.Op, in.Path, in.Tag, err)
	}
	e.log.Info("finished an interrupted write", "op", in.Op, "package", k.String(), "tag", in.Tag)
	return e.syncLocked(ctx, h, s, k)
}

// A step of an interrupted write either completes or is tried again at the
// next holder of the lock: but only while the failure is transient. A step
// the registry refuses for good (a blob deleted behind pkgserver's back, a
// tag it cannot delete) would otherwise fail every later write of the
// package, and every start. So the essential steps complete, or else the
// write is rolled back where that is sound, or left as the registry has it
// with an error logged; moving `latest` is never essential (the API takes
// the latest revision from the vN tags) and only logs a warning.

// transient reports a failure worth trying again: the registry or the
// coordinator failed or could not be reached, or the request was cancelled.
func transient(err error) bool {
	return errors.Is(err, errdef.ErrUnavailable) || errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded)
}

// finishPublish completes a publication whose vN manifest is in the
// registry; if it is not, nothing was done and the draft stays.
func (e *Engine) finishPublish(ctx context.Context, s store.Store, repo store.Repository, k pkgKey, in intent) error {
	d, err := repo.Resolve(ctx, in.Revision)
	if errors.Is(err, errdef.ErrNotFound) || err == nil && d.Digest != in.To.Digest {
		return nil // never pushed (or not ours): roll back, which is nothing
	}
	if err != nil {
		return err
	}
	// Essential: the proposed revision's manifest goes, so that its
	// workspace is one revision. The publication stands either way.
	if d, err := repo.Resolve(ctx, in.Tag); err == nil && d.Digest == in.From {
		if err := deleteManifest(ctx, repo, d); err != nil && !errors.Is(err, errdef.ErrNotFound) {
			if transient(err) {
				return err
			}
			e.log.Error("an interrupted publication stands, but the proposed revision's manifest cannot be removed; it stays in the registry, hidden behind the published revision of its workspace",
				"package", k.String(), "tag", in.Tag, "revision", in.Revision, "err", err)
		}
	} else if err != nil && !errors.Is(err, errdef.ErrNotFound) {
		return err
	}
	return e.fixLatest(ctx, s, repo, k)
}

// finishDelete completes the deletion of a published revision whose
// tombstone is in the registry; without it, nothing was done. If the
// registry refuses a remaining step for good, the deletion is rolled back:
// the tombstone goes and the revision stays published.
func (e *Engine) finishDelete(ctx context.Context, s store.Store, repo store.Repository, k pkgKey, in intent) error {
	n, ok := names.ParseRevision(in.Tag)
	if !ok {
		return fmt.Errorf("%w: intent names tag %q", errdef.ErrInvalid, in.Tag)
	}
	tomb, err := repo.Resolve(ctx, names.DeletedTag(n))
	if errors.Is(err, errdef.ErrNotFound) {
		return nil
	} else if err != nil {
		return err
	}
	err = removeDeleted(ctx, repo, in, n)
	if err == nil {
		return e.fixLatest(ctx, s, repo, k)
	}
	if transient(err) {
		return err
	}
	undo := deleteManifest(ctx, repo, tomb)
	switch {
	case undo == nil || errors.Is(undo, errdef.ErrNotFound):
		e.log.Error("an interrupted deletion cannot be finished and was rolled back: the revision stays published (propose its deletion again)",
			"package", k.String(), "tag", in.Tag, "err", err)
	case transient(undo):
		return fmt.Errorf("roll back: remove %s: %w", names.DeletedTag(n), undo)
	default:
		e.log.Error("an interrupted deletion can neither be finished nor rolled back; the package is left as the registry has it",
			"package", k.String(), "tag", in.Tag, "err", err, "rollback", undo)
	}
	return nil
}

// removeDeleted does the essential steps of a deletion after its tombstone:
// the deletion marker and the revision's manifest go.
func removeDeleted(ctx context.Context, repo store.Repository, in intent, n int) error {
	if m, err := repo.Resolve(ctx, names.DeletionTag(n)); err == nil {
		if err := repo.Delete(ctx, m); err != nil && !errors.Is(err, errdef.ErrNotFound) {
			return err
		}
	} else if !errors.Is(err, errdef.ErrNotFound) {
		return err
	}
	if d, err := repo.Resolve(ctx, in.Tag); err == nil && d.Digest == in.From {
		return removeTag(ctx, repo, in.Tag, d)
	} else if err != nil && !errors.Is(err, errdef.ErrNotFound) {
		return err
	}
	return nil
}

// fixLatest settles `latest` after an interrupted write, by the rule of the
// normal path (newestRevision) over the package as the registry has it.
func (e *Engine) fixLatest(ctx context.Context, s store.Store, repo store.Repository, k pkgKey) error {
	tags, err := e.readTags(ctx, s, k)
	var unread error
	p := derive(k, tags, func(d ocispec.Descriptor) (*revMeta, bool) {
		m, err := e.cache.manifest(ctx, repo, d)
		if err != nil && transient(err) {
			unread = err
		}
		return infoOf(m), err == nil
	})
	if err == nil {
		err = unread // a revision not read now could be the newest
	}
	if err != nil {
		if transient(err) {
			return err
		}
		e.log.Warn("latest was not moved: the package's revisions could not be read", "package", k.String(), "err", err)
		return nil
	}
	return e.settleLatest(ctx, repo, k, newestRevision(p.revs, nil))
}

// settleLatest points `latest` at newest, or removes it when no revision is
// left. It is the last step of a publication or a deletion and not an
// essential one (the API takes the latest revision from the vN tags): a
// transient failure is returned (the intent stays, and the next holder of
// the lock tries again), one for good is a warning, and the next
// publication or deletion moves it.
func (e *Engine) settleLatest(ctx context.Context, repo store.Repository, k pkgKey, newest *rev) error {
	err := setLatest(ctx, repo, newest)
	if err == nil || transient(err) {
		return err
	}
	want := "no latest"
	if newest != nil {
		want = newest.tag
	}
	e.log.Warn("latest cannot be moved to the newest revision; the next publication or deletion moves it",
		"package", k.String(), "want", want, "err", err)
	return nil
}

func setLatest(ctx context.Context, repo store.Repository, newest *rev) error {
	cur, err := repo.Resolve(ctx, names.LatestTag)
	if err != nil && !errors.Is(err, errdef.ErrNotFound) {
		return err
	}
	exists := err == nil
	switch {
	case newest != nil && exists && cur.Digest == newest.digest:
		return nil
	case newest != nil:
		return repo.Tag(ctx, newest.descriptor(), names.LatestTag)
	case !exists:
		return nil
	}
	// No revision is left: the tag goes, not the manifest it names (others
	// pointed it there; it may be in use).
	u, ok := repo.(store.Untagger)
	if !ok {
		return fmt.Errorf("%w: this registry cannot delete the tag latest alone", errors.ErrUnsupported)
	}
	if err := u.Untag(ctx, names.LatestTag); err != nil && !errors.Is(err, errdef.ErrNotFound) {
		return err
	}
	return nil
}

// removeTag removes tag from a manifest: the tag alone when other tags still
// name the manifest (and the store can untag), else the whole manifest.
func removeTag(ctx context.Context, repo store.Repository, tag string, d ocispec.Descriptor) error {
	var tags []string
	if err := repo.Tags(ctx, "", func(t []string) error { tags = append(tags, t...); return nil }); err != nil {
		return err
	}
	shared := false
	for _, t := range tags {
		if t == tag || t == names.LatestTag {
			continue
		}
		if o, err := repo.Resolve(ctx, t); err == nil && o.Digest == d.Digest {
			shared = true
			break
		}
	}
	if !shared {
		return deleteManifest(ctx, repo, d)
	}
	if u, ok := repo.(store.Untagger); ok {
		return u.Untag(ctx, tag)
	}
	return fmt.Errorf("%w: other tags name the manifest of %s and this registry cannot delete a tag alone", errdef.ErrForbidden, tag)
}
