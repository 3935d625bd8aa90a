-- ALTER EXTENSION pg_medallion UPDATE from the shipped 0.1.0 keeps feeds, consumers, merge state and
-- watermarks working, and brings the 0.2.0 privilege model.  Runs in a database of its own.
CREATE DATABASE medallion_upgrade;
\c medallion_upgrade
SET client_min_messages = warning;
CREATE EXTENSION pg_medallion VERSION '0.1.0';
SELECT extversion FROM pg_extension WHERE extname = 'pg_medallion';
CREATE TABLE orders (id int PRIMARY KEY, status text);
SELECT medallion.enable_feed('orders') IS NOT NULL AS fed;
SELECT count(*) FROM medallion.create_consumer('silver', ARRAY['orders']::regclass[], 'earliest');
INSERT INTO orders VALUES (1, 'new'), (2, 'new');
CREATE TABLE silver_orders (id int PRIMARY KEY, status text, _commit_version bigint, _change_seq bigint);
SELECT inserted FROM medallion.apply_changes('silver_orders',
	$$SELECT * FROM medallion_changes.orders('silver')$$, '{id}', '{_commit_version,_change_seq}');
-- Under 0.1.0 PUBLIC may execute the internal entry points.
SELECT has_function_privilege('public', 'medallion._capture()', 'EXECUTE') AS capture_public_before;

ALTER EXTENSION pg_medallion UPDATE;
SELECT extversion FROM pg_extension WHERE extname = 'pg_medallion';
-- Internal entry points and the slot-taking functions are no longer PUBLIC's.
SELECT p.oid::regprocedure AS function, has_function_privilege('public', p.oid, 'EXECUTE') AS public_may_execute
FROM pg_proc p WHERE p.pronamespace = 'medallion'::regnamespace
  AND p.proname IN ('_capture', '_truncate_guard', '_sync_partition_triggers', '_detach_dropped_feeds',
					'_note_extension_drop', 'pull', 'oldest_unpulled_commit', '_oldest_unpulled_for_status')
ORDER BY 1::text;
-- What was there keeps working: capture, the consumer's watermark, the merge state.
UPDATE orders SET status = 'paid' WHERE id = 1;
DELETE FROM orders WHERE id = 2;
SELECT inserted, updated, deleted FROM medallion.apply_changes('silver_orders',
	$$SELECT * FROM medallion_changes.orders('silver')$$, '{id}', '{_commit_version,_change_seq}');
SELECT id, status FROM silver_orders ORDER BY id;
-- A late re-insert of 2 from before the delete stays deleted: the tombstones survived the update.
SELECT stale_skipped FROM medallion.apply_changes('silver_orders',
	$$SELECT 2 AS id, 'new' AS status, 1::bigint AS _commit_version, 0::bigint AS _change_seq$$,
	'{id}', '{_commit_version,_change_seq}');
SELECT count(*) AS rows_of_2 FROM silver_orders WHERE id = 2;
-- Everyone may read the status view; it takes no slot for a role that may not decode.
CREATE ROLE upgrade_stranger;
SET ROLE upgrade_stranger;
SELECT count(*) >= 0 AS status_readable FROM medallion.logical_status;
RESET ROLE;
\c contrib_regression
DROP DATABASE medallion_upgrade;
DROP ROLE upgrade_stranger;
