package store_test

import (
	"context"
	"errors"
	"net/url"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/scimplane/scimplane/tests/pgtest"
	"github.com/scimplane/scimplane/worker/internal/store"
)

// permits is a node budget of free permits; a waiting request is granted
// after a while, as the control plane's would be once it reclaims one.
type permits struct {
	mu      sync.Mutex
	free    int
	held    int
	waited  int
	refused int
}

func (p *permits) AcquireConn(ctx context.Context, wait bool) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	switch {
	case p.free > 0:
		p.free--
	case !wait:
		p.refused++
		return errors.New("no permit free")
	default:
		p.waited++
	}
	p.held++
	return nil
}

func (p *permits) ReleaseConn(context.Context) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.held--
	p.free++
	return nil
}

func (p *permits) state() (held, waited, refused int) {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.held, p.waited, p.refused
}

func openPool(t *testing.T, perms *permits, maxConns int) *store.Pool {
	t.Helper()
	return openPoolGrowing(t, perms, maxConns, 0)
}

func openPoolGrowing(t *testing.T, perms *permits, maxConns int, growAfter time.Duration) *store.Pool {
	t.Helper()
	u, err := url.Parse(pgtest.NewDatabase(t))
	require.NoError(t, err)
	password, _ := u.User.Password()
	user := u.User.Username()
	u.User = nil
	p, err := store.OpenPool(context.Background(), store.PoolParams{URL: u.String(), User: user, Password: password, MaxConns: maxConns, Permits: perms, GrowAfter: growAfter})
	require.NoError(t, err)
	t.Cleanup(p.Close)
	return p
}

func busy(t *testing.T, p *store.Pool, n int) {
	t.Helper()
	var wg sync.WaitGroup
	for range n {
		wg.Go(func() {
			_, err := p.Exec(context.Background(), "SELECT pg_sleep(0.05)")
			require.NoError(t, err)
		})
	}
	wg.Wait()
}

// TestPool_ShortBurstsShareOneConnection: requests that find the worker's
// connection busy wait for it a moment (GrowAfter) before another is
// opened, so bursts of short queries never open connections they would use
// for a few milliseconds (before, every overlap opened one, up to the cap).
func TestPool_ShortBurstsShareOneConnection(t *testing.T) {
	perms := &permits{free: 10}
	p := openPoolGrowing(t, perms, 4, time.Second)
	for range 20 {
		var wg sync.WaitGroup
		for range 4 {
			wg.Go(func() {
				_, err := p.Exec(context.Background(), "SELECT 1")
				require.NoError(t, err)
			})
		}
		wg.Wait()
	}
	require.Equal(t, 1, p.Open())
	// A request that waits longer than GrowAfter gets another connection.
	var wg sync.WaitGroup
	for range 2 {
		wg.Go(func() {
			_, err := p.Exec(context.Background(), "SELECT pg_sleep(1.5)")
			require.NoError(t, err)
		})
	}
	wg.Wait()
	require.Equal(t, 2, p.Open())
}

// TestPool_ExtraConnectionsOnlyWhenFree: a busy worker with a connection
// never queues for another: with none free its requests share the one it
// has; with some free it takes them, up to its cap.
func TestPool_ExtraConnectionsOnlyWhenFree(t *testing.T) {
	perms := &permits{free: 1}
	p := openPool(t, perms, 4)
	busy(t, p, 8)
	held, waited, refused := perms.state()
	require.Equal(t, 1, held)
	require.Equal(t, 1, p.Open())
	require.Zero(t, waited, "a worker holding a connection never waits for another")
	require.Positive(t, refused)

	perms.mu.Lock()
	perms.free = 10
	perms.mu.Unlock()
	require.Eventually(t, func() bool { busy(t, p, 8); return p.Open() == 4 }, 10*time.Second, time.Millisecond)
	held, _, _ = perms.state()
	require.Equal(t, 4, held, "up to the worker's cap while permits are free")
	require.Equal(t, 4, p.Open())
}

// TestPool_ShedReturnsPermitsAndTheNextRequestQueuesForOne: connections
// asked back are closed (idle ones at once) and their permits returned; a
// worker left with none queues for its next connection.
func TestPool_ShedReturnsPermitsAndTheNextRequestQueuesForOne(t *testing.T) {
	perms := &permits{free: 10}
	p := openPool(t, perms, 4)
	// The pool grows a connection at a time as requests overlap.
	require.Eventually(t, func() bool { busy(t, p, 8); return p.Open() == 4 }, 10*time.Second, time.Millisecond)
	p.Shed(context.Background(), 4)
	// (The pool forgets a closed connection a moment after closing it.)
	require.Eventually(t, func() bool { h, _, _ := perms.state(); return h == 0 && p.Open() == 0 }, 5*time.Second, 10*time.Millisecond)

	perms.mu.Lock()
	perms.free = 0
	perms.mu.Unlock()
	busy(t, p, 3)
	held, waited, _ := perms.state()
	require.Equal(t, 1, held)
	require.Equal(t, 1, waited, "one request queued for the first connection; the others took turns on it")
}
