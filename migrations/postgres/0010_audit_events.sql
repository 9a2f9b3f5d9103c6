-- Same numbering and meaning as migrations/sqlite/0010_audit_events.sql.
CREATE TABLE audit_events (
    id             BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    at             BIGINT NOT NULL,
    kind           TEXT   NOT NULL,
    user_id        TEXT,
    session_id     TEXT,
    actor          TEXT   NOT NULL,
    client_address TEXT,
    detail         TEXT
);
CREATE INDEX audit_events_at ON audit_events (at);
CREATE INDEX audit_events_user_id ON audit_events (user_id, id);
CREATE INDEX audit_events_kind ON audit_events (kind, id);
