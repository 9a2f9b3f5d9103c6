-- Same numbering and meaning as migrations/sqlite/0001_init.sql.

-- Users. The unique index on the normalized email is what decides a registration
-- race: the application never checks before it writes.
CREATE TABLE users (
    id            TEXT   PRIMARY KEY,
    email         TEXT   NOT NULL,
    password_hash TEXT   NOT NULL,
    roles         TEXT   NOT NULL,
    created_at    BIGINT NOT NULL,
    updated_at    BIGINT NOT NULL
);
CREATE UNIQUE INDEX users_email_key ON users (email);

-- Sessions: one login and the chain of refreshes after it. `generation` is the
-- generation of the one refresh token that may still be spent; rotation is a
-- conditional update on it. Times are seconds since the Unix epoch.
CREATE TABLE sessions (
    id             TEXT   PRIMARY KEY,
    user_id        TEXT   NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    generation     BIGINT NOT NULL DEFAULT 0,
    created_at     BIGINT NOT NULL,
    expires_at     BIGINT NOT NULL,
    revoked_at     BIGINT,
    revoke_reason  TEXT,
    client_address TEXT,
    user_agent     TEXT
);
CREATE INDEX sessions_user_id ON sessions (user_id);
CREATE INDEX sessions_revoked_at ON sessions (revoked_at) WHERE revoked_at IS NOT NULL;
CREATE INDEX sessions_expires_at ON sessions (expires_at);

-- Refresh tokens, by SHA-256 only. One token per session generation.
CREATE TABLE refresh_tokens (
    token_hash BYTEA  PRIMARY KEY,
    session_id TEXT   NOT NULL REFERENCES sessions (id) ON DELETE CASCADE,
    generation BIGINT NOT NULL,
    issued_at  BIGINT NOT NULL,
    expires_at BIGINT NOT NULL,
    UNIQUE (session_id, generation)
);
CREATE INDEX refresh_tokens_expires_at ON refresh_tokens (expires_at);
