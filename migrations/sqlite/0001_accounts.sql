-- User accounts and refresh tokens.
-- Uniqueness ignores letter case through *_key columns holding the Unicode-lowercased value,
-- written by the application, because SQLite's NOCASE folds ASCII only.

CREATE TABLE users (
    id            INTEGER PRIMARY KEY,
    username      TEXT    NOT NULL,
    username_key  TEXT    NOT NULL UNIQUE,
    email         TEXT    NOT NULL,
    email_key     TEXT    NOT NULL UNIQUE,
    password_hash TEXT    NOT NULL,
    is_staff      INTEGER NOT NULL DEFAULT 0 CHECK (is_staff IN (0, 1)),
    is_active     INTEGER NOT NULL DEFAULT 1 CHECK (is_active IN (0, 1)),
    created_at    TEXT    NOT NULL
);

CREATE TABLE refresh_tokens (
    jti        TEXT    PRIMARY KEY,
    family     TEXT    NOT NULL,
    user_id    INTEGER NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    expires_at TEXT    NOT NULL,
    spent_at   TEXT
) WITHOUT ROWID;

CREATE INDEX refresh_tokens_by_family ON refresh_tokens (family);
CREATE INDEX refresh_tokens_by_expiry ON refresh_tokens (expires_at);

-- A family is revoked by logout or detected reuse. Kept apart from the tokens so that a token
-- issued concurrently with the revocation is dead too: spending checks the family here.
CREATE TABLE revoked_token_families (
    family     TEXT PRIMARY KEY,
    revoked_at TEXT NOT NULL
) WITHOUT ROWID;
