-- Partitioned sources: captured at the parent, whichever table a statement names.
CREATE EXTENSION pg_medallion;
-- expect_error runs a statement that must fail and shows its SQLSTATE, message and hint,
-- with numbers masked (versions and oids differ between runs).
CREATE FUNCTION expect_error(statement text) RETURNS text LANGUAGE plpgsql AS $$
DECLARE
	state text; msg text; hint text;
BEGIN
	EXECUTE statement;
	RETURN 'no error';
EXCEPTION WHEN OTHERS THEN
	GET STACKED DIAGNOSTICS state = RETURNED_SQLSTATE, msg = MESSAGE_TEXT, hint = PG_EXCEPTION_HINT;
	RETURN state || ': ' || regexp_replace(msg, '\d+', 'N', 'g')
		|| coalesce(' | hint: ' || nullif(regexp_replace(hint, '\d+', 'N', 'g'), ''), '');
END $$;
\set VERBOSITY terse
CREATE TABLE events (id int, region text, payload text, PRIMARY KEY (id, region)) PARTITION BY LIST (region);
CREATE TABLE events_eu PARTITION OF events FOR VALUES IN ('eu');
CREATE TABLE events_us (payload text, region text, id int, PRIMARY KEY (id, region));  -- other column order
ALTER TABLE events ATTACH PARTITION events_us FOR VALUES IN ('us');
SELECT medallion.enable_feed('events') IS NOT NULL AS enabled;
SELECT medallion.current_version() AS v0 \gset

INSERT INTO events VALUES (1, 'eu', 'via parent'), (2, 'us', 'via parent');
INSERT INTO events_eu VALUES (3, 'eu', 'direct');
INSERT INTO events_us (id, region, payload) VALUES (4, 'us', 'direct');
UPDATE events SET region = 'us' WHERE id = 1;            -- moves between partitions
UPDATE events_us SET payload = 'changed' WHERE id = 4;
DELETE FROM events_eu WHERE id = 3;
SELECT id, region, payload, _change_type FROM medallion_changes.events(:v0 + 1);

-- Partitions created, attached or detached later: direct writes follow membership.
SELECT medallion.current_version() AS v2 \gset
CREATE TABLE events_apac PARTITION OF events FOR VALUES IN ('apac');
CREATE TABLE events_latam (LIKE events);
ALTER TABLE events ATTACH PARTITION events_latam FOR VALUES IN ('latam');
ALTER TABLE events DETACH PARTITION events_us;
INSERT INTO events_apac VALUES (10, 'apac', 'direct to a new partition');
INSERT INTO events_latam VALUES (11, 'latam', 'direct to an attached table');
INSERT INTO events_us (id, region, payload) VALUES (12, 'us', 'to a detached table: not in the feed');
SELECT id, region, payload, _change_type FROM medallion_changes.events(:v2 + 1);
SELECT tgrelid::regclass::text AS table_with_capture_triggers, count(*) FROM pg_trigger
WHERE tgname LIKE 'medallion_%' AND tgrelid::regclass::text LIKE 'events%' GROUP BY 1 ORDER BY 1;
ALTER TABLE events ATTACH PARTITION events_us FOR VALUES IN ('us');

-- Feeds on a partition of a fed table, or on a parent of a fed partition, are refused.
SELECT expect_error('SELECT medallion.enable_feed(''events_eu'')');
CREATE TABLE metrics (id int, day date) PARTITION BY RANGE (day);
CREATE TABLE metrics_2026 PARTITION OF metrics FOR VALUES FROM ('2026-01-01') TO ('2027-01-01');
SELECT medallion.enable_feed('metrics_2026') IS NOT NULL AS partition_feed;
SELECT expect_error('SELECT medallion.enable_feed(''metrics'')');

-- TRUNCATE of the fed table is one change; of a single partition it is refused.
SELECT expect_error('TRUNCATE events_eu');
SELECT medallion.current_version() AS v1 \gset
TRUNCATE events;
SELECT id, _change_type FROM medallion_changes.events(:v1 + 1);

-- Cleanup: every file starts from an empty database and leaves one.
SET client_min_messages = warning;
DROP EXTENSION pg_medallion CASCADE;
DROP SCHEMA medallion;
DROP TABLE events, metrics;
DROP FUNCTION expect_error(text);
RESET client_min_messages;
