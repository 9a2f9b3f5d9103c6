-- Same numbering and meaning as migrations/sqlite/0007_revocation_cursor.sql.

-- Revocations carry a sequence number, so an instance reads each one once: it asks
-- for those after the last number it read, and never again for the ones before.
--
-- Every revoking transaction first takes the next number from the one-row counter
-- (UPDATE ... RETURNING): that row's lock, held to commit, orders the revoking
-- transactions, so a number never becomes visible before a smaller one (a sequence
-- would not promise that: its numbers are handed out before commit, in any order).
-- All sessions one statement revokes share its number. Sessions revoked before this
-- migration get 0; the start-up load (by time) reads them.
CREATE TABLE revocation_counter (seq BIGINT NOT NULL);
INSERT INTO revocation_counter (seq) VALUES (0);
ALTER TABLE sessions ADD COLUMN revoked_seq BIGINT;
UPDATE sessions SET revoked_seq = 0 WHERE revoked_at IS NOT NULL;
CREATE INDEX sessions_revoked_seq ON sessions (revoked_seq) WHERE revoked_seq IS NOT NULL;
