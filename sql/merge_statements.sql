-- Golden files for the SQL apply_changes generates: medallion.merge_statements() writes out the
-- statements a merge would run (in order, without running them) for five representative specs.
-- A change to the generated SQL shows here, statement by statement, for a reviewer to read.
CREATE EXTENSION pg_medallion;
CREATE SCHEMA golden;
CREATE TABLE golden.events (id int, seq int, tie int, op text, name text, qty numeric(10,2));
CREATE TABLE golden.items (id int PRIMARY KEY, seq int, tie int, name text, qty numeric(10,2));
CREATE TABLE golden.items_history (id int, seq int, tie int, name text, qty numeric(10,2),
	_valid_from int, _valid_to int, UNIQUE (id, seq, tie));
CREATE TABLE golden.golden_kiosk (sku text PRIMARY KEY, price numeric, stock int);
SELECT medallion.enable_feed('golden.golden_kiosk') IS NOT NULL AS fed;
CREATE TABLE golden.kiosk_silver (sku text PRIMARY KEY, price numeric, stock int, _commit_version bigint, _change_seq bigint);
\pset format unaligned
\pset tuples_only on
\pset fieldsep '\n'
-- 1. SCD1, streaming (the default): the streaming statement, the tombstones it kept, the rows it set aside.
SELECT '-- ' || step, statement FROM medallion.merge_statements('golden.items', 'golden.events', '{id}', '{seq,tie}',
	delete_when => $$op = 'D'$$, except_columns => '{op}');
-- 2. SCD1, whole batch (pg_medallion.merge_streaming off): one statement.
SET pg_medallion.merge_streaming = off;
SELECT '-- ' || step, statement FROM medallion.merge_statements('golden.items', 'golden.events', '{id}', '{seq,tie}',
	delete_when => $$op = 'D'$$, except_columns => '{op}');
RESET pg_medallion.merge_streaming;
-- 3. SCD2: history with validity columns; name opens a new version, qty is updated in place.
SELECT '-- ' || step, statement FROM medallion.merge_statements('golden.items_history', 'golden.events', '{id}', '{seq,tie}',
	delete_when => $$op = 'D'$$, except_columns => '{op}', scd_type => 2, track_history_columns => '{name}');
-- 4. A feed as the source: pre-images paired, deletes and truncates from _change_type.
SELECT '-- ' || step, statement FROM medallion.merge_statements('golden.kiosk_silver',
	$$SELECT * FROM medallion_changes.golden_kiosk(0)$$, '{sku}', '{_commit_version,_change_seq}');
-- 5. A truncate rule on a plain source: the whole-batch statement, rows before the truncate dropped.
SELECT '-- ' || step, statement FROM medallion.merge_statements('golden.items', 'golden.events', '{id}', '{seq,tie}',
	delete_when => $$op = 'D'$$, truncate_when => $$op = 'T'$$, except_columns => '{op}');
\pset format aligned
\pset tuples_only off
-- Nothing was created or run: no merge state is registered, the targets are empty.
SELECT count(*) AS registered FROM medallion.apply_target WHERE target::text LIKE 'golden.%';
SELECT (SELECT count(*) FROM golden.items) + (SELECT count(*) FROM golden.items_history) AS target_rows;
-- Once a target is merged, its statements name its state table.
INSERT INTO golden.events VALUES (1, 1, 0, 'I', 'one', 1);
SELECT inserted FROM medallion.apply_changes('golden.items', 'golden.events', '{id}', '{seq,tie}',
	delete_when => $$op = 'D'$$, except_columns => '{op}');
SELECT step, statement LIKE '%' || (SELECT state_table::text FROM medallion.apply_target WHERE target OPERATOR(pg_catalog.=) 'golden.items'::regclass) || '%' AS names_state
FROM medallion.merge_statements('golden.items', 'golden.events', '{id}', '{seq,tie}',
	delete_when => $$op = 'D'$$, except_columns => '{op}');
-- It needs what apply_changes needs.
CREATE ROLE golden_reader;
GRANT USAGE ON SCHEMA golden TO golden_reader;
GRANT SELECT ON golden.items, golden.events TO golden_reader;
SET ROLE golden_reader;
SELECT * FROM medallion.merge_statements('golden.items', 'golden.events', '{id}', '{seq,tie}');
RESET ROLE;
SELECT medallion.disable_feed('golden.golden_kiosk');
SET client_min_messages = warning;
DROP SCHEMA golden CASCADE;
RESET client_min_messages;
DROP ROLE golden_reader;
DROP EXTENSION pg_medallion CASCADE;
DROP SCHEMA medallion;
