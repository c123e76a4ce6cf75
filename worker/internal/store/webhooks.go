package store

import (
	"context"
	"fmt"
	"strconv"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/scimplane/scimplane/plugins/scimworker"
	"github.com/scimplane/scimplane/worker/internal/provision"
	"github.com/scimplane/scimplane/worker/internal/store/dbsqlc"
	"github.com/scimplane/scimplane/worker/internal/webhook"
)

var _ webhook.Store = (*Store)(nil)

// PendingChanges reads committed changes after the webhook cursor, with
// the change feed's visibility rule: only transactions older than every
// one in flight, so that a change committing late is not skipped. When the
// batch is not full, it also says whether committed changes after it are
// held back by that rule.
func (s *Store) PendingChanges(ctx context.Context, limit int) ([]webhook.Change, webhook.Cursor, bool, error) {
	c, err := s.q.GetWebhookCursor(ctx)
	if err != nil {
		return nil, webhook.Cursor{}, false, mapErr(err, "read webhook cursor")
	}
	cur := webhook.Cursor{Xid: c.Xid, Seq: c.Seq}
	rows, err := s.q.ListPendingChanges(ctx, dbsqlc.ListPendingChangesParams{AfterXid: cur.Xid, AfterSeq: cur.Seq, MaxRows: int32(limit)})
	if err != nil {
		return nil, cur, false, mapErr(err, "read changes for webhooks")
	}
	out := make([]webhook.Change, len(rows))
	for i, r := range rows {
		out[i] = webhook.Change(r)
	}
	if len(out) == limit {
		return out, cur, false, nil
	}
	after := cur
	if len(out) > 0 {
		after = webhook.Cursor{Xid: out[len(out)-1].Xid, Seq: out[len(out)-1].Seq}
	}
	hidden, err := s.q.ChangesAfter(ctx, dbsqlc.ChangesAfterParams{AfterXid: after.Xid, AfterSeq: after.Seq})
	return out, cur, hidden, mapErr(err, "read changes for webhooks")
}

// Enqueue fans events out to the subscribed webhooks and moves the cursor
// in one statement, which inserts nothing if the cursor moved meanwhile.
// Written by hand: sqlc does not know unnest of several arrays.
func (s *Store) Enqueue(ctx context.Context, from, to webhook.Cursor, events []webhook.Event) error {
	types := make([]string, len(events))
	keys := make([]string, len(events))
	bodies := make([][]byte, len(events))
	ats := make([]time.Time, len(events))
	for i, e := range events {
		types[i], keys[i], bodies[i], ats[i] = e.Type, e.OrderKey, e.Body, e.At
	}
	_, err := s.pool.Exec(ctx, `WITH moved AS (
			UPDATE webhook_cursor SET xid = $5::text::xid8, seq = $6 WHERE xid = $7::text::xid8 AND seq = $8 RETURNING 1)
		INSERT INTO webhook_deliveries (webhook_id, message_id, type, order_key, payload, next_attempt_at)
		SELECT w.id, 'msg_' || replace(gen_random_uuid()::text, '-', ''), e.type, e.key, e.body, now()
		FROM unnest($1::text[], $2::text[], $3::bytea[], $4::timestamptz[]) WITH ORDINALITY AS e(type, key, body, at, n)
		JOIN webhooks w ON w.enabled AND w.created_at <= e.at AND (cardinality(w.events) = 0 OR e.type = ANY(w.events))
		WHERE EXISTS (SELECT 1 FROM moved)
		ORDER BY e.n, w.id`, types, keys, bodies, ats, to.Xid, to.Seq, from.Xid, from.Seq)
	return mapErr(err, "queue webhook deliveries")
}

// Claim leases due deliveries for one attempt each.
func (s *Store) Claim(ctx context.Context, now time.Time, busy []string, perWebhook int, lease time.Duration) ([]webhook.Claim, error) {
	rows, err := s.q.ClaimDeliveries(ctx, dbsqlc.ClaimDeliveriesParams{Now: now, Busy: busy, PerWebhook: int64(perWebhook), Lease: lease})
	if err != nil {
		return nil, mapErr(err, "claim webhook deliveries")
	}
	out := make([]webhook.Claim, len(rows))
	for i, r := range rows {
		out[i] = webhook.Claim{ID: r.ID, WebhookID: r.WebhookID, URL: r.Url, Generation: r.SecretGeneration, MessageID: r.MessageID,
			Payload: r.Payload, Attempts: int(r.Attempts)}
	}
	return out, nil
}

// Finish records an attempt's outcome, and disables the webhook when the
// delivery failed for good; the batch is one implicit transaction.
func (s *Store) Finish(ctx context.Context, o *webhook.Outcome) error {
	status := scimworker.DeliveryPending
	var next, delivered *time.Time
	switch {
	case o.Delivered:
		status, delivered = scimworker.DeliverySucceeded, &o.At
	case o.NextAttempt.IsZero():
		status = scimworker.DeliveryFailed
	default:
		next = &o.NextAttempt
	}
	b := &pgx.Batch{}
	b.Queue(dbsqlc.FinishDelivery,
		o.ID, status, next, delivered, nullableInt(o.Status), o.Latency.Milliseconds(), nullable(o.Error), nullable(o.Excerpt))
	if o.Disable != "" {
		b.Queue(dbsqlc.DisableWebhook, o.WebhookID, o.Disable)
	}
	return mapErr(s.pool.SendBatch(ctx, b).Close(), "record webhook delivery")
}

func nullableInt(n int) *int {
	if n == 0 {
		return nil
	}
	return &n
}

// NextDue is when the next delivery is due, among webhooks not busy and
// among all.
func (s *Store) NextDue(ctx context.Context, busy []string) (local, any time.Time, err error) {
	r, err := s.q.NextDue(ctx, busy)
	if err != nil {
		return time.Time{}, time.Time{}, mapErr(err, "next webhook delivery")
	}
	if l := timeOrNil(r.Local); l != nil {
		local = *l
	}
	if a := timeOrNil(r.Any); a != nil {
		any = *a
	}
	return local, any, nil
}

// webhookFrom converts a webhook row (every query of one reads the same
// columns) and returns its secret generation.
func webhookFrom(r dbsqlc.GetWebhookRow) (*scimworker.Webhook, int64) {
	return &scimworker.Webhook{ID: r.ID, URL: r.Url, Events: r.Events, Enabled: r.Enabled, DisabledReason: r.DisabledReason,
		CreatedAt: r.CreatedAt, UpdatedAt: r.UpdatedAt, Pending: r.Pending}, r.SecretGeneration
}

// HasWebhooks reports whether the tenant has a webhook.
func (s *Store) HasWebhooks(ctx context.Context) (bool, error) {
	has, err := s.q.HasWebhooks(ctx)
	return has, mapErr(err, "has webhooks")
}

// InsertWebhook stores a new webhook and returns it with its secret
// generation. The tenant's first webhook moves the cursor to the end of
// the feed: the deliverer does not read changes while there is no webhook,
// and nothing before the first webhook is sent.
func (s *Store) InsertWebhook(ctx context.Context, id, url string, events []string) (*scimworker.Webhook, int64, error) {
	// One round trip: the generated statements, queued in one batch.
	b := &pgx.Batch{}
	b.Queue(dbsqlc.MoveCursorToEnd)
	var w *scimworker.Webhook
	var gen int64
	b.Queue(dbsqlc.InsertWebhook, id, url, events).QueryRow(func(r pgx.Row) error {
		row, err := scanWebhookRow(r)
		w, gen = webhookFrom(row)
		return err
	})
	if err := s.pool.SendBatch(ctx, b).Close(); err != nil {
		return nil, 0, mapErr(err, "insert webhook")
	}
	return w, gen, nil
}

// Webhooks lists the tenant's webhooks, oldest first.
func (s *Store) Webhooks(ctx context.Context) ([]scimworker.Webhook, error) {
	rows, err := s.q.ListWebhooks(ctx)
	if err != nil {
		return nil, mapErr(err, "list webhooks")
	}
	out := make([]scimworker.Webhook, len(rows))
	for i, r := range rows {
		w, _ := webhookFrom(dbsqlc.GetWebhookRow(r))
		out[i] = *w
	}
	return out, nil
}

// Webhook is one webhook and its secret generation; provision.ErrNotFound
// if there is none.
func (s *Store) Webhook(ctx context.Context, id string) (*scimworker.Webhook, int64, error) {
	r, err := s.q.GetWebhook(ctx, id)
	if err != nil {
		return nil, 0, mapErr(err, "get webhook")
	}
	w, gen := webhookFrom(r)
	return w, gen, nil
}

// UpdateWebhook sets the fields given. Enabling a webhook clears its
// disabled reason and makes its pending deliveries due now, with their
// attempts counted afresh.
func (s *Store) UpdateWebhook(ctx context.Context, id string, url *string, events *[]string, enabled *bool) (*scimworker.Webhook, error) {
	// One round trip: the generated statements, queued in one batch.
	b := &pgx.Batch{}
	if enabled != nil && *enabled {
		b.Queue(dbsqlc.RearmDeliveries, id)
	}
	w := &scimworker.Webhook{}
	b.Queue(dbsqlc.UpdateWebhook, url, events, enabled, id).QueryRow(func(r pgx.Row) error {
		row, err := scanWebhookRow(r)
		w, _ = webhookFrom(row)
		return err
	})
	if err := s.pool.SendBatch(ctx, b).Close(); err != nil {
		return nil, mapErr(err, "update webhook")
	}
	return w, nil
}

// PruneDeliveries deletes the deliveries that ended before before.
func (s *Store) PruneDeliveries(ctx context.Context, before time.Time) error {
	return mapErr(s.q.PruneDeliveries(ctx, before), "prune webhook deliveries")
}

// DeleteWebhook deletes a webhook and its deliveries.
func (s *Store) DeleteWebhook(ctx context.Context, id string) error {
	n, err := s.q.DeleteWebhook(ctx, id)
	if err == nil && n == 0 {
		return provision.ErrNotFound
	}
	return mapErr(err, "delete webhook")
}

// RotateWebhookSecret bumps a webhook's secret generation.
func (s *Store) RotateWebhookSecret(ctx context.Context, id string) (*scimworker.Webhook, int64, error) {
	r, err := s.q.RotateWebhookSecret(ctx, id)
	if err != nil {
		return nil, 0, mapErr(err, "rotate webhook secret")
	}
	w, gen := webhookFrom(dbsqlc.GetWebhookRow(r))
	return w, gen, nil
}

// deliveryFrom converts a delivery row (every query of one reads the
// same columns). Only a pending delivery has a next attempt.
func deliveryFrom(r dbsqlc.ListDeliveriesRow) *scimworker.Delivery {
	d := &scimworker.Delivery{ID: r.ID, WebhookID: r.WebhookID, MessageID: r.MessageID, Type: r.Type, Status: r.Status,
		Attempts: int(r.Attempts), CreatedAt: r.CreatedAt, LastStatus: int(r.LastStatus), LastLatencyMS: r.LastLatencyMs,
		LastError: r.LastError, LastAttemptAt: r.LastAttemptAt, ResponseExcerpt: r.ResponseExcerpt, DeliveredAt: r.DeliveredAt,
		Payload: r.Payload}
	if r.Status == scimworker.DeliveryPending {
		d.NextAttemptAt = r.NextAttemptAt
	}
	return d
}

// InsertDelivery queues one event for one webhook (a test send).
func (s *Store) InsertDelivery(ctx context.Context, webhookID string, e webhook.Event) (*scimworker.Delivery, error) {
	r, err := s.q.InsertDelivery(ctx, dbsqlc.InsertDeliveryParams{WebhookID: webhookID, Type: e.Type, OrderKey: e.OrderKey, Payload: e.Body})
	if err != nil {
		return nil, mapErr(err, "queue test delivery")
	}
	return deliveryFrom(dbsqlc.ListDeliveriesRow(r)), nil
}

// ReplayDelivery queues a delivery's message again, with its message id
// and body, behind the webhook's pending deliveries of the same key.
func (s *Store) ReplayDelivery(ctx context.Context, webhookID string, id int64) (*scimworker.Delivery, error) {
	r, err := s.q.ReplayDelivery(ctx, dbsqlc.ReplayDeliveryParams{WebhookID: webhookID, DeliveryID: id})
	if err != nil {
		return nil, mapErr(err, "replay delivery")
	}
	return deliveryFrom(dbsqlc.ListDeliveriesRow(r)), nil
}

// Deliveries is a page of a webhook's deliveries, newest first; after is
// the last id of the previous page.
func (s *Store) Deliveries(ctx context.Context, webhookID, after string, limit int) ([]scimworker.Delivery, string, error) {
	var before int64 = 1<<63 - 1
	if after != "" {
		n, err := strconv.ParseInt(after, 10, 64)
		if err != nil || n < 1 {
			return nil, "", fmt.Errorf("%w: bad cursor", ErrBadArgument)
		}
		before = n
	}
	rows, err := s.q.ListDeliveries(ctx, dbsqlc.ListDeliveriesParams{WebhookID: webhookID, BeforeID: before, MaxRows: int32(limit)})
	if err != nil {
		return nil, "", mapErr(err, "list deliveries")
	}
	out := make([]scimworker.Delivery, len(rows))
	for i, r := range rows {
		out[i] = *deliveryFrom(r)
	}
	next := ""
	if len(out) == limit {
		next = strconv.FormatInt(out[len(out)-1].ID, 10)
	}
	return out, next, nil
}

// scanWebhookRow scans a generated webhook statement's row that a batch
// returns (InsertWebhook, UpdateWebhook), in GetWebhook's column order.
func scanWebhookRow(r pgx.Row) (dbsqlc.GetWebhookRow, error) {
	var w dbsqlc.GetWebhookRow
	err := r.Scan(&w.ID, &w.Url, &w.Events, &w.Enabled, &w.DisabledReason, &w.CreatedAt, &w.UpdatedAt, &w.Pending, &w.SecretGeneration)
	return w, err
}
