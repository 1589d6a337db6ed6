-- The shelf of saved networks, as it was before migrations (IF NOT EXISTS: old files keep theirs).
CREATE TABLE IF NOT EXISTS networks (
    name TEXT NOT NULL PRIMARY KEY COLLATE NOCASE,
    spec TEXT NOT NULL,
    weights BLOB NOT NULL,
    weights_sha256 TEXT NOT NULL,
    saved_at REAL NOT NULL,
    parameter_count INTEGER NOT NULL,
    layer_count INTEGER NOT NULL,
    input_kind TEXT NOT NULL,
    input_features INTEGER,
    output_shape TEXT NOT NULL
);
