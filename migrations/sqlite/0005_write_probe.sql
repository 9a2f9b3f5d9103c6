-- Same numbering and meaning as migrations/postgres/0005_write_probe.sql.

-- Where the health task writes a few pages and deletes them again, to learn whether
-- the storage still takes writes as large as a request's (disk full or failing).
CREATE TABLE write_probe (filler BLOB NOT NULL);
