-- Parked events that can be retried by their consumer (`studios parked retry`), and found per stream: a consumer
-- that parks an event of a stream holds every later event of that stream behind it, so a folding read model never
-- applies position N+1 over a missing N.
ALTER TABLE es.parked ADD COLUMN IF NOT EXISTS stream_position bigint;
ALTER TABLE es.parked ADD COLUMN IF NOT EXISTS retry_requested_at timestamptz;  -- set by an operator, cleared by the consumer
UPDATE es.parked p SET stream_position = e.stream_position FROM es.events e
 WHERE e.event_id = p.event_id AND p.stream_position IS NULL;
CREATE INDEX IF NOT EXISTS parked_consumer_stream ON es.parked (consumer, stream_name, stream_position);
