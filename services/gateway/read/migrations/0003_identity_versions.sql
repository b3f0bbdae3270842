-- The identity read model (projection `gateway.identity`) becomes rebuildable like `studios` (blue/green): its
-- tables are versioned, read.<table>_v<n>, behind views with the plain names, and read.projection_versions says
-- which version serves. `studios projections rebuild gateway.identity` fills version n+1 from position zero under
-- checkpoint `gateway.identity_v<n+1>` while n serves, then swaps the views in one transaction.

-- Creates version p_version of the tables; a later migration that changes their shape replaces this function
-- (and the next rebuild uses the new shape).
CREATE OR REPLACE FUNCTION read.create_identity_tables(p_version int) RETURNS void LANGUAGE plpgsql AS $$
DECLARE
  v text := '_v' || p_version;
BEGIN
  EXECUTE format($f$CREATE TABLE read.users%s (
    id bigint PRIMARY KEY, user_name text NOT NULL, email text NOT NULL, first_name text, last_name text,
    is_admin boolean NOT NULL DEFAULT false, date_created timestamptz NOT NULL, last_updated timestamptz NOT NULL
  )$f$, v);
  EXECUTE format('CREATE INDEX ON read.users%s (lower(user_name))', v);
  EXECUTE format('CREATE INDEX ON read.users%s (lower(email))', v);
  EXECUTE format($f$CREATE TABLE read.tokens%s (
    id bigint PRIMARY KEY, user_id bigint NOT NULL, name text NOT NULL,
    token_hash text NOT NULL,          -- sha256 hex; the token itself is never stored
    scopes text[] NOT NULL DEFAULT '{}', expiry timestamptz, revoked boolean NOT NULL DEFAULT false,
    revoked_at timestamptz, date_created timestamptz NOT NULL, last_used timestamptz
  )$f$, v);
  EXECUTE format('CREATE INDEX ON read.tokens%s (token_hash)', v);
  EXECUTE format('CREATE INDEX ON read.tokens%s (user_id)', v);
  EXECUTE format($f$CREATE TABLE read.orgs%s (
    id bigint PRIMARY KEY, name text NOT NULL, full_name text NOT NULL, description text, location text,
    website text, date_created timestamptz NOT NULL, last_updated timestamptz NOT NULL
  )$f$, v);
  EXECUTE format($f$CREATE TABLE read.org_members%s (
    member_id bigint PRIMARY KEY, org_id bigint NOT NULL, user_id bigint NOT NULL, role text NOT NULL
  )$f$, v);
  EXECUTE format('CREATE INDEX ON read.org_members%s (org_id, user_id)', v);
  EXECUTE format('CREATE INDEX ON read.org_members%s (user_id)', v);
  EXECUTE format($f$CREATE TABLE read.workspaces%s (
    id bigint PRIMARY KEY, org_id bigint NOT NULL, name text NOT NULL, full_name text NOT NULL,
    description text, visibility text NOT NULL, date_created timestamptz NOT NULL,
    last_updated timestamptz NOT NULL
  )$f$, v);
  EXECUTE format('CREATE INDEX ON read.workspaces%s (org_id)', v);
  EXECUTE format($f$CREATE TABLE read.participants%s (
    participant_id bigint PRIMARY KEY, workspace_id bigint NOT NULL, user_id bigint NOT NULL, role text NOT NULL
  )$f$, v);
  EXECUTE format('CREATE INDEX ON read.participants%s (workspace_id, user_id)', v);
  EXECUTE format('CREATE INDEX ON read.participants%s (user_id)', v);
  EXECUTE format($f$CREATE TABLE read.compute_envs%s (
    id text PRIMARY KEY, workspace_id bigint NOT NULL, name text NOT NULL, platform text NOT NULL,
    config jsonb NOT NULL, description text, credentials_id text,
    allow_custom_commands boolean NOT NULL DEFAULT false, status text NOT NULL, message text,
    deleted boolean NOT NULL DEFAULT false, created_by text NOT NULL, date_created timestamptz NOT NULL,
    last_updated timestamptz NOT NULL
  )$f$, v);
  EXECUTE format('CREATE INDEX ON read.compute_envs%s (workspace_id) WHERE NOT deleted', v);
  EXECUTE format($f$CREATE TABLE read.data_links%s (
    id text PRIMARY KEY, workspace_id bigint NOT NULL, name text NOT NULL, description text, type text NOT NULL,
    provider text NOT NULL, resource_ref text NOT NULL, public_accessible boolean NOT NULL DEFAULT false,
    credentials_id text, status text NOT NULL, created_by text NOT NULL, date_created timestamptz NOT NULL
  )$f$, v);
  EXECUTE format('CREATE INDEX ON read.data_links%s (workspace_id)', v);
  EXECUTE format($f$CREATE TABLE read.labels%s (
    id bigint PRIMARY KEY, workspace_id bigint NOT NULL, name text NOT NULL, value text,
    resource boolean NOT NULL DEFAULT false, is_default boolean NOT NULL DEFAULT false,
    date_created timestamptz NOT NULL
  )$f$, v);
  EXECUTE format('CREATE INDEX ON read.labels%s (workspace_id)', v);
END $$;

CREATE OR REPLACE FUNCTION read.serve_identity_tables(p_version int) RETURNS void LANGUAGE plpgsql AS $$
DECLARE
  t text;
BEGIN
  FOREACH t IN ARRAY ARRAY['users', 'tokens', 'orgs', 'org_members', 'workspaces', 'participants',
                           'compute_envs', 'data_links', 'labels'] LOOP
    EXECUTE format('DROP VIEW IF EXISTS read.%I', t);
    EXECUTE format('CREATE VIEW read.%I AS SELECT * FROM read.%I', t, t || '_v' || p_version);
  END LOOP;
  INSERT INTO read.projection_versions (name, active) VALUES ('gateway.identity', p_version)
    ON CONFLICT (name) DO UPDATE SET active = p_version, building = NULL, swapped_at = now();
END $$;

-- Version 1 is the tables 0001 made, renamed with their rows; the projection's checkpoint follows them.
ALTER TABLE read.users RENAME TO users_v1;
ALTER TABLE read.tokens RENAME TO tokens_v1;
ALTER TABLE read.orgs RENAME TO orgs_v1;
ALTER TABLE read.org_members RENAME TO org_members_v1;
ALTER TABLE read.workspaces RENAME TO workspaces_v1;
ALTER TABLE read.participants RENAME TO participants_v1;
ALTER TABLE read.compute_envs RENAME TO compute_envs_v1;
ALTER TABLE read.data_links RENAME TO data_links_v1;
ALTER TABLE read.labels RENAME TO labels_v1;
SELECT read.serve_identity_tables(1);

INSERT INTO es.checkpoints (name, tx_id, global_position, updated_at, paused, error)
SELECT 'gateway.identity_v1', tx_id, global_position, updated_at, paused, error
  FROM es.checkpoints WHERE name = 'gateway.identity'
ON CONFLICT (name) DO NOTHING;
DELETE FROM es.checkpoints WHERE name = 'gateway.identity';
DELETE FROM es.parked WHERE consumer = 'gateway.identity'
   AND event_id IN (SELECT event_id FROM es.parked WHERE consumer = 'gateway.identity_v1');
UPDATE es.parked SET consumer = 'gateway.identity_v1' WHERE consumer = 'gateway.identity';
