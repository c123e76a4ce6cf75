package store

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/url"
	"sync"
	"sync/atomic"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"
)

// Permits is the node's database connection budget, kept by the control
// plane: a worker holds one permit per open connection.
type Permits interface {
	// AcquireConn takes a permit; with wait it queues for one.
	AcquireConn(ctx context.Context, wait bool) error
	ReleaseConn(ctx context.Context) error
}

// PoolParams configures a worker's connection pool.
type PoolParams struct {
	// URL locates the database; User and Password replace its credentials.
	URL      string
	User     string
	Password string
	MaxConns int
	Permits  Permits
	// OnPermitError reports a permit that could not be returned.
	OnPermitError func(error)
	// GrowAfter is how long a request waits for one of the worker's
	// connections to come free before another is opened (default 20ms,
	// about what opening one takes): a burst of short requests takes turns
	// on one connection instead of opening, for a few milliseconds of use,
	// connections that each cost the database tens of milliseconds of CPU.
	GrowAfter time.Duration
	// Trace makes spans of statements and batches run for traced
	// requests (see queryTracer).
	Trace bool
}

// Pool is a worker's database pool. It opens connections as the worker's
// own login role, each under a permit of the node's budget, and after Bind
// acts as the tenant's role in the tenant's schema on every connection.
//
// Every use goes through a gate: a worker with no connection waits in the
// node's queue for one; a worker with connections opens another only when
// a permit is free at once, and otherwise its requests take turns on the
// connections it has. The node's queue therefore holds only tenants with
// no connection at all.
type Pool struct {
	pool      *pgxpool.Pool
	max       int
	tenant    atomic.Pointer[string]
	shed      atomic.Int32
	permits   Permits
	onErr     func(error)
	reserved  atomic.Int32 // permits taken by enter for the next dial
	growAfter time.Duration

	mu    sync.Mutex
	busy  int           // callers inside the pool
	freed chan struct{} // closed and replaced when a caller leaves
}

// OpenPool creates the pool and opens its first connection, so that a
// worker prepared ahead of need is bound without waiting for one.
func OpenPool(ctx context.Context, p PoolParams) (*Pool, error) {
	u, err := url.Parse(p.URL)
	if err != nil {
		return nil, fmt.Errorf("parse database url: %w", err)
	}
	u.User = url.UserPassword(p.User, p.Password)
	pc, err := pgxpool.ParseConfig(u.String())
	if err != nil {
		return nil, fmt.Errorf("parse database url: %w", err)
	}
	pool := &Pool{permits: p.Permits, onErr: p.OnPermitError, max: max(p.MaxConns, 1), freed: make(chan struct{}), growAfter: p.GrowAfter}
	if pool.growAfter == 0 {
		pool.growAfter = 20 * time.Millisecond
	}
	if pool.onErr == nil {
		pool.onErr = func(error) {}
	}
	pc.MaxConns = int32(pool.max)
	pc.MinConns = 0
	// Idle connections are closed by the worker itself (CloseIdle), which
	// knows whether it is bound; a prepared worker keeps its connection.
	pc.MaxConnIdleTime = 0
	pc.HealthCheckPeriod = time.Minute
	cfg := pc.ConnConfig
	// (actAs turns JIT off: it costs tens of milliseconds per query, and
	// the worker's queries are short index lookups that never earn it back.)
	cfg.RuntimeParams["application_name"] = "scimplane-worker"
	if p.Trace {
		cfg.Tracer = queryTracer{}
	}
	// Every connection holds a permit for its whole life: taken before
	// dialling (by enter, or here), returned when the socket closes,
	// whatever closes it.
	dialer := &net.Dialer{KeepAlive: 5 * time.Minute}
	cfg.DialFunc = func(ctx context.Context, network, addr string) (net.Conn, error) {
		if !pool.takeReserved() {
			// The worker's first connection queues for a permit. One that
			// replaces a connection closed while others are open asks
			// without waiting; refused, the caller takes turns on the
			// others (Acquire).
			first := pool.pool == nil || pool.pool.Stat().TotalConns() <= 1
			if err := pool.permits.AcquireConn(ctx, first); err != nil {
				if !first {
					return nil, errNoExtra
				}
				return nil, fmt.Errorf("%w: connection budget: %w", ErrNoConnection, err)
			}
		}
		c, err := dialer.DialContext(ctx, network, addr)
		if err != nil {
			pool.release()
			return nil, err
		}
		return &permitConn{Conn: c, release: pool.release}, nil
	}
	pc.AfterConnect = func(ctx context.Context, c *pgx.Conn) error {
		if t := pool.tenant.Load(); t != nil {
			return actAs(ctx, c, *t)
		}
		return nil
	}
	pgp, err := pgxpool.NewWithConfig(ctx, pc)
	if err != nil {
		return nil, fmt.Errorf("connect: %w", err)
	}
	pool.pool = pgp
	c, err := pool.Acquire(ctx)
	if err != nil {
		pgp.Close()
		return nil, fmt.Errorf("connect: %w", err)
	}
	c.Release()
	return pool, nil
}

// ErrNoConnection means no database connection could be had within the
// caller's deadline.
var ErrNoConnection = errors.New("no database connection")

// errNoExtra is a dial refused because the worker has other connections
// and no permit is free.
var errNoExtra = errors.New("no permit free for another connection")

func (p *Pool) takeReserved() bool {
	for {
		n := p.reserved.Load()
		if n <= 0 {
			return false
		}
		if p.reserved.CompareAndSwap(n, n-1) {
			return true
		}
	}
}

func (p *Pool) release() {
	go func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		if err := p.permits.ReleaseConn(ctx); err != nil {
			p.onErr(err)
		}
	}()
}

// enter waits until the caller may use the pool: a connection of the
// worker's is (or will be) free for it, or, once it has waited growAfter,
// a new one may be opened.
func (p *Pool) enter(ctx context.Context) error {
	var grow <-chan time.Time
	mayGrow := false
	for {
		p.mu.Lock()
		total := int(p.pool.Stat().TotalConns())
		switch {
		case p.busy < total, total == 0 && p.busy == 0:
			// A connection of ours will serve it; or we have none, and the
			// dial queues for the first.
			p.busy++
			p.mu.Unlock()
			return nil
		case total < p.max && p.busy == total && mayGrow:
			// Another connection, if the node has a permit free now.
			if p.permits.AcquireConn(ctx, false) == nil {
				p.reserved.Add(1)
				p.busy++
				p.mu.Unlock()
				return nil
			}
		case total < p.max && p.busy == total && grow == nil:
			t := time.NewTimer(p.growAfter)
			defer t.Stop()
			grow = t.C
		}
		freed := p.freed
		p.mu.Unlock()
		select {
		case <-freed:
		case <-grow:
			mayGrow = true
		case <-ctx.Done():
			return fmt.Errorf("%w: %w", ErrNoConnection, ctx.Err())
		}
	}
}

func (p *Pool) leave() {
	p.mu.Lock()
	p.busy--
	close(p.freed)
	p.freed = make(chan struct{})
	p.mu.Unlock()
	// A permit taken for a dial that did not happen (a connection came
	// free first) goes back.
	if p.takeReserved() {
		p.release()
	}
}

// Acquire takes a connection through the gate; Release it.
func (p *Pool) Acquire(ctx context.Context) (*Conn, error) {
	for {
		if err := p.enter(ctx); err != nil {
			return nil, err
		}
		p.mu.Lock()
		freed := p.freed
		p.mu.Unlock()
		c, err := p.pool.Acquire(ctx)
		if err == nil {
			return &Conn{Conn: c, p: p}, nil
		}
		p.leave()
		if !errors.Is(err, errNoExtra) {
			return nil, err
		}
		// Wait for one of the worker's connections to come free.
		select {
		case <-freed:
		case <-time.After(50 * time.Millisecond):
		case <-ctx.Done():
			return nil, fmt.Errorf("%w: %w", ErrNoConnection, ctx.Err())
		}
	}
}

// Conn is a connection taken through the gate.
type Conn struct {
	*pgxpool.Conn
	p    *Pool
	once sync.Once
}

// Release gives the connection back, or closes it if the control plane
// asked for connections back.
func (c *Conn) Release() {
	c.once.Do(func() {
		if c.p.takeShed() {
			_ = c.Conn.Conn().Close(context.Background())
		}
		c.Conn.Release()
		c.p.leave()
	})
}

func (p *Pool) takeShed() bool {
	for {
		n := p.shed.Load()
		if n <= 0 {
			return false
		}
		if p.shed.CompareAndSwap(n, n-1) {
			return true
		}
	}
}

// Exec runs a statement on a connection of the pool.
func (p *Pool) Exec(ctx context.Context, sql string, args ...any) (pgconn.CommandTag, error) {
	c, err := p.Acquire(ctx)
	if err != nil {
		return pgconn.CommandTag{}, err
	}
	defer c.Release()
	return c.Exec(ctx, sql, args...)
}

// Query runs a query; closing the rows gives the connection back.
func (p *Pool) Query(ctx context.Context, sql string, args ...any) (pgx.Rows, error) {
	c, err := p.Acquire(ctx)
	if err != nil {
		return nil, err
	}
	rows, err := c.Query(ctx, sql, args...)
	if err != nil {
		c.Release()
		return nil, err
	}
	return &connRows{Rows: rows, c: c}, nil
}

// QueryRow runs a query for one row; scanning it gives the connection back.
func (p *Pool) QueryRow(ctx context.Context, sql string, args ...any) pgx.Row {
	c, err := p.Acquire(ctx)
	if err != nil {
		return errRow{err}
	}
	return &connRow{row: c.QueryRow(ctx, sql, args...), c: c}
}

// SendBatch sends a batch; closing the results gives the connection back.
func (p *Pool) SendBatch(ctx context.Context, b *pgx.Batch) pgx.BatchResults {
	c, err := p.Acquire(ctx)
	if err != nil {
		return errBatch{err}
	}
	return &connBatch{BatchResults: c.SendBatch(ctx, b), c: c}
}

type connRows struct {
	pgx.Rows
	c *Conn
}

func (r *connRows) Close() {
	r.Rows.Close()
	r.c.Release()
}

func (r *connRows) Next() bool {
	if r.Rows.Next() {
		return true
	}
	r.Close()
	return false
}

type connRow struct {
	row pgx.Row
	c   *Conn
}

func (r *connRow) Scan(dest ...any) error {
	defer r.c.Release()
	return r.row.Scan(dest...)
}

type errRow struct{ err error }

func (r errRow) Scan(...any) error { return r.err }

type connBatch struct {
	pgx.BatchResults
	c *Conn
}

func (b *connBatch) Close() error {
	defer b.c.Release()
	return b.BatchResults.Close()
}

type errBatch struct{ err error }

func (b errBatch) Exec() (pgconn.CommandTag, error) { return pgconn.CommandTag{}, b.err }
func (b errBatch) Query() (pgx.Rows, error)         { return nil, b.err }
func (b errBatch) QueryRow() pgx.Row                { return errRow(b) }
func (b errBatch) Close() error                     { return b.err }
func (b errBatch) Tx() pgx.Tx                       { return nil }

// permitConn returns its permit once, when closed.
type permitConn struct {
	net.Conn
	once    sync.Once
	release func()
}

func (c *permitConn) Close() error {
	c.once.Do(c.release)
	return c.Conn.Close()
}

// actAs makes the session the tenant's: its role (which owns the schema)
// and its schema as the search path. Session settings are set here, not as
// startup parameters, which a pooler such as PgBouncer refuses or drops.
func actAs(ctx context.Context, c *pgx.Conn, tenant string) error {
	id := pgx.Identifier{tenant}.Sanitize()
	if _, err := c.Exec(ctx, "SET ROLE "+id+"; SET search_path TO "+id+"; SET jit TO off"); err != nil {
		return fmt.Errorf("act as tenant: %w", err)
	}
	return nil
}

// Bind makes every connection, open or future, act as tenant.
func (p *Pool) Bind(ctx context.Context, tenant string) error {
	if !p.tenant.CompareAndSwap(nil, &tenant) {
		return errors.New("pool is already bound")
	}
	// Connections opened before Bind are idle: nothing uses a prepared
	// worker's pool.
	for _, c := range p.pool.AcquireAllIdle(ctx) {
		err := actAs(ctx, c.Conn(), tenant)
		if err != nil {
			_ = c.Conn().Close(ctx)
		}
		c.Release()
		if err != nil {
			return err
		}
	}
	return nil
}

// Shed closes n connections: idle ones now, busy ones when they are given
// back.
func (p *Pool) Shed(ctx context.Context, n int) {
	for _, c := range p.pool.AcquireAllIdle(ctx) {
		if n > 0 {
			_ = c.Conn().Close(ctx)
			n--
		}
		c.Release()
	}
	if n > 0 {
		p.shed.Add(int32(n))
	}
}

// CloseIdle closes every idle connection.
func (p *Pool) CloseIdle(ctx context.Context) {
	for _, c := range p.pool.AcquireAllIdle(ctx) {
		_ = c.Conn().Close(ctx)
		c.Release()
	}
}

// Open is the number of connections open now.
func (p *Pool) Open() int { return int(p.pool.Stat().TotalConns()) }

// PGX is the underlying pool, for what must bypass the gate (migrations,
// which run once at bind).
func (p *Pool) PGX() *pgxpool.Pool { return p.pool }

// Close closes every connection.
func (p *Pool) Close() { p.pool.Close() }
