-- apply_changes: SCD1 and SCD2 merges, tombstones, quarantine, feeds as sources, every error path.
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
CREATE SCHEMA staging;
CREATE SCHEMA silver;

-- 1. The hand-written MERGE data engineers write, and where it goes wrong.
CREATE TABLE staging.customer_cdc (customer_id int, op text, event_ts timestamptz, name text, city text);
CREATE TABLE silver.customer_merge (customer_id int PRIMARY KEY, name text, city text, last_event_ts timestamptz);
CREATE TABLE silver.customer (customer_id int PRIMARY KEY, name text, city text, event_ts timestamptz);

-- Batch 1: customer 1 is created then deleted; customer 2 is updated before we ever saw its create.
INSERT INTO staging.customer_cdc VALUES
	(1, 'C', '2026-03-01 10:00+00', 'ada', 'paris'),
	(1, 'D', '2026-03-01 12:00+00', 'ada', 'paris'),
	(2, 'U', '2026-03-01 11:00+00', 'bob', 'rome');
MERGE INTO silver.customer_merge t
USING (SELECT DISTINCT ON (customer_id) * FROM staging.customer_cdc ORDER BY customer_id, event_ts DESC) s
ON t.customer_id = s.customer_id
WHEN MATCHED AND s.op = 'D' THEN DELETE
WHEN MATCHED AND s.op IN ('U', 'C') AND s.event_ts >= t.last_event_ts THEN
	UPDATE SET name = s.name, city = s.city, last_event_ts = s.event_ts
WHEN NOT MATCHED AND s.op IN ('C') THEN INSERT VALUES (s.customer_id, s.name, s.city, s.event_ts);
SELECT * FROM medallion.apply_changes('silver.customer', 'staging.customer_cdc', '{customer_id}', '{event_ts}',
	delete_when => $$op = 'D'$$, except_columns => '{op}');

-- Batch 2: the create of customer 1 arrives again, late (a retry upstream).
TRUNCATE staging.customer_cdc;
INSERT INTO staging.customer_cdc VALUES (1, 'C', '2026-03-01 10:00+00', 'ada', 'paris');
MERGE INTO silver.customer_merge t
USING (SELECT DISTINCT ON (customer_id) * FROM staging.customer_cdc ORDER BY customer_id, event_ts DESC) s
ON t.customer_id = s.customer_id
WHEN MATCHED AND s.op = 'D' THEN DELETE
WHEN MATCHED AND s.op IN ('U', 'C') AND s.event_ts >= t.last_event_ts THEN
	UPDATE SET name = s.name, city = s.city, last_event_ts = s.event_ts
WHEN NOT MATCHED AND s.op IN ('C') THEN INSERT VALUES (s.customer_id, s.name, s.city, s.event_ts);
SELECT * FROM medallion.apply_changes('silver.customer', 'staging.customer_cdc', '{customer_id}', '{event_ts}',
	delete_when => $$op = 'D'$$, except_columns => '{op}');
-- The MERGE lost customer 2 (late 'U' for a missing row) and resurrected deleted customer 1.
SELECT 'merge' AS how, customer_id, name, city FROM silver.customer_merge
UNION ALL
SELECT 'apply_changes', customer_id, name, city FROM silver.customer ORDER BY 1, 2;
SELECT customer_id, event_ts FROM medallion_state.customer_tombstones;
SELECT target, scd_type, keys, sequence_by, state_table FROM medallion.apply_target;

-- 2. Every count: insert, update, delete, unchanged (already applied), stale, rejected.
CREATE TABLE staging.events (id int, seq int, tie int, op text, v text, j json);
CREATE TABLE silver.items (id int PRIMARY KEY, seq int, tie int, v text, j json, untouched text DEFAULT 'kept');
INSERT INTO staging.events VALUES
	(1, 1, 0, 'I', 'one', '{"a":1}'),
	(2, 1, 0, 'I', 'two', NULL),
	(2, 2, 0, 'U', 'two-b', NULL),			-- newer: wins in the batch
	(2, 2, 0, 'U', 'two-b', NULL),			-- exact duplicate: harmless
	(3, 5, 0, 'I', 'three', NULL),
	(3, 5, 1, 'U', 'three-tie', NULL),		-- same seq, higher tie-breaker wins
	(4, 7, 0, 'I', 'x', NULL),
	(4, 7, 0, 'I', 'y', NULL),				-- same key and full sequence, different content: rejected
	(NULL, 1, 0, 'I', 'no key', NULL),		-- rejected
	(5, NULL, 0, 'I', 'no seq', NULL);		-- rejected
SELECT * FROM medallion.apply_changes('silver.items', 'staging.events', '{id}', '{seq,tie}',
	delete_when => $$op = 'D'$$, except_columns => '{op}');
SELECT * FROM silver.items ORDER BY id;
SELECT reason, record - 'j' AS record FROM medallion.quarantine WHERE target = 'silver.items'::regclass ORDER BY 1, 2::text;
-- Again: nothing changes, and nothing is quarantined twice.
SELECT * FROM medallion.apply_changes('silver.items', 'staging.events', '{id}', '{seq,tie}',
	delete_when => $$op = 'D'$$, except_columns => '{op}');
SELECT count(*) AS quarantined FROM medallion.quarantine WHERE target = 'silver.items'::regclass;

-- A later batch: an update, a stale update, a delete, and a delete for a key never seen.
SELECT * FROM medallion.apply_changes('silver.items', $$
	SELECT * FROM (VALUES (1, 9, 0, 'U', 'one-c', NULL::json), (3, 1, 0, 'U', 'too old', NULL),
	                      (2, 3, 0, 'D', NULL, NULL), (8, 1, 0, 'D', NULL, NULL)) v(id, seq, tie, op, v, j)$$,
	'{id}', '{seq,tie}', delete_when => $$op = 'D'$$, except_columns => '{op}');
SELECT id, seq, tie, v, untouched FROM silver.items ORDER BY id;
-- Older changes of deleted keys stay out: 2 was deleted at 3, 8 at 1.
SELECT * FROM medallion.apply_changes('silver.items', $$
	SELECT * FROM (VALUES (2, 2, 5, 'U', 'zombie', NULL::json), (8, 1, 0, 'I', 'zombie', NULL)) v(id, seq, tie, op, v, j)$$,
	'{id}', '{seq,tie}', delete_when => $$op = 'D'$$, except_columns => '{op}');
-- A newer insert re-creates a deleted key and clears its tombstone.
SELECT * FROM medallion.apply_changes('silver.items', $$
	SELECT * FROM (VALUES (2, 4, 0, 'I', 'reborn', NULL::json)) v(id, seq, tie, op, v, j)$$,
	'{id}', '{seq,tie}', delete_when => $$op = 'D'$$, except_columns => '{op}');
SELECT id, seq, v FROM silver.items ORDER BY id;
SELECT id, seq, tie FROM medallion_state.items_tombstones ORDER BY id;

-- 3. ignore_null_updates keeps what a partial update does not carry; columns => limits what is applied.
SELECT * FROM medallion.apply_changes('silver.items', $$
	SELECT * FROM (VALUES (1, 10, 0, NULL::text, '{"b":2}'::json)) v(id, seq, tie, v, j)$$,
	'{id}', '{seq,tie}', ignore_null_updates => true);
SELECT id, seq, v, j FROM silver.items WHERE id = 1;
SELECT * FROM medallion.apply_changes('silver.items', $$
	SELECT * FROM (VALUES (1, 11, 0, 'only v', '{"c":3}'::json)) v(id, seq, tie, v, j)$$,
	'{id}', '{seq,tie}', columns => '{v}');
SELECT id, seq, v, j FROM silver.items WHERE id = 1;

-- 4. Truncate: rows older than it go, changes older than it are stale, newer ones apply.
SELECT * FROM medallion.apply_changes('silver.items', $$
	SELECT * FROM (VALUES (NULL::int, 20, 0, 'T', NULL::text), (9, 21, 0, 'I', 'after'), (3, 19, 0, 'U', 'before'))
	v(id, seq, tie, op, v)$$,
	'{id}', '{seq,tie}', delete_when => $$op = 'D'$$, truncate_when => $$op = 'T'$$, except_columns => '{op}');
SELECT id, seq, v FROM silver.items ORDER BY id;
SELECT * FROM medallion.apply_changes('silver.items', $$
	SELECT * FROM (VALUES (4, 15, 0, 'I', 'late')) v(id, seq, tie, op, v)$$,
	'{id}', '{seq,tie}', delete_when => $$op = 'D'$$, truncate_when => $$op = 'T'$$, except_columns => '{op}');

-- 4b. Without a truncate rule the batch streams into the MERGE and rows that need a closer look are
-- set aside and merged after it: the stored truncate marker (from 4) still makes older changes stale;
-- exact copies count once (the others as skipped); a conflict at a key's newest sequence falls back to
-- its newest valid change; a conflict below a clean newest change is still rejected; typed values
-- (numeric(6,2), varchar) keep their types while set aside.
SELECT * FROM medallion.apply_changes('silver.items', $$
	SELECT * FROM (VALUES (4, 16, 0, 'I', 'late too'), (10, 30, 0, 'I', 'ten'), (10, 30, 0, 'I', 'ten'),
	                      (11, 30, 0, 'I', 'eleven-a'), (11, 30, 0, 'I', 'eleven-b'), (11, 29, 0, 'I', 'eleven-old'),
	                      (12, 31, 0, 'I', 'twelve'), (12, 28, 0, 'I', 'twelve-x'), (12, 28, 0, 'I', 'twelve-y'))
	v(id, seq, tie, op, v)$$,
	'{id}', '{seq,tie}', delete_when => $$op = 'D'$$, except_columns => '{op}');
SELECT id, seq, v FROM silver.items WHERE id IN (4, 10, 11, 12) ORDER BY id;
SELECT reason, record ->> 'v' AS v FROM medallion.quarantine
WHERE target = 'silver.items'::regclass AND record ->> 'id' IN ('11', '12') ORDER BY 2;
CREATE TABLE staging.priced (id int, seq int, price numeric(8,3), code varchar(10), op text);
CREATE TABLE silver.priced (id int PRIMARY KEY, seq int, price numeric(6,2), code varchar(4));
INSERT INTO staging.priced VALUES (1, 1, 1.005, 'ab', 'U'), (1, 1, 2.5, 'cd', 'U'), (1, 0, 3.1, 'ef', 'U'), (2, 5, 9.999, 'gh', 'D');
SELECT * FROM medallion.apply_changes('silver.priced', 'staging.priced', '{id}', '{seq}',
	delete_when => $$op = 'D'$$, except_columns => '{op}');
SELECT * FROM silver.priced ORDER BY id;
SELECT reason, record FROM medallion.quarantine WHERE target = 'silver.priced'::regclass ORDER BY 2::text;
SELECT id, seq FROM medallion_state.priced_tombstones;

-- 5. A feed as the source: consume and merge commit together; a failed merge leaves the watermark.
CREATE TABLE shop (sku text PRIMARY KEY, price numeric, stock int);
SELECT medallion.enable_feed('shop') IS NOT NULL AS fed;
CREATE TABLE silver.shop (sku text PRIMARY KEY, price numeric, stock int, _commit_version bigint, _change_seq bigint);
SELECT medallion.create_consumer('shop_silver', '{shop}', 'earliest') IS NOT NULL AS created;
INSERT INTO shop VALUES ('a', 1.50, 10), ('b', 2.00, 5), ('c', 3.00, 0);
UPDATE shop SET stock = stock - 1 WHERE sku = 'a';
UPDATE shop SET sku = 'b2' WHERE sku = 'b';				-- a key update: b goes, b2 comes
DELETE FROM shop WHERE sku = 'c';
SELECT * FROM medallion.apply_changes('silver.shop', $$SELECT * FROM medallion_changes.shop('shop_silver')$$,
	'{sku}', '{_commit_version,_change_seq}');
SELECT sku, price, stock FROM silver.shop ORDER BY sku;
UPDATE shop SET price = 9 WHERE sku = 'a';
BEGIN;
SELECT * FROM medallion.apply_changes('silver.shop', $$SELECT * FROM medallion_changes.shop('shop_silver')$$,
	'{sku}', '{_commit_version,_change_seq}');
ROLLBACK;
SELECT sku, price FROM silver.shop WHERE sku = 'a';		-- still 1.50: nothing committed
SELECT * FROM medallion.apply_changes('silver.shop', $$SELECT * FROM medallion_changes.shop('shop_silver')$$,
	'{sku}', '{_commit_version,_change_seq}');
SELECT sku, price FROM silver.shop WHERE sku = 'a';
TRUNCATE shop;
INSERT INTO shop VALUES ('z', 1, 1);
SELECT * FROM medallion.apply_changes('silver.shop', $$SELECT * FROM medallion_changes.shop('shop_silver')$$,
	'{sku}', '{_commit_version,_change_seq}');
SELECT sku FROM silver.shop ORDER BY sku;
SELECT (SELECT count(*) FROM (TABLE shop EXCEPT SELECT sku, price, stock FROM silver.shop) a) AS differences;
-- A feed merged by a business sequence: an update that keeps updated_at has a pre-image with the
-- same sequence as its post-image; they pair (no conflict), and the post-image, no newer than the
-- target's row, is unchanged.  An update that moves updated_at is applied; pre-images are not counted.
CREATE TABLE gadget (id int PRIMARY KEY, name text, updated_at int);
SELECT medallion.enable_feed('gadget') IS NOT NULL AS fed;
CREATE TABLE silver.gadget (id int PRIMARY KEY, name text, updated_at int);
SELECT medallion.create_consumer('gadget_silver', '{gadget}', 'earliest') IS NOT NULL AS created;
INSERT INTO gadget VALUES (1, 'x', 10), (2, 'y', 10);
SELECT inserted FROM medallion.apply_changes('silver.gadget', $$SELECT * FROM medallion_changes.gadget('gadget_silver')$$, '{id}', '{updated_at}');
UPDATE gadget SET name = 'x2' WHERE id = 1;
UPDATE gadget SET name = 'y2', updated_at = 20 WHERE id = 2;
SELECT * FROM medallion.apply_changes('silver.gadget', $$SELECT * FROM medallion_changes.gadget('gadget_silver')$$, '{id}', '{updated_at}');
SELECT * FROM silver.gadget ORDER BY id;
-- A key updated 2000 times in one batch: every pre-image pairs with its post-image and drops out
-- uncounted; the newest wins.
CREATE TABLE hot (id int PRIMARY KEY, v int);
SELECT medallion.enable_feed('hot') IS NOT NULL AS fed;
CREATE TABLE silver.hot (id int PRIMARY KEY, v int, _commit_version bigint, _change_seq bigint);
SELECT medallion.create_consumer('hot_silver', '{hot}', 'earliest') IS NOT NULL AS created;
INSERT INTO hot VALUES (1, 0), (2, 0);
DO $$ BEGIN FOR i IN 1 .. 2000 LOOP UPDATE hot SET v = i WHERE id = 1; END LOOP; END $$;
SELECT * FROM medallion.apply_changes('silver.hot', $$SELECT * FROM medallion_changes.hot('hot_silver')$$,
	'{id}', '{_commit_version,_change_seq}');
SELECT id, v FROM silver.hot ORDER BY id;

-- 6. SCD type 2: validity ranges, late changes splitting a range, untracked columns in place, deletes.
CREATE TABLE silver.customer_history (customer_id int, name text, city text, phone text, event_ts int,
	_valid_from int, _valid_to int, UNIQUE (customer_id, event_ts));
SELECT * FROM medallion.apply_changes('silver.customer_history', $$
	SELECT * FROM (VALUES (1, 'ada', 'paris', '111', 10), (1, 'ada', 'paris', '222', 20),
	                      (1, 'ada', 'lyon', '222', 30), (2, 'bob', 'rome', '9', 10)) v(customer_id, name, city, phone, event_ts)$$,
	'{customer_id}', '{event_ts}', scd_type => 2, track_history_columns => '{name,city}');
SELECT * FROM silver.customer_history ORDER BY customer_id, event_ts;
-- A late change at 25 moves ada to nice between 25 and 30; a delete of bob at 40.
SELECT * FROM medallion.apply_changes('silver.customer_history', $$
	SELECT * FROM (VALUES (1, 'ada', 'nice', '222', 25, 'U'), (2, 'bob', 'rome', '9', 40, 'D')) v(customer_id, name, city, phone, event_ts, op)$$,
	'{customer_id}', '{event_ts}', delete_when => $$op = 'D'$$, except_columns => '{op}',
	scd_type => 2, track_history_columns => '{name,city}');
SELECT * FROM silver.customer_history ORDER BY customer_id, event_ts;
-- As of 27, one row per customer is valid.
SELECT customer_id, city FROM silver.customer_history
WHERE _valid_from <= 27 AND (_valid_to > 27 OR _valid_to IS NULL) ORDER BY 1;
-- Replaying the same changes changes nothing.
SELECT * FROM medallion.apply_changes('silver.customer_history', $$
	SELECT * FROM (VALUES (1, 'ada', 'nice', '222', 25, 'U'), (2, 'bob', 'rome', '9', 40, 'D')) v(customer_id, name, city, phone, event_ts, op)$$,
	'{customer_id}', '{event_ts}', delete_when => $$op = 'D'$$, except_columns => '{op}',
	scd_type => 2, track_history_columns => '{name,city}');
SELECT count(*) AS history_events FROM medallion_state.customer_history_history_events;

-- 7. Quoting: a target, its columns and the state table with awkward names.
CREATE TABLE silver."we""ird; name" ("k""ey" int PRIMARY KEY, "Se q" int, "val;drop" text);
SELECT * FROM medallion.apply_changes('silver."we""ird; name"',
	$$SELECT 1 AS "k""ey", 1 AS "Se q", 'x' AS "val;drop"$$, ARRAY['k"ey'], ARRAY['Se q']);
TABLE silver."we""ird; name";

-- 8. DDL on the target: the cached plan is rebuilt.
ALTER TABLE silver.items ADD COLUMN extra text;
SELECT * FROM medallion.apply_changes('silver.items', $$
	SELECT * FROM (VALUES (9, 30, 0, 'with extra', 'e')) v(id, seq, tie, v, extra)$$, '{id}', '{seq,tie}');
SELECT id, v, extra FROM silver.items WHERE id = 9;

-- 9. Bad calls: clear errors, nothing written.
SELECT count(*) AS items_before FROM silver.items \gset
SELECT expect_error($$SELECT * FROM medallion.apply_changes(NULL, 'staging.events', '{id}', '{seq}')$$);
SELECT expect_error($$SELECT * FROM medallion.apply_changes('silver.items', NULL, '{id}', '{seq}')$$);
SELECT expect_error($$SELECT * FROM medallion.apply_changes('silver.items', 'staging.events', '{}', '{seq}')$$);
SELECT expect_error($$SELECT * FROM medallion.apply_changes('silver.items', 'staging.events', '{id,id}', '{seq}')$$);
SELECT expect_error($$SELECT * FROM medallion.apply_changes('silver.items', 'staging.events', '{id}', '{NULL}')$$);
SELECT expect_error($$SELECT * FROM medallion.apply_changes('silver.items', 'staging.events', '{id}', '{id}')$$);
SELECT expect_error($$SELECT * FROM medallion.apply_changes('silver.items', 'staging.events', '{id}', '{seq,tie}', except_columns => '{op,nope}')$$);
SELECT expect_error($$SELECT * FROM medallion.apply_changes('silver.items', 'staging.events', '{id}', '{seq,tie}', except_columns => '{seq}')$$);
SELECT expect_error($$SELECT * FROM medallion.apply_changes('silver.items', 'staging.events', '{id}', '{seq,tie}')$$);
SELECT expect_error($$SELECT * FROM medallion.apply_changes('silver.items', 'staging.events', '{id}', '{seq,missing}')$$);
SELECT expect_error($$SELECT * FROM medallion.apply_changes('silver.items', 'SELECT 1 AS id, 2 AS seq, ''x''::text AS tie', '{id}', '{seq,tie}')$$);
SELECT expect_error($$SELECT * FROM medallion.apply_changes('silver.items', 'SELECT 1 AS id, 2 AS seq, 3 AS tie, point(1,1) AS j', '{id}', '{seq,tie}')$$);
SELECT expect_error($$SELECT * FROM medallion.apply_changes('silver.items', 'SELECT 1 AS id, 2 AS seq, 3 AS tie', '{id}', '{seq,tie}', scd_type => 3)$$);
SELECT expect_error($$SELECT * FROM medallion.apply_changes('silver.items', 'SELECT 1 AS id, 2 AS seq, 3 AS tie', '{id}', '{seq,tie}', track_history_columns => '{v}')$$);
SELECT expect_error($$SELECT * FROM medallion.apply_changes('silver.items', 'SELECT 1 AS id, 2 AS seq, 3 AS tie', '{id}', '{seq,tie}', delete_when => 'true) FROM pg_class; --')$$);
SELECT expect_error($$SELECT * FROM medallion.apply_changes('silver.items', 'SELECT 1 AS id, 2 AS seq, 3 AS tie', '{id}', '{seq,tie}', delete_when => 'true; DROP TABLE silver.items')$$);
SELECT expect_error($$SELECT * FROM medallion.apply_changes('silver.items', 'SELECT 1 AS id, 2 AS seq, 3 AS tie; DROP TABLE silver.items', '{id}', '{seq,tie}')$$);
SELECT expect_error($$SELECT * FROM medallion.apply_changes('silver.items', 'no_such_table', '{id}', '{seq,tie}')$$);
SELECT expect_error($$SELECT * FROM medallion.apply_changes('silver.items', 'SELECT 1 AS id, 2 AS seq, 3 AS tie', '{id}', '{seq}')$$);
SELECT expect_error($$SELECT * FROM medallion.apply_changes('silver.items', 'SELECT 1 AS id, 2 AS seq, 3 AS tie', '{id}', '{seq,tie}', scd_type => 2)$$);
CREATE TABLE silver.no_key (id int, seq int);
SELECT expect_error($$SELECT * FROM medallion.apply_changes('silver.no_key', 'SELECT 1 AS id, 2 AS seq', '{id}', '{seq}')$$);
CREATE TABLE silver.hist_bad (id int, seq timestamptz, _valid_from timestamptz, UNIQUE (id, seq));
SELECT expect_error($$SELECT * FROM medallion.apply_changes('silver.hist_bad', 'SELECT 1 AS id, now() AS seq', '{id}', '{seq}', scd_type => 2)$$);
ALTER TABLE silver.hist_bad ADD COLUMN _valid_to date;
SELECT expect_error($$SELECT * FROM medallion.apply_changes('silver.hist_bad', 'SELECT 1 AS id, now() AS seq', '{id}', '{seq}', scd_type => 2)$$);
SELECT expect_error($$SELECT * FROM medallion.apply_changes('silver.customer_history', 'SELECT 1 AS customer_id, 1 AS event_ts', '{customer_id}', '{event_ts}', scd_type => 2, ignore_null_updates => true)$$);
CREATE TABLE silver.gen (id int PRIMARY KEY, seq int, twice int GENERATED ALWAYS AS (seq * 2) STORED);
SELECT expect_error($$SELECT * FROM medallion.apply_changes('silver.gen', 'SELECT 1 AS id, 2 AS seq, 4 AS twice', '{id}', '{seq}')$$);
CREATE VIEW silver.a_view AS SELECT * FROM silver.items;
SELECT expect_error($$SELECT * FROM medallion.apply_changes('silver.a_view', 'staging.events', '{id}', '{seq}')$$);
-- Registered with (id) and (seq, tie): other keys would not match its tombstones.
SELECT expect_error($$SELECT * FROM medallion.apply_changes('silver.items', 'SELECT 1 AS id, 2 AS seq, 3 AS tie', '{id}', '{seq}')$$);
-- A failure inside the statement (a NOT NULL target column) rolls everything back, quarantine included.
CREATE TABLE silver.strict (id int PRIMARY KEY, seq int, v text NOT NULL);
SELECT expect_error($$SELECT * FROM medallion.apply_changes('silver.strict', 'SELECT * FROM (VALUES (1, 1, NULL::text), (NULL, 1, ''x'')) v(id, seq, v)', '{id}', '{seq}')$$);
SELECT count(*) AS strict_rows, (SELECT count(*) FROM medallion.quarantine WHERE target = 'silver.strict'::regclass) AS quarantined
FROM silver.strict;
-- The same when it fails in the rows set aside (a conflict falls back to a row the target refuses).
SELECT expect_error($$SELECT * FROM medallion.apply_changes('silver.strict', 'SELECT * FROM (VALUES (3, 1, ''ok''), (2, 1, ''a''), (2, 1, ''b''), (2, 0, NULL)) v(id, seq, v)', '{id}', '{seq}')$$);
SELECT count(*) AS strict_rows, (SELECT count(*) FROM medallion.quarantine WHERE target = 'silver.strict'::regclass) AS quarantined,
	(SELECT count(*) FROM medallion.apply_target WHERE target = 'silver.strict'::regclass) AS registered
FROM silver.strict;
-- A join-free source's streaming statement is planned without hash joins: the setting is over
-- before the statement runs (the target's triggers plan with the session's settings), and after
-- the call, on success and on error alike.
CREATE TABLE staging.strict_rows (id int, seq int, v text);
INSERT INTO staging.strict_rows VALUES (4, 1, 'four');
CREATE TABLE staging.trigger_saw (hashjoin text);
CREATE FUNCTION staging.note_setting() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN INSERT INTO staging.trigger_saw VALUES (current_setting('enable_hashjoin')); RETURN NEW; END $$;
CREATE TRIGGER note_setting BEFORE INSERT ON silver.strict FOR EACH ROW EXECUTE FUNCTION staging.note_setting();
SELECT inserted FROM medallion.apply_changes('silver.strict', 'staging.strict_rows', '{id}', '{seq}');
SELECT current_setting('enable_hashjoin') AS hashjoin_after_merge, (SELECT array_agg(hashjoin) FROM staging.trigger_saw) AS trigger_saw;
DROP TRIGGER note_setting ON silver.strict;
INSERT INTO staging.strict_rows VALUES (5, 1, NULL);
SELECT expect_error($$SELECT * FROM medallion.apply_changes('silver.strict', 'staging.strict_rows', '{id}', '{seq}')$$);
SELECT current_setting('enable_hashjoin') AS hashjoin_after_error, count(*) AS strict_rows FROM silver.strict;
-- The helpers of the streaming merge work only inside one.
SELECT expect_error($$SELECT medallion._merge_stash(0, ROW(1, 2))$$);
SELECT expect_error($$SELECT * FROM medallion._merge_stashed(0) AS s(a int)$$);
SELECT expect_error($$SELECT medallion._merge_place(1)$$);
SELECT expect_error(format($$SELECT * FROM medallion.apply_changes('silver.items', 'staging.events', '{id}', %L)$$,
	(SELECT array_agg('c' || g) FROM generate_series(1, 33) g)));
-- Its window function places each change in its key: 0 newest and clean, 1 older and clean, 2 set
-- aside (the newest has a NULL or shared sequence: the whole key; an older one with a NULL or shared one).
SELECT k, s, t, medallion._merge_place(s, t) OVER (PARTITION BY k ORDER BY s DESC, t DESC) AS place
FROM (VALUES (1, 5, 1),
             (2, 5, 1), (2, 4, 1), (2, 3, 1),
             (3, 5, 1), (3, 5, 1), (3, 3, 1),
             (4, NULL, 1), (4, 4, 1),
             (5, 9, 1), (5, 4, 1), (5, 4, 1), (5, 2, 1),
             (6, 5, 1), (6, 5, 2),
             (7, 9, 1), (7, 4, NULL), (7, 3, 1)) AS v(k, s, t)
ORDER BY k, s DESC, t DESC;
-- The whole-batch statement's window function: rank * 2, + 1 if a neighbour has the same full
-- sequence (NULLs share nothing).
SELECT k, s, t, medallion._merge_rank(s, t) OVER (PARTITION BY k ORDER BY s DESC, t DESC) AS rank
FROM (VALUES (1, 5, 1),
             (2, 5, 1), (2, 4, 1), (2, 4, 1), (2, 3, 1),
             (3, 5, 1), (3, 5, 2),
             (4, NULL, 1), (4, NULL, 1), (4, 2, NULL), (4, 2, NULL)) AS v(k, s, t)
ORDER BY k, s DESC NULLS FIRST, t DESC NULLS FIRST;
SELECT count(*) = :items_before AS items_unchanged FROM silver.items;

-- 10. Privileges: merging needs SELECT, INSERT, UPDATE and DELETE on the target; only its owner drops state.
CREATE ROLE merge_reader;
GRANT USAGE ON SCHEMA silver, staging TO merge_reader;
GRANT SELECT ON silver.items, staging.events TO merge_reader;
SET ROLE merge_reader;
SELECT expect_error($$SELECT * FROM medallion.apply_changes('silver.items', 'staging.events', '{id}', '{seq,tie}', except_columns => '{op}')$$);
SELECT expect_error($$SELECT medallion.drop_merge_state('silver.items')$$);
RESET ROLE;
DROP OWNED BY merge_reader;
DROP ROLE merge_reader;

-- 11. drop_merge_state forgets keys and tombstones: the target can be merged another way.
SELECT medallion.drop_merge_state('silver.items') AS dropped, medallion.drop_merge_state('silver.items') AS again;
SELECT * FROM medallion.apply_changes('silver.items', 'SELECT 1 AS id, 100 AS seq, 0 AS tie', '{id}', '{seq}');
SELECT keys, sequence_by FROM medallion.apply_target WHERE target = 'silver.items'::regclass;

-- 12. Dropping a target drops its merge state; dropping a state table forgets it.
SELECT state_table AS customer_state FROM medallion.apply_target WHERE target = 'silver.customer'::regclass \gset
DROP TABLE silver.customer;
SELECT count(*) AS registrations, to_regclass(:'customer_state') AS state_table
FROM medallion.apply_target WHERE state_table::text = :'customer_state';
DROP TABLE medallion_state.items_tombstones;
SELECT count(*) AS items_registered FROM medallion.apply_target WHERE target = 'silver.items'::regclass;
SELECT inserted FROM medallion.apply_changes('silver.items', 'SELECT 77 AS id, 1 AS seq', '{id}', '{seq}');

-- 13. A hostile search_path: a role's schema first on the caller's path holds operators, aggregates and
-- types named like pg_catalog's, each raising 'hijacked'.  The SQL apply_changes writes names none of them
-- bare, so a privileged caller (a cron job) runs none of the role's code, whether pg_catalog comes before
-- that schema (implicitly) or after it.  Only the user's own fragments (source, delete_when,
-- truncate_when) resolve as written: these qualify their operators themselves.
CREATE ROLE merge_hostile;
CREATE SCHEMA hostile AUTHORIZATION merge_hostile;
SET ROLE merge_hostile;
CREATE FUNCTION hostile.boom() RETURNS boolean LANGUAGE plpgsql AS $$BEGIN RAISE EXCEPTION 'hijacked'; END$$;
DO $$
DECLARE
	t text;
	op text;
	types text[] := '{medallion.change_type, text, bigint, integer, "bigint, integer", "integer, bigint", boolean}';
BEGIN
	FOREACH t IN ARRAY types LOOP
		EXECUTE format('CREATE FUNCTION hostile.cmp(%s) RETURNS boolean LANGUAGE plpgsql AS $f$BEGIN RAISE EXCEPTION %L; END$f$',
			CASE WHEN t LIKE '%,%' THEN t ELSE t || ', ' || t END, 'hijacked');
		FOREACH op IN ARRAY '{=, <>, <, >, <=, >=}'::text[] LOOP
			EXECUTE format('CREATE OPERATOR hostile.%s (FUNCTION = hostile.cmp, LEFTARG = %s, RIGHTARG = %s)', op,
				split_part(CASE WHEN t LIKE '%,%' THEN t ELSE t || ',' || t END, ',', 1),
				split_part(CASE WHEN t LIKE '%,%' THEN t ELSE t || ',' || t END, ',', 2));
		END LOOP;
	END LOOP;
	FOREACH t IN ARRAY '{bigint, integer}'::text[] LOOP
		EXECUTE format('CREATE FUNCTION hostile.arith(%s, integer) RETURNS %s LANGUAGE plpgsql AS $f$BEGIN RAISE EXCEPTION %L; END$f$',
			t, t, 'hijacked');
		EXECUTE format('CREATE FUNCTION hostile.arith(%s, bigint) RETURNS %s LANGUAGE plpgsql AS $f$BEGIN RAISE EXCEPTION %L; END$f$',
			t, t, 'hijacked');
		EXECUTE format('CREATE FUNCTION hostile.neg(%s) RETURNS %s LANGUAGE plpgsql AS $f$BEGIN RAISE EXCEPTION %L; END$f$',
			t, t, 'hijacked');
		FOREACH op IN ARRAY '{+, -, >>, &}'::text[] LOOP
			EXECUTE format('CREATE OPERATOR hostile.%s (FUNCTION = hostile.arith, LEFTARG = %s, RIGHTARG = integer)', op, t);
			EXECUTE format('CREATE OPERATOR hostile.%s (FUNCTION = hostile.arith, LEFTARG = %s, RIGHTARG = bigint)', op, t);
		END LOOP;
		EXECUTE format('CREATE OPERATOR hostile.- (FUNCTION = hostile.neg, RIGHTARG = %s)', t);
		EXECUTE format('CREATE FUNCTION hostile.step(%s, %s) RETURNS %s LANGUAGE plpgsql AS $f$BEGIN RAISE EXCEPTION %L; END$f$',
			t, t, t, 'hijacked');
		EXECUTE format('CREATE AGGREGATE hostile.count(%s) (SFUNC = hostile.step, STYPE = %s)', t, t);
		EXECUTE format('CREATE AGGREGATE hostile.max(%s) (SFUNC = hostile.step, STYPE = %s)', t, t);
		EXECUTE format('CREATE AGGREGATE hostile.sum(%s) (SFUNC = hostile.step, STYPE = %s)', t, t);
	END LOOP;
	CREATE FUNCTION hostile.step(boolean, boolean) RETURNS boolean LANGUAGE plpgsql AS $f$BEGIN RAISE EXCEPTION 'hijacked'; END$f$;
	CREATE AGGREGATE hostile.lag(boolean) (SFUNC = hostile.step, STYPE = boolean);
	CREATE FUNCTION hostile.step(text, text) RETURNS text LANGUAGE plpgsql AS $f$BEGIN RAISE EXCEPTION 'hijacked'; END$f$;
	CREATE AGGREGATE hostile.lag(text) (SFUNC = hostile.step, STYPE = text);
	CREATE AGGREGATE hostile.count(text) (SFUNC = hostile.step, STYPE = text);
	-- Types named like pg_catalog's (casts to text or timestamptz would find these first).
	CREATE DOMAIN hostile.text AS pg_catalog.text CHECK (hostile.boom());
	CREATE DOMAIN hostile.timestamptz AS pg_catalog.timestamptz CHECK (hostile.boom());
END $$;
RESET ROLE;
CREATE TABLE staging.hx (id int, op text, seq bigint, val text);
CREATE TABLE silver.hx1 (id int PRIMARY KEY, seq bigint, val text);
CREATE TABLE silver.hx2 (id int PRIMARY KEY, seq bigint, val text);
CREATE TABLE silver.hx3 (id int, seq bigint, val text, _valid_from bigint, _valid_to bigint, UNIQUE (id, seq));
CREATE TABLE silver.hx4 (id int, seq bigint, val text, _valid_from bigint, _valid_to bigint, UNIQUE (id, seq));
-- Feed-shaped changes (a feed reader's columns; the default delete and truncate rules, paired pre-images).
CREATE TABLE staging.hxf (id int, val text, _change_type medallion.change_type, _commit_version bigint, _change_seq bigint);
CREATE TABLE silver.hxf (id int PRIMARY KEY, val text, _commit_version bigint, _change_seq bigint);
CREATE TABLE silver.hxf2 (LIKE silver.hxf INCLUDING INDEXES);
INSERT INTO staging.hxf VALUES (1, 'a', 'insert', 1, 0), (2, 'b', 'insert', 1, 1), (3, 'c', 'insert', 1, 2),
	(1, 'a', 'update_preimage', 2, 0), (1, 'a2', 'update_postimage', 2, 1), (2, 'b', 'delete', 3, 0);
INSERT INTO staging.hx VALUES (1, 'U', 1, 'a'), (1, 'U', 2, 'a2'), (2, 'U', 1, 'b'), (2, 'D', 3, 'b'),
	(3, 'U', 5, 'c'), (3, 'U', 5, 'c'), (4, 'U', 1, NULL), (4, 'U', 2, 'd'), (5, 'U', NULL, 'e');
-- pg_catalog first is not enough: its = on change_type is anyenum = anyenum, an exact match anywhere wins.
SET search_path = hostile, public;
SELECT * FROM medallion.apply_changes('silver.hxf', 'staging.hxf', '{id}', '{_commit_version,_change_seq}');
SET search_path = hostile, pg_catalog, public;
SELECT * FROM medallion.apply_changes('silver.hx1', 'staging.hx', '{id}', '{seq}',
	delete_when => $$op OPERATOR(pg_catalog.=) 'D'$$, except_columns => '{op}');
SELECT * FROM medallion.apply_changes('silver.hx1', 'staging.hx', '{id}', '{seq}', except_columns => '{op}');
SET pg_medallion.merge_streaming = off;
SELECT * FROM medallion.apply_changes('silver.hx2', 'staging.hx', '{id}', '{seq}',
	delete_when => $$op OPERATOR(pg_catalog.=) 'D'$$, except_columns => '{op}');
RESET pg_medallion.merge_streaming;
SELECT * FROM medallion.apply_changes('silver.hx2', $$SELECT 9 AS id, 3::pg_catalog.int8 AS seq, 'x'::pg_catalog.text AS val, true AS t$$,
	'{id}', '{seq}', truncate_when => 't', except_columns => '{t}');
SELECT * FROM medallion.apply_changes('silver.hx3', 'staging.hx', '{id}', '{seq}', scd_type => 2,
	delete_when => $$op OPERATOR(pg_catalog.=) 'D'$$, except_columns => '{op}');
SELECT * FROM medallion.apply_changes('silver.hx4', 'staging.hx', '{id}', '{seq}', scd_type => 2, except_columns => '{op}');
SELECT * FROM medallion.apply_changes('silver.hxf2', 'staging.hxf', '{id}', '{_commit_version,_change_seq}');
RESET search_path;
SELECT 'hx1' AS t, id, seq, val FROM silver.hx1 UNION ALL SELECT 'hx2', id, seq, val FROM silver.hx2 ORDER BY 1, 2;
SELECT 'hx3' AS t, id, seq, val, _valid_from, _valid_to FROM silver.hx3
UNION ALL SELECT 'hx4', id, seq, val, _valid_from, _valid_to FROM silver.hx4 ORDER BY 1, 2, 3;
SELECT 'hxf' AS t, id, val FROM silver.hxf UNION ALL SELECT 'hxf2', id, val FROM silver.hxf2 ORDER BY 1, 2;
SELECT target::text, reason, record FROM medallion.quarantine WHERE target::text LIKE 'silver.hx%' ORDER BY 1, 2, 3::text;
DROP SCHEMA hostile CASCADE;
DROP ROLE merge_hostile;

-- A kept merge follows its source: a source table given a new column, or dropped and made anew with
-- other columns, in the same session, is merged with its columns as they are now (the generated
-- statement names the source's columns: it is rebuilt, not just re-planned).
CREATE TABLE silver.kept (id int PRIMARY KEY, seq int, a text, b text);
CREATE TABLE staging.kept_src (id int, seq int, a text);
INSERT INTO staging.kept_src VALUES (1, 1, 'a1');
SELECT inserted FROM medallion.apply_changes('silver.kept', 'staging.kept_src', '{id}', '{seq}');
ALTER TABLE staging.kept_src ADD COLUMN b text;
INSERT INTO staging.kept_src VALUES (1, 2, 'a2', 'b2');
SELECT updated FROM medallion.apply_changes('silver.kept', 'staging.kept_src', '{id}', '{seq}');
DROP TABLE staging.kept_src;
CREATE TABLE staging.kept_src (id int, seq int, b text);
INSERT INTO staging.kept_src VALUES (1, 3, 'b3');
SELECT updated FROM medallion.apply_changes('silver.kept', 'staging.kept_src', '{id}', '{seq}');
SELECT id, seq, a, b FROM silver.kept;

-- Cleanup: every file starts from an empty database and leaves one.
SET client_min_messages = warning;
DROP EXTENSION pg_medallion CASCADE;
DROP SCHEMA medallion;
DROP SCHEMA silver, staging CASCADE;
DROP TABLE gadget, hot, shop;
DROP FUNCTION expect_error(text);
RESET client_min_messages;
