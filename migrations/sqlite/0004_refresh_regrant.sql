-- Same numbering and meaning as migrations/postgres/0004_refresh_regrant.sql.

-- Whether a spent refresh token was presented again within TESSERA_REFRESH_REUSE_GRACE
-- and handed its successor once more: a token is forgiven one retry, never two.
ALTER TABLE refresh_tokens ADD COLUMN regranted INTEGER NOT NULL DEFAULT 0;
