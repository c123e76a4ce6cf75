// Package logctx carries log attributes (request id, tenant id) on a context
// and adds them to every record logged with that context, with the trace
// and span ids of the span on it, if any.
package logctx

import (
	"context"
	"log/slog"

	"github.com/scimplane/scimplane/plugins/tracing"
)

type key struct{}

// With returns ctx carrying attrs in addition to those already on it.
func With(ctx context.Context, attrs ...slog.Attr) context.Context {
	prev, _ := ctx.Value(key{}).([]slog.Attr)
	all := make([]slog.Attr, 0, len(prev)+len(attrs))
	return context.WithValue(ctx, key{}, append(append(all, prev...), attrs...))
}

// Handler adds the context's attributes to each record.
type Handler struct {
	slog.Handler
}

// NewHandler wraps h.
func NewHandler(h slog.Handler) *Handler { return &Handler{Handler: h} }

// Handle adds the context's attributes the record does not already carry,
// and trace_id and span_id when a span is active.
func (h *Handler) Handle(ctx context.Context, r slog.Record) error {
	tracing.AddLogIDs(ctx, &r)
	attrs, _ := ctx.Value(key{}).([]slog.Attr)
	for _, a := range attrs {
		if !hasAttr(r, a.Key) {
			r.AddAttrs(a)
		}
	}
	return h.Handler.Handle(ctx, r)
}

func hasAttr(r slog.Record, key string) bool {
	found := false
	r.Attrs(func(a slog.Attr) bool {
		found = a.Key == key
		return !found
	})
	return found
}

func (h *Handler) WithAttrs(attrs []slog.Attr) slog.Handler {
	return &Handler{Handler: h.Handler.WithAttrs(attrs)}
}

func (h *Handler) WithGroup(name string) slog.Handler {
	return &Handler{Handler: h.Handler.WithGroup(name)}
}
