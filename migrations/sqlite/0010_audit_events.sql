-- The audit trail: one row per security event, never a secret. No foreign keys:
-- an event outlives the user and session it names. Rows older than
-- TESSERA_AUDIT_RETENTION are purged in the background.
CREATE TABLE audit_events (
    id             INTEGER PRIMARY KEY AUTOINCREMENT,
    at             INTEGER NOT NULL,
    kind           TEXT    NOT NULL,
    user_id        TEXT,
    session_id     TEXT,
    actor          TEXT    NOT NULL,
    client_address TEXT,
    detail         TEXT
);
CREATE INDEX audit_events_at ON audit_events (at);
CREATE INDEX audit_events_user_id ON audit_events (user_id, id);
CREATE INDEX audit_events_kind ON audit_events (kind, id);
