package store

import (
	"context"
	"sync"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/scimplane/scimplane/worker/internal/provision"
)

// logBatcher writes log rows of concurrent exchanges together. The first
// writer to find no write in flight writes everything pending; writers
// that arrive meanwhile wait, and when it is done one of them writes
// everything pending then, and so on. Nobody waits for more than the write
// in flight and its own, and no goroutine runs between exchanges.
type logBatcher struct {
	pool *Pool

	mu       sync.Mutex
	pending  []*logWrite
	flushing bool
}

type logWrite struct {
	e *provision.LogEntry
	// done receives the write's result, or errLead: write the batch.
	done chan error
}

// logWriteTimeout bounds one batch write.
const logWriteTimeout = 10 * time.Second

func (b *logBatcher) write(ctx context.Context, e *provision.LogEntry) error {
	w := &logWrite{e: e, done: make(chan error, 1)}
	b.mu.Lock()
	b.pending = append(b.pending, w)
	lead := !b.flushing
	b.flushing = true
	b.mu.Unlock()
	if !lead {
		if err := <-w.done; err != errLead {
			return err
		}
	}
	b.flush(context.WithoutCancel(ctx))
	return <-w.done
}

// errLead tells a waiting writer to write the pending batch.
var errLead = &leadSignal{}

type leadSignal struct{}

func (*leadSignal) Error() string { return "write the pending log rows" }

func (b *logBatcher) flush(ctx context.Context) {
	b.mu.Lock()
	batch := b.pending
	b.pending = nil
	b.mu.Unlock()

	ctx, cancel := context.WithTimeout(ctx, logWriteTimeout)
	pb := &pgx.Batch{}
	pb.Queue(`BEGIN`)
	pb.Queue(`SET LOCAL synchronous_commit TO OFF`)
	for _, w := range batch {
		pb.Queue(insertLog, logArgs(w.e)...)
	}
	pb.Queue(`COMMIT`)
	err := mapErr(b.pool.SendBatch(ctx, pb).Close(), "write scim log")
	cancel()
	for _, w := range batch {
		w.done <- err
	}

	b.mu.Lock()
	defer b.mu.Unlock()
	if len(b.pending) == 0 {
		b.flushing = false
		return
	}
	b.pending[0].done <- errLead
}
