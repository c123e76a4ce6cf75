-- +goose Up
-- When a tenant's worker has webhook deliveries due: a time, not tenant
-- data. A replica binds a worker to the tenant then, should none run.
CREATE TABLE control.tenant_wakeups (
	tenant_id text PRIMARY KEY REFERENCES control.tenants (id) ON DELETE CASCADE,
	due_at    timestamptz NOT NULL
);
CREATE INDEX tenant_wakeups_due ON control.tenant_wakeups (due_at);

-- +goose Down
DROP TABLE control.tenant_wakeups;
