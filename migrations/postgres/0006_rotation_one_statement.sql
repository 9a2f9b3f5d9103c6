-- Same numbering and meaning as migrations/sqlite/0006_rotation_one_statement.sql.

-- A refresh rotation is one statement: the next generation's token is inserted only
-- while the presented generation is its session's current one (INSERT ... SELECT),
-- and UNIQUE (session_id, generation) refuses a second insert of the same next
-- generation, so of two racing rotations one wins (the other waits on the index and
-- fails). This trigger moves the session on with the token it stores, inside that
-- same statement: the session's generation and expiry are those of its newest token.
CREATE FUNCTION refresh_tokens_advance_session() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    UPDATE sessions SET generation = NEW.generation, expires_at = NEW.expires_at
    WHERE id = NEW.session_id AND generation = NEW.generation - 1;
    RETURN NULL;
END
$$;

CREATE TRIGGER refresh_tokens_advance_session
AFTER INSERT ON refresh_tokens
FOR EACH ROW WHEN (NEW.generation > 0)
EXECUTE FUNCTION refresh_tokens_advance_session();
