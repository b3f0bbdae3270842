-- The checkpoints read model (projection `checkpoints`): one row per checkpoint of a studio run, from the
-- checkpoint-* streams the checkpoints service owns. Versioned like `studios` (checkpoints_v<n> behind the view
-- read.checkpoints), so `studios projections rebuild checkpoints` fills n+1 from position zero while n serves.
CREATE OR REPLACE FUNCTION read.create_checkpoints_tables(p_version int) RETURNS void LANGUAGE plpgsql AS $$
DECLARE
  c text := format('read.checkpoints_v%s', p_version);
BEGIN
  EXECUTE format($f$CREATE TABLE %s (
    checkpoint_id  bigint PRIMARY KEY,
    session_id     text NOT NULL,
    workspace_id   text NOT NULL,
    run            int  NOT NULL,
    name           text NOT NULL,
    status         text NOT NULL,         -- Seqera's StudioCheckpointStatus: empty, interim, finalized, invalid
    saved          boolean NOT NULL DEFAULT false,  -- has a good save: a failed save then keeps its status
    author_id      text NOT NULL,
    path           text NOT NULL,
    size           bigint NOT NULL DEFAULT 0,
    file_count     bigint NOT NULL DEFAULT 0,
    restored_from  bigint,
    message        text,                  -- why the last save failed, or why it is invalid
    deleted        boolean NOT NULL DEFAULT false,
    date_created   timestamptz NOT NULL,
    date_saved     timestamptz NOT NULL,
    version        bigint NOT NULL,       -- stream position of the last event applied
    position       bigint NOT NULL
  )$f$, c);
  EXECUTE format('CREATE INDEX ON %s (session_id, deleted, date_created DESC)', c);
END $$;

CREATE OR REPLACE FUNCTION read.serve_checkpoints_tables(p_version int) RETURNS void LANGUAGE plpgsql AS $$
BEGIN
  DROP VIEW IF EXISTS read.checkpoints;
  EXECUTE format('CREATE VIEW read.checkpoints AS SELECT * FROM read.checkpoints_v%s', p_version);
  INSERT INTO read.projection_versions (name, active) VALUES ('checkpoints', p_version)
    ON CONFLICT (name) DO UPDATE SET active = p_version, building = NULL, swapped_at = now();
END $$;

SELECT read.create_checkpoints_tables(1);
SELECT read.serve_checkpoints_tables(1);
