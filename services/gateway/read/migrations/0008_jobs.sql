-- Jobs (issue 13, docs/jobs.md): the jobs read model, projected from job-* streams into read.jobs_v<n> behind the
-- view read.jobs (blue/green rebuilds as for studios), and the files uploaded for jobs.
CREATE OR REPLACE FUNCTION read.create_jobs_tables(p_version int) RETURNS void LANGUAGE plpgsql AS $$
DECLARE
  j text := format('read.jobs_v%s', p_version);
BEGIN
  EXECUTE format($f$CREATE TABLE %s (
    job_id        text PRIMARY KEY,
    workspace_id  text NOT NULL,
    status        text NOT NULL,
    cluster_id    text,
    created       timestamptz NOT NULL,
    version       bigint NOT NULL,        -- stream position of the last event applied
    position      bigint NOT NULL,        -- its global position
    state         jsonb  NOT NULL         -- libs.contracts.job.State, model_dump(mode="json")
  )$f$, j);
  EXECUTE format('CREATE INDEX ON %s (workspace_id, created DESC)', j);
  EXECUTE format('CREATE INDEX ON %s (cluster_id, status)', j);
END $$;

CREATE OR REPLACE FUNCTION read.serve_jobs_tables(p_version int) RETURNS void LANGUAGE plpgsql AS $$
BEGIN
  DROP VIEW IF EXISTS read.jobs;
  EXECUTE format('CREATE VIEW read.jobs AS SELECT * FROM read.jobs_v%s', p_version);
  INSERT INTO read.projection_versions (name, active) VALUES ('jobs', p_version)
    ON CONFLICT (name) DO UPDATE SET active = p_version, building = NULL, swapped_at = now();
END $$;

SELECT read.create_jobs_tables(1);
SELECT read.serve_jobs_tables(1);

-- Files uploaded for jobs (POST /api/datachain/jobs/files). Their bytes are kept in the gateway's data folder by
-- content hash; a job's JobSubmitted carries {id, filename, uri, sha256, size}, never the bytes. Uploads are data,
-- not decisions, so they are rows here rather than events (like log lines).
CREATE SCHEMA IF NOT EXISTS jobs;
CREATE TABLE IF NOT EXISTS jobs.files (
  id            bigserial PRIMARY KEY,
  workspace_id  bigint NOT NULL,
  filename      text NOT NULL,
  uri           text NOT NULL,
  sha256        text NOT NULL,
  size          bigint NOT NULL,
  uploaded_by   bigint NOT NULL,
  uploaded_at   timestamptz NOT NULL DEFAULT now()
);
