-- Logical feeds: enable_feed(mode => 'logical') and pull store WAL-decoded changes into the same change
-- tables as trigger feeds; the same workload on a trigger-fed and a logical-fed table gives the same
-- changes (types, images, per-row order).  The slot goes with the last logical feed.
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
CREATE TABLE lg_trig (id int PRIMARY KEY, v text, n numeric, big text);
CREATE TABLE lg_log (id int PRIMARY KEY, v text, n numeric, big text);
-- Refused: pre-images need REPLICA IDENTITY FULL; partitioned sources; a slot made after a write.
SELECT expect_error($$SELECT medallion.enable_feed('lg_log', mode => 'logical')$$);
CREATE TABLE lg_parted (id int) PARTITION BY RANGE (id);
ALTER TABLE lg_parted REPLICA IDENTITY FULL;
SELECT expect_error($$SELECT medallion.enable_feed('lg_parted', mode => 'logical')$$);
ALTER TABLE lg_log REPLICA IDENTITY FULL;
ALTER TABLE lg_log ALTER COLUMN big SET STORAGE EXTERNAL;
BEGIN;
CREATE TABLE lg_scratch (x int);
SELECT expect_error($$SELECT medallion.enable_feed('lg_log', mode => 'logical')$$);
ROLLBACK;
SELECT count(*) AS no_slot_yet FROM pg_replication_slots WHERE slot_name LIKE 'medallion_%';
-- Nothing to pull before any logical feed exists.
SELECT count(*) AS nothing FROM medallion.pull();

SELECT medallion.enable_feed('lg_log', mode => 'logical') IS NOT NULL AS fed;
SELECT medallion.enable_feed('lg_trig') IS NOT NULL AS fed;
SELECT mode FROM medallion.feeds WHERE source = 'lg_log'::regclass;
SELECT count(*) AS slots FROM pg_replication_slots WHERE slot_name LIKE 'medallion_%';
SELECT medallion.current_version() AS v0 \gset

-- The same random workload on both tables, statement by statement.
CREATE FUNCTION lg_both(stmt text) RETURNS void LANGUAGE plpgsql AS $$
BEGIN
	EXECUTE format(stmt, 'lg_trig');
	EXECUTE format(stmt, 'lg_log');
END $$;
SELECT setseed(0.42);
SELECT lg_both(format('INSERT INTO %%I SELECT g, ''v'' || g, g * 1.5, CASE WHEN g %%%% 7 = 0 THEN repeat(''t'', 3000) END FROM generate_series(1, 40) g'));
SELECT lg_both(s) FROM (
	SELECT CASE floor(random() * 4)
		WHEN 0 THEN format('UPDATE %%I SET v = %L WHERE id = %s', 'u' || i, 1 + floor(random() * 40))
		WHEN 1 THEN format('DELETE FROM %%I WHERE id = %s', 1 + floor(random() * 40))
		WHEN 2 THEN format('INSERT INTO %%I VALUES (%s, %L, NULL, NULL) ON CONFLICT (id) DO UPDATE SET n = EXCLUDED.id', 100 + i, 'i' || i)
		ELSE format('UPDATE %%I SET id = id + 1000 WHERE id = %s', 1 + floor(random() * 40)) END AS s
	FROM generate_series(1, 60) i ORDER BY i) w;
SELECT lg_both('UPDATE %I SET n = 0 WHERE id %% 7 = 0');          -- TOASTed big unchanged
SELECT lg_both('TRUNCATE %I');
SELECT lg_both('INSERT INTO %I VALUES (1, ''after'', 1, NULL)');
-- A small max_changes pulls in steps (whole transactions), never twice.
SELECT changes > 0 AS pulled FROM medallion.pull(max_changes => 5);
SELECT changes > 0 AS pulled_rest FROM medallion.pull();
SELECT changes AS nothing_left FROM medallion.pull();

CREATE VIEW lg_changes AS
SELECT 'trig' AS feed, row_number() OVER (ORDER BY _commit_version, _change_seq) AS n, id, v, n AS num, big, _change_type
FROM medallion_changes.lg_trig(:v0 + 1)
UNION ALL
SELECT 'log', row_number() OVER (ORDER BY _commit_version, _change_seq), id, v, n, big, _change_type
FROM medallion_changes.lg_log(:v0 + 1);
SELECT (SELECT count(*) FROM lg_changes WHERE feed = 'trig') AS trig_changes,
       (SELECT count(*) FROM lg_changes WHERE feed = 'log') AS log_changes;
-- Same changes in the same per-table order: EXCEPT both ways (row number = position in the feed).
SELECT count(*) AS differences FROM (
	(SELECT n, id, v, num, big, _change_type FROM lg_changes WHERE feed = 'trig'
	 EXCEPT SELECT n, id, v, num, big, _change_type FROM lg_changes WHERE feed = 'log')
	UNION ALL
	(SELECT n, id, v, num, big, _change_type FROM lg_changes WHERE feed = 'log'
	 EXCEPT SELECT n, id, v, num, big, _change_type FROM lg_changes WHERE feed = 'trig')) d;
SELECT _change_type, count(*) FROM lg_changes WHERE feed = 'log' GROUP BY 1 ORDER BY 1;

-- A rolled-back pull stores nothing and moves no watermark: the next pull gets the same changes.
SELECT lg_both('INSERT INTO %I VALUES (2, ''rolled'', 2, NULL)');
SELECT stored_lsn AS before_lsn FROM medallion.logical_slot \gset
BEGIN;
SELECT changes FROM medallion.pull();
ROLLBACK;
SELECT stored_lsn = :'before_lsn' AS watermark_unmoved FROM medallion.logical_slot;
SELECT changes FROM medallion.pull();
SELECT count(*) AS stored_once FROM medallion_changes.lg_log(:v0 + 1) WHERE v = 'rolled';

SELECT expect_error('SELECT * FROM medallion.pull(0)');
DROP VIEW lg_changes;
SELECT medallion.disable_feed('lg_log');
SELECT count(*) AS slots_after_last_logical_feed FROM pg_replication_slots WHERE slot_name LIKE 'medallion_%';
SELECT medallion.disable_feed('lg_trig');
DROP FUNCTION lg_both(text);

-- Status and a lost slot: pull refuses instead of leaving a gap.
SELECT medallion.enable_feed('lg_log', mode => 'logical') IS NOT NULL AS fed_again;
SELECT slot_name LIKE 'medallion_%' AS named, wal_status, lag_bytes >= 0 AS lag_known, feeds
FROM medallion.logical_status;
SELECT 'dropped' FROM pg_drop_replication_slot((SELECT slot_name FROM medallion.logical_slot));
SELECT expect_error('SELECT * FROM medallion.pull()');
SELECT medallion.disable_feed('lg_log');
SELECT count(*) AS registrations FROM medallion.logical_slot;

-- Cleanup: every file starts from an empty database and leaves one.
SET client_min_messages = warning;
DROP EXTENSION pg_medallion CASCADE;
DROP SCHEMA medallion;
DROP TABLE lg_parted, lg_log, lg_trig;
DROP FUNCTION expect_error(text);
RESET client_min_messages;
