-- Feeds: enable, capture, read by version, history, disable; every error path.
CREATE EXTENSION pg_medallion;
\set VERBOSITY terse

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

CREATE TABLE orders (
	order_id  int PRIMARY KEY,
	customer  text NOT NULL,
	status    text,
	amount    numeric(10,2),
	placed_at timestamptz DEFAULT '2026-01-01 10:00+00'
);

SELECT medallion.enable_feed('orders');
SELECT feed_id > 0 AS has_id, source, change_table, reader, mode FROM medallion.feeds;
SELECT medallion.current_version() AS v0 \gset

INSERT INTO orders (order_id, customer, status, amount) VALUES
	(1, 'ada', 'new', 10.00), (2, 'bob', 'new', 20.50), (3, 'cy', NULL, NULL);
SELECT medallion.current_version() AS v1 \gset
UPDATE orders SET status = 'paid' WHERE order_id IN (1, 3);
DELETE FROM orders WHERE order_id = 2;
SELECT medallion.current_version() AS v2 \gset
SELECT :v1 > :v0 AS v1_after_v0, :v2 > :v1 AS v2_after_v1;

-- Typed reader: both bounds inclusive, ordered by version then order key.
SELECT order_id, customer, status, amount, _change_type, _commit_version - :v0 AS version
FROM medallion_changes.orders(:v1, :v2);
SELECT count(*) AS only_v2 FROM medallion_changes.orders(:v2, :v2);
SELECT count(*) AS only_v1 FROM medallion_changes.orders(:v1, :v1);
-- to_version NULL closes the open version and reads up to it.
INSERT INTO orders VALUES (4, 'dee', 'new', 5, DEFAULT);
SELECT order_id, _change_type FROM medallion_changes.orders(:v2 + 1);
-- The order key increases within the read.
SELECT bool_and(s > lag_s) AS seq_increasing FROM (
	SELECT _change_seq AS s, lag(_change_seq) OVER (ORDER BY _commit_version, _change_seq) AS lag_s
	FROM medallion_changes.orders(:v1)) x WHERE lag_s IS NOT NULL;
-- Commit timestamps do not go backwards with versions.
SELECT bool_and(t >= lag_t) AS timestamps_monotonic FROM (
	SELECT _commit_timestamp AS t, lag(_commit_timestamp) OVER (ORDER BY _commit_version, _change_seq) AS lag_t
	FROM medallion_changes.orders(:v1)) x WHERE lag_t IS NOT NULL;

-- Generic reader with jsonb images.
SELECT data, _change_type, _commit_version - :v0 AS version
FROM medallion.table_changes('orders', :v1, :v2);

-- Timestamp variant: the versions closed within [from, to].
SELECT count(*) AS by_time FROM medallion.table_changes('orders',
	(SELECT committed_at FROM medallion.tick WHERE version = :v1),
	(SELECT committed_at FROM medallion.tick WHERE version = :v2));
SELECT count(*) AS typed_by_time FROM medallion_changes.orders(
	(SELECT committed_at FROM medallion.tick WHERE version = :v2)::timestamptz,
	(SELECT committed_at FROM medallion.tick WHERE version = :v2)::timestamptz);
SELECT medallion.version_at((SELECT committed_at FROM medallion.tick WHERE version = :v1)) = :v1 AS version_at_ok;

-- History: one row per version with changes.
SELECT version - :v0 AS version, inserts, updates, deletes, truncates, commit_timestamp IS NOT NULL AS has_ts
FROM medallion.history('orders');

-- An empty version in between reads as nothing; current_version() without commits does not move.
SELECT medallion.current_version() AS va \gset
SELECT medallion.current_version() = :va AS idle_clock_does_not_tick;

-- Range errors.
SELECT expect_error('SELECT * FROM medallion.table_changes(''orders'', NULL::bigint)');
SELECT expect_error('SELECT * FROM medallion.table_changes(''orders'', -1)');
SELECT expect_error(format('SELECT * FROM medallion.table_changes(''orders'', %s)', :v0 - 1));
SELECT expect_error(format('SELECT * FROM medallion.table_changes(''orders'', %s, %s)', :v2, :v1));
SELECT expect_error('SELECT * FROM medallion.table_changes(''orders'', 1000000)');
SELECT expect_error(format('SELECT * FROM medallion.table_changes(''orders'', %s, 1000000)', :v1));
SELECT expect_error('SELECT * FROM medallion.table_changes(''orders'', ''2999-01-01''::timestamptz)');
SELECT expect_error('SELECT * FROM medallion.table_changes(''orders'', ''1999-01-01''::timestamptz, ''1999-01-02''::timestamptz)');
SELECT expect_error('SELECT * FROM medallion.table_changes(''orders'', NULL::timestamptz)');
SELECT expect_error('SELECT * FROM medallion.table_changes(NULL, 1)');
SELECT expect_error('SELECT * FROM medallion._changes(999999, 1, 2) AS c(a int, t medallion.change_type, v bigint, ts timestamptz, s bigint)');
SELECT expect_error(format('SELECT * FROM medallion._changes(%s, %s, %s) AS c(a text, b int)',
	(SELECT feed_id FROM medallion.feed WHERE source = 'orders'::regclass), :v1, :v2));
SELECT expect_error(format('SELECT * FROM medallion._changes(%s, %s, %s) AS c(order_id text, t medallion.change_type, v bigint, ts timestamptz, s bigint)',
	(SELECT feed_id FROM medallion.feed WHERE source = 'orders'::regclass), :v1, :v2));

-- enable_feed errors: each changes nothing.
SELECT expect_error('SELECT medallion.enable_feed(''orders'')');
SELECT expect_error('SELECT medallion.enable_feed(NULL)');
SELECT expect_error('SELECT medallion.enable_feed(''orders'', ''cdc'')');
SELECT expect_error('SELECT medallion.enable_feed(''orders'', ''logical'')');
CREATE VIEW orders_view AS SELECT * FROM orders;
SELECT expect_error('SELECT medallion.enable_feed(''orders_view'')');
CREATE MATERIALIZED VIEW orders_mv AS SELECT * FROM orders;
SELECT expect_error('SELECT medallion.enable_feed(''orders_mv'')');
CREATE FOREIGN DATA WRAPPER dummy_fdw;
CREATE SERVER dummy_server FOREIGN DATA WRAPPER dummy_fdw;
CREATE FOREIGN TABLE orders_remote (order_id int) SERVER dummy_server;
SELECT expect_error('SELECT medallion.enable_feed(''orders_remote'')');
CREATE TEMP TABLE scratch (a int);
SELECT expect_error('SELECT medallion.enable_feed(''scratch'')');
CREATE UNLOGGED TABLE fast_lane (a int);
SELECT expect_error('SELECT medallion.enable_feed(''fast_lane'')');
CREATE TABLE inh_parent (a int);
CREATE TABLE inh_child () INHERITS (inh_parent);
SELECT expect_error('SELECT medallion.enable_feed(''inh_parent'')');
SELECT expect_error('SELECT medallion.enable_feed(''inh_child'')');
SELECT expect_error('SELECT medallion.enable_feed(''medallion.tick'')');
SELECT expect_error('SELECT medallion.enable_feed(''pg_class'')');
CREATE TABLE reserved_names (id int, _change_type text);
SELECT expect_error('SELECT medallion.enable_feed(''reserved_names'')');
CREATE TABLE no_columns ();
SELECT expect_error('SELECT medallion.enable_feed(''no_columns'')');
SELECT count(*) AS feeds_after_errors FROM medallion.feed;
SELECT count(*) AS tables_in_medallion_changes FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
WHERE n.nspname = 'medallion_changes' AND c.relkind = 'p';

-- Calling the trigger functions by hand is refused.
SELECT expect_error('SELECT medallion._capture()');
CREATE TABLE wrong_trigger (a int);
CREATE TRIGGER wrong BEFORE INSERT ON wrong_trigger FOR EACH ROW EXECUTE FUNCTION medallion._capture('1');
SELECT expect_error('INSERT INTO wrong_trigger VALUES (1)');
DROP TABLE wrong_trigger;

-- disable_feed: keeps or drops the change table; errors for tables without a feed.
CREATE TABLE short_lived (id int PRIMARY KEY, v text);
SELECT medallion.enable_feed('short_lived');
INSERT INTO short_lived VALUES (1, 'x');
SELECT medallion.disable_feed('short_lived', keep_changes => true);
SELECT count(*) AS kept_rows FROM medallion_changes.short_lived;
SELECT count(*) AS triggers_left FROM pg_trigger WHERE tgrelid = 'short_lived'::regclass;
INSERT INTO short_lived VALUES (2, 'y');
SELECT count(*) AS still_kept_rows FROM medallion_changes.short_lived;
SELECT expect_error('SELECT medallion.disable_feed(''short_lived'')');
SELECT expect_error('SELECT medallion.disable_feed(NULL)');
SELECT expect_error('SELECT * FROM medallion.table_changes(''short_lived'', 1)');
-- Enabling again picks a new change table name.
SELECT medallion.enable_feed('short_lived');
SELECT medallion.disable_feed('short_lived');
SELECT to_regclass('medallion_changes.public_short_lived') IS NULL AS dropped;
DROP TABLE medallion_changes.short_lived;

-- Dropping a fed table removes its feed and readers, and keeps its changes.
CREATE TABLE doomed (id int PRIMARY KEY);
SELECT medallion.enable_feed('doomed');
INSERT INTO doomed VALUES (1), (2);
DROP TABLE doomed;
SELECT count(*) AS feeds_of_doomed FROM medallion.feed WHERE change_table = 'medallion_changes.doomed'::regclass;
SELECT count(*) AS kept_changes FROM medallion_changes.doomed;
SELECT count(*) AS readers_left FROM pg_proc WHERE proname = 'doomed';
DROP TABLE medallion_changes.doomed;

-- Cleanup: every file starts from an empty database and leaves one.
SET client_min_messages = warning;
DROP EXTENSION pg_medallion CASCADE;
DROP SCHEMA medallion;
DROP VIEW orders_view;
DROP MATERIALIZED VIEW orders_mv;
DROP FOREIGN TABLE orders_remote;
DROP SERVER dummy_server;
DROP FOREIGN DATA WRAPPER dummy_fdw;
DROP TABLE orders, fast_lane, inh_child, inh_parent, no_columns, reserved_names, short_lived;
DROP FUNCTION expect_error(text);
RESET client_min_messages;
