package store

import (
	"context"
	"strings"

	"github.com/jackc/pgx/v5"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/trace"

	"github.com/scimplane/scimplane/plugins/tracing"
)

// queryTracer makes a span of each statement, and one of each batch (a
// pipelined transaction's round trip) with an event per statement in it,
// for requests whose context carries a recording span. Statements carry
// parameters, never values, so their text is safe to export. It is only
// installed when tracing is on (PoolParams.Trace).
type queryTracer struct{}

var (
	_ pgx.QueryTracer = queryTracer{}
	_ pgx.BatchTracer = queryTracer{}
)

const (
	attrDBSystem    = attribute.Key("db.system.name")
	attrDBQuery     = attribute.Key("db.query.text")
	attrDBBatchSize = attribute.Key("db.operation.batch.size")
	attrDBRows      = attribute.Key("db.response.rows_affected")
)

func (queryTracer) TraceQueryStart(ctx context.Context, _ *pgx.Conn, d pgx.TraceQueryStartData) context.Context {
	ctx, span := tracing.Start(ctx, "pg "+verb(d.SQL))
	if span.IsRecording() {
		span.SetAttributes(attrDBSystem.String("postgresql"), attrDBQuery.String(d.SQL))
	}
	return ctx
}

func (queryTracer) TraceQueryEnd(ctx context.Context, _ *pgx.Conn, d pgx.TraceQueryEndData) {
	span := trace.SpanFromContext(ctx)
	if !span.IsRecording() {
		return
	}
	if d.Err != nil {
		span.RecordError(d.Err)
		span.SetStatus(codes.Error, "statement failed")
	} else {
		span.SetAttributes(attrDBRows.Int64(d.CommandTag.RowsAffected()))
	}
	span.End()
}

func (queryTracer) TraceBatchStart(ctx context.Context, _ *pgx.Conn, d pgx.TraceBatchStartData) context.Context {
	ctx, span := tracing.Start(ctx, "pg batch")
	if span.IsRecording() {
		span.SetAttributes(attrDBSystem.String("postgresql"), attrDBBatchSize.Int(d.Batch.Len()))
	}
	return ctx
}

func (queryTracer) TraceBatchQuery(ctx context.Context, _ *pgx.Conn, d pgx.TraceBatchQueryData) {
	span := trace.SpanFromContext(ctx)
	if !span.IsRecording() {
		return
	}
	attrs := []attribute.KeyValue{attrDBQuery.String(d.SQL), attrDBRows.Int64(d.CommandTag.RowsAffected())}
	if d.Err != nil {
		attrs = append(attrs, attribute.String("error", d.Err.Error()))
	}
	span.AddEvent("pg "+verb(d.SQL), trace.WithAttributes(attrs...))
}

func (queryTracer) TraceBatchEnd(ctx context.Context, _ *pgx.Conn, d pgx.TraceBatchEndData) {
	span := trace.SpanFromContext(ctx)
	if !span.IsRecording() {
		return
	}
	if d.Err != nil {
		span.RecordError(d.Err)
		span.SetStatus(codes.Error, "batch failed")
	}
	span.End()
}

// verb is a statement's first keyword, for the span's name. Leading
// line comments are skipped: sqlc's statements start with their name
// ("-- name: GetUser :one").
func verb(sql string) string {
	sql = strings.TrimLeft(sql, " \t\r\n(")
	for strings.HasPrefix(sql, "--") {
		_, sql, _ = strings.Cut(sql, "\n")
		sql = strings.TrimLeft(sql, " \t\r\n(")
	}
	if i := strings.IndexAny(sql, " \t\r\n("); i > 0 {
		sql = sql[:i]
	}
	return strings.ToUpper(sql)
}
