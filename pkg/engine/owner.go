package engine

import (
	"context"
	"strings"
)

// OwnerOf names the registered repository of the embedded store whose prefix
// holds the OCI repository path, for the /v2/ API's authorization; ok is false
// outside every registered prefix.
func (e *Engine) OwnerOf(ctx context.Context, path string) (namespace, repository string, ok bool) {
	if err := e.loadRepositories(ctx); err != nil {
		return "", "", false
	}
	e.mu.RLock()
	defer e.mu.RUnlock()
	for k, rs := range e.repos {
		if rs.embedded && strings.HasPrefix(path, rs.prefix+"/") {
			return k.namespace, k.name, true
		}
	}
	return "", "", false
}
