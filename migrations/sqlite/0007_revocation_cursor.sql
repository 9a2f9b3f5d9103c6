-- Revocations carry a sequence number, so an instance reads each one once: it asks
-- for those after the last number it read, and never again for the ones before.
--
-- Every revoking transaction first takes the next number from the one-row counter
-- (UPDATE ... RETURNING): that row's lock orders the revoking transactions, so a
-- number never becomes visible before a smaller one. All sessions one statement
-- revokes share its number. Sessions revoked before this migration get 0; the
-- start-up load (by time) reads them.
CREATE TABLE revocation_counter (seq INTEGER NOT NULL);
INSERT INTO revocation_counter (seq) VALUES (0);
ALTER TABLE sessions ADD COLUMN revoked_seq INTEGER;
UPDATE sessions SET revoked_seq = 0 WHERE revoked_at IS NOT NULL;
CREATE INDEX sessions_revoked_seq ON sessions (revoked_seq) WHERE revoked_seq IS NOT NULL;
