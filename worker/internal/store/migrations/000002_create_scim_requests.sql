-- +goose Up
-- The SCIM log: one row per exchange, successes and failures.
CREATE TABLE scim_requests (
    id            bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
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
    response_body text
);
CREATE INDEX scim_requests_at_idx ON scim_requests (at DESC, id DESC);
CREATE INDEX scim_requests_request_id_idx ON scim_requests (request_id);
CREATE INDEX scim_requests_resource_id_idx ON scim_requests (resource_id, at DESC) WHERE resource_id IS NOT NULL;

-- +goose Down
DROP TABLE scim_requests;
