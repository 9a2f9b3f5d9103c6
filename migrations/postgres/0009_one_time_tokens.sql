-- Same numbering and meaning as migrations/sqlite/0009_one_time_tokens.sql.
CREATE TABLE one_time_tokens (
    token_hash BYTEA  PRIMARY KEY,
    purpose    TEXT   NOT NULL,
    user_id    TEXT   REFERENCES users (id) ON DELETE CASCADE,
    created_at BIGINT NOT NULL,
    expires_at BIGINT NOT NULL,
    used_at    BIGINT
);
CREATE INDEX one_time_tokens_user_id ON one_time_tokens (user_id);
CREATE INDEX one_time_tokens_expires_at ON one_time_tokens (expires_at);

ALTER TABLE users ADD COLUMN email_verified_at BIGINT;
