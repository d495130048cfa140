package engine

import (
	"context"
	"errors"
	"fmt"

	"pkgserver.dev/pkgserver/pkg/errdef"
	"pkgserver.dev/pkgserver/pkg/store"
)

// seeBehind brings the index up to what others pushed to remote package k
// behind pkgserver's back, before a new name is taken in it: a revision
// pushed there claims its name by its tag or its workspace annotation, and
// a published revision's name wins over a draft's. One tag listing, the
// same count of requests as resolving the one ws.* tag; the package is read
// again only when its tags differ from the index's. The caller holds k's
// lock. A push that lands after the listing is not seen (nothing in the
// distribution API can refuse it), as docs/operations.md says.
func (e *Engine) seeBehind(ctx context.Context, t *txn, s store.Store, repo store.Repository, k pkgKey) error {
	var tags []string
	err := repo.Tags(ctx, "", func(ts []string) error { tags = append(tags, ts...); return nil })
	if err != nil && !errors.Is(err, errdef.ErrNotFound) {
		return fmt.Errorf("list tags of %s: %w", k.path, err)
	}
	known := e.idx.tagsOf(k)
	same := !e.idx.incomplete(k)
	n := 0
	for _, tag := range tags {
		if !tracked(tag) {
			continue
		}
		n++
		if _, ok := known[tag]; !ok {
			same = false
		}
	}
	if same && n == len(known) {
		return nil
	}
	return e.syncLocked(ctx, t.main, s, k)
}
