-- Same numbering and meaning as migrations/postgres/0002_keys_and_login_budget.sql.

-- Signing keys, shared by every instance. The private key is sealed with the master
-- key (AES-256-GCM, the kid as associated data): never stored in plaintext. A key's
-- state follows from the times alone, so every instance derives the same one:
-- staged until `activates_at`; then signing until a newer key activates; then
-- published, not signing, until the last token it signed has expired.
CREATE TABLE signing_keys (
    kid            TEXT    PRIMARY KEY NOT NULL,
    public_n       TEXT    NOT NULL,
    public_e       TEXT    NOT NULL,
    sealed_private BLOB    NOT NULL,
    created_at     INTEGER NOT NULL,
    activates_at   INTEGER NOT NULL
);

-- The failed-login budget, shared by every instance: one row per key (the SHA-256
-- of a normalized email or a client address) and one-minute window. An attempt is
-- admitted by one conditional upsert, so concurrent instances cannot overspend it.
CREATE TABLE login_attempts (
    key_hash     BLOB    PRIMARY KEY NOT NULL,
    window_start INTEGER NOT NULL,
    attempts     INTEGER NOT NULL
);
CREATE INDEX login_attempts_window_start ON login_attempts (window_start);
