-- +goose Up
-- SCIM requests the control plane refused before they reached the tenant's
-- worker (bad token, disabled tenant, rate or size limit, worker down), so
-- support sees them beside the worker's SCIM log. Sampled per tenant and
-- pruned by age.
CREATE TABLE control.scim_rejections (
	id         bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
	at         timestamptz NOT NULL,
	tenant_id  text NOT NULL,
	request_id text NOT NULL,
	method     text NOT NULL,
	path       text NOT NULL,
	status     integer NOT NULL,
	reason     text NOT NULL
);
CREATE INDEX scim_rejections_tenant ON control.scim_rejections (tenant_id, id DESC);
CREATE INDEX scim_rejections_at ON control.scim_rejections (at);

-- +goose Down
DROP TABLE control.scim_rejections;
