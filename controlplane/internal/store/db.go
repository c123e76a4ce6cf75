package store

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"strings"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/scimplane/scimplane/controlplane/internal/tenant"
)

// db is the pool with every error passed through unavailable, so that
// callers can tell "the database is down" (retry later) from a failure.
type db struct{ pool *pgxpool.Pool }

func (d db) Exec(ctx context.Context, sql string, args ...any) (pgconn.CommandTag, error) {
	tag, err := d.pool.Exec(ctx, sql, args...)
	return tag, unavailable(err)
}

func (d db) Query(ctx context.Context, sql string, args ...any) (pgx.Rows, error) {
	r, err := d.pool.Query(ctx, sql, args...)
	return rows{r}, unavailable(err)
}

func (d db) QueryRow(ctx context.Context, sql string, args ...any) pgx.Row {
	return row{d.pool.QueryRow(ctx, sql, args...)}
}

func (d db) CopyFrom(ctx context.Context, table pgx.Identifier, cols []string, src pgx.CopyFromSource) (int64, error) {
	n, err := d.pool.CopyFrom(ctx, table, cols, src)
	return n, unavailable(err)
}

func (d db) Begin(ctx context.Context) (pgx.Tx, error) {
	tx, err := d.pool.Begin(ctx)
	return tx, unavailable(err)
}

func (d db) Ping(ctx context.Context) error { return unavailable(d.pool.Ping(ctx)) }

type rows struct{ pgx.Rows }

func (r rows) Err() error { return unavailable(r.Rows.Err()) }

type row struct{ pgx.Row }

func (r row) Scan(dest ...any) error { return unavailable(r.Row.Scan(dest...)) }

// unavailable wraps err in tenant.ErrUnavailable when it means the
// database could not be reached or did not answer in time: a failed
// connect, a broken connection, a server shutting down or out of
// connections, or a deadline passed while waiting for it. SQL errors
// (constraint, syntax, data) pass unchanged.
func unavailable(err error) error {
	if err == nil || errors.Is(err, tenant.ErrUnavailable) {
		return err
	}
	var (
		pgErr   *pgconn.PgError
		connErr *pgconn.ConnectError
		netErr  net.Error
	)
	switch {
	case errors.As(err, &pgErr):
		// Class 08: connection exception; 53: insufficient resources (too
		// many connections, out of memory or disk); 57P01-57P03: shutting
		// down, crashed, starting up.
		c := pgErr.Code
		if !strings.HasPrefix(c, "08") && !strings.HasPrefix(c, "53") && c != "57P01" && c != "57P02" && c != "57P03" {
			return err
		}
	case errors.As(err, &connErr), errors.As(err, &netErr),
		errors.Is(err, io.EOF), errors.Is(err, io.ErrUnexpectedEOF),
		errors.Is(err, context.DeadlineExceeded), pgconn.Timeout(err),
		pgconn.SafeToRetry(err): // nothing reached the server, e.g. "conn closed"
	default:
		return err
	}
	return fmt.Errorf("%w: %w", tenant.ErrUnavailable, err)
}

// sendBatch runs a batch and returns its first error.
func (d db) sendBatch(ctx context.Context, b *pgx.Batch) error {
	return unavailable(d.pool.SendBatch(ctx, b).Close())
}
