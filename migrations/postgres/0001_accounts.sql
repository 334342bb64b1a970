-- User accounts and refresh tokens.
-- Uniqueness ignores letter case through *_key columns holding the Unicode-lowercased value,
-- written by the application as on SQLite: PostgreSQL's lower() depends on the database's
-- collation (ASCII only under "C"), and one rule on both backends keeps them interchangeable.
-- The unique constraints are named because the store reads the name of the violated one to
-- tell the client which field is taken.

CREATE TABLE users (
    id            BIGINT      GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    username      TEXT        NOT NULL,
    username_key  TEXT        NOT NULL CONSTRAINT users_username_key_unique UNIQUE,
    email         TEXT        NOT NULL,
    email_key     TEXT        NOT NULL CONSTRAINT users_email_key_unique UNIQUE,
    password_hash TEXT        NOT NULL,
    is_staff      BOOLEAN     NOT NULL DEFAULT FALSE,
    is_active     BOOLEAN     NOT NULL DEFAULT TRUE,
    created_at    TIMESTAMPTZ NOT NULL
);

CREATE TABLE refresh_tokens (
    jti        TEXT        PRIMARY KEY,
    family     TEXT        NOT NULL,
    user_id    BIGINT      NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    expires_at TIMESTAMPTZ NOT NULL,
    spent_at   TIMESTAMPTZ
);

CREATE INDEX refresh_tokens_by_family ON refresh_tokens (family);
CREATE INDEX refresh_tokens_by_expiry ON refresh_tokens (expires_at);
-- Foreign keys are not indexed by PostgreSQL itself; deleting a user would scan every token.
CREATE INDEX refresh_tokens_by_user ON refresh_tokens (user_id);

-- A family is revoked by logout or detected reuse. Kept apart from the tokens so that a token
-- issued concurrently with the revocation is dead too: spending checks the family here.
CREATE TABLE revoked_token_families (
    family     TEXT        PRIMARY KEY,
    revoked_at TIMESTAMPTZ NOT NULL
);
