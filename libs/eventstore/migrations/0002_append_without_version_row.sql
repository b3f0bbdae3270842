-- Appends no longer update a per-stream version row (measured: the row's update cost as much server time as the
-- event's insert, and the foreign key's check locked that row once more per event; bench/eventstore.py).
--
-- What serialises the writers of one stream is the advisory lock es.append already took before anything is
-- written. Under it the stream's version is the highest stream_position in es.events: one probe of the
-- (stream_name, stream_position) index, whose uniqueness stays the last line of defence. es.streams is now the
-- registry of streams (name, category, when it was created), written once per stream.
ALTER TABLE es.events DROP CONSTRAINT IF EXISTS events_stream_name_fkey;
ALTER TABLE es.streams DROP COLUMN version, DROP COLUMN updated_at;
ALTER TABLE es.streams SET (fillfactor = 100);

-- The stream's version under its lock (-1: no events yet), registering a new stream. Callers hold the lock.
CREATE OR REPLACE FUNCTION es.locked_version(p_stream text) RETURNS bigint
LANGUAGE plpgsql AS $$
DECLARE
  v bigint;
BEGIN
  IF position('-' IN p_stream) < 2 THEN
    RAISE EXCEPTION 'stream name must be <category>-<id>: %', p_stream USING ERRCODE = '22023';
  END IF;
  -- the lock before anything is written: an advisory lock assigns no transaction id, so a writer that waits here
  -- gets its id only after the holder committed, and commit-horizon order ((tx_id, global_position)) agrees with
  -- stream order. append_many takes all its streams' locks, sorted, before its first append.
  PERFORM pg_advisory_xact_lock(hashtextextended(p_stream, 0));
  -- a fresh snapshot (READ COMMITTED, volatile function): the previous holder's events are visible by now
  SELECT coalesce(max(e.stream_position), -1) INTO v FROM es.events e WHERE e.stream_name = p_stream;
  IF v = -1 THEN
    INSERT INTO es.streams (stream_name) VALUES (p_stream) ON CONFLICT DO NOTHING;
  END IF;
  RETURN v;
END $$;

-- expected: NULL = ANY, -1 = NO_STREAM, -2 = STREAM_EXISTS, n >= 0 = exact last stream_position.
-- An idempotent retry is recognised by the client when this raises (a duplicate id or a version conflict), so
-- the common case pays no lookup of its event ids.
CREATE OR REPLACE FUNCTION es.append(
  p_stream text, p_expected bigint,
  p_ids uuid[], p_types text[], p_versions smallint[], p_datas jsonb[], p_metas jsonb[])
RETURNS TABLE (global_position bigint, stream_position bigint)
LANGUAGE plpgsql AS $$
DECLARE
  v bigint;
BEGIN
  IF coalesce(array_length(p_ids, 1), 0) = 0 THEN RAISE EXCEPTION 'no events' USING ERRCODE = '22023'; END IF;
  v := es.locked_version(p_stream);
  IF p_expected IS NOT NULL AND p_expected <> v AND NOT (p_expected = -2 AND v <> -1) THEN
    PERFORM es.check_expected(p_stream, p_expected, v);  -- raises
  END IF;
  RETURN QUERY
  INSERT INTO es.events AS e (stream_name, stream_position, event_id, event_type, schema_version, data, metadata)
  SELECT p_stream, v + u.ord, u.id, u.typ, u.ver, u.dat, coalesce(u.meta, '{}'::jsonb)
    FROM unnest(p_ids, p_types, p_versions, p_datas, p_metas) WITH ORDINALITY AS u(id, typ, ver, dat, meta, ord)
   ORDER BY u.ord
  RETURNING e.global_position, e.stream_position;
END $$;

-- The one-event append (most commands record one fact): the same rules, without arrays to build, send and unnest.
CREATE OR REPLACE FUNCTION es.append_one(
  p_stream text, p_expected bigint, p_id uuid, p_type text, p_version smallint, p_data jsonb, p_meta jsonb,
  OUT global_position bigint, OUT stream_position bigint)
LANGUAGE plpgsql AS $$
DECLARE
  v bigint;
BEGIN
  v := es.locked_version(p_stream);
  IF p_expected IS NOT NULL AND p_expected <> v AND NOT (p_expected = -2 AND v <> -1) THEN
    PERFORM es.check_expected(p_stream, p_expected, v);  -- raises
  END IF;
  INSERT INTO es.events AS e (stream_name, stream_position, event_id, event_type, schema_version, data, metadata)
  VALUES (p_stream, v + 1, p_id, p_type, p_version, p_data, coalesce(p_meta, '{}'::jsonb))
  RETURNING e.global_position, e.stream_position INTO global_position, stream_position;
END $$;
