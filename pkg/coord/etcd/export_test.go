package etcd

import "context"

// Abandon stops renewing the lease without revoking it, as a replica killed
// with -9 does; the coordinator is unusable afterwards.
func (c *Coordinator) Abandon() {
	c.mu.Lock()
	if c.session != nil {
		c.session.Orphan()
	}
	c.mu.Unlock()
	c.c.Close()
}

// Compact drops etcd's history before rev.
func (c *Coordinator) Compact(ctx context.Context, rev uint64) error {
	_, err := c.c.Compact(ctx, int64(rev))
	return err
}
