-- A refresh rotation is one statement: the next generation's token is inserted only
-- while the presented generation is its session's current one (INSERT ... SELECT),
-- and UNIQUE (session_id, generation) refuses a second insert of the same next
-- generation, so of two racing rotations one wins. This trigger moves the session
-- on with the token it stores, inside that same statement: the session's generation
-- and expiry are always those of its newest token.
CREATE TRIGGER refresh_tokens_advance_session
AFTER INSERT ON refresh_tokens
WHEN NEW.generation > 0
BEGIN
    UPDATE sessions SET generation = NEW.generation, expires_at = NEW.expires_at
    WHERE id = NEW.session_id AND generation = NEW.generation - 1;
END;
