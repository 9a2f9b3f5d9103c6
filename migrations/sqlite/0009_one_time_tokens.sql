-- Single-use tokens for password resets and email verification, by SHA-256 only.
-- A token asked for an unknown email is stored too, with no user, so the request
-- does the same work whether the email exists or not; it can never be spent. The
-- conditional update that sets `used_at` decides who spends a token: once only.
CREATE TABLE one_time_tokens (
    token_hash BLOB    PRIMARY KEY NOT NULL,
    purpose    TEXT    NOT NULL,
    user_id    TEXT    REFERENCES users (id) ON DELETE CASCADE,
    created_at INTEGER NOT NULL,
    expires_at INTEGER NOT NULL,
    used_at    INTEGER
);
CREATE INDEX one_time_tokens_user_id ON one_time_tokens (user_id);
CREATE INDEX one_time_tokens_expires_at ON one_time_tokens (expires_at);

-- When the user proved they receive mail at their email (VerifyEmail).
ALTER TABLE users ADD COLUMN email_verified_at INTEGER;
