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
	"github.com/jackc/pgx/v5/pgxpool"
)

// Permits is the node's database connection budget, kept by the control
// plane: a worker holds one permit per open connection.
type Permits interface {
	AcquireConn(ctx context.Context) error
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
}

// Pool is a worker's database pool. It opens connections as the worker's
// own login role, each under a permit of the node's budget, and after Bind
// acts as the tenant's role in the tenant's schema on every connection.
type Pool struct {
	*pgxpool.Pool
	tenant  atomic.Pointer[string]
	shed    atomic.Int32
	permits Permits
	onErr   func(error)
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
	pool := &Pool{permits: p.Permits, onErr: p.OnPermitError}
	if pool.onErr == nil {
		pool.onErr = func(error) {}
	}
	pc.MaxConns = int32(max(p.MaxConns, 1))
	pc.MinConns = 0
	// Idle connections are closed by the worker itself (CloseIdle), which
	// knows whether it is bound; a prepared worker keeps its connection.
	pc.MaxConnIdleTime = 0
	pc.HealthCheckPeriod = time.Minute
	cfg := pc.ConnConfig
	// (actAs turns JIT off: it costs tens of milliseconds per query, and
	// the worker's queries are short index lookups that never earn it back.)
	cfg.RuntimeParams["application_name"] = "scimplane-worker"
	// Every connection holds a permit for its whole life: taken before
	// dialling, returned when the socket closes, whatever closes it.
	dialer := &net.Dialer{KeepAlive: 5 * time.Minute}
	cfg.DialFunc = func(ctx context.Context, network, addr string) (net.Conn, error) {
		if err := pool.permits.AcquireConn(ctx); err != nil {
			return nil, fmt.Errorf("%w: connection budget: %w", ErrNoConnection, err)
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
	// A connection the control plane asked back while it was busy is closed
	// the next time it is taken from the pool. (An AfterRelease hook would
	// cost a goroutine per release.)
	pc.PrepareConn = func(context.Context, *pgx.Conn) (bool, error) {
		for {
			n := pool.shed.Load()
			if n <= 0 {
				return true, nil
			}
			if pool.shed.CompareAndSwap(n, n-1) {
				return false, nil
			}
		}
	}
	pgp, err := pgxpool.NewWithConfig(ctx, pc)
	if err != nil {
		return nil, fmt.Errorf("connect: %w", err)
	}
	pool.Pool = pgp
	c, err := pgp.Acquire(ctx)
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

func (p *Pool) release() {
	go func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		if err := p.permits.ReleaseConn(ctx); err != nil {
			p.onErr(err)
		}
	}()
}

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
	for _, c := range p.AcquireAllIdle(ctx) {
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

// Shed closes n connections: idle ones now, busy ones the next time they
// are taken from the pool.
func (p *Pool) Shed(ctx context.Context, n int) {
	for _, c := range p.AcquireAllIdle(ctx) {
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
	for _, c := range p.AcquireAllIdle(ctx) {
		_ = c.Conn().Close(ctx)
		c.Release()
	}
}

// Open is the number of connections open now.
func (p *Pool) Open() int { return int(p.Stat().TotalConns()) }
