-- The builds read model (issue 11): the template registry (every version), builds, and the operations that follow
-- them. Versioned like the studios projection (0002): tables <name>_v<n> behind views <name>, so a rebuild fills a
-- new version from position zero while the old one serves (services/gateway/read/projections/builds.py).
CREATE OR REPLACE FUNCTION read.create_builds_tables(p_version int) RETURNS void LANGUAGE plpgsql AS $$
DECLARE
  t text := format('read.templates_v%s', p_version);
  v text := format('read.template_versions_v%s', p_version);
  b text := format('read.builds_v%s', p_version);
  o text := format('read.operations_v%s', p_version);
BEGIN
  EXECUTE format($f$CREATE TABLE %s (
    template_id  text PRIMARY KEY,
    repository   text NOT NULL,
    version      int  NOT NULL,          -- the latest version
    definition   jsonb NOT NULL,         -- libs.contracts.template.TemplateDefinition of that version
    created      timestamptz NOT NULL,
    updated      timestamptz NOT NULL,
    stream_version bigint NOT NULL       -- stream position of the last event applied
  )$f$, t);
  EXECUTE format('CREATE INDEX ON %s (repository)', t);
  EXECUTE format($f$CREATE TABLE %s (
    template_id  text NOT NULL,
    version      int  NOT NULL,
    definition   jsonb NOT NULL,
    actor        text NOT NULL,
    created      timestamptz NOT NULL,
    PRIMARY KEY (template_id, version)
  )$f$, v);
  EXECUTE format($f$CREATE TABLE %s (
    build_id     text PRIMARY KEY,
    key          text NOT NULL,
    status       text NOT NULL,          -- queued | running | succeeded | failed | cancelled
    attempt      int  NOT NULL,
    spec         jsonb NOT NULL,         -- libs.contracts.build.BuildSpec
    platform     text NOT NULL,
    template_id  text,
    requested_for text,
    artifact     jsonb,                  -- {uri, sha256, size} once succeeded
    message      text,
    duration_seconds double precision,
    builds       int NOT NULL DEFAULT 0, -- attempts that ran to an end
    created      timestamptz NOT NULL,   -- the first request
    requested    timestamptz NOT NULL,   -- the latest attempt's request
    started      timestamptz,
    finished     timestamptz,
    stream_version bigint NOT NULL,
    position     bigint NOT NULL         -- global position of the last event applied
  )$f$, b);
  EXECUTE format('CREATE INDEX ON %s (template_id, requested DESC)', b);
  -- One operation per build attempt: the handle POST /templates/{id}/build answers (docs/builder.md).
  EXECUTE format($f$CREATE TABLE %s (
    operation_id text PRIMARY KEY,       -- build-<build id>-<attempt>
    kind         text NOT NULL,          -- build (Dataiku's futures and start/stop handles come later)
    build_id     text NOT NULL,
    attempt      int  NOT NULL,
    status       text NOT NULL,          -- queued | running | succeeded | failed | cancelled
    artifact     jsonb,
    message      text,
    created      timestamptz NOT NULL,
    started      timestamptz,
    finished     timestamptz
  )$f$, o);
  EXECUTE format('CREATE INDEX ON %s (build_id, attempt)', o);
END $$;

CREATE OR REPLACE FUNCTION read.serve_builds_tables(p_version int) RETURNS void LANGUAGE plpgsql AS $$
BEGIN
  DROP VIEW IF EXISTS read.templates;
  DROP VIEW IF EXISTS read.template_versions;
  DROP VIEW IF EXISTS read.builds;
  DROP VIEW IF EXISTS read.operations;
  EXECUTE format('CREATE VIEW read.templates AS SELECT * FROM read.templates_v%s', p_version);
  EXECUTE format('CREATE VIEW read.template_versions AS SELECT * FROM read.template_versions_v%s', p_version);
  EXECUTE format('CREATE VIEW read.builds AS SELECT * FROM read.builds_v%s', p_version);
  EXECUTE format('CREATE VIEW read.operations AS SELECT * FROM read.operations_v%s', p_version);
  INSERT INTO read.projection_versions (name, active) VALUES ('builds', p_version)
    ON CONFLICT (name) DO UPDATE SET active = p_version, building = NULL, swapped_at = now();
END $$;

SELECT read.create_builds_tables(1);
SELECT read.serve_builds_tables(1);
