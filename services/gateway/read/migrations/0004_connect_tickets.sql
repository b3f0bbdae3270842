-- Studio origins (docs/operations.md, "Studio origins"): single-use connect tickets and the sessions they open on a
-- studio's own origin. Both are secrets, so they live here and never in an event; only SHA-256 hashes are stored.
-- The user's credential is referenced by its token's hash (read.tokens.token_hash), so revoking or expiring the
-- token ends every studio session opened with it at the next request.
CREATE SCHEMA IF NOT EXISTS connect;

CREATE TABLE IF NOT EXISTS connect.tickets (
  ticket_hash  text PRIMARY KEY,
  session_id   text NOT NULL,           -- the studio the ticket opens, and no other
  token_hash   text NOT NULL,
  expires_at   timestamptz NOT NULL
);
CREATE INDEX IF NOT EXISTS tickets_expiry ON connect.tickets (expires_at);

CREATE TABLE IF NOT EXISTS connect.origin_sessions (
  cookie_hash  text PRIMARY KEY,
  session_id   text NOT NULL,
  token_hash   text NOT NULL,
  expires_at   timestamptz NOT NULL
);
CREATE INDEX IF NOT EXISTS origin_sessions_expiry ON connect.origin_sessions (expires_at);
