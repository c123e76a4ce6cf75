-- +goose Up
-- The tenant's own extension schemas: one row per declared attribute. A
-- schema exists while it has attributes. Values live in the resources' doc,
-- under the schema URN, like the enterprise extension's.
CREATE TABLE extension_attributes (
    schema_urn    text NOT NULL,
    resource_type text NOT NULL CHECK (resource_type IN ('User', 'Group')),
    name          text NOT NULL,
    type          text NOT NULL CHECK (type IN ('string', 'boolean', 'integer', 'decimal', 'dateTime', 'reference')),
    multi_valued  boolean NOT NULL DEFAULT false,
    case_exact    boolean NOT NULL DEFAULT false,
    description   text NOT NULL DEFAULT '',
    created       timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (schema_urn, name)
);
-- SCIM names match in any case.
CREATE UNIQUE INDEX extension_attributes_lower ON extension_attributes (lower(schema_urn), lower(name));

-- +goose Down
DROP TABLE extension_attributes;
