-- +goose Up
-- Workers log in with roles of their own, created by the control plane for
-- each worker process and dropped when it ends: such a role can connect and
-- nothing else until the control plane grants it one tenant's role, when the
-- worker is bound to that tenant. Tenant roles own their schemas and no
-- longer log in.
--
-- Role names are cluster-wide; several scimplane databases may share one
-- server, so the group role is created only if missing.
-- +goose StatementBegin
DO $$
BEGIN
	IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = 'scimplane_workers') THEN
		CREATE ROLE scimplane_workers NOLOGIN NOINHERIT;
	END IF;
	EXECUTE format('GRANT CONNECT ON DATABASE %I TO scimplane_workers', current_database());
END
$$;
-- +goose StatementEnd

-- +goose StatementBegin
DO $$
DECLARE
	t record;
BEGIN
	FOR t IN SELECT id FROM control.tenants LOOP
		EXECUTE format('ALTER ROLE %I NOLOGIN PASSWORD NULL', t.id);
		EXECUTE format('REVOKE CONNECT ON DATABASE %I FROM %I', current_database(), t.id);
	END LOOP;
END
$$;
-- +goose StatementEnd

-- The login roles of live workers. Every replica touches its own workers'
-- rows; a row nobody touched for a while belongs to a replica that died, and
-- any replica drops that role.
CREATE TABLE control.worker_roles (
	name       text PRIMARY KEY,
	created_at timestamptz NOT NULL DEFAULT now(),
	seen_at    timestamptz NOT NULL DEFAULT now()
);

-- +goose Down
DROP TABLE control.worker_roles;
