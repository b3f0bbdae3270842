-- The event store (DESIGN §2): events, per-stream version rows, consumer checkpoints, parked poison events.
CREATE SCHEMA IF NOT EXISTS es;

CREATE TABLE es.streams (
  stream_name  text PRIMARY KEY,                       -- '<category>-<id>'
  category     text NOT NULL GENERATED ALWAYS AS (split_part(stream_name, '-', 1)) STORED,
  version      bigint NOT NULL,                        -- last stream_position, -1 = no events yet
  created_at   timestamptz NOT NULL DEFAULT now(),
  updated_at   timestamptz NOT NULL DEFAULT now()
) WITH (fillfactor = 50);  -- every append updates its stream's row: room on the page keeps those updates HOT

CREATE TABLE es.events (
  global_position bigint GENERATED ALWAYS AS IDENTITY,
  tx_id           xid8   NOT NULL DEFAULT pg_current_xact_id(),
  stream_name     text   NOT NULL REFERENCES es.streams,
  category        text   NOT NULL GENERATED ALWAYS AS (split_part(stream_name, '-', 1)) STORED,
  stream_position bigint NOT NULL,
  event_id        uuid   NOT NULL,
  event_type      text   NOT NULL,
  schema_version  smallint NOT NULL DEFAULT 1,
  data            jsonb  NOT NULL,
  metadata        jsonb  NOT NULL DEFAULT '{}',
  recorded_at     timestamptz NOT NULL DEFAULT clock_timestamp(),
  PRIMARY KEY (global_position),
  UNIQUE (stream_name, stream_position),
  UNIQUE (event_id),
  -- a guard against large data in events (DESIGN §2: blobs go elsewhere); pg_column_size needs no serialization
  CHECK (pg_column_size(data) <= 262144)
);
CREATE INDEX events_horizon  ON es.events (tx_id, global_position);
CREATE INDEX events_category ON es.events (category, tx_id, global_position);

CREATE TABLE es.checkpoints (
  name            text PRIMARY KEY,
  tx_id           xid8   NOT NULL DEFAULT '0',
  global_position bigint NOT NULL DEFAULT 0,
  updated_at      timestamptz NOT NULL DEFAULT now(),
  paused          boolean NOT NULL DEFAULT false,
  error           text
);

CREATE TABLE es.parked (
  consumer        text   NOT NULL,
  global_position bigint NOT NULL,
  event_id        uuid   NOT NULL,
  stream_name     text   NOT NULL,
  event_type      text   NOT NULL,
  attempts        int    NOT NULL,
  error           text   NOT NULL,
  parked_at       timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (consumer, event_id)
);

-- The expected-version rules, shared by both appends: NULL = ANY, -1 = NO_STREAM, -2 = STREAM_EXISTS, n >= 0 = the
-- exact last stream_position. ``v`` is the version the stream had (-1: no events yet). DETAIL names the stream.
CREATE OR REPLACE FUNCTION es.check_expected(p_stream text, p_expected bigint, v bigint) RETURNS void
LANGUAGE plpgsql AS $$
BEGIN
  IF p_expected IS NULL THEN
    NULL;
  ELSIF p_expected = -1 AND v <> -1 THEN
    RAISE EXCEPTION 'wrong expected version: expected no stream, % is at %', p_stream, v
      USING ERRCODE = 'ES001', DETAIL = p_stream;
  ELSIF p_expected = -2 AND v = -1 THEN
    RAISE EXCEPTION 'wrong expected version: expected existing stream %', p_stream
      USING ERRCODE = 'ES001', DETAIL = p_stream;
  ELSIF p_expected >= 0 AND p_expected <> v THEN
    RAISE EXCEPTION 'wrong expected version: expected %, % is at %', p_expected, p_stream, v
      USING ERRCODE = 'ES001', DETAIL = p_stream;
  END IF;
END $$;

-- expected: NULL = ANY, -1 = NO_STREAM, -2 = STREAM_EXISTS, n >= 0 = exact last stream_position
-- The happy path is two statements: bump the stream's version row (its row lock is the only lock taken), insert.
-- An idempotent retry is recognised by the client when this raises (a duplicate id or a version conflict), so
-- the common case pays no lookup of its event ids.
CREATE OR REPLACE FUNCTION es.append(
  p_stream text, p_expected bigint,
  p_ids uuid[], p_types text[], p_versions smallint[], p_datas jsonb[], p_metas jsonb[])
RETURNS TABLE (global_position bigint, stream_position bigint)
LANGUAGE plpgsql AS $$
DECLARE
  n int := coalesce(array_length(p_ids, 1), 0);
  v bigint;
BEGIN
  IF n = 0 THEN RAISE EXCEPTION 'no events' USING ERRCODE = '22023'; END IF;
  IF position('-' IN p_stream) < 2 THEN
    RAISE EXCEPTION 'stream name must be <category>-<id>: %', p_stream USING ERRCODE = '22023';
  END IF;

  -- 0. the stream's lock, before anything is written: an advisory lock assigns no transaction id, so a writer
  --    that waits here gets its id only after the holder committed, and commit-horizon order ((tx_id,
  --    global_position)) agrees with stream order. (A row lock alone would not: the id is assigned before
  --    the wait.) append_many takes all its streams' locks, sorted, before its first append.
  PERFORM pg_advisory_xact_lock(hashtextextended(p_stream, 0));

  -- 1. bump the stream's version row (a new stream: insert its row)
  UPDATE es.streams s SET version = s.version + n, updated_at = now()
   WHERE s.stream_name = p_stream RETURNING s.version - n INTO v;
  IF NOT FOUND THEN
    INSERT INTO es.streams (stream_name, version) VALUES (p_stream, n - 1) ON CONFLICT DO NOTHING;
    IF FOUND THEN
      v := -1;
    ELSE  -- created concurrently: now it exists, lock it
      UPDATE es.streams s SET version = s.version + n, updated_at = now()
       WHERE s.stream_name = p_stream RETURNING s.version - n INTO v;
    END IF;
  END IF;

  -- 2. expected version (raising undoes the bump)
  PERFORM es.check_expected(p_stream, p_expected, v);

  -- 3. the events; a stored event id fails the unique index and the client checks for a retry
  RETURN QUERY
  INSERT INTO es.events AS e (stream_name, stream_position, event_id, event_type, schema_version, data, metadata)
  SELECT p_stream, v + u.ord, u.id, u.typ, u.ver, u.dat, coalesce(u.meta, '{}'::jsonb)
    FROM unnest(p_ids, p_types, p_versions, p_datas, p_metas) WITH ORDINALITY AS u(id, typ, ver, dat, meta, ord)
   ORDER BY u.ord
  RETURNING e.global_position, e.stream_position;
END $$;

-- The one-event append (most commands record one fact): the same rules as es.append, without arrays to build,
-- send and unnest.
CREATE OR REPLACE FUNCTION es.append_one(
  p_stream text, p_expected bigint, p_id uuid, p_type text, p_version smallint, p_data jsonb, p_meta jsonb,
  OUT global_position bigint, OUT stream_position bigint)
LANGUAGE plpgsql AS $$
DECLARE
  v bigint;
BEGIN
  IF position('-' IN p_stream) < 2 THEN
    RAISE EXCEPTION 'stream name must be <category>-<id>: %', p_stream USING ERRCODE = '22023';
  END IF;
  PERFORM pg_advisory_xact_lock(hashtextextended(p_stream, 0));  -- see es.append
  UPDATE es.streams s SET version = s.version + 1, updated_at = now()
   WHERE s.stream_name = p_stream RETURNING s.version - 1 INTO v;
  IF v IS NULL THEN
    INSERT INTO es.streams (stream_name, version) VALUES (p_stream, 0) ON CONFLICT DO NOTHING;
    IF FOUND THEN
      v := -1;
    ELSE
      UPDATE es.streams s SET version = s.version + 1, updated_at = now()
       WHERE s.stream_name = p_stream RETURNING s.version - 1 INTO v;
    END IF;
  END IF;
  PERFORM es.check_expected(p_stream, p_expected, v);
  INSERT INTO es.events AS e (stream_name, stream_position, event_id, event_type, schema_version, data, metadata)
  VALUES (p_stream, v + 1, p_id, p_type, p_version, p_data, coalesce(p_meta, '{}'::jsonb))
  RETURNING e.global_position, e.stream_position INTO global_position, stream_position;
END $$;
