-- Ingestion without a unique key (issue 9's speed): one ingestor at a time (a session advisory lock) commits LOGS
-- in stream order and keeps, in the same transaction, how far it has come (the stream sequence of the last message
-- committed). A redelivered message is at or below that mark and is skipped before COPY; nothing needs to be
-- unique in logs.lines any more, so the wide primary key goes and one narrower index serves the reads.
CREATE TABLE IF NOT EXISTS logs.ingest_position (
    stream text   PRIMARY KEY,  -- the JetStream stream's name (LOGS, or a test's own)
    js_seq bigint NOT NULL      -- every message of the stream up to this sequence is committed (or was unreadable)
);

ALTER TABLE logs.lines DROP CONSTRAINT IF EXISTS lines_pkey;

-- The read order within a run (kind is each LIST partition's constant, so it is left out).
CREATE INDEX IF NOT EXISTS lines_read ON logs.lines (id, run, created_at, source, seq);

-- The highest seq committed per (kind, id, run, source, stream): a line a producer sent twice (a republish after
-- JetStream's 2-minute duplicate window, a restarted reader going over its file again) is at or below it and is
-- not stored again. Producers send each of these in seq order (libs/logs). Kept as long as the longest retention.
CREATE TABLE IF NOT EXISTS logs.ingest_marks (
    kind   text        NOT NULL,
    id     text        NOT NULL,
    run    integer     NOT NULL,
    source text        NOT NULL,
    stream text        NOT NULL,
    seq    bigint      NOT NULL,
    at     timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (kind, id, run, source, stream)
);
