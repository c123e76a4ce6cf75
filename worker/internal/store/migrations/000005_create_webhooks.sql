-- +goose Up
-- Webhook subscriptions. Their signing secrets are not stored: the worker
-- derives each from the tenant's webhook key (handed over at Bind), the
-- webhook's id and secret_generation, which a rotation bumps.
CREATE TABLE webhooks (
    id                text PRIMARY KEY,
    url               text NOT NULL,
    events            text[] NOT NULL DEFAULT '{}',
    enabled           boolean NOT NULL DEFAULT true,
    disabled_reason   text,
    secret_generation bigint NOT NULL DEFAULT 1,
    created_at        timestamptz NOT NULL DEFAULT now(),
    updated_at        timestamptz NOT NULL DEFAULT now()
);

-- How far the change feed has been turned into deliveries, in the feed's
-- own (xid, seq) order. It starts at the end of the feed: changes made
-- before webhooks existed are not sent.
CREATE TABLE webhook_cursor (
    singleton boolean PRIMARY KEY DEFAULT true CHECK (singleton),
    xid       xid8 NOT NULL,
    seq       bigint NOT NULL
);
INSERT INTO webhook_cursor (xid, seq)
SELECT coalesce(max(xid), '0'::xid8), coalesce(max(seq), 0) FROM changes;

-- The outbox: one row per message to one webhook. payload is the exact
-- body signed and sent; order_key (a user or group id) keeps a user's
-- messages to one endpoint in order: only the oldest pending one per key
-- is attempted.
CREATE TABLE webhook_deliveries (
    id               bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    webhook_id       text NOT NULL REFERENCES webhooks (id) ON DELETE CASCADE,
    message_id       text NOT NULL,
    type             text NOT NULL,
    order_key        text NOT NULL,
    payload          bytea NOT NULL,
    status           text NOT NULL DEFAULT 'pending' CHECK (status IN ('pending', 'succeeded', 'failed')),
    attempts         integer NOT NULL DEFAULT 0,
    next_attempt_at  timestamptz,
    last_attempt_at  timestamptz,
    last_status      integer,
    last_latency_ms  bigint,
    last_error       text,
    response_excerpt text,
    created_at       timestamptz NOT NULL DEFAULT now(),
    delivered_at     timestamptz
);
CREATE INDEX webhook_deliveries_pending ON webhook_deliveries (webhook_id, order_key, id) WHERE status = 'pending';
CREATE INDEX webhook_deliveries_due ON webhook_deliveries (next_attempt_at) WHERE status = 'pending';
CREATE INDEX webhook_deliveries_list ON webhook_deliveries (webhook_id, id);

-- +goose Down
DROP TABLE webhook_deliveries;
DROP TABLE webhook_cursor;
DROP TABLE webhooks;
