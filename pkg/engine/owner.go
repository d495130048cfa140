package engine

import (
	"context"
)

// OwnerOf names the registered repository of the embedded store whose prefix
// holds the OCI repository path, for the /v2/ API's authorization; ok is false
// outside every registered prefix.
func (e *Engine) OwnerOf(ctx context.Context, path string) (namespace, repository string, ok bool) {
	if e.wait(ctx) != nil {
		return "", "", false
	}
	rs, ok := e.idx.owner(embeddedStore, path)
	if !ok {
		return "", "", false
	}
	return rs.key.namespace, rs.key.name, true
}

// owner returns the first registered repository (in name order) of store
// whose prefix holds path.
func (x *index) owner(store, path string) (*repoState, bool) {
	x.mu.RLock()
	defer x.mu.RUnlock()
	k := pkgKey{store: store, path: path}
	for _, rs := range x.sortedRepos() {
		if rs.covers(k) {
			return rs, true
		}
	}
	return nil, false
}
