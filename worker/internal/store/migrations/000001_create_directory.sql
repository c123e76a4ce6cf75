-- +goose Up
CREATE TABLE users (
    seq           bigint GENERATED ALWAYS AS IDENTITY,
    id            text PRIMARY KEY,
    user_name     text NOT NULL,
    external_id   text,
    display_name  text,
    active        boolean NOT NULL DEFAULT true,
    manager_id    text,
    emails_lc     text[] NOT NULL DEFAULT '{}',
    doc           jsonb NOT NULL,
    created       timestamptz NOT NULL,
    last_modified timestamptz NOT NULL,
    version       bigint NOT NULL DEFAULT 1
);
CREATE UNIQUE INDEX users_user_name_key ON users (lower(user_name));
CREATE UNIQUE INDEX users_seq_key ON users (seq);
CREATE INDEX users_external_id_idx ON users (external_id);
CREATE INDEX users_display_name_idx ON users (lower(display_name));
CREATE INDEX users_manager_idx ON users (manager_id) WHERE manager_id IS NOT NULL;
CREATE INDEX users_emails_idx ON users USING gin (emails_lc);

CREATE TABLE groups (
    seq           bigint GENERATED ALWAYS AS IDENTITY,
    id            text PRIMARY KEY,
    display_name  text NOT NULL,
    external_id   text,
    doc           jsonb NOT NULL,
    created       timestamptz NOT NULL,
    last_modified timestamptz NOT NULL,
    version       bigint NOT NULL DEFAULT 1
);
CREATE UNIQUE INDEX groups_display_name_key ON groups (lower(display_name));
CREATE UNIQUE INDEX groups_seq_key ON groups (seq);
CREATE INDEX groups_external_id_idx ON groups (external_id);

CREATE TABLE members (
    group_id text NOT NULL REFERENCES groups (id) ON DELETE CASCADE,
    user_id  text NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    added    timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (group_id, user_id)
);
CREATE INDEX members_user_id_idx ON members (user_id);

-- +goose Down
DROP TABLE members;
DROP TABLE groups;
DROP TABLE users;
