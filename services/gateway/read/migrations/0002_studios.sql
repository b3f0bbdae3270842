-- The studios read model (DESIGN §4): one row per studio with its folded state, and workspace Studios settings.
-- Tables are versioned (studios_v<n>, workspace_studio_settings_v<n>) and served through views of the same name
-- without the suffix, so a rebuild can fill a new version from position zero while the old one serves, then swap
-- the views in one transaction (services/gateway/projections/rebuild.py).
CREATE SCHEMA IF NOT EXISTS read;

CREATE TABLE IF NOT EXISTS read.projection_versions (
  name        text PRIMARY KEY,          -- projection name, e.g. 'studios'
  active      int  NOT NULL,             -- the version the views point at
  building    int,                       -- a rebuild in progress
  swapped_at  timestamptz NOT NULL DEFAULT now()
);

-- Creates version p_version of the studios projection's tables; a later migration that changes the shape
-- replaces this function, and the next rebuild uses the new shape.
CREATE OR REPLACE FUNCTION read.create_studios_tables(p_version int) RETURNS void LANGUAGE plpgsql AS $$
DECLARE
  s text := format('read.studios_v%s', p_version);
  w text := format('read.workspace_studio_settings_v%s', p_version);
BEGIN
  EXECUTE format($f$CREATE TABLE %s (
    session_id      text PRIMARY KEY,
    workspace_id    text NOT NULL,
    user_id         text NOT NULL,
    name            text NOT NULL,
    status          text,
    compute_env_id  text NOT NULL,
    template_url    text,
    is_private      boolean NOT NULL DEFAULT false,
    deleted         boolean NOT NULL DEFAULT false,
    created         timestamptz,
    updated         timestamptz,
    version         bigint NOT NULL,        -- stream position of the last event applied
    position        bigint NOT NULL,        -- its global position
    state           jsonb  NOT NULL         -- libs.contracts.studio_state.State, model_dump(mode="json")
  )$f$, s);
  EXECUTE format('CREATE INDEX ON %s (workspace_id, deleted, created DESC)', s);
  EXECUTE format('CREATE INDEX ON %s (user_id)', s);
  EXECUTE format('CREATE INDEX ON %s (workspace_id, lower(name))', s);
  EXECUTE format($f$CREATE TABLE %s (
    workspace_id              text PRIMARY KEY,
    org_id                    text,
    lifespan_hours            int     NOT NULL DEFAULT 0,
    private_studio_by_default boolean NOT NULL DEFAULT false,
    container_repository      text,
    name_strategy             text,
    updated                   timestamptz,
    version                   bigint NOT NULL
  )$f$, w);
END $$;

CREATE OR REPLACE FUNCTION read.serve_studios_tables(p_version int) RETURNS void LANGUAGE plpgsql AS $$
BEGIN
  DROP VIEW IF EXISTS read.studios;
  DROP VIEW IF EXISTS read.workspace_studio_settings;
  EXECUTE format('CREATE VIEW read.studios AS SELECT * FROM read.studios_v%s', p_version);
  EXECUTE format('CREATE VIEW read.workspace_studio_settings AS SELECT * FROM read.workspace_studio_settings_v%s',
                 p_version);
  INSERT INTO read.projection_versions (name, active) VALUES ('studios', p_version)
    ON CONFLICT (name) DO UPDATE SET active = p_version, building = NULL, swapped_at = now();
END $$;

SELECT read.create_studios_tables(1);
SELECT read.serve_studios_tables(1);
