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

-- The release check (migration 0005) moves from a row trigger into the appends that carry a NameReleased: the
-- trigger cost every append ~9 µs (its WHEN is compiled for each statement) for an event type that is rare. The
-- rule is the same, and still checked under the stream's lock: a NameReleased must follow a NameReserved by the
-- same owner, whether that one is stored (position p_from) or earlier in the same append. ``p_from`` is the
-- version the append goes on from, returned so that a statement can use the call as its version.
CREATE OR REPLACE FUNCTION es.check_releases(p_stream text, p_from bigint, p_types text[], p_owners text[],
                                             p_ids uuid[]) RETURNS bigint
LANGUAGE plpgsql AS $$
DECLARE
  last_type text;
  holder text;
BEGIN
  FOR k IN 1 .. coalesce(array_length(p_types, 1), 0) LOOP
    CONTINUE WHEN p_types[k] <> 'NameReleased';
    IF k > 1 THEN
      last_type := p_types[k - 1];
      holder := p_owners[k - 1];
    ELSE
      SELECT e.event_type, e.data ->> 'owner' INTO last_type, holder
        FROM es.events e WHERE e.stream_name = p_stream AND e.stream_position = p_from;
    END IF;
    CONTINUE WHEN last_type = 'NameReserved' AND holder = p_owners[k];
    CONTINUE WHEN EXISTS (SELECT 1 FROM es.events e WHERE e.event_id = p_ids[k]);  -- a retry: the index answers
    IF last_type = 'NameReserved' THEN
      RAISE EXCEPTION '% does not hold %: % does', p_owners[k], p_stream, holder
        USING ERRCODE = 'ES002', DETAIL = p_stream;
    END IF;
    RAISE EXCEPTION '% does not hold %: nobody does', p_owners[k], p_stream USING ERRCODE = 'ES002', DETAIL = p_stream;
  END LOOP;
  RETURN p_from;
END $$;

DROP TRIGGER IF EXISTS events_release_holder ON es.events;
DROP FUNCTION IF EXISTS es.check_release();

-- The previous release's functions check releases the same way (a process of it may append during an upgrade).
CREATE OR REPLACE FUNCTION es.append(
  p_stream text, p_expected bigint,
  p_ids uuid[], p_types text[], p_versions smallint[], p_datas jsonb[], p_metas jsonb[])
RETURNS TABLE (global_position bigint, stream_position bigint)
LANGUAGE plpgsql AS $$
DECLARE
  v bigint;
BEGIN
  IF coalesce(array_length(p_ids, 1), 0) = 0 THEN RAISE EXCEPTION 'no events' USING ERRCODE = '22023'; END IF;
  v := es.append_version(p_stream, p_expected);
  IF 'NameReleased' = ANY (p_types) THEN
    PERFORM es.check_releases(p_stream, v, p_types, ARRAY(SELECT d ->> 'owner' FROM unnest(p_datas) d), p_ids);
  END IF;
  RETURN QUERY
  INSERT INTO es.events AS e (stream_name, stream_position, event_id, event_type, schema_version, data, metadata)
  SELECT p_stream, v + u.ord, u.id, u.typ, u.ver, u.dat, coalesce(u.meta, '{}'::jsonb)
    FROM unnest(p_ids, p_types, p_versions, p_datas, p_metas) WITH ORDINALITY AS u(id, typ, ver, dat, meta, ord)
   ORDER BY u.ord
  RETURNING e.global_position, e.stream_position;
END $$;

CREATE OR REPLACE FUNCTION es.append_one(
  p_stream text, p_expected bigint, p_id uuid, p_type text, p_version smallint, p_data jsonb, p_meta jsonb,
  OUT global_position bigint, OUT stream_position bigint)
LANGUAGE plpgsql AS $$
DECLARE
  v bigint;
BEGIN
  v := es.append_version(p_stream, p_expected);
  IF p_type = 'NameReleased' THEN
    PERFORM es.check_releases(p_stream, v, ARRAY[p_type], ARRAY[p_data ->> 'owner'], ARRAY[p_id]);
  END IF;
  INSERT INTO es.events AS e (stream_name, stream_position, event_id, event_type, schema_version, data, metadata)
  VALUES (p_stream, v + 1, p_id, p_type, p_version, p_data, coalesce(p_meta, '{}'::jsonb))
  RETURNING e.global_position, e.stream_position INTO global_position, stream_position;
END $$;
