-- Webhooks (docs/webhooks.md). Endpoints are events (webhook-*); these tables are the gateway's own data:
-- the signing secrets (never in an event: events are kept forever and relayed to every subscriber), the
-- endpoints as the fan-out subscription applied them, and the delivery queue with its log. The fan-out writes
-- endpoints and enqueues deliveries in the same transaction as its checkpoint (`webhooks.fanout`), so a restart
-- neither loses nor duplicates a delivery; the delivery worker only updates rows here.
CREATE SCHEMA IF NOT EXISTS webhooks;

CREATE TABLE IF NOT EXISTS webhooks.secrets (
  webhook_id  text PRIMARY KEY,
  secret      text NOT NULL,                      -- whsec_<base64 key>, handed out once at registration
  created_at  timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE IF NOT EXISTS webhooks.endpoints (
  id               text PRIMARY KEY,
  workspace_id     text NOT NULL,
  url              text NOT NULL,
  event_types      text[] NOT NULL DEFAULT '{}',  -- empty: every event of the workspace
  description      text,
  enabled          boolean NOT NULL DEFAULT true,
  disabled_reason  text,
  deleted          boolean NOT NULL DEFAULT false,
  created_by       text NOT NULL,
  date_created     timestamptz NOT NULL,
  last_updated     timestamptz NOT NULL
);
CREATE INDEX IF NOT EXISTS endpoints_workspace ON webhooks.endpoints (workspace_id) WHERE NOT deleted;

-- Which workspace a stream's events belong to: learnt from the first of its events that names one (a studio's
-- StudioCreated), so that later events without the field (StudioSessionRunning) reach the workspace's endpoints.
CREATE TABLE IF NOT EXISTS webhooks.stream_workspaces (
  stream_name   text PRIMARY KEY,
  workspace_id  text NOT NULL
);

CREATE TABLE IF NOT EXISTS webhooks.deliveries (
  id               uuid PRIMARY KEY,              -- also the webhook-id header: the same on every retry
  webhook_id       text NOT NULL,
  event_id         uuid NOT NULL,
  event_type       text NOT NULL,
  global_position  bigint NOT NULL,
  body             text NOT NULL,                 -- the exact bytes sent (and re-sent by a redelivery)
  status           text NOT NULL DEFAULT 'pending' CHECK (status IN ('pending', 'succeeded', 'failed')),
  attempts         int NOT NULL DEFAULT 0,        -- every attempt ever made (the log's numbering)
  round_attempts   int NOT NULL DEFAULT 0,        -- attempts since enqueue or the last redeliver (the schedule)
  next_attempt_at  timestamptz NOT NULL,
  locked_until     timestamptz,                   -- a worker's claim; a dead worker's claim expires
  last_status_code int,
  last_error       text,
  date_created     timestamptz NOT NULL DEFAULT now(),
  delivered_at     timestamptz,
  UNIQUE (webhook_id, event_id)
);
CREATE INDEX IF NOT EXISTS deliveries_due ON webhooks.deliveries (next_attempt_at) WHERE status = 'pending';
CREATE INDEX IF NOT EXISTS deliveries_log ON webhooks.deliveries (webhook_id, global_position DESC);

CREATE TABLE IF NOT EXISTS webhooks.attempts (
  delivery_id  uuid NOT NULL REFERENCES webhooks.deliveries (id) ON DELETE CASCADE,
  attempt      int NOT NULL,
  at           timestamptz NOT NULL,
  status_code  int,
  error        text,
  duration_ms  int NOT NULL,
  PRIMARY KEY (delivery_id, attempt)
);
