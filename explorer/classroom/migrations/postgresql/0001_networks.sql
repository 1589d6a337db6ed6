CREATE TABLE IF NOT EXISTS networks (
    name TEXT NOT NULL PRIMARY KEY,
    spec TEXT NOT NULL,
    weights BYTEA NOT NULL,
    weights_sha256 TEXT NOT NULL,
    saved_at DOUBLE PRECISION NOT NULL,
    parameter_count INTEGER NOT NULL,
    layer_count INTEGER NOT NULL,
    input_kind TEXT NOT NULL,
    input_features INTEGER,
    output_shape TEXT NOT NULL
);
-- names ignore upper/lower case, as SQLite's COLLATE NOCASE does
CREATE UNIQUE INDEX IF NOT EXISTS networks_lower_name ON networks (lower(name));
