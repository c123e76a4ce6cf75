package store

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"syscall"
	"testing"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/stretchr/testify/require"

	"github.com/scimplane/scimplane/controlplane/internal/tenant"
)

func TestUnavailable_ClassifiesOutagesOnly(t *testing.T) {
	refused := &net.OpError{Op: "dial", Net: "tcp", Err: syscall.ECONNREFUSED}
	tests := []struct {
		name string
		err  error
		want bool
	}{
		{"connection refused", fmt.Errorf("connect: %w", refused), true},
		{"broken connection", fmt.Errorf("query: %w", io.ErrUnexpectedEOF), true},
		{"server shutting down", &pgconn.PgError{Code: "57P01"}, true},
		{"too many connections", &pgconn.PgError{Code: "53300"}, true},
		{"connection failure", &pgconn.PgError{Code: "08006"}, true},
		{"deadline", fmt.Errorf("acquire: %w", context.DeadlineExceeded), true},
		{"unique violation", &pgconn.PgError{Code: "23505"}, false},
		{"invalid byte sequence", &pgconn.PgError{Code: "22021"}, false},
		{"no rows", pgx.ErrNoRows, false},
		{"not found", tenant.ErrNotFound, false},
		{"canceled by the caller", context.Canceled, false},
		{"nil", nil, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := unavailable(tt.err)
			require.Equal(t, tt.want, errors.Is(got, tenant.ErrUnavailable), "%v", got)
			if tt.err != nil {
				require.ErrorIs(t, got, tt.err, "the cause is kept")
			}
		})
	}
}
