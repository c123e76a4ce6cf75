-- Read by sqlc only (sqlc.yaml): Store.Migrate creates schema control
-- before the migrations run, since goose keeps its table there.
CREATE SCHEMA control;
