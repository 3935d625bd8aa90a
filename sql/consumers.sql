-- Consumers: watermarks per (consumer, feed), read exactly the unconsumed range, advance atomically.
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
CREATE TABLE shop_orders (id int PRIMARY KEY, status text);
CREATE TABLE shop_customers (id int PRIMARY KEY, name text);
SELECT medallion.enable_feed('shop_orders') IS NOT NULL AS orders_fed;
SELECT medallion.enable_feed('shop_customers') IS NOT NULL AS customers_fed;
INSERT INTO shop_orders VALUES (1, 'new');
SELECT medallion.current_version() AS v1 \gset

-- Starts: 'earliest' reads everything the feed captured, 'latest' only what comes next,
-- a version number starts reading at that version.
SELECT feed, watermark = medallion.first_version(feed) - 1 AS at_feed_start
FROM medallion.create_consumer('silver', ARRAY['shop_orders', 'shop_customers']::regclass[], 'earliest');
SELECT feed, watermark >= :v1 AS at_newest FROM medallion.create_consumer('fresh', ARRAY['shop_orders']::regclass[]);
SELECT watermark = :v1 - 1 AS before_v1 FROM medallion.create_consumer('from_v1', ARRAY['shop_orders']::regclass[], :'v1');
SELECT consumer, feed, next_version = watermark + 1 AS next_after_watermark FROM medallion.consumers ORDER BY 1, 2::text;

-- consume returns (watermark, newest]: both sides of the semantics table in README.
INSERT INTO shop_orders VALUES (2, 'new');
INSERT INTO shop_customers VALUES (1, 'ann');
SELECT data, _change_type FROM medallion.consume('silver', 'shop_orders');
SELECT data, _change_type FROM medallion.consume('silver', 'shop_orders');   -- nothing new: empty
SELECT data, _change_type FROM medallion.consume('fresh', 'shop_orders');    -- only what came after it
SELECT data->>'id' AS id FROM medallion.consume('from_v1', 'shop_orders');    -- from version v1 on

-- Rollback means the same range is read again; commit acknowledges it.
UPDATE shop_orders SET status = 'paid' WHERE id = 1;
BEGIN;
SELECT count(*) AS first_read FROM medallion.consume('silver', 'shop_orders');
ROLLBACK;
BEGIN;
SELECT count(*) AS read_again FROM medallion.consume('silver', 'shop_orders');
COMMIT;
SELECT count(*) AS acknowledged FROM medallion.consume('silver', 'shop_orders');

-- One transaction reads all feeds of a consumer up to the same version (a consistent cut):
-- a write committed by another session between the two reads is left for the next transaction.
BEGIN;
SELECT id, name, _change_type FROM medallion_changes.shop_customers('silver');
SELECT count(*) AS orders_in_cut FROM medallion_changes.shop_orders('silver');
SELECT count(DISTINCT watermark) AS one_cut FROM medallion.consumer_feed WHERE consumer = 'silver';
COMMIT;

-- max_versions reads at most that many versions, never splitting one.
INSERT INTO shop_orders VALUES (10, 'a'), (11, 'a');
SELECT medallion.current_version() AS va \gset
INSERT INTO shop_orders VALUES (12, 'b');
SELECT medallion.current_version() AS vb \gset
INSERT INTO shop_orders VALUES (13, 'c');
SELECT data->>'id' AS id, _commit_version - :va AS version FROM medallion.consume('silver', 'shop_orders', max_versions => 1);
SELECT data->>'id' AS id, _commit_version - :va AS version FROM medallion.consume('silver', 'shop_orders', max_versions => 1);
SELECT data->>'id' AS id FROM medallion.consume('silver', 'shop_orders');

-- peek reads without advancing; the typed reader consumes with typed columns.
UPDATE shop_orders SET status = 'shipped' WHERE id = 10;
SELECT count(*) AS peeked FROM medallion.peek('silver', 'shop_orders');
SELECT id, status, _change_type FROM medallion_changes.shop_orders('silver', peek => true);
SELECT id, status, _change_type FROM medallion_changes.shop_orders('silver');
SELECT count(*) AS after_typed_consume FROM medallion.peek('silver', 'shop_orders');

-- reset_consumer rewinds (or skips) on purpose, and says so in the log.
SELECT feed, new_watermark = medallion.first_version('shop_orders') - 1 AS rewound
FROM medallion.reset_consumer('silver', medallion.first_version('shop_orders') - 1, 'shop_orders');
SELECT count(*) AS replayed FROM medallion.consume('silver', 'shop_orders');
SELECT name, source, action FROM medallion.watermark_log WHERE name = 'silver' ORDER BY at;

-- A consumer whose next version was removed is stale: an error, never a silent skip.
SELECT medallion.current_version() AS vs \gset
SELECT * FROM medallion.reset_consumer('fresh', :vs - 3) \gset ignored_
DELETE FROM medallion.tick WHERE version = :vs - 3;
SELECT expect_error('SELECT * FROM medallion.consume(''fresh'', ''shop_orders'')');
INSERT INTO medallion.tick SELECT :vs - 3, snapshot_xmin, snapshot_xmax, snapshot_xip, committed_at, NULL
FROM medallion.tick WHERE version = :vs - 4;

-- Bad input: each error changes nothing.
SELECT expect_error('SELECT * FROM medallion.consume(''nobody'', ''shop_orders'')');
SELECT expect_error('SELECT * FROM medallion.consume(''fresh'', ''shop_customers'')');
SELECT expect_error('SELECT * FROM medallion.consume(NULL, ''shop_orders'')');
SELECT expect_error('SELECT * FROM medallion.consume('''', ''shop_orders'')');
SELECT expect_error('SELECT * FROM medallion.consume(''silver'', NULL)');
SELECT expect_error('SELECT * FROM medallion.consume(''silver'', ''shop_orders'', 0)');
SELECT expect_error('SELECT * FROM medallion.consume(''silver'', ''pg_class'')');
SELECT expect_error('SELECT * FROM medallion.create_consumer(''silver'', ARRAY[''shop_orders'']::regclass[])');
SELECT expect_error('SELECT * FROM medallion.create_consumer(''x'', NULL)');
SELECT expect_error('SELECT * FROM medallion.create_consumer(''x'', ARRAY[]::regclass[])');
SELECT expect_error('SELECT * FROM medallion.create_consumer(''x'', ARRAY[''shop_orders'', NULL]::regclass[])');
SELECT expect_error('SELECT * FROM medallion.create_consumer(''x'', ARRAY[''shop_orders'', ''shop_orders'']::regclass[])');
SELECT expect_error('SELECT * FROM medallion.create_consumer(''x'', ARRAY[''pg_class'']::regclass[])');
SELECT expect_error('SELECT * FROM medallion.create_consumer(''x'', ARRAY[''shop_orders'']::regclass[], ''yesterday'')');
SELECT expect_error('SELECT * FROM medallion.create_consumer(''x'', ARRAY[''shop_orders'']::regclass[], ''999999999'')');
SELECT expect_error('SELECT * FROM medallion.create_consumer(''x'', ARRAY[''shop_orders'']::regclass[], ''0'')');
SELECT expect_error('SELECT * FROM medallion.reset_consumer(''silver'', -1)');
SELECT expect_error('SELECT * FROM medallion.reset_consumer(''silver'', NULL)');
SELECT expect_error('SELECT * FROM medallion.reset_consumer(''silver'', 999999999)');
SELECT expect_error('SELECT * FROM medallion.reset_consumer(''fresh'', 1, ''shop_customers'')');
SELECT expect_error('SELECT medallion.drop_consumer(''nobody'')');
SELECT expect_error('SELECT medallion.disable_feed(''shop_orders'')');
SELECT count(*) AS consumers_unchanged FROM medallion.consumer;

-- Consumers belong to their owner.
CREATE ROLE consumer_stranger;
GRANT SELECT ON shop_orders TO consumer_stranger;
SET ROLE consumer_stranger;
SELECT expect_error('SELECT * FROM medallion.consume(''silver'', ''shop_orders'')');
SELECT expect_error('SELECT medallion.drop_consumer(''silver'')');
SELECT expect_error('UPDATE medallion.consumer_feed SET watermark = 0');
RESET ROLE;

-- drop_consumer removes the watermarks (logged); then the feed can be disabled.
SELECT medallion.drop_consumer('fresh');
SELECT medallion.drop_consumer('from_v1');
SELECT consumer FROM medallion.consumers GROUP BY 1;

-- External watermarks: a declared kind, monotonic advance, forced rewinds logged.
SELECT medallion.create_watermark('ingest', 'kafka:orders', 'bigint');
SELECT medallion.watermark('ingest', 'kafka:orders') IS NULL AS unset;
SELECT medallion.advance_watermark('ingest', 'kafka:orders', '100', run_id => 'run-1');
SELECT medallion.advance_watermark('ingest', 'kafka:orders', '100');   -- equal: fine
SELECT expect_error('SELECT medallion.advance_watermark(''ingest'', ''kafka:orders'', ''99'')');
SELECT expect_error('SELECT medallion.advance_watermark(''ingest'', ''kafka:orders'', ''ten'')');
SELECT medallion.advance_watermark('ingest', 'kafka:orders', '9', force => true);
SELECT medallion.watermark('ingest', 'kafka:orders');
SELECT action, old_value, new_value FROM medallion.watermark_log WHERE name = 'ingest' ORDER BY at;
-- numbers compare as numbers, text as bytes, LSNs as LSNs
SELECT medallion.advance_watermark('ingest', 'kafka:orders', '10');
SELECT medallion.create_watermark('ingest', 'files', 'text');
SELECT medallion.advance_watermark('ingest', 'files', 'part-0009');
SELECT expect_error('SELECT medallion.advance_watermark(''ingest'', ''files'', ''part-0008'')');
SELECT medallion.create_watermark('ingest', 'upstream-wal', 'lsn');
SELECT medallion.advance_watermark('ingest', 'upstream-wal', '0/9000000');
SELECT medallion.advance_watermark('ingest', 'upstream-wal', '0/10000000');
SELECT expect_error('SELECT medallion.advance_watermark(''ingest'', ''upstream-wal'', ''0/A000000'')');
-- event time with allowed lateness
SELECT medallion.create_watermark('ingest', 'clicks', 'timestamptz', allowed_lateness => '10 minutes');
SELECT medallion.is_late('ingest', 'clicks', '2026-01-01 00:00+00') AS late_before_any_mark;
SELECT medallion.advance_watermark('ingest', 'clicks', '2026-03-01 12:00+00') IS NOT NULL AS advanced;
SELECT t, medallion.is_late('ingest', 'clicks', t) AS late
FROM unnest(ARRAY['2026-03-01 11:55+00', '2026-03-01 11:50+00', '2026-03-01 11:49:59+00']::timestamptz[]) t;
SELECT expect_error('SELECT medallion.is_late(''ingest'', ''files'', now())');
SELECT expect_error('SELECT medallion.create_watermark(''ingest'', ''kafka:orders'', ''bigint'')');
SELECT expect_error('SELECT medallion.create_watermark(''ingest'', ''x'', ''float'')');
SELECT expect_error('SELECT medallion.create_watermark(''ingest'', ''x'', ''bigint'', ''1 minute'')');
SELECT expect_error('SELECT medallion.create_watermark(NULL, ''x'', ''bigint'')');
SELECT expect_error('SELECT medallion.watermark(''ingest'', ''nothing'')');
SELECT expect_error('SELECT medallion.advance_watermark(''ingest'', ''kafka:orders'', NULL)');
-- marks belong to their owner
SET ROLE consumer_stranger;
SELECT expect_error('SELECT medallion.advance_watermark(''ingest'', ''kafka:orders'', ''1000'')');
UPDATE medallion.external_watermark SET value = '0';  -- row-level security: touches no row of others
SELECT medallion.watermark('ingest', 'kafka:orders') AS others_can_read;
RESET ROLE;

-- net => true: the range collapsed to its effect per primary key.
CREATE TABLE accounts_net (id int PRIMARY KEY, balance int);
SELECT medallion.enable_feed('accounts_net') IS NOT NULL AS fed;
INSERT INTO accounts_net VALUES (1, 10), (2, 20), (3, 30), (4, 40), (5, 50);
SELECT count(*) >= 0 AS created FROM medallion.create_consumer('netc', ARRAY['accounts_net']::regclass[]);
INSERT INTO accounts_net VALUES (6, 60);                       -- insert then delete: nothing
DELETE FROM accounts_net WHERE id = 6;
INSERT INTO accounts_net VALUES (7, 70);                       -- insert then updates: one insert
UPDATE accounts_net SET balance = 71 WHERE id = 7;
UPDATE accounts_net SET balance = 72 WHERE id = 7;
UPDATE accounts_net SET balance = 11 WHERE id = 1;             -- update chain: one pre/post pair
UPDATE accounts_net SET balance = 12 WHERE id = 1;
DELETE FROM accounts_net WHERE id = 2;                         -- delete: the first image
UPDATE accounts_net SET balance = 31 WHERE id = 3;             -- update and revert: nothing
UPDATE accounts_net SET balance = 30 WHERE id = 3;
UPDATE accounts_net SET id = 400 WHERE id = 4;                 -- key update: delete old key, insert new
SELECT data, _change_type FROM medallion.peek('netc', 'accounts_net', net => true);
SELECT count(*) AS raw_changes FROM medallion.peek('netc', 'accounts_net');
-- Applying the net changes to the state before the range gives the table as it is now.
CREATE TABLE net_check (id int PRIMARY KEY, balance int);
INSERT INTO net_check VALUES (1, 10), (2, 20), (3, 30), (4, 40), (5, 50);
CREATE TEMP TABLE net_batch AS SELECT * FROM medallion_changes.accounts_net('netc', net => true);
SELECT id, balance, _change_type FROM net_batch;
DELETE FROM net_check n USING net_batch b WHERE b._change_type IN ('delete', 'update_preimage') AND n.id = b.id;
INSERT INTO net_check SELECT id, balance FROM net_batch WHERE _change_type IN ('insert', 'update_postimage');
SELECT count(*) AS differences FROM ((TABLE accounts_net EXCEPT TABLE net_check)
	UNION ALL (TABLE net_check EXCEPT TABLE accounts_net)) d;
-- a TRUNCATE in the range: emitted once; what came before it is gone
TRUNCATE accounts_net;
INSERT INTO accounts_net VALUES (8, 80);
UPDATE accounts_net SET balance = 81 WHERE id = 8;
SELECT data, _change_type FROM medallion.consume('netc', 'accounts_net', net => true);
-- net needs a primary key
CREATE TABLE no_key (a int);
SELECT medallion.enable_feed('no_key') IS NOT NULL AS fed;
SELECT count(*) >= 0 AS created FROM medallion.create_consumer('nokey', ARRAY['no_key']::regclass[]);
SELECT expect_error('SELECT * FROM medallion.consume(''nokey'', ''no_key'', net => true)');
SELECT medallion.drop_consumer('nokey');

-- start 'snapshot': the first read returns the rows as of the start version as inserts, then the
-- changes after it; replaying both reproduces the table.
CREATE TABLE legacy (id int PRIMARY KEY, v text);
INSERT INTO legacy VALUES (1, 'a'), (2, 'b'), (3, 'c');          -- before the feed existed
SELECT medallion.enable_feed('legacy') IS NOT NULL AS fed;
UPDATE legacy SET v = 'b2' WHERE id = 2;                           -- captured, before the consumer
SELECT count(*) AS feeds FROM medallion.create_consumer('snap', ARRAY['legacy']::regclass[], 'snapshot');
SELECT count(*) AS snapshot_tables FROM pg_class WHERE relname LIKE '\_snapshot\_%';
UPDATE legacy SET v = 'c2' WHERE id = 3;                           -- after the start
DELETE FROM legacy WHERE id = 1;
INSERT INTO legacy VALUES (4, 'd');
SELECT id, v, _change_type FROM medallion_changes.legacy('snap', peek => true);
CREATE TABLE legacy_copy (id int PRIMARY KEY, v text);
CREATE TEMP TABLE snap_batch AS SELECT * FROM medallion_changes.legacy('snap');
SELECT count(DISTINCT _commit_version) FILTER (WHERE _change_seq < 1048576) AS snapshot_versions FROM snap_batch;
DELETE FROM legacy_copy c USING snap_batch b WHERE b._change_type IN ('delete', 'update_preimage') AND c.id = b.id
	AND b._change_seq >= 1048576;
INSERT INTO legacy_copy SELECT id, v FROM snap_batch WHERE _change_type = 'insert' AND _change_seq < 1048576;
DO $$
DECLARE r record;
BEGIN
	FOR r IN SELECT * FROM snap_batch WHERE _change_seq >= 1048576 ORDER BY _commit_version, _change_seq LOOP
		IF r._change_type IN ('delete', 'update_preimage') THEN
			DELETE FROM legacy_copy WHERE id = r.id;
		ELSE
			INSERT INTO legacy_copy VALUES (r.id, r.v);
		END IF;
	END LOOP;
END $$;
SELECT count(*) AS differences FROM ((TABLE legacy EXCEPT TABLE legacy_copy) UNION ALL (TABLE legacy_copy EXCEPT TABLE legacy)) d;
SELECT count(*) AS snapshot_tables_after_read FROM pg_class WHERE relname LIKE '\_snapshot\_%';
SELECT count(*) AS nothing_more FROM medallion_changes.legacy('snap');
-- a consumer dropped before its first read takes its snapshot tables along
SELECT count(*) AS feeds FROM medallion.create_consumer('snap2', ARRAY['legacy', 'shop_orders']::regclass[], 'snapshot');
SELECT count(*) AS snapshot_tables FROM pg_class WHERE relname LIKE '\_snapshot\_%';
SELECT medallion.drop_consumer('snap2');
SELECT count(*) AS snapshot_tables_after_drop FROM pg_class WHERE relname LIKE '\_snapshot\_%';
-- the transaction that starts a snapshot consumer can read it at once (it holds the tick lock)
BEGIN;
SELECT count(*) AS feeds FROM medallion.create_consumer('snap3', ARRAY['legacy']::regclass[], 'snapshot');
SELECT count(*) AS rows_as_of_start FROM medallion_changes.legacy('snap3');
SELECT medallion.current_version() = (SELECT watermark FROM medallion.consumers WHERE consumer = 'snap3') AS same_version;
COMMIT;
SELECT medallion.drop_consumer('snap3');

-- pg_medallion.run_id stamps the watermarks a run moves.
INSERT INTO shop_orders VALUES (500, 'run');
BEGIN;
SET LOCAL pg_medallion.run_id = 'orders-run-42';
SELECT count(*) AS consumed FROM medallion.consume('silver', 'shop_orders');
SELECT medallion.advance_watermark('ingest', 'kafka:orders', '11');
COMMIT;
SELECT last_run_id FROM medallion.consumer_feed WHERE consumer = 'silver' AND last_run_id IS NOT NULL;
SELECT last_run_id FROM medallion.external_watermark WHERE pipeline = 'ingest' AND source = 'kafka:orders';

-- Reads keep their plans for the session (prepared once, rebuilt when what they touch changes): a
-- change table dropped and created again with other columns, and the whole extension dropped and
-- created again, are read correctly by the same session.
CREATE TABLE kept (id int PRIMARY KEY, a text);
SELECT medallion.enable_feed('kept') IS NOT NULL AS enabled;
SELECT count(*) AS feeds FROM medallion.create_consumer('kept_reader', ARRAY['kept']::regclass[], 'latest');
INSERT INTO kept VALUES (1, 'one');
SELECT id, a, _change_type FROM medallion_changes.kept('kept_reader');
SELECT medallion.drop_consumer('kept_reader');
SELECT medallion.disable_feed('kept');
ALTER TABLE kept ADD COLUMN b int;
SELECT medallion.enable_feed('kept') IS NOT NULL AS enabled_again;
SELECT count(*) AS feeds FROM medallion.create_consumer('kept_reader', ARRAY['kept']::regclass[], 'latest');
INSERT INTO kept VALUES (2, 'two', 2);
SELECT data->>'b' AS b FROM medallion.peek('kept_reader', 'kept');
SELECT id, a, b, _change_type FROM medallion_changes.kept('kept_reader');
UPDATE kept SET b = 20 WHERE id = 2;
SELECT data->>'b' AS b, _change_type FROM medallion.consume('kept_reader', 'kept');
SET client_min_messages = warning;
DROP EXTENSION pg_medallion CASCADE;
RESET client_min_messages;
CREATE EXTENSION pg_medallion;
SELECT medallion.enable_feed('kept') IS NOT NULL AS enabled_in_new_extension;
SELECT count(*) AS feeds FROM medallion.create_consumer('kept_reader', ARRAY['kept']::regclass[], 'latest');
INSERT INTO kept VALUES (3, 'three', 3);
SELECT id, a, b, _change_type FROM medallion_changes.kept('kept_reader');
SELECT count(*) AS nothing_left FROM medallion_changes.kept('kept_reader');
DROP TABLE kept;

-- Cleanup: every file starts from an empty database and leaves one.
SET client_min_messages = warning;
DROP EXTENSION pg_medallion CASCADE;
DROP SCHEMA medallion;
DROP TABLE accounts_net, legacy, legacy_copy, net_check, no_key, shop_customers, shop_orders;
DROP FUNCTION expect_error(text);
DROP ROLE consumer_stranger;
RESET client_min_messages;
