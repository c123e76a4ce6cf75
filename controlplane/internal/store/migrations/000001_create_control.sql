-- +goose Up
-- Tenant roles get no privilege beyond their own schema: take away what
-- PostgreSQL grants PUBLIC on the database and on schema public. Each
-- tenant role is granted CONNECT explicitly.
-- +goose StatementBegin
DO $$
BEGIN
	EXECUTE format('REVOKE ALL ON DATABASE %I FROM PUBLIC', current_database());
END
$$;
-- +goose StatementEnd
REVOKE ALL ON SCHEMA public FROM PUBLIC;
REVOKE ALL ON SCHEMA control FROM PUBLIC;

CREATE TABLE control.tenants (
	id         text PRIMARY KEY,
	name       text NOT NULL,
	status     text NOT NULL DEFAULT 'active' CHECK (status IN ('active', 'disabled')),
	created_at timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE control.scim_tokens (
	id           text PRIMARY KEY,
	tenant_id    text NOT NULL REFERENCES control.tenants (id) ON DELETE CASCADE,
	name         text NOT NULL DEFAULT '',
	token_hash   bytea NOT NULL UNIQUE,
	created_at   timestamptz NOT NULL DEFAULT now(),
	expires_at   timestamptz,
	last_used_at timestamptz,
	revoked_at   timestamptz
);
CREATE INDEX scim_tokens_active ON control.scim_tokens (tenant_id) WHERE revoked_at IS NULL;

CREATE TABLE control.api_keys (
	id         text PRIMARY KEY,
	name       text NOT NULL DEFAULT '',
	role       text NOT NULL CHECK (role IN ('operator', 'tenant_admin', 'support')),
	tenant_id  text REFERENCES control.tenants (id) ON DELETE CASCADE,
	key_hash   bytea NOT NULL UNIQUE,
	created_at timestamptz NOT NULL DEFAULT now(),
	revoked_at timestamptz,
	CHECK ((role = 'operator') = (tenant_id IS NULL) OR role = 'support')
);

-- The audit log outlives the tenants and keys it mentions: no foreign keys.
CREATE TABLE control.audit_log (
	id        bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
	at        timestamptz NOT NULL DEFAULT now(),
	key_id    text NOT NULL,
	action    text NOT NULL,
	tenant_id text,
	detail    text NOT NULL DEFAULT ''
);
CREATE INDEX audit_log_tenant ON control.audit_log (tenant_id, id);

-- +goose Down
DROP TABLE control.audit_log;
DROP TABLE control.api_keys;
DROP TABLE control.scim_tokens;
DROP TABLE control.tenants;
