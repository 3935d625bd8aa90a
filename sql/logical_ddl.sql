-- Logical feeds across DDL: changes still in the WAL when their table is altered are stored by
-- the next pull in the table's new layout (columns match by attribute number, so a rename keeps
-- the values; a retyped column converts), exactly as the trigger feed of a twin table carries
-- them.  REPLICA IDENTITY cannot leave FULL.  Status names the oldest unpulled commit.  Pull's own
-- change-table writes never reach the decoder.
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
SET client_min_messages = warning;
CREATE TABLE ld_trig (id int PRIMARY KEY, v text, n int, gone text);
CREATE TABLE ld_log (id int PRIMARY KEY, v text, n int, gone text);
ALTER TABLE ld_log REPLICA IDENTITY FULL;
SELECT medallion.enable_feed('ld_log', mode => 'logical') IS NOT NULL AS fed;
SELECT medallion.enable_feed('ld_trig') IS NOT NULL AS fed;
SELECT medallion.pull() IS NULL AS drained;
SELECT medallion.current_version() AS v0 \gset

-- Nothing unpulled yet; a write to another table does not count.
CREATE TABLE ld_other (x int);
INSERT INTO ld_other VALUES (1);
SELECT oldest_unpulled_commit IS NULL AS nothing_unpulled FROM medallion.logical_status;
SELECT clock_timestamp() AS before_write \gset
INSERT INTO ld_log VALUES (0, 'zero', 0, 'g0');
INSERT INTO ld_trig VALUES (0, 'zero', 0, 'g0');
SELECT clock_timestamp() AS after_write \gset
INSERT INTO ld_log VALUES (-1, 'later', 0, NULL);
INSERT INTO ld_trig VALUES (-1, 'later', 0, NULL);
SELECT oldest_unpulled_commit BETWEEN :'before_write' AND :'after_write' AS oldest_is_first_write
FROM medallion.logical_status;

-- The same statements on both twins, with DDL in between; no pull until the end.
CREATE FUNCTION ld_both(stmt text) RETURNS void LANGUAGE plpgsql AS $$
BEGIN
	EXECUTE format(stmt, 'ld_trig');
	EXECUTE format(stmt, 'ld_log');
END $$;
SELECT ld_both('INSERT INTO %I SELECT g, ''v'' || g, g, ''g'' || g FROM generate_series(1, 10) g');
SELECT ld_both('UPDATE %I SET v = v || ''!'' WHERE id <= 3');
SELECT ld_both('ALTER TABLE %I RENAME COLUMN v TO label');
SELECT ld_both('UPDATE %I SET label = label || ''?'' WHERE id BETWEEN 3 AND 5');
SELECT ld_both('ALTER TABLE %I ALTER COLUMN n TYPE numeric(10,2)');
SELECT ld_both('UPDATE %I SET n = n + 0.25 WHERE id % 2 = 0');
SELECT ld_both('ALTER TABLE %I ADD COLUMN extra text DEFAULT ''dflt''');
SELECT ld_both('INSERT INTO %I VALUES (11, ''eleven'', 11, ''g11'', ''x11'')');
SELECT ld_both('DELETE FROM %I WHERE id = 1');
SELECT changes AS pulled FROM medallion.pull();
SELECT oldest_unpulled_commit IS NULL AS all_pulled FROM medallion.logical_status;

CREATE VIEW ld_changes AS
SELECT 'trig' AS feed, row_number() OVER (ORDER BY _commit_version, _change_seq) AS n,
       id, label, n AS num, extra, _change_type
FROM medallion_changes.ld_trig(:v0 + 1)
UNION ALL
SELECT 'log', row_number() OVER (ORDER BY _commit_version, _change_seq), id, label, n, extra, _change_type
FROM medallion_changes.ld_log(:v0 + 1);
SELECT feed, count(*) FROM ld_changes GROUP BY 1 ORDER BY 1;
SELECT count(*) AS differences FROM (
	(SELECT n, id, label, num, extra, _change_type FROM ld_changes WHERE feed = 'trig'
	 EXCEPT SELECT n, id, label, num, extra, _change_type FROM ld_changes WHERE feed = 'log')
	UNION ALL
	(SELECT n, id, label, num, extra, _change_type FROM ld_changes WHERE feed = 'log'
	 EXCEPT SELECT n, id, label, num, extra, _change_type FROM ld_changes WHERE feed = 'trig')) d;
-- The renamed and retyped columns kept their values through the DDL.
SELECT id, label, num, extra, _change_type FROM ld_changes WHERE feed = 'log' AND id IN (3, 4, 11)
ORDER BY n;

-- A column dropped while changes are in flight: those changes have it NULL (documented); the
-- other columns are intact.
DROP VIEW ld_changes;
INSERT INTO ld_log VALUES (12, 'twelve', 12, 'g12', 'x12');
ALTER TABLE ld_log DROP COLUMN gone;
SELECT changes AS pulled_after_drop FROM medallion.pull();
SELECT medallion.current_version() > :v0 AS ticked;
SELECT id, label, n, extra, _change_type FROM medallion_changes.ld_log(:v0 + 1) WHERE id = 12;
SELECT data->'gone' AS gone_of_12 FROM medallion.table_changes('ld_log', :v0 + 1) WHERE (data->>'id')::int = 12;

-- REPLICA IDENTITY must stay FULL while the feed exists.
SELECT expect_error('ALTER TABLE ld_log REPLICA IDENTITY DEFAULT');
SELECT relreplident FROM pg_class WHERE oid = 'ld_log'::regclass;
ALTER TABLE ld_trig REPLICA IDENTITY DEFAULT;     -- trigger feeds do not care

-- Pull's own writes are filtered before decoding: an observer slot without any exclusion sees the
-- source change and nothing of the change table.
SELECT 'init' FROM pg_create_logical_replication_slot('ld_observer', 'pg_medallion');
INSERT INTO ld_log VALUES (13, 'thirteen', 13, NULL);
SELECT changes AS pulled FROM medallion.pull();
SELECT data::jsonb->>'table' AS decoded_table, count(*)
FROM pg_logical_slot_get_changes('ld_observer', NULL, NULL) GROUP BY 1 ORDER BY 1;
SELECT 'dropped' FROM pg_drop_replication_slot('ld_observer');

DROP FUNCTION ld_both(text);
SELECT medallion.disable_feed('ld_log');
SELECT medallion.disable_feed('ld_trig');
DROP TABLE ld_log, ld_trig, ld_other;

-- Cleanup: every file starts from an empty database and leaves one.
SET client_min_messages = warning;
DROP EXTENSION pg_medallion CASCADE;
DROP SCHEMA medallion;
DROP FUNCTION expect_error(text);
RESET client_min_messages;
