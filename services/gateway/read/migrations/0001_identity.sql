-- Gateway read models of identity and workspace resources (projected from user-, token-, org-, workspace-,
-- computeenv-, datalink-, label- streams by the `gateway.identity` projection). No unique constraints besides
-- primary keys: uniqueness is decided by reservation streams, and a read model must never refuse an event.
CREATE SCHEMA IF NOT EXISTS read;

-- Numeric ids (users, tokens, orgs, members, workspaces, participants, labels) come from one sequence; ids
-- below 1000 are left to bootstrap's deterministic ids.
CREATE SEQUENCE IF NOT EXISTS read.ids START WITH 1000;

CREATE TABLE read.users (
  id           bigint PRIMARY KEY,
  user_name    text NOT NULL,
  email        text NOT NULL,
  first_name   text,
  last_name    text,
  is_admin     boolean NOT NULL DEFAULT false,
  date_created timestamptz NOT NULL,
  last_updated timestamptz NOT NULL
);
CREATE INDEX users_name ON read.users (lower(user_name));
CREATE INDEX users_email ON read.users (lower(email));

CREATE TABLE read.tokens (
  id           bigint PRIMARY KEY,
  user_id      bigint NOT NULL,
  name         text NOT NULL,
  token_hash   text NOT NULL,          -- sha256 hex; the token itself is never stored
  scopes       text[] NOT NULL DEFAULT '{}',
  expiry       timestamptz,
  revoked      boolean NOT NULL DEFAULT false,
  revoked_at   timestamptz,
  date_created timestamptz NOT NULL,
  last_used    timestamptz
);
CREATE INDEX tokens_hash ON read.tokens (token_hash);
CREATE INDEX tokens_user ON read.tokens (user_id);

CREATE TABLE read.orgs (
  id           bigint PRIMARY KEY,
  name         text NOT NULL,
  full_name    text NOT NULL,
  description  text,
  location     text,
  website      text,
  date_created timestamptz NOT NULL,
  last_updated timestamptz NOT NULL
);

CREATE TABLE read.org_members (
  member_id bigint PRIMARY KEY,
  org_id    bigint NOT NULL,
  user_id   bigint NOT NULL,
  role      text NOT NULL
);
CREATE INDEX org_members_org ON read.org_members (org_id, user_id);
CREATE INDEX org_members_user ON read.org_members (user_id);

CREATE TABLE read.workspaces (
  id           bigint PRIMARY KEY,
  org_id       bigint NOT NULL,
  name         text NOT NULL,
  full_name    text NOT NULL,
  description  text,
  visibility   text NOT NULL,
  date_created timestamptz NOT NULL,
  last_updated timestamptz NOT NULL
);
CREATE INDEX workspaces_org ON read.workspaces (org_id);

CREATE TABLE read.participants (
  participant_id bigint PRIMARY KEY,
  workspace_id   bigint NOT NULL,
  user_id        bigint NOT NULL,
  role           text NOT NULL
);
CREATE INDEX participants_ws ON read.participants (workspace_id, user_id);
CREATE INDEX participants_user ON read.participants (user_id);

CREATE TABLE read.compute_envs (
  id                    text PRIMARY KEY,
  workspace_id          bigint NOT NULL,
  name                  text NOT NULL,
  platform              text NOT NULL,
  config                jsonb NOT NULL,
  description           text,
  credentials_id        text,
  allow_custom_commands boolean NOT NULL DEFAULT false,
  status                text NOT NULL,
  message               text,
  deleted               boolean NOT NULL DEFAULT false,
  created_by            text NOT NULL,
  date_created          timestamptz NOT NULL,
  last_updated          timestamptz NOT NULL
);
CREATE INDEX compute_envs_ws ON read.compute_envs (workspace_id) WHERE NOT deleted;

CREATE TABLE read.data_links (
  id                text PRIMARY KEY,
  workspace_id      bigint NOT NULL,
  name              text NOT NULL,
  description       text,
  type              text NOT NULL,
  provider          text NOT NULL,
  resource_ref      text NOT NULL,
  public_accessible boolean NOT NULL DEFAULT false,
  credentials_id    text,
  status            text NOT NULL,
  created_by        text NOT NULL,
  date_created      timestamptz NOT NULL
);
CREATE INDEX data_links_ws ON read.data_links (workspace_id);

CREATE TABLE read.labels (
  id           bigint PRIMARY KEY,
  workspace_id bigint NOT NULL,
  name         text NOT NULL,
  value        text,
  resource     boolean NOT NULL DEFAULT false,
  is_default   boolean NOT NULL DEFAULT false,
  date_created timestamptz NOT NULL
);
CREATE INDEX labels_ws ON read.labels (workspace_id);
