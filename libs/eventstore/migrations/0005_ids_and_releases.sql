-- 1. Write-side numeric ids (users, tokens, orgs, members, workspaces, participants, labels) come from the store,
--    not from a read model: a read schema dropped and rebuilt (or a projection reset) would restart read.ids and
--    hand out ids that events already hold. Ids below 1000 stay free for bootstrap's deterministic ids.
CREATE SEQUENCE IF NOT EXISTS es.ids START WITH 1000;

-- An upgraded store carries on above every id already handed out: the old read.ids sequence if it is there, and
-- every numeric *_id in the events of the categories whose ids came from it (read.ids may have been reset).
DO $$
DECLARE
  floor bigint := 0;
  used bigint;
BEGIN
  IF to_regclass('read.ids') IS NOT NULL THEN
    EXECUTE 'SELECT CASE WHEN is_called THEN last_value ELSE 0 END FROM read.ids' INTO used;
    floor := greatest(floor, used);
  END IF;
  SELECT max(kv.value::bigint) INTO used
    FROM es.events e, jsonb_each_text(e.data) kv
   WHERE e.category IN ('user', 'token', 'org', 'workspace', 'label')
     AND kv.key LIKE '%\_id' AND kv.value ~ '^[0-9]{1,18}$';
  floor := greatest(floor, coalesce(used, 0));
  IF floor >= 1000 THEN
    PERFORM setval('es.ids', floor);  -- the next nextval is floor + 1
  END IF;
END $$;

-- 2. A name is given back only by the stream that holds it (libs/eventstore/reservations.py): a NameReleased must
--    follow a NameReserved by the same owner. Checked in the store, under the stream's advisory lock that the
--    append already holds, so no writer can slip between the check and the insert. The trigger's WHEN runs in the
--    executor for every row (no function call), so other events pay only a string comparison.
CREATE OR REPLACE FUNCTION es.check_release() RETURNS trigger
LANGUAGE plpgsql AS $$
DECLARE
  last_type text;
  holder text;
BEGIN
  SELECT e.event_type, e.data ->> 'owner' INTO last_type, holder
    FROM es.events e WHERE e.stream_name = NEW.stream_name AND e.stream_position = NEW.stream_position - 1;
  IF last_type = 'NameReserved' AND holder = NEW.data ->> 'owner' THEN
    RETURN NEW;
  END IF;
  IF EXISTS (SELECT 1 FROM es.events e WHERE e.event_id = NEW.event_id) THEN
    RETURN NEW;  -- a retry of a release already stored: the unique index refuses it and the client answers
  END IF;
  IF last_type = 'NameReserved' THEN
    RAISE EXCEPTION '% does not hold %: % does', NEW.data ->> 'owner', NEW.stream_name, holder
      USING ERRCODE = 'ES002', DETAIL = NEW.stream_name;
  END IF;
  RAISE EXCEPTION '% does not hold %: nobody does', NEW.data ->> 'owner', NEW.stream_name
    USING ERRCODE = 'ES002', DETAIL = NEW.stream_name;
END $$;

DROP TRIGGER IF EXISTS events_release_holder ON es.events;
CREATE TRIGGER events_release_holder BEFORE INSERT ON es.events
  FOR EACH ROW WHEN (NEW.event_type = 'NameReleased') EXECUTE FUNCTION es.check_release();
