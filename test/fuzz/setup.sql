-- pg_medallion fuzz database: fed tables (one partitioned), consumers, SCD1 and SCD2 merge targets
-- applied once (tombstones and history exist), some versions closed; role fuzzer owns some of it.
-- Run as a superuser in an empty database; idempotent only on a fresh database.
\set ON_ERROR_STOP on
SET client_min_messages = warning;
CREATE EXTENSION pg_medallion;

DO $$ BEGIN
	IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'fuzzer') THEN
		CREATE ROLE fuzzer LOGIN;
	END IF;
END $$;
CREATE SCHEMA fz AUTHORIZATION fuzzer;
CREATE SCHEMA "Sales ""EU""" AUTHORIZATION fuzzer;
GRANT CREATE ON DATABASE :"DBNAME" TO fuzzer;

CREATE DOMAIN fz.positive_amount AS numeric(12,2) CHECK (VALUE >= 0);
CREATE TYPE fz.mood AS ENUM ('sad', 'ok', 'happy');

-- 1. A plain fed table owned by fuzzer: NULLs, text, jsonb, numeric, a domain, an enum.
CREATE TABLE fz.orders (
	order_id  int PRIMARY KEY,
	customer  text,
	status    text,
	amount    fz.positive_amount,
	attrs     jsonb,
	mood      fz.mood,
	placed_at timestamptz DEFAULT '2026-01-01 10:00+00'
);
ALTER TABLE fz.orders OWNER TO fuzzer;

-- 2. A partitioned fed table owned by the superuser, readable by fuzzer.
CREATE TABLE fz.events (
	id       bigint NOT NULL,
	region   text NOT NULL,
	payload  jsonb,
	amount   numeric,
	note     text,
	PRIMARY KEY (id, region)
) PARTITION BY LIST (region);
CREATE TABLE fz.events_eu PARTITION OF fz.events FOR VALUES IN ('eu');
CREATE TABLE fz.events_us PARTITION OF fz.events FOR VALUES IN ('us');
CREATE TABLE fz.events_rest PARTITION OF fz.events DEFAULT;
GRANT SELECT ON fz.events TO fuzzer;

-- 2b. A partitioned table owned by fuzzer (it attaches, detaches and truncates partitions).
CREATE TABLE fz.parts (id int NOT NULL, k int NOT NULL, v text, PRIMARY KEY (id, k)) PARTITION BY RANGE (k);
CREATE TABLE fz.parts_1 PARTITION OF fz.parts FOR VALUES FROM (0) TO (10);
CREATE TABLE fz.parts_2 PARTITION OF fz.parts FOR VALUES FROM (10) TO (20);
ALTER TABLE fz.parts OWNER TO fuzzer;
ALTER TABLE fz.parts_1 OWNER TO fuzzer;
ALTER TABLE fz.parts_2 OWNER TO fuzzer;

-- 3. A table without a primary key, with a hostile name, owned by fuzzer.
CREATE TABLE "Sales ""EU"""."we""ird; name" (k int, "Value ""x""" text, n numeric, d fz.positive_amount);
ALTER TABLE "Sales ""EU"""."we""ird; name" OWNER TO fuzzer;

-- 4. A table of fuzzer's that is not fed, a view, a sequence, a materialized view.
CREATE TABLE fz.plain (id int PRIMARY KEY, v text);
ALTER TABLE fz.plain OWNER TO fuzzer;
CREATE VIEW fz.orders_view AS SELECT * FROM fz.orders;
ALTER VIEW fz.orders_view OWNER TO fuzzer;
CREATE SEQUENCE fz.seq;
ALTER SEQUENCE fz.seq OWNER TO fuzzer;

SELECT medallion.enable_feed('fz.orders') IS NOT NULL AS fed_orders;
SELECT medallion.enable_feed('fz.events') IS NOT NULL AS fed_events;
SELECT medallion.enable_feed('fz.parts') IS NOT NULL AS fed_parts;
SELECT medallion.enable_feed('"Sales ""EU"""."we""ird; name"') IS NOT NULL AS fed_weird;
-- Change tables are owned by the extension owner; typed readers are PUBLIC-executable.

SELECT medallion.current_version() IS NOT NULL AS v0;

INSERT INTO fz.orders (order_id, customer, status, amount, attrs, mood)
SELECT i, CASE WHEN i % 5 = 0 THEN NULL ELSE 'cust ' || i END,
	   (ARRAY['new', 'paid', NULL, 'shipped'])[1 + i % 4], (i * 1.25)::numeric(12,2),
	   CASE WHEN i % 3 = 0 THEN NULL ELSE jsonb_build_object('i', i, 'tags', jsonb_build_array('a', i)) END,
	   (ARRAY['sad', 'ok', 'happy'])[1 + i % 3]::fz.mood
FROM generate_series(1, 40) i;
INSERT INTO fz.events
SELECT i, (ARRAY['eu', 'us', 'apac'])[1 + i % 3], jsonb_build_object('n', i), i / 7.0,
	   CASE WHEN i % 4 = 0 THEN NULL ELSE repeat('x', i) END
FROM generate_series(1, 30) i;
INSERT INTO fz.parts SELECT i, i % 20, 'p' || i FROM generate_series(1, 25) i;
INSERT INTO "Sales ""EU"""."we""ird; name" SELECT i % 4, 'v' || i, i, i FROM generate_series(1, 10) i;
SELECT medallion.current_version() IS NOT NULL AS v1;

UPDATE fz.orders SET status = 'paid', amount = amount + 1 WHERE order_id % 4 = 1;
DELETE FROM fz.orders WHERE order_id % 7 = 0;
UPDATE fz.events SET region = 'us' WHERE id IN (3, 6);   -- moves rows between partitions
DELETE FROM fz.events WHERE id % 5 = 0;
UPDATE "Sales ""EU"""."we""ird; name" SET n = n * 2 WHERE k = 1;
SELECT medallion.current_version() IS NOT NULL AS v2;
DELETE FROM "Sales ""EU"""."we""ird; name" WHERE k = 3;
TRUNCATE fz.events;
INSERT INTO fz.events VALUES (100, 'eu', '{}', 1, NULL), (101, 'us', NULL, NULL, 'n');
SELECT medallion.current_version() IS NOT NULL AS v3;

-- Consumers (superuser-owned and fuzzer-owned).
SELECT count(*) AS c1 FROM medallion.create_consumer('orders_silver', '{fz.orders}', 'earliest');
SELECT count(*) AS c2 FROM medallion.create_consumer('events_gold', '{fz.events,fz.orders}', 'earliest');
SET ROLE fuzzer;
SELECT count(*) AS c3 FROM medallion.create_consumer('fuzzer_orders', '{fz.orders}', 'earliest');
SELECT count(*) AS c4 FROM medallion.create_consumer('fuzzer_weird', ARRAY['"Sales ""EU"""."we""ird; name"']::regclass[], 'latest');
RESET ROLE;

-- SCD1 target owned by fuzzer, fed by its consumer; applied once (tombstones exist).
CREATE TABLE fz.silver_orders (order_id int PRIMARY KEY, customer text, status text, amount numeric,
	attrs jsonb, mood fz.mood, placed_at timestamptz, _commit_version bigint, _change_seq bigint);
ALTER TABLE fz.silver_orders OWNER TO fuzzer;
SET ROLE fuzzer;
SELECT * FROM medallion.apply_changes('fz.silver_orders',
	$$SELECT * FROM medallion_changes.orders('fuzzer_orders')$$, '{order_id}', '{_commit_version,_change_seq}');
RESET ROLE;

-- SCD1 target of a plain CDC table with a delete rule and a truncate rule (superuser-owned).
CREATE TABLE fz.cdc (id int, name text, op text, seq int);
INSERT INTO fz.cdc VALUES (1, 'a', 'I', 1), (2, 'b', 'I', 2), (1, 'a2', 'U', 3), (2, NULL, 'D', 4),
	(3, 'c', 'I', 5), (NULL, 'bad', 'I', 6), (4, 'd', 'I', NULL);
GRANT SELECT ON fz.cdc TO fuzzer;
CREATE TABLE fz.silver_cdc (id int PRIMARY KEY, name text, seq int);
SELECT * FROM medallion.apply_changes('fz.silver_cdc', 'fz.cdc', '{id}', '{seq}',
	delete_when => $$op = 'D'$$, truncate_when => $$op = 'T'$$, except_columns => '{op}');

-- SCD2 target owned by fuzzer, applied twice (a closed version, a delete).
CREATE TABLE fz.cust_history (customer_id int, name text, city text, phone text, event_ts int,
	_valid_from int, _valid_to int, UNIQUE (customer_id, event_ts));
ALTER TABLE fz.cust_history OWNER TO fuzzer;
SET ROLE fuzzer;
SELECT * FROM medallion.apply_changes('fz.cust_history', $$
	SELECT * FROM (VALUES (1, 'ada', 'paris', '111', 10), (1, 'ada', 'paris', '222', 20),
	                      (1, 'ada', 'lyon', '222', 30), (2, 'bob', 'rome', '9', 10)) v(customer_id, name, city, phone, event_ts)$$,
	'{customer_id}', '{event_ts}', scd_type => 2, track_history_columns => '{name,city}');
SELECT * FROM medallion.apply_changes('fz.cust_history', $$
	SELECT * FROM (VALUES (1, 'ada', 'nice', '222', 25, 'U'), (2, 'bob', 'rome', '9', 40, 'D')) v(customer_id, name, city, phone, event_ts, op)$$,
	'{customer_id}', '{event_ts}', delete_when => $$op = 'D'$$, except_columns => '{op}',
	scd_type => 2, track_history_columns => '{name,city}');
RESET ROLE;

-- Consume part of the feeds, external watermarks, retention settings.
SELECT count(*) AS consumed FROM medallion.consume('orders_silver', 'fz.orders', max_versions => 1);
SELECT medallion.create_watermark('ingest', 'files', 'timestamptz', interval '5 minutes');
SELECT medallion.advance_watermark('ingest', 'files', '2026-01-01 00:00+00');
SET ROLE fuzzer;
SELECT medallion.create_watermark('fz_pipe', 'kafka', 'bigint');
SELECT medallion.advance_watermark('fz_pipe', 'kafka', '42');
RESET ROLE;
SELECT medallion.set_retention('fz.orders', interval '30 days');

-- More versions after the merges, so reads and consumes have something new.
INSERT INTO fz.orders (order_id, customer, amount) VALUES (1000, 'late', 3), (1001, NULL, NULL);
UPDATE fz.orders SET attrs = '{"x": [1, 2, {"y": null}]}' WHERE order_id = 1;
SELECT medallion.current_version() IS NOT NULL AS v4;
INSERT INTO fz.events VALUES (102, 'apac', '[]', 'NaN', '');
SELECT medallion.current_version() IS NOT NULL AS v5;

-- A dropped fed table (its change table stays), and a table of fuzzer's fed and disabled.
CREATE TABLE fz.gone (id int PRIMARY KEY, v text);
SELECT medallion.enable_feed('fz.gone') IS NOT NULL AS fed_gone;
INSERT INTO fz.gone VALUES (1, 'x');
SELECT medallion.current_version() IS NOT NULL AS v6;
CREATE TABLE fz.dropped_oids AS SELECT 'fz.gone'::regclass::oid AS oid;
DROP TABLE fz.gone;
SELECT medallion.enable_feed('fz.plain') IS NOT NULL AS fed_plain;
INSERT INTO fz.plain VALUES (1, 'p');
SELECT medallion.disable_feed('fz.plain', keep_changes => true);

-- A flow of fuzzer's, with expectations and something quarantined, for the flow calls.
CREATE TABLE fz.flow_target (order_id int PRIMARY KEY, status text, amount numeric, _commit_version bigint, _change_seq bigint);
ALTER TABLE fz.flow_target OWNER TO fuzzer;
SET ROLE fuzzer;
SELECT medallion.create_flow('fz_flow', 'fz.orders', 'fz.flow_target', '{order_id}', start => 'earliest',
	transform => $$SELECT order_id, status, amount::numeric AS amount, _change_type, _commit_version, _change_seq FROM batch$$);
SELECT medallion.add_expectation('fz_flow', 'new_only', $$status = 'new'$$, 'quarantine');
SELECT count(*) FROM medallion.run_flow('fz_flow');
RESET ROLE;

GRANT SELECT ON ALL TABLES IN SCHEMA fz TO fuzzer;
ANALYZE;
