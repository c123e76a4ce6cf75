-- +goose Up
-- Every saved version of a tenant's permission policy. The worker holds the
-- active one; activated_at records when each was last made active here.
CREATE TABLE control.policy_versions (
	tenant_id    text NOT NULL REFERENCES control.tenants (id) ON DELETE CASCADE,
	version      bigint NOT NULL,
	author       text NOT NULL,
	comment      text NOT NULL DEFAULT '',
	modules      jsonb NOT NULL,
	mapping      jsonb NOT NULL,
	created_at   timestamptz NOT NULL DEFAULT now(),
	activated_at timestamptz,
	PRIMARY KEY (tenant_id, version)
);

-- +goose Down
DROP TABLE control.policy_versions;
