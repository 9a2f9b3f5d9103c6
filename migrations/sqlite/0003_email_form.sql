-- Same numbering and meaning as migrations/postgres/0003_email_form.sql.

-- Which normalization the stored emails are in. 1: trimmed and lower-cased only.
-- 2: also NFKC, IDNA (UTS #46) domains, no invisible characters. A server moves the
-- rows from 1 to 2 at start, and reports (never merges) accounts that now collide.
CREATE TABLE email_form (version INTEGER NOT NULL);
INSERT INTO email_form (version) VALUES (1);
