-- +goose Up
-- The SCIM log: one row per exchange, successes and failures. Partitioned by
-- day so that retention drops whole partitions; the default partition takes
-- rows no daily partition covers, so an insert never fails.
CREATE TABLE scim_requests (
    id            bigint GENERATED ALWAYS AS IDENTITY,
    at            timestamptz NOT NULL,
    request_id    text NOT NULL,
    method        text NOT NULL,
    path          text NOT NULL,
    query         text NOT NULL DEFAULT '',
    filter        text,
    resource_type text,
    resource_id   text,
    external_id   text,
    user_name     text,
    display_name  text,
    summary       text,
    status        integer NOT NULL,
    scim_type     text,
    detail        text,
    latency_us    bigint NOT NULL,
    request_body  text,
    response_body text,
    PRIMARY KEY (id, at)
) PARTITION BY RANGE (at);
CREATE TABLE scim_requests_default PARTITION OF scim_requests DEFAULT;
CREATE INDEX scim_requests_at_idx ON scim_requests (at DESC, id DESC);
CREATE INDEX scim_requests_failures_idx ON scim_requests (at DESC, id DESC) WHERE status >= 400;
CREATE INDEX scim_requests_request_id_idx ON scim_requests (request_id);
CREATE INDEX scim_requests_resource_id_idx ON scim_requests (resource_id, at DESC) WHERE resource_id IS NOT NULL;
CREATE INDEX scim_requests_user_name_idx ON scim_requests (lower(user_name), at DESC) WHERE user_name IS NOT NULL;
CREATE INDEX scim_requests_external_id_idx ON scim_requests (external_id, at DESC) WHERE external_id IS NOT NULL;

-- +goose Down
DROP TABLE scim_requests;
