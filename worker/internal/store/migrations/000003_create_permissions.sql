-- +goose Up
-- The policy in force: a copy of the version the control plane activated, so
-- a worker starts with it and replicas notice a new one.
CREATE TABLE policy (
    singleton    boolean PRIMARY KEY DEFAULT true CHECK (singleton),
    version      bigint NOT NULL,
    bundle       jsonb NOT NULL,
    activated_at timestamptz NOT NULL
);

-- Effective permissions, kept in the same transaction as every change that
-- can alter them. Users without a row have no permissions.
CREATE TABLE permissions (
    user_id        text PRIMARY KEY REFERENCES users (id) ON DELETE CASCADE,
    permissions    text[] NOT NULL,
    sets           text[] NOT NULL,
    grants         jsonb NOT NULL,
    policy_version bigint NOT NULL,
    error          text,
    computed_at    timestamptz NOT NULL
);

-- The change feed for the customer's application. Readers page by
-- (xid, seq) and only see transactions older than every one in flight, so
-- a cursor never skips a change that commits late.
CREATE TABLE changes (
    seq      bigint GENERATED ALWAYS AS IDENTITY,
    xid      xid8 NOT NULL DEFAULT pg_current_xact_id(),
    at       timestamptz NOT NULL DEFAULT now(),
    kind     text NOT NULL,
    user_id  text,
    group_id text,
    detail   jsonb,
    PRIMARY KEY (xid, seq)
);
CREATE INDEX changes_at_idx ON changes (at);

-- Tenant settings the worker applies itself.
CREATE TABLE settings (
    singleton          boolean PRIMARY KEY DEFAULT true CHECK (singleton),
    log_retention_days integer NOT NULL DEFAULT 30 CHECK (log_retention_days > 0)
);
INSERT INTO settings DEFAULT VALUES;

-- +goose Down
DROP TABLE settings;
DROP TABLE changes;
DROP TABLE permissions;
DROP TABLE policy;
