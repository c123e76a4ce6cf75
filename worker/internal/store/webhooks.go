package store

import (
	"context"
	"fmt"
	"strconv"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/scimplane/scimplane/plugins/scimworker"
	"github.com/scimplane/scimplane/worker/internal/provision"
	"github.com/scimplane/scimplane/worker/internal/webhook"
)

var _ webhook.Store = (*Store)(nil)

// PendingChanges reads committed changes after the webhook cursor, with
// the change feed's visibility rule: only transactions older than every
// one in flight, so that a change committing late is not skipped. When the
// batch is not full, it also says whether committed changes after it are
// held back by that rule.
func (s *Store) PendingChanges(ctx context.Context, limit int) ([]webhook.Change, webhook.Cursor, bool, error) {
	var cur webhook.Cursor
	if err := s.pool.QueryRow(ctx, `SELECT xid::text, seq FROM webhook_cursor`).Scan(&cur.Xid, &cur.Seq); err != nil {
		return nil, cur, false, mapErr(err, "read webhook cursor")
	}
	rows, err := s.pool.Query(ctx, `SELECT xid::text, seq, at, kind, coalesce(user_id, ''), coalesce(group_id, ''), coalesce(detail, 'null')
		FROM changes WHERE (xid, seq) > ($1::text::xid8, $2) AND xid < pg_snapshot_xmin(pg_current_snapshot())
		ORDER BY xid, seq LIMIT $3`, cur.Xid, cur.Seq, limit)
	if err != nil {
		return nil, cur, false, mapErr(err, "read changes for webhooks")
	}
	out, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (webhook.Change, error) {
		var c webhook.Change
		return c, r.Scan(&c.Xid, &c.Seq, &c.At, &c.Kind, &c.UserID, &c.GroupID, &c.Detail)
	})
	if err != nil || len(out) == limit {
		return out, cur, false, mapErr(err, "read changes for webhooks")
	}
	after := cur
	if len(out) > 0 {
		after = webhook.Cursor{Xid: out[len(out)-1].Xid, Seq: out[len(out)-1].Seq}
	}
	var hidden bool
	err = s.pool.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM changes WHERE (xid, seq) > ($1::text::xid8, $2))`, after.Xid, after.Seq).Scan(&hidden)
	return out, cur, hidden, mapErr(err, "read changes for webhooks")
}

// Enqueue fans events out to the subscribed webhooks and moves the cursor
// in one statement, which inserts nothing if the cursor moved meanwhile.
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

// headSQL keeps the deliveries that are the oldest pending one of their
// webhook and order key.
const headSQL = `NOT EXISTS (SELECT 1 FROM webhook_deliveries e WHERE e.webhook_id = d.webhook_id
	AND e.order_key = d.order_key AND e.status = 'pending' AND e.id < d.id)`

// Claim leases due deliveries for one attempt each.
func (s *Store) Claim(ctx context.Context, now time.Time, busy []string, perWebhook int, lease time.Duration) ([]webhook.Claim, error) {
	rows, err := s.pool.Query(ctx, `WITH heads AS (
			SELECT d.id, row_number() OVER (PARTITION BY d.webhook_id ORDER BY d.id) AS rn
			FROM webhook_deliveries d JOIN webhooks w ON w.id = d.webhook_id AND w.enabled
			WHERE d.status = 'pending' AND d.next_attempt_at <= $1 AND NOT (d.webhook_id = ANY(coalesce($2::text[], '{}'))) AND `+headSQL+`)
		UPDATE webhook_deliveries d SET attempts = d.attempts + 1, last_attempt_at = $1, next_attempt_at = $1 + $4::interval
		FROM heads h, webhooks w WHERE d.id = h.id AND h.rn <= $3 AND w.id = d.webhook_id
			-- Rechecked on the locked row: a delivery another worker of the
			-- tenant (a replica's, briefly) claimed meanwhile is skipped.
			AND d.status = 'pending' AND d.next_attempt_at <= $1
		RETURNING d.id, d.webhook_id, w.url, w.secret_generation, d.message_id, d.payload, d.attempts`,
		now, busy, perWebhook, lease)
	if err != nil {
		return nil, mapErr(err, "claim webhook deliveries")
	}
	out, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (webhook.Claim, error) {
		var c webhook.Claim
		return c, r.Scan(&c.ID, &c.WebhookID, &c.URL, &c.Generation, &c.MessageID, &c.Payload, &c.Attempts)
	})
	return out, mapErr(err, "claim webhook deliveries")
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
	b.Queue(`UPDATE webhook_deliveries SET status = $2, next_attempt_at = $3, delivered_at = $4, last_status = $5,
		last_latency_ms = $6, last_error = $7, response_excerpt = $8 WHERE id = $1`,
		o.ID, status, next, delivered, nullableInt(o.Status), o.Latency.Milliseconds(), nullable(o.Error), nullable(o.Excerpt))
	if o.Disable != "" {
		b.Queue(`UPDATE webhooks SET enabled = false, disabled_reason = $2, updated_at = now() WHERE id = $1`, o.WebhookID, o.Disable)
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
	var l, a *time.Time
	err = s.pool.QueryRow(ctx, `SELECT min(d.next_attempt_at) FILTER (WHERE NOT (d.webhook_id = ANY(coalesce($1::text[], '{}')))), min(d.next_attempt_at)
		FROM webhook_deliveries d JOIN webhooks w ON w.id = d.webhook_id AND w.enabled
		WHERE d.status = 'pending' AND `+headSQL, busy).Scan(&l, &a)
	if err != nil {
		return time.Time{}, time.Time{}, mapErr(err, "next webhook delivery")
	}
	if l != nil {
		local = *l
	}
	if a != nil {
		any = *a
	}
	return local, any, nil
}

// webhookCols are a webhook's columns, its pending deliveries counted.
const webhookCols = `w.id, w.url, w.events, w.enabled, coalesce(w.disabled_reason, ''), w.created_at, w.updated_at,
	(SELECT count(*) FROM webhook_deliveries d WHERE d.webhook_id = w.id AND d.status = 'pending'), w.secret_generation`

func scanWebhook(r pgx.Row) (*scimworker.Webhook, int64, error) {
	w := &scimworker.Webhook{}
	var gen int64
	err := r.Scan(&w.ID, &w.URL, &w.Events, &w.Enabled, &w.DisabledReason, &w.CreatedAt, &w.UpdatedAt, &w.Pending, &gen)
	return w, gen, err
}

// HasWebhooks reports whether the tenant has a webhook.
func (s *Store) HasWebhooks(ctx context.Context) (bool, error) {
	var has bool
	err := s.pool.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM webhooks)`).Scan(&has)
	return has, mapErr(err, "has webhooks")
}

// InsertWebhook stores a new webhook and returns it with its secret
// generation. The tenant's first webhook moves the cursor to the end of
// the feed: the deliverer does not read changes while there is no webhook,
// and nothing before the first webhook is sent.
func (s *Store) InsertWebhook(ctx context.Context, id, url string, events []string) (*scimworker.Webhook, int64, error) {
	b := &pgx.Batch{}
	b.Queue(`UPDATE webhook_cursor SET (xid, seq) = (SELECT xid, seq FROM changes ORDER BY xid DESC, seq DESC LIMIT 1)
		WHERE NOT EXISTS (SELECT 1 FROM webhooks) AND EXISTS (SELECT 1 FROM changes)`)
	var w *scimworker.Webhook
	var gen int64
	b.Queue(`WITH w AS (INSERT INTO webhooks (id, url, events) VALUES ($1, $2, coalesce($3::text[], '{}')) RETURNING *)
		SELECT `+webhookCols+` FROM w`, id, url, events).QueryRow(func(r pgx.Row) error {
		var err error
		w, gen, err = scanWebhook(r)
		return err
	})
	if err := s.pool.SendBatch(ctx, b).Close(); err != nil {
		return nil, 0, mapErr(err, "insert webhook")
	}
	return w, gen, nil
}

// Webhooks lists the tenant's webhooks, oldest first.
func (s *Store) Webhooks(ctx context.Context) ([]scimworker.Webhook, error) {
	rows, err := s.pool.Query(ctx, `SELECT `+webhookCols+` FROM webhooks w ORDER BY w.created_at, w.id`)
	if err != nil {
		return nil, mapErr(err, "list webhooks")
	}
	out, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (scimworker.Webhook, error) {
		w, _, err := scanWebhook(r)
		return *w, err
	})
	return out, mapErr(err, "list webhooks")
}

// Webhook is one webhook and its secret generation; provision.ErrNotFound
// if there is none.
func (s *Store) Webhook(ctx context.Context, id string) (*scimworker.Webhook, int64, error) {
	w, gen, err := scanWebhook(s.pool.QueryRow(ctx, `SELECT `+webhookCols+` FROM webhooks w WHERE w.id = $1`, id))
	return w, gen, mapErr(err, "get webhook")
}

// UpdateWebhook sets the fields given. Enabling a webhook clears its
// disabled reason and makes its pending deliveries due now, with their
// attempts counted afresh.
func (s *Store) UpdateWebhook(ctx context.Context, id string, url *string, events *[]string, enabled *bool) (*scimworker.Webhook, error) {
	b := &pgx.Batch{}
	if enabled != nil && *enabled {
		b.Queue(`UPDATE webhook_deliveries SET next_attempt_at = now(), attempts = 0
			WHERE webhook_id = $1 AND status = 'pending' AND EXISTS (SELECT 1 FROM webhooks WHERE id = $1 AND NOT enabled)`, id)
	}
	w := &scimworker.Webhook{}
	b.Queue(`WITH w AS (UPDATE webhooks SET url = coalesce($2, url), events = coalesce($3, events), enabled = coalesce($4, enabled),
			disabled_reason = CASE WHEN $4 THEN NULL ELSE disabled_reason END, updated_at = now() WHERE id = $1 RETURNING *)
		SELECT `+webhookCols+` FROM w`, id, url, events, enabled).QueryRow(func(r pgx.Row) error {
		var err error
		w, _, err = scanWebhook(r)
		return err
	})
	if err := s.pool.SendBatch(ctx, b).Close(); err != nil {
		return nil, mapErr(err, "update webhook")
	}
	return w, nil
}

// PruneDeliveries deletes the deliveries that ended before before.
func (s *Store) PruneDeliveries(ctx context.Context, before time.Time) error {
	_, err := s.pool.Exec(ctx, `DELETE FROM webhook_deliveries WHERE status <> 'pending' AND created_at < $1
		AND coalesce(delivered_at, last_attempt_at, created_at) < $1`, before)
	return mapErr(err, "prune webhook deliveries")
}

// DeleteWebhook deletes a webhook and its deliveries.
func (s *Store) DeleteWebhook(ctx context.Context, id string) error {
	tag, err := s.pool.Exec(ctx, `DELETE FROM webhooks WHERE id = $1`, id)
	if err == nil && tag.RowsAffected() == 0 {
		return provision.ErrNotFound
	}
	return mapErr(err, "delete webhook")
}

// RotateWebhookSecret bumps a webhook's secret generation.
func (s *Store) RotateWebhookSecret(ctx context.Context, id string) (*scimworker.Webhook, int64, error) {
	w, gen, err := scanWebhook(s.pool.QueryRow(ctx, `WITH w AS (UPDATE webhooks SET secret_generation = secret_generation + 1,
		updated_at = now() WHERE id = $1 RETURNING *) SELECT `+webhookCols+` FROM w`, id))
	return w, gen, mapErr(err, "rotate webhook secret")
}

const deliveryCols = `d.id, d.webhook_id, d.message_id, d.type, d.status, d.attempts, d.created_at, coalesce(d.last_status, 0),
	coalesce(d.last_latency_ms, 0), coalesce(d.last_error, ''), d.last_attempt_at, coalesce(d.response_excerpt, ''),
	CASE WHEN d.status = 'pending' THEN d.next_attempt_at END, d.delivered_at, d.payload`

func scanDelivery(r pgx.Row) (*scimworker.Delivery, error) {
	d := &scimworker.Delivery{}
	var payload []byte
	err := r.Scan(&d.ID, &d.WebhookID, &d.MessageID, &d.Type, &d.Status, &d.Attempts, &d.CreatedAt, &d.LastStatus,
		&d.LastLatencyMS, &d.LastError, &d.LastAttemptAt, &d.ResponseExcerpt, &d.NextAttemptAt, &d.DeliveredAt, &payload)
	d.Payload = payload
	return d, err
}

// InsertDelivery queues one event for one webhook (a test send).
func (s *Store) InsertDelivery(ctx context.Context, webhookID string, e webhook.Event) (*scimworker.Delivery, error) {
	d, err := scanDelivery(s.pool.QueryRow(ctx, `WITH d AS (
			INSERT INTO webhook_deliveries (webhook_id, message_id, type, order_key, payload, next_attempt_at)
			SELECT id, 'msg_' || replace(gen_random_uuid()::text, '-', ''), $2, $3, $4, now() FROM webhooks WHERE id = $1 RETURNING *)
		SELECT `+deliveryCols+` FROM d`, webhookID, e.Type, e.OrderKey, e.Body))
	return d, mapErr(err, "queue test delivery")
}

// ReplayDelivery queues a delivery's message again, with its message id
// and body, behind the webhook's pending deliveries of the same key.
func (s *Store) ReplayDelivery(ctx context.Context, webhookID string, id int64) (*scimworker.Delivery, error) {
	d, err := scanDelivery(s.pool.QueryRow(ctx, `WITH d AS (
			INSERT INTO webhook_deliveries (webhook_id, message_id, type, order_key, payload, next_attempt_at)
			SELECT webhook_id, message_id, type, order_key, payload, now() FROM webhook_deliveries WHERE webhook_id = $1 AND id = $2
			RETURNING *)
		SELECT `+deliveryCols+` FROM d`, webhookID, id))
	return d, mapErr(err, "replay delivery")
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
	rows, err := s.pool.Query(ctx, `SELECT `+deliveryCols+` FROM webhook_deliveries d WHERE d.webhook_id = $1 AND d.id < $2
		ORDER BY d.id DESC LIMIT $3`, webhookID, before, limit)
	if err != nil {
		return nil, "", mapErr(err, "list deliveries")
	}
	out, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (scimworker.Delivery, error) {
		d, err := scanDelivery(r)
		return *d, err
	})
	if err != nil {
		return nil, "", mapErr(err, "list deliveries")
	}
	next := ""
	if len(out) == limit {
		next = strconv.FormatInt(out[len(out)-1].ID, 10)
	}
	return out, next, nil
}
