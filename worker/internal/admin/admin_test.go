package admin

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/scimplane/scimplane/plugins/scimworker"
	"github.com/scimplane/scimplane/worker/internal/store"
)

func TestPage(t *testing.T) {
	for _, tt := range []struct{ limit, max, want int }{{0, 500, 50}, {-3, 500, 50}, {20, 500, 20}, {501, 500, 500}, {2000, 1000, 1000}} {
		require.Equal(t, tt.want, page(tt.limit, tt.max), "%+v", tt)
	}
}

func TestServer_Refusal(t *testing.T) {
	a := New(nil, slog.New(slog.NewTextHandler(io.Discard, nil)), nil)
	tests := []struct {
		name string
		err  error
		want *scimworker.Error
	}{
		{name: "a refusal passes", err: fmt.Errorf("wrapped: %w", scimworker.NotFound("group g not found")), want: scimworker.NotFound("group g not found")},
		{name: "a bad argument is 400", err: fmt.Errorf("%w: bad cursor", store.ErrBadArgument), want: scimworker.BadRequest("bad argument: bad cursor")},
		{name: "anything else is 500, its cause kept out", err: errors.New("connection reset by peer"), want: &scimworker.Error{Status: 500, Message: "internal error"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			require.Equal(t, tt.want, a.refusal(context.Background(), &Tenant{ID: "tnt_x"}, "op", tt.err))
		})
	}
}
