-- Appends are one SQL statement the client prepares (libs/eventstore/statements.py), no longer a call of the
-- plpgsql es.append / es.append_one (measured: the function call and its nested statements cost ~20% of an
-- append's server time; docs/architecture.md, "Where an append's time goes").
--
-- Nothing of the protocol changes: every writer still takes its stream's advisory lock before it writes (so before
-- its transaction has an id), the (stream_name, stream_position) and event_id indexes are still the last line of
-- defence, and the expected-version rules are es.check_expected's. What a plain statement cannot do is read with a
-- snapshot taken *after* the lock was granted (a statement's snapshot is taken when it starts), so:
--   * at an exact version n the statement only checks that position n is visible; n + 1 is the unique index's
--     to refuse. A snapshot older than the lock can only miss events, never invent them, so a miss is decided
--     again by es.append_version below, under the lock, with a fresh snapshot (a volatile function's).
--   * a new stream (no_stream) needs no read at all: position 0 is the unique index's to refuse.
--   * any and stream_exists need the stream's version: es.append_version, as before.
-- es.append and es.append_one stay, unchanged: a process of the previous release calls them during a rolling
-- upgrade, and they follow the same lock protocol.

-- The version an append goes on from, decided under the stream's lock with a fresh snapshot: the stream's last
-- position (-1: none yet, and then the stream is registered). Raises what es.check_expected raises when the
-- stream is not where ``p_expected`` says, 22023 for a malformed stream name.
CREATE OR REPLACE FUNCTION es.append_version(p_stream text, p_expected bigint) RETURNS bigint
LANGUAGE plpgsql AS $$
DECLARE
  v bigint;
BEGIN
  v := es.locked_version(p_stream);  -- the name's check, the lock (taken again: it is reentrant), the probe
  IF p_expected IS NOT NULL AND p_expected <> v AND NOT (p_expected = -2 AND v <> -1) THEN
    PERFORM es.check_expected(p_stream, p_expected, v);  -- raises
  END IF;
  RETURN v;
END $$;
