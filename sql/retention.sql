-- medallion.vacuum: versions older than the retention go by whole partitions, never what a
-- consumer still needs (unless forced); reads of removed versions fail clearly; set_retention;
-- merge tombstones expire.  Ticks are aged by hand to stand in for the passing of days.
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
SET pg_medallion.partition_xids = 1024;
CREATE TABLE ret (id int PRIMARY KEY, v text);
SELECT medallion.enable_feed('ret') IS NOT NULL AS fed;
-- burn spends transaction ids so that changes spread over several partitions.
CREATE PROCEDURE burn(n int) LANGUAGE plpgsql AS $$
BEGIN
	FOR i IN 1 .. n LOOP
		PERFORM pg_current_xact_id();
		COMMIT;
	END LOOP;
END $$;
CREATE VIEW ret_partitions AS
SELECT count(*) AS partitions FROM pg_inherits i JOIN medallion.feed f ON i.inhparent = f.change_table::oid
WHERE f.source = 'ret'::regclass;

INSERT INTO ret SELECT g, 'old' FROM generate_series(1, 100) g;
SELECT medallion.current_version() IS NOT NULL AS closed;
CALL burn(1100);
UPDATE ret SET v = 'older' WHERE id <= 10;
CALL burn(1100);
SELECT medallion.current_version() AS v1 \gset
INSERT INTO ret SELECT g, 'new' FROM generate_series(101, 150) g;
DELETE FROM ret WHERE id = 1;
SELECT medallion.current_version() AS v2 \gset
SELECT medallion.first_version('ret') AS first \gset
SELECT count(*) AS changes_v1_to_v2 FROM medallion_changes.ret(:first, :v2) \gset

-- A consumer that has read nothing pins every version.
SELECT medallion.create_consumer('ret_slow', '{ret}', 'earliest') IS NOT NULL AS created;

-- Everything up to v1 is now "30 days old".
UPDATE medallion.tick SET committed_at = committed_at - interval '30 days' WHERE version <= :v1;
SELECT partitions AS partitions_before FROM ret_partitions \gset

-- Pinned: nothing goes, and the report says who pins.
SELECT versions_removed, rows_removed, bytes_freed, oldest_kept_version = :first AS kept_all, pinned_by
FROM medallion.vacuum('ret');
-- A dry run with force says what would go, and changes nothing.
SELECT versions_removed = :v1 + 1 - :first AS would_remove_to_v1, rows_removed > 0 AS rows, bytes_freed > 0 AS bytes,
       oldest_kept_version = :v1 + 1 AS kept_from_v1_plus_1, pinned_by
FROM medallion.vacuum('ret', dry_run => true, force => true);
SELECT partitions = :partitions_before AS dry_run_dropped_nothing FROM ret_partitions;
SELECT count(*) = :changes_v1_to_v2 AS still_readable FROM medallion_changes.ret(:first, :v2);

-- The consumer catches up; now vacuum removes versions up to v1 by dropping whole partitions.
SELECT count(*) > 0 AS consumed FROM medallion_changes.ret('ret_slow');
SELECT versions_removed = :v1 + 1 - :first AS removed_to_v1, rows_removed >= 100 AS rows, bytes_freed > 0 AS bytes,
       oldest_kept_version = :v1 + 1 AS kept_from_v1_plus_1, pinned_by
FROM medallion.vacuum('ret');
SELECT partitions < :partitions_before AS partitions_dropped FROM ret_partitions;
-- Again: nothing left to remove.
SELECT versions_removed, rows_removed, bytes_freed FROM medallion.vacuum('ret');

-- A removed version is an error naming the oldest readable one; the kept versions are whole.
SELECT expect_error(format('SELECT count(*) FROM medallion_changes.ret(%s, %s)', :first, :v2));
SELECT expect_error(format('SELECT count(*) FROM medallion.table_changes(''ret'', %s)', :v1));
SELECT _change_type, count(*) FROM medallion_changes.ret(:v1 + 1, :v2) GROUP BY 1 ORDER BY 1;
SELECT expect_error(format('SELECT * FROM medallion.reset_consumer(''ret_slow'', %s)', :first));
-- 'earliest' now means the oldest readable version.
SELECT medallion.create_consumer('ret_new', '{ret}', 'earliest') IS NOT NULL AS created;
SELECT watermark = :v1 AS starts_after_removed FROM medallion.consumer_feed WHERE consumer = 'ret_new';
SELECT medallion.drop_consumer('ret_new');

-- force: a consumer behind the cut becomes stale and says so on its next read.
SELECT medallion.create_consumer('ret_late', '{ret}', 'earliest') IS NOT NULL AS created;
UPDATE ret SET v = 'v3' WHERE id = 2;
SELECT medallion.current_version() AS v3 \gset
UPDATE medallion.tick SET committed_at = committed_at - interval '30 days' WHERE version <= :v2;
SELECT versions_removed, pinned_by FROM medallion.vacuum('ret');
SELECT versions_removed = :v2 - :v1 AS removed_to_v2, oldest_kept_version = :v2 + 1 AS kept_from_v2_plus_1, pinned_by
FROM medallion.vacuum('ret', force => true);
SELECT expect_error('SELECT count(*) FROM medallion_changes.ret(''ret_late'')');
SELECT old_watermark < new_watermark AS moved FROM medallion.reset_consumer('ret_late', :v2);
SELECT v, _change_type FROM medallion_changes.ret('ret_late') ORDER BY _change_seq;

-- Retention settings: per feed (set_retention), else pg_medallion.retention; a short one needs force.
SELECT medallion.set_retention('ret', interval '60 days');
UPDATE ret SET v = 'v4' WHERE id = 3;
SELECT medallion.current_version() AS v4 \gset
UPDATE medallion.tick SET committed_at = committed_at - interval '30 days' WHERE version > :v2 AND version <= :v3;
SELECT versions_removed FROM medallion.vacuum('ret');                 -- 30 days < 60 days: kept
SELECT medallion.set_retention('ret', NULL);
SET pg_medallion.retention = '40d';
SELECT versions_removed FROM medallion.vacuum('ret');                 -- 30 days < 40 days: kept
RESET pg_medallion.retention;
SELECT expect_error($$SELECT * FROM medallion.vacuum('ret', retain => interval '5 minutes')$$);
SELECT versions_removed FROM medallion.vacuum('ret', retain => interval '5 minutes', force => true, dry_run => true);
SET pg_medallion.min_retention = 0;
SELECT versions_removed >= 1 AS removes_recent_when_allowed
FROM medallion.vacuum('ret', retain => interval '0 seconds', dry_run => true, force => true);
RESET pg_medallion.min_retention;

-- Bad calls.
CREATE TABLE not_fed (id int);
SELECT expect_error($$SELECT * FROM medallion.vacuum('not_fed')$$);
SELECT expect_error($$SELECT * FROM medallion.vacuum('ret', retain => interval '-1 day', force => true)$$);
SELECT expect_error($$SELECT medallion.set_retention('not_fed', interval '1 day')$$);
SELECT expect_error($$SELECT medallion.set_retention(NULL, interval '1 day')$$);
CREATE ROLE ret_stranger;
GRANT SELECT ON ret TO ret_stranger;
SET ROLE ret_stranger;
SELECT expect_error($$SELECT * FROM medallion.vacuum('ret')$$);
SELECT count(*) AS nothing_owned FROM medallion.vacuum();
SELECT expect_error($$SELECT medallion.set_retention('ret', interval '1 day')$$);
RESET ROLE;
DROP OWNED BY ret_stranger;
DROP ROLE ret_stranger;

-- Merge tombstones expire with retention; a tombstone within it stays.
CREATE TABLE ret_target (id int PRIMARY KEY, seq int, v text);
SELECT deleted, unchanged FROM medallion.apply_changes('ret_target',
	$$SELECT * FROM (VALUES (1, 1, 'a', 'I'), (2, 1, 'b', 'I'), (3, 5, NULL, 'D'), (4, 5, NULL, 'D')) v(id, seq, v, op)$$,
	'{id}', '{seq}', delete_when => $$op = 'D'$$, except_columns => '{op}');
UPDATE medallion_state.ret_target_tombstones SET _deleted_at = now() - interval '30 days' WHERE id = 3;
SELECT feed, versions_removed, rows_removed, oldest_kept_version, pinned_by FROM medallion.vacuum('ret_target', dry_run => true);
SELECT feed, rows_removed FROM medallion.vacuum('ret_target');
SELECT id FROM medallion_state.ret_target_tombstones ORDER BY id;
-- SCD2 history: versions that ended before the retention go, with the events only they needed; the
-- history that stays is recomputed the same when the key changes again.
CREATE TABLE ret_hist (id int, status text, ts timestamptz, _valid_from timestamptz, _valid_to timestamptz,
	UNIQUE (id, ts));
SELECT inserted FROM medallion.apply_changes('ret_hist', $$
	SELECT * FROM (VALUES (1, 'a', now() - interval '40 days'), (1, 'b', now() - interval '35 days'),
	                      (1, 'c', now() - interval '1 day'), (2, 'x', now() - interval '50 days')) v(id, status, ts)$$,
	'{id}', '{ts}', scd_type => 2);
SELECT feed, rows_removed FROM medallion.vacuum('ret_hist', retain => interval '30 days', dry_run => true);
SELECT feed, rows_removed FROM medallion.vacuum('ret_hist', retain => interval '30 days');
SELECT id, status, _valid_to IS NULL AS current FROM ret_hist ORDER BY id, ts;
SELECT count(*) AS events_left FROM medallion_state.ret_hist_history_events;
SELECT inserted, updated, deleted FROM medallion.apply_changes('ret_hist',
	$$SELECT 1 AS id, 'd' AS status, now() AS ts$$, '{id}', '{ts}', scd_type => 2);
SELECT id, status, _valid_to IS NULL AS current FROM ret_hist ORDER BY id, ts;
-- vacuum() of everything reports every feed and merge target the caller owns.
SELECT count(*) >= 2 AS reports_feeds_and_targets FROM medallion.vacuum();

SELECT medallion.drop_consumer('ret_slow');
SELECT medallion.drop_consumer('ret_late');

-- Cleanup: every file starts from an empty database and leaves one.
SET client_min_messages = warning;
DROP VIEW ret_partitions;
DROP EXTENSION pg_medallion CASCADE;
DROP SCHEMA medallion;
DROP TABLE not_fed, ret, ret_hist, ret_target;
DROP PROCEDURE burn;
DROP FUNCTION expect_error(text);
RESET client_min_messages;
