-- Log lines: data, not events (DESIGN §1). Owned by the logs service alone; the gateway asks it over NATS.
-- Partitioned by kind (LIST), then by UTC day (RANGE on created_at): retention per kind drops whole day tables.
-- The key is (kind, id, run, created_at, source, seq): a redelivered line carries the same createdAt, so it meets
-- its first copy in the same partition; the order of the key is the order queries read (oldest first).
CREATE SCHEMA IF NOT EXISTS logs;

CREATE TABLE IF NOT EXISTS logs.lines (
    kind       text        NOT NULL,
    id         text        NOT NULL,
    run        integer     NOT NULL,
    created_at timestamptz NOT NULL,
    source     text        NOT NULL,
    seq        bigint      NOT NULL,
    stream     text        NOT NULL,
    message    text        NOT NULL,
    final      boolean     NOT NULL DEFAULT false,  -- the run's last line: a follow ends there
    js_seq     bigint      NOT NULL,  -- the line's LOGS stream sequence: where a follow's live tail begins
    PRIMARY KEY (kind, id, run, created_at, source, seq)
) PARTITION BY LIST (kind);

CREATE TABLE IF NOT EXISTS logs.lines_session PARTITION OF logs.lines FOR VALUES IN ('session')
    PARTITION BY RANGE (created_at);
CREATE TABLE IF NOT EXISTS logs.lines_build PARTITION OF logs.lines FOR VALUES IN ('build')
    PARTITION BY RANGE (created_at);
CREATE TABLE IF NOT EXISTS logs.lines_job PARTITION OF logs.lines FOR VALUES IN ('job')
    PARTITION BY RANGE (created_at);
