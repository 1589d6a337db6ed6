CREATE TABLE teacher_tokens (
    token_hash TEXT NOT NULL PRIMARY KEY,
    created_at DOUBLE PRECISION NOT NULL
);
CREATE TABLE key_failures (
    who TEXT NOT NULL,
    at DOUBLE PRECISION NOT NULL
);
CREATE INDEX key_failures_who_at ON key_failures (who, at);
CREATE TABLE classes (
    code TEXT NOT NULL PRIMARY KEY,
    leader TEXT NOT NULL,
    started_at DOUBLE PRECISION NOT NULL,
    ended_at DOUBLE PRECISION,
    version INTEGER NOT NULL DEFAULT 0,
    view TEXT NOT NULL DEFAULT '{}',
    drawing BYTEA,
    question_id BIGINT
);
CREATE TABLE followers (
    code TEXT NOT NULL,
    session TEXT NOT NULL,
    seen_at DOUBLE PRECISION NOT NULL,
    PRIMARY KEY (code, session)
);
CREATE TABLE questions (
    id BIGSERIAL PRIMARY KEY,
    code TEXT NOT NULL,
    asked_at DOUBLE PRECISION NOT NULL,
    step INTEGER NOT NULL,
    kind TEXT NOT NULL,
    prompt TEXT NOT NULL,
    options TEXT NOT NULL,
    pass_id TEXT NOT NULL,
    answer TEXT NOT NULL,
    revealed_at DOUBLE PRECISION
);
CREATE TABLE answers (
    question_id BIGINT NOT NULL,
    browser TEXT NOT NULL,
    nickname TEXT NOT NULL DEFAULT '',
    answer TEXT NOT NULL,
    correct INTEGER NOT NULL,
    changes INTEGER NOT NULL DEFAULT 0,
    answered_at DOUBLE PRECISION NOT NULL,
    PRIMARY KEY (question_id, browser)
);
