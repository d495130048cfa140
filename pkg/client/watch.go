package client

import (
	"context"
	"sync"

	"k8s.io/apimachinery/pkg/watch"
)

// quietWatch passes a watch's events on, except the ERROR event client-go
// makes of a stream its caller ended (Stop, or ctx done): the caller knows,
// so the channel just closes.
type quietWatch struct {
	w    watch.Interface
	ctx  context.Context
	out  chan watch.Event
	stop chan struct{}
	once sync.Once
}

func newQuietWatch(ctx context.Context, w watch.Interface) *quietWatch {
	q := &quietWatch{w: w, ctx: ctx, out: make(chan watch.Event), stop: make(chan struct{})}
	go q.run()
	return q
}

func (q *quietWatch) run() {
	defer close(q.out)
	for ev := range q.w.ResultChan() {
		if ev.Type == watch.Error && q.ended() {
			continue
		}
		select {
		case q.out <- ev:
		case <-q.stop:
			// Drain, so the underlying watcher is never blocked on us.
		}
	}
}

func (q *quietWatch) ended() bool {
	select {
	case <-q.stop:
		return true
	default:
		return q.ctx.Err() != nil
	}
}

// Stop implements watch.Interface.
func (q *quietWatch) Stop() {
	q.once.Do(func() { close(q.stop) })
	q.w.Stop()
}

// ResultChan implements watch.Interface.
func (q *quietWatch) ResultChan() <-chan watch.Event { return q.out }
