-- The deployments read model (projection `deployments`): one row per run of a studio (a session run; Civis calls it
-- a deployment, services/gateway/api/civis), from the studio-* streams the lifecycle service owns, beside a row per
-- stream that remembers the position applied (in-order folding: a gap stops the stream). Versioned like `studios`
-- (deployments_v<n> behind the view read.deployments) for blue/green rebuilds.
CREATE OR REPLACE FUNCTION read.create_deployments_tables(p_version int) RETURNS void LANGUAGE plpgsql AS $$
DECLARE
  d text := format('read.deployments_v%s', p_version);
  s text := format('read.deployment_streams_v%s', p_version);
BEGIN
  EXECUTE format($f$CREATE TABLE %s (
    session_id        text NOT NULL,
    run               int  NOT NULL,
    user_id           text NOT NULL,          -- who asked for the start (the event's actor)
    template          text NOT NULL,          -- the template's repository, e.g. studios/http-echo:1
    cpu               int  NOT NULL,          -- cores
    memory            int  NOT NULL,          -- MiB
    status            text NOT NULL,          -- our StudioStatus for this run
    message           text,
    max_memory_mb     double precision,       -- the run's recorded peak usage (StudioSessionStopped.usage)
    max_cpu_millicores double precision,
    created_at        timestamptz NOT NULL,
    updated_at        timestamptz NOT NULL,
    position          bigint NOT NULL,
    PRIMARY KEY (session_id, run)
  )$f$, d);
  EXECUTE format($f$CREATE TABLE %s (
    session_id  text PRIMARY KEY,
    version     bigint NOT NULL               -- stream position of the last event applied
  )$f$, s);
END $$;

CREATE OR REPLACE FUNCTION read.serve_deployments_tables(p_version int) RETURNS void LANGUAGE plpgsql AS $$
BEGIN
  DROP VIEW IF EXISTS read.deployments;
  DROP VIEW IF EXISTS read.deployment_streams;
  EXECUTE format('CREATE VIEW read.deployments AS SELECT * FROM read.deployments_v%s', p_version);
  EXECUTE format('CREATE VIEW read.deployment_streams AS SELECT * FROM read.deployment_streams_v%s', p_version);
  INSERT INTO read.projection_versions (name, active) VALUES ('deployments', p_version)
    ON CONFLICT (name) DO UPDATE SET active = p_version, building = NULL, swapped_at = now();
END $$;

SELECT read.create_deployments_tables(1);
SELECT read.serve_deployments_tables(1);
