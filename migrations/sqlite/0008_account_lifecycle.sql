-- Accounts over their whole life. A disabled user keeps their row and cannot log in
-- or refresh; enabling them again clears `disabled_at`. A deleted user keeps a
-- tombstone: the row stays with no password and no roles (so the revocations of
-- their sessions, which reference it, survive restarts), `deleted_at` set, and the
-- email held by the unique index until the reuse delay has passed. A registration
-- after that moves the tombstone's email aside (`deleted:<id>`) in its own
-- transaction, and the purge removes tombstones with no sessions left.
ALTER TABLE users ADD COLUMN disabled_at INTEGER;
ALTER TABLE users ADD COLUMN deleted_at INTEGER;
CREATE INDEX users_deleted_at ON users (deleted_at) WHERE deleted_at IS NOT NULL;
