-- Bad input matrix: every public function (and every internal one PUBLIC could call) with NULLs,
-- dropped and renamed objects, wrong kinds of relation, huge and negative values and hostile
-- identifiers.  Each call must fail with a clear ereport (SQLSTATE, message, hint; never XX000,
-- never a crash) and change nothing: the catalog counts are compared after every section.
CREATE EXTENSION pg_medallion;
-- A clock that has run before, as in a database in use: version 1, read below, is then before every
-- feed's first version.
SELECT medallion.current_version() > 0 AS clock_started;
\set VERBOSITY terse
SET client_min_messages = warning;
CREATE SCHEMA bi;
SET search_path = bi, public;

-- try runs a statement and shows its SQLSTATE, message and hint with numbers masked (oids and
-- versions differ between runs), or 'no error'.  XX000 and a missing hint are what to look for.
CREATE FUNCTION bi.try(statement text) RETURNS text LANGUAGE plpgsql AS $$
DECLARE
	state text; msg text; hint text;
BEGIN
	EXECUTE statement;
	RETURN 'no error';
EXCEPTION WHEN OTHERS THEN
	GET STACKED DIAGNOSTICS state = RETURNED_SQLSTATE, msg = MESSAGE_TEXT, hint = PG_EXCEPTION_HINT;
	RETURN state || ': ' || regexp_replace(msg, '\d+', 'N', 'g')
		|| coalesce(' | hint: ' || nullif(regexp_replace(hint, '\d+', 'N', 'g'), ''), ' | NO HINT');
END $$;

-- try_rb runs a call that is expected to succeed and rolls it back, so the counts stay put.
CREATE FUNCTION bi.try_rb(statement text) RETURNS text LANGUAGE plpgsql AS $$
DECLARE
	state text; msg text; hint text;
BEGIN
	EXECUTE statement;
	RAISE EXCEPTION '__rollback__';
EXCEPTION WHEN OTHERS THEN
	GET STACKED DIAGNOSTICS state = RETURNED_SQLSTATE, msg = MESSAGE_TEXT, hint = PG_EXCEPTION_HINT;
	IF msg = '__rollback__' THEN
		RETURN 'no error (rolled back)';
	END IF;
	RETURN state || ': ' || regexp_replace(msg, '\d+', 'N', 'g')
		|| coalesce(' | hint: ' || nullif(regexp_replace(hint, '\d+', 'N', 'g'), ''), ' | NO HINT');
END $$;

-- What a bad call must not change: rows of the extension's catalogs, objects in its schemas,
-- triggers on tables.  bi.unchanged() shows the counters that moved since the last call.
CREATE TABLE bi.counts (what text PRIMARY KEY, n bigint);
CREATE FUNCTION bi.current_counts() RETURNS TABLE(what text, n bigint) LANGUAGE plpgsql AS $$
#variable_conflict use_column
BEGIN RETURN QUERY
	SELECT 'feed', count(*) FROM medallion.feed
	UNION ALL SELECT 'consumer', count(*) FROM medallion.consumer
	UNION ALL SELECT 'consumer_feed', count(*) FROM medallion.consumer_feed
	UNION ALL SELECT 'watermarks', pg_catalog.sum(watermark)::bigint FROM medallion.consumer_feed
	UNION ALL SELECT 'watermark_log', count(*) FROM medallion.watermark_log
	UNION ALL SELECT 'external_watermark', count(*) FROM medallion.external_watermark
	UNION ALL SELECT 'apply_target', count(*) FROM medallion.apply_target
	UNION ALL SELECT 'quarantine', count(*) FROM medallion.quarantine
	UNION ALL SELECT 'schema_change', count(*) FROM medallion.schema_change
	UNION ALL SELECT 'retention settings', count(retention) FROM medallion.feed
	UNION ALL SELECT 'logical_slot', count(*) FROM medallion.logical_slot
	UNION ALL SELECT 'objects in ' || n.nspname, count(c.oid)
		FROM pg_namespace n LEFT JOIN pg_class c ON c.relnamespace = n.oid
		WHERE n.nspname IN ('medallion', 'medallion_changes', 'medallion_state', 'bi') GROUP BY n.nspname
	UNION ALL SELECT 'functions in medallion_changes', count(*) FROM pg_proc WHERE pronamespace = 'medallion_changes'::regnamespace
	UNION ALL SELECT 'triggers', count(*) FROM pg_trigger WHERE NOT tgisinternal
	UNION ALL SELECT 'replication slots', count(*) FROM pg_replication_slots
	UNION ALL SELECT 'rows in bi tables', (SELECT count(*) FROM bi.src) + (SELECT count(*) FROM bi.part)
		+ (SELECT count(*) FROM bi.target) + (SELECT count(*) FROM bi.hist);
END $$;
CREATE FUNCTION bi.unchanged() RETURNS text LANGUAGE plpgsql AS $$
DECLARE
	moved text;
BEGIN
	SELECT string_agg(format('%s %s -> %s', coalesce(o.what, c.what), o.n, c.n), '; ' ORDER BY coalesce(o.what, c.what))
	INTO moved
	FROM bi.counts o FULL JOIN bi.current_counts() c USING (what)
	WHERE o.n IS DISTINCT FROM c.n;
	DELETE FROM bi.counts;
	INSERT INTO bi.counts SELECT * FROM bi.current_counts();
	RETURN coalesce('CHANGED: ' || moved, 'unchanged');
END $$;

-- Objects -------------------------------------------------------------------------------------
CREATE DOMAIN bi.money_amount AS numeric(12,2) CHECK (VALUE >= 0);
CREATE TABLE bi.src (id int PRIMARY KEY, txt text, j jsonb, n numeric, amount bi.money_amount);
CREATE TABLE bi.part (id int NOT NULL, region text NOT NULL, v text, PRIMARY KEY (id, region)) PARTITION BY LIST (region);
CREATE TABLE bi.part_eu PARTITION OF bi.part FOR VALUES IN ('eu');
CREATE TABLE bi.part_rest PARTITION OF bi.part DEFAULT;
CREATE TABLE bi.plain (id int PRIMARY KEY, v text);
CREATE TABLE bi.nopk (a int, b text);
CREATE TABLE bi.parent (id int);
CREATE TABLE bi.child () INHERITS (bi.parent);
CREATE UNLOGGED TABLE bi.unlogged (id int);
CREATE TABLE bi.nocols ();
CREATE TABLE bi.collide (id int, _change_type text);
CREATE VIEW bi.v AS SELECT * FROM bi.src;
CREATE MATERIALIZED VIEW bi.mv AS SELECT * FROM bi.src;
CREATE SEQUENCE bi.seq;
CREATE TYPE bi.comp AS (a int, b text);
CREATE FOREIGN DATA WRAPPER bi_fdw;
CREATE SERVER bi_server FOREIGN DATA WRAPPER bi_fdw;
CREATE FOREIGN TABLE bi.ft (a int) SERVER bi_server;
CREATE TEMP TABLE tmp_t (id int PRIMARY KEY);
CREATE SCHEMA "Sales ""EU""";
CREATE TABLE "Sales ""EU"""."we""ird; name" (id int PRIMARY KEY, "Value ""x""" text);
CREATE TABLE bi."tä😀ble" (id int PRIMARY KEY, "cölumn" text);
-- 63 bytes: the longest identifier; two of them that differ only in the last byte.
CREATE TABLE bi.a23456789012345678901234567890123456789012345678901234567890123 (id int PRIMARY KEY, seq int, v text);
CREATE TABLE bi.a23456789012345678901234567890123456789012345678901234567890124 (id int PRIMARY KEY, seq int, v text);
CREATE SCHEMA bi2;
CREATE TABLE bi2.src (id int PRIMARY KEY, txt text);   -- same name as bi.src in another schema
CREATE TABLE bi.target (id int PRIMARY KEY, txt text, j jsonb, n numeric, amount numeric, _commit_version bigint, _change_seq bigint);
CREATE TABLE bi.hist (id int, txt text, seq int, _valid_from int, _valid_to int, UNIQUE (id, seq));
CREATE TABLE bi.cdc (id int, txt text, seq int, op text);
INSERT INTO bi.cdc VALUES (1, 'a', 1, 'I'), (2, 'b', 2, 'I'), (2, NULL, 3, 'D');

SELECT medallion.enable_feed('bi.src') AS src_changes;
SELECT medallion.enable_feed('bi.part') AS part_changes;
SELECT medallion.enable_feed('bi2.src') AS bi2_src_changes;
SELECT medallion.enable_feed('"Sales ""EU"""."we""ird; name"') AS weird_changes;
SELECT medallion.enable_feed('bi."tä😀ble"') AS unicode_changes;
SELECT medallion.enable_feed('bi.a23456789012345678901234567890123456789012345678901234567890123') AS long1_changes;
SELECT medallion.enable_feed('bi.a23456789012345678901234567890123456789012345678901234567890124') AS long2_changes;
INSERT INTO bi.src VALUES (1, 'a', '{"k": 1}', 1.5, 2), (2, NULL, NULL, NULL, NULL);
INSERT INTO bi.part VALUES (1, 'eu', 'x'), (2, 'us', NULL);
SELECT medallion.current_version() > 0 AS v1;
UPDATE bi.src SET txt = 'b' WHERE id = 1;
DELETE FROM bi.src WHERE id = 2;
SELECT medallion.current_version() > 0 AS v2;
SELECT count(*) AS consumer FROM medallion.create_consumer('bi_c', '{bi.src,bi.part}', 'earliest');
SELECT inserted FROM medallion.apply_changes('bi.target', $$SELECT * FROM medallion_changes.src(medallion.first_version('bi.src'))$$,
	'{id}', '{_commit_version,_change_seq}');
SELECT inserted FROM medallion.apply_changes('bi.hist', $$SELECT id, txt, seq FROM bi.cdc$$,
	'{id}', '{seq}', scd_type => 2);
SELECT medallion.create_watermark('bi_pipe', 'files', 'bigint');
SELECT medallion.advance_watermark('bi_pipe', 'files', '10');
SELECT medallion.create_watermark('bi_pipe', 'events', 'timestamptz', interval '1 minute');

-- A fed table dropped after enable_feed (its feed goes, the change table stays), a plain dropped
-- table, both kept as oids; a fed table renamed after enable_feed.
CREATE TABLE bi.fed_then_dropped (id int PRIMARY KEY);
SELECT medallion.enable_feed('bi.fed_then_dropped') IS NOT NULL AS fed;
SELECT 'bi.fed_then_dropped'::regclass::oid AS fed_dropped_oid \gset
DROP TABLE bi.fed_then_dropped;
DROP TABLE medallion_changes.fed_then_dropped;
CREATE TABLE bi.dropme (id int);
SELECT 'bi.dropme'::regclass::oid AS dropped_oid \gset
DROP TABLE bi.dropme;
CREATE TABLE bi.ren (id int PRIMARY KEY);
SELECT medallion.enable_feed('bi.ren') IS NOT NULL AS fed;
ALTER TABLE bi.ren RENAME TO ren2;
SELECT reader FROM medallion.feed WHERE source = 'bi.ren2'::regclass;
SELECT medallion.current_version() > 0 AS v3;
SELECT bi.unchanged() IS NOT NULL AS baseline;

-- enable_feed(source regclass, mode text) ----------------------------------------------------
SELECT bi.try($$SELECT medallion.enable_feed(NULL)$$);
SELECT bi.try($$SELECT medallion.enable_feed(NULL, NULL)$$);
SELECT bi.try_rb($$SELECT medallion.enable_feed('bi.plain', NULL)$$) AS null_mode_means_trigger;
SELECT bi.try($$SELECT medallion.enable_feed('bi.plain', '')$$);
SELECT bi.try($$SELECT medallion.enable_feed('bi.plain', 'TRIGGER')$$);
SELECT bi.try($$SELECT medallion.enable_feed('bi.plain', 'trigger; DROP TABLE bi.src')$$);
SELECT bi.try($$SELECT medallion.enable_feed('bi.plain', repeat('x', 100000))$$);
SELECT bi.try($$SELECT medallion.enable_feed('bi.part', 'logical')$$);
SELECT bi.try($$SELECT medallion.enable_feed('bi.nopk', 'logical')$$);
SELECT bi.try($$SELECT medallion.enable_feed(0)$$);
SELECT bi.try($$SELECT medallion.enable_feed(4294967295)$$);
SELECT bi.try(format('SELECT medallion.enable_feed(%s)', :dropped_oid));
SELECT bi.try(format('SELECT medallion.enable_feed(%s)', :fed_dropped_oid));
SELECT bi.try($$SELECT medallion.enable_feed('bi.ren')$$);
SELECT bi.try($$SELECT medallion.enable_feed('bi.ren2')$$);
SELECT bi.try($$SELECT medallion.enable_feed('bi.src')$$);
SELECT bi.try($$SELECT medallion.enable_feed('bi.part_eu')$$);
SELECT bi.try($$SELECT medallion.enable_feed('bi.v')$$);
SELECT bi.try($$SELECT medallion.enable_feed('bi.mv')$$);
SELECT bi.try($$SELECT medallion.enable_feed('bi.seq')$$);
SELECT bi.try($$SELECT medallion.enable_feed('bi.ft')$$);
SELECT bi.try($$SELECT medallion.enable_feed('bi.src_pkey')$$);
SELECT bi.try($$SELECT medallion.enable_feed('bi.comp')$$);
SELECT bi.try($$SELECT medallion.enable_feed('tmp_t')$$);
SELECT bi.try($$SELECT medallion.enable_feed('bi.unlogged')$$);
SELECT bi.try($$SELECT medallion.enable_feed('bi.parent')$$);
SELECT bi.try($$SELECT medallion.enable_feed('bi.child')$$);
SELECT bi.try($$SELECT medallion.enable_feed('bi.nocols')$$);
SELECT bi.try($$SELECT medallion.enable_feed('bi.collide')$$);
SELECT bi.try($$SELECT medallion.enable_feed('pg_class')$$);
SELECT bi.try($$SELECT medallion.enable_feed('information_schema.sql_features')$$);
SELECT bi.try($$SELECT medallion.enable_feed('medallion.tick')$$);
SELECT bi.try($$SELECT medallion.enable_feed('medallion.consumer')$$);
SELECT bi.try($$SELECT medallion.enable_feed('medallion_changes.src')$$);
SELECT bi.try($$SELECT medallion.enable_feed((SELECT min(c.oid) FROM pg_class c WHERE c.relnamespace = 'medallion_changes'::regnamespace AND c.relname LIKE '\_feed%'))$$);
SELECT bi.try($$SELECT medallion.enable_feed('medallion_state.target_tombstones')$$);
SELECT bi.try($$SELECT medallion.enable_feed('bi.nope')$$);
-- Not bad input, but unusual columns: a COLLATE clause or a domain with a collation must work.
CREATE DOMAIN bi.c_text AS text COLLATE "C";
CREATE TABLE bi.coll (id int PRIMARY KEY, a text COLLATE "C", b bi.c_text, c varchar(10)[] COLLATE "POSIX");
SELECT bi.try_rb($$SELECT medallion.enable_feed('bi.coll')$$) AS collated_columns;
DROP TABLE bi.coll;
SELECT bi.try($$SELECT medallion.enable_feed('"bi.src; DROP TABLE bi.src"')$$);
SELECT bi.unchanged();

-- disable_feed(source regclass, keep_changes boolean) -------------------------------------------
SELECT bi.try($$SELECT medallion.disable_feed(NULL)$$);
SELECT bi.try($$SELECT medallion.disable_feed(NULL, NULL)$$);
SELECT bi.try($$SELECT medallion.disable_feed(0)$$);
SELECT bi.try(format('SELECT medallion.disable_feed(%s)', :dropped_oid));
SELECT bi.try(format('SELECT medallion.disable_feed(%s, true)', :fed_dropped_oid));
SELECT bi.try($$SELECT medallion.disable_feed('bi.ren')$$);
SELECT bi.try($$SELECT medallion.disable_feed('bi.plain')$$);
SELECT bi.try($$SELECT medallion.disable_feed('bi.part_eu')$$);
SELECT bi.try($$SELECT medallion.disable_feed('bi.v')$$);
SELECT bi.try($$SELECT medallion.disable_feed('bi.seq')$$);
SELECT bi.try($$SELECT medallion.disable_feed('tmp_t')$$);
SELECT bi.try($$SELECT medallion.disable_feed('medallion_changes.src')$$);
SELECT bi.try($$SELECT medallion.disable_feed('medallion.feed')$$);
SELECT bi.try($$SELECT medallion.disable_feed('bi.src')$$) AS consumer_reads_it;
SELECT bi.unchanged();

-- current_version(), version_at(timestamptz), first_version(regclass) ---------------------------
SELECT bi.try($$SELECT medallion.version_at(NULL)$$) AS strict_null;
SELECT bi.try($$SELECT medallion.version_at('infinity')$$);
SELECT bi.try($$SELECT medallion.version_at('-infinity')$$) AS before_everything_is_null;
SELECT medallion.version_at('-infinity') IS NULL AS null_before_first;
SELECT bi.try($$SELECT medallion.first_version(NULL)$$);
SELECT bi.try($$SELECT medallion.first_version(0)$$);
SELECT bi.try(format('SELECT medallion.first_version(%s)', :dropped_oid));
SELECT bi.try(format('SELECT medallion.first_version(%s)', :fed_dropped_oid));
SELECT bi.try($$SELECT medallion.first_version('bi.plain')$$);
SELECT bi.try($$SELECT medallion.first_version('bi.part_eu')$$);
SELECT bi.try($$SELECT medallion.first_version('bi.v')$$);
SELECT bi.try($$SELECT medallion.first_version('medallion_changes.src')$$);
SELECT bi.unchanged();

-- table_changes(source, from_version, to_version) and (source, from_timestamp, to_timestamp) ---
SELECT bi.try($$SELECT * FROM medallion.table_changes(NULL, 1)$$);
SELECT bi.try($$SELECT * FROM medallion.table_changes(NULL, NULL::bigint, NULL::bigint)$$);
SELECT bi.try($$SELECT * FROM medallion.table_changes('bi.src', NULL::bigint)$$);
SELECT bi.try($$SELECT * FROM medallion.table_changes('bi.src', NULL::bigint, 1)$$);
SELECT bi.try($$SELECT * FROM medallion.table_changes('bi.src', -1)$$);
SELECT bi.try($$SELECT * FROM medallion.table_changes('bi.src', 0)$$);
SELECT bi.try($$SELECT * FROM medallion.table_changes('bi.src', 1, -1)$$);
SELECT bi.try($$SELECT * FROM medallion.table_changes('bi.src', -9223372036854775808)$$);
SELECT bi.try($$SELECT * FROM medallion.table_changes('bi.src', 9223372036854775807)$$);
SELECT bi.try($$SELECT * FROM medallion.table_changes('bi.src', 1, 9223372036854775807)$$);
SELECT bi.try($$SELECT * FROM medallion.table_changes('bi.src', 9223372036854775807, 9223372036854775807)$$);
SELECT bi.try($$SELECT * FROM medallion.table_changes('bi.src', (SELECT max(version) FROM medallion.tick), 1)$$);
SELECT bi.try($$SELECT * FROM medallion.table_changes(0, 1)$$);
SELECT bi.try(format('SELECT * FROM medallion.table_changes(%s, 1)', :dropped_oid));
SELECT bi.try(format('SELECT * FROM medallion.table_changes(%s, 1)', :fed_dropped_oid));
SELECT bi.try($$SELECT * FROM medallion.table_changes('bi.part_eu', 1)$$);
SELECT bi.try($$SELECT * FROM medallion.table_changes('bi.v', 1)$$);
SELECT bi.try($$SELECT * FROM medallion.table_changes('bi.seq', 1)$$);
SELECT bi.try($$SELECT * FROM medallion.table_changes('tmp_t', 1)$$);
SELECT bi.try($$SELECT * FROM medallion.table_changes('medallion_changes.src', 1)$$);
SELECT bi.try($$SELECT * FROM medallion.table_changes('bi.src', NULL::timestamptz)$$);
SELECT bi.try($$SELECT * FROM medallion.table_changes(NULL, now(), now())$$);
SELECT bi.try($$SELECT * FROM medallion.table_changes('bi.src', 'infinity'::timestamptz)$$);
SELECT bi.try($$SELECT * FROM medallion.table_changes('bi.src', '-infinity'::timestamptz, '-infinity'::timestamptz)$$);
SELECT bi.try($$SELECT * FROM medallion.table_changes('bi.src', '-infinity'::timestamptz, 'infinity'::timestamptz)$$);
SELECT bi.try($$SELECT * FROM medallion.table_changes('bi.src', now() + interval '1 day', now())$$);
SELECT bi.try($$SELECT * FROM medallion.table_changes('bi.src', '4713-01-01 00:00+00 BC'::timestamptz)$$);
SELECT bi.try($$SELECT * FROM medallion.table_changes('bi.src', '294276-12-31 00:00+00'::timestamptz)$$);
SELECT bi.unchanged();

-- history(source) ------------------------------------------------------------------------------
SELECT bi.try($$SELECT * FROM medallion.history(NULL)$$);
SELECT bi.try($$SELECT * FROM medallion.history(0)$$);
SELECT bi.try(format('SELECT * FROM medallion.history(%s)', :dropped_oid));
SELECT bi.try(format('SELECT * FROM medallion.history(%s)', :fed_dropped_oid));
SELECT bi.try($$SELECT * FROM medallion.history('bi.plain')$$);
SELECT bi.try($$SELECT * FROM medallion.history('bi.part_eu')$$);
SELECT bi.try($$SELECT * FROM medallion.history('bi.v')$$);
SELECT bi.try($$SELECT * FROM medallion.history('medallion_changes.src')$$);
SELECT bi.unchanged();

-- Typed readers: medallion_changes.<name>(from, to), (from_ts, to_ts), (consumer, ...) ---------
SELECT bi.try($$SELECT * FROM medallion_changes.src(NULL::bigint)$$);
SELECT bi.try($$SELECT * FROM medallion_changes.src(-1)$$);
SELECT bi.try($$SELECT * FROM medallion_changes.src(9223372036854775807)$$);
SELECT bi.try($$SELECT * FROM medallion_changes.src(1, -9223372036854775808)$$);
SELECT bi.try($$SELECT * FROM medallion_changes.src(NULL::timestamptz)$$);
SELECT bi.try($$SELECT * FROM medallion_changes.src('infinity'::timestamptz)$$);
SELECT bi.try($$SELECT * FROM medallion_changes.src(NULL::text)$$);
SELECT bi.try($$SELECT * FROM medallion_changes.src('nope'::text)$$);
SELECT bi.try($$SELECT * FROM medallion_changes.src('bi_c'::text, 0)$$);
SELECT bi.try($$SELECT * FROM medallion_changes.src('bi_c'::text, -2147483648)$$);
SELECT bi.try_rb($$SELECT * FROM medallion_changes.src('bi_c'::text, NULL, NULL, NULL, NULL)$$) AS null_flags;
SELECT bi.try($$SELECT * FROM medallion_changes.src('bi_c'::text, peek => true, net => true)$$) AS peek_net;
SELECT bi.try($$SELECT * FROM medallion_changes.src('bi_c'::text, 2147483647, peek => true)$$) AS peek_huge;
SELECT bi.try($$SELECT * FROM medallion_changes.ren2(1)$$) AS renamed_table_reader;
SELECT bi.try($$SELECT * FROM medallion_changes.ren(1)$$) AS old_reader_name;
SELECT bi.try($$SELECT * FROM medallion_changes."we""ird; name"(1)$$) AS hostile_reader;
SELECT bi.try($$SELECT * FROM medallion_changes."tä😀ble"(1)$$) AS unicode_reader;
SELECT bi.try($$SELECT * FROM medallion_changes.fed_then_dropped(1)$$) AS reader_of_dropped;
SELECT bi.unchanged();

-- Consumers: create_consumer, drop_consumer, reset_consumer, consume, peek ---------------------
SELECT bi.try($$SELECT * FROM medallion.create_consumer(NULL, '{bi.src}')$$);
SELECT bi.try($$SELECT * FROM medallion.create_consumer('bi_x', NULL)$$);
SELECT bi.try_rb($$SELECT * FROM medallion.create_consumer('bi_x', '{bi.src}', NULL)$$) AS null_start_means_latest;
SELECT bi.try($$SELECT * FROM medallion.create_consumer('', '{bi.src}')$$);
SELECT bi.try($$SELECT * FROM medallion.create_consumer(repeat('x', 201), '{bi.src}')$$);
SELECT bi.try_rb($$SELECT * FROM medallion.create_consumer(repeat('é', 150), '{bi.src}')$$) AS multibyte_300_bytes;
SELECT bi.try($$SELECT * FROM medallion.create_consumer('bi_c', '{bi.src}')$$);
SELECT bi.try($$SELECT * FROM medallion.create_consumer('bi_x', '{}')$$);
SELECT bi.try($$SELECT * FROM medallion.create_consumer('bi_x', '{NULL}')$$);
SELECT bi.try($$SELECT * FROM medallion.create_consumer('bi_x', '{bi.src,NULL}')$$);
SELECT bi.try($$SELECT * FROM medallion.create_consumer('bi_x', '{bi.src,bi.src}')$$);
SELECT bi.try($$SELECT * FROM medallion.create_consumer('bi_x', '{{bi.src},{bi.part}}')$$) AS two_dimensional;
SELECT bi.try($$SELECT * FROM medallion.create_consumer('bi_x', '[5:5]={bi.src}')$$) AS lower_bound_5;
SELECT bi.try($$SELECT medallion.drop_consumer('bi_x')$$) AS undo;
SELECT bi.try($$SELECT * FROM medallion.create_consumer('bi_x', '{0}')$$);
SELECT bi.try(format('SELECT * FROM medallion.create_consumer(''bi_x'', ARRAY[%s]::regclass[])', :dropped_oid));
SELECT bi.try(format('SELECT * FROM medallion.create_consumer(''bi_x'', ARRAY[%s]::regclass[])', :fed_dropped_oid));
SELECT bi.try($$SELECT * FROM medallion.create_consumer('bi_x', '{bi.plain}')$$);
SELECT bi.try($$SELECT * FROM medallion.create_consumer('bi_x', '{bi.part_eu}')$$);
SELECT bi.try($$SELECT * FROM medallion.create_consumer('bi_x', '{bi.v}')$$);
SELECT bi.try($$SELECT * FROM medallion.create_consumer('bi_x', '{medallion_changes.src}')$$);
SELECT bi.try($$SELECT * FROM medallion.create_consumer('bi_x', '{bi.src}', '')$$);
SELECT bi.try($$SELECT * FROM medallion.create_consumer('bi_x', '{bi.src}', 'LATEST')$$);
SELECT bi.try($$SELECT * FROM medallion.create_consumer('bi_x', '{bi.src}', 'abc')$$);
SELECT bi.try($$SELECT * FROM medallion.create_consumer('bi_x', '{bi.src}', '-1')$$);
SELECT bi.try($$SELECT * FROM medallion.create_consumer('bi_x', '{bi.src}', '0')$$);
SELECT bi.try($$SELECT * FROM medallion.create_consumer('bi_x', '{bi.src}', ' 1')$$);
SELECT bi.try($$SELECT * FROM medallion.create_consumer('bi_x', '{bi.src}', '1.5')$$);
SELECT bi.try($$SELECT * FROM medallion.create_consumer('bi_x', '{bi.src}', '1e3')$$);
SELECT bi.try($$SELECT * FROM medallion.create_consumer('bi_x', '{bi.src}', '9223372036854775807')$$);
SELECT bi.try($$SELECT * FROM medallion.create_consumer('bi_x', '{bi.src}', '9223372036854775808')$$);
SELECT bi.try($$SELECT * FROM medallion.create_consumer('bi_x', '{bi.src}', '99999999999999999999999999')$$);
SELECT bi.try($$SELECT * FROM medallion.create_consumer('bi_x', '{bi.src}', repeat('9', 100000))$$);
SELECT bi.unchanged();
SELECT bi.try($$SELECT medallion.drop_consumer(NULL)$$);
SELECT bi.try($$SELECT medallion.drop_consumer('')$$);
SELECT bi.try($$SELECT medallion.drop_consumer('nope')$$);
SELECT bi.try($$SELECT medallion.drop_consumer('bi_c'' OR ''1''=''1')$$);
SELECT bi.try($$SELECT medallion.drop_consumer(repeat('x', 100000))$$);
SELECT bi.try($$SELECT * FROM medallion.reset_consumer(NULL, 1)$$);
SELECT bi.try($$SELECT * FROM medallion.reset_consumer('bi_c', NULL)$$);
SELECT bi.try($$SELECT * FROM medallion.reset_consumer('nope', 1)$$);
SELECT bi.try($$SELECT * FROM medallion.reset_consumer('bi_c', -1)$$);
SELECT bi.try($$SELECT * FROM medallion.reset_consumer('bi_c', -9223372036854775808)$$);
SELECT bi.try($$SELECT * FROM medallion.reset_consumer('bi_c', 9223372036854775807)$$);
SELECT bi.try($$SELECT * FROM medallion.reset_consumer('bi_c', 1, 0)$$);
SELECT bi.try(format('SELECT * FROM medallion.reset_consumer(''bi_c'', 1, %s)', :dropped_oid));
SELECT bi.try(format('SELECT * FROM medallion.reset_consumer(''bi_c'', 1, %s)', :fed_dropped_oid));
SELECT bi.try($$SELECT * FROM medallion.reset_consumer('bi_c', 1, 'bi.plain')$$);
SELECT bi.try($$SELECT * FROM medallion.reset_consumer('bi_c', 1, 'bi.ren2')$$);
SELECT bi.try($$SELECT * FROM medallion.reset_consumer('bi_c', 1, 'bi.part_eu')$$);
SELECT bi.unchanged();
SELECT bi.try($$SELECT * FROM medallion.consume(NULL, 'bi.src')$$);
SELECT bi.try($$SELECT * FROM medallion.consume('bi_c', NULL)$$);
SELECT bi.try($$SELECT * FROM medallion.consume('nope', 'bi.src')$$);
SELECT bi.try($$SELECT * FROM medallion.consume('', 'bi.src')$$);
SELECT bi.try($$SELECT * FROM medallion.consume('bi_c', 'bi.src', 0)$$);
SELECT bi.try($$SELECT * FROM medallion.consume('bi_c', 'bi.src', -1)$$);
SELECT bi.try($$SELECT * FROM medallion.consume('bi_c', 'bi.src', -2147483648)$$);
SELECT bi.try($$SELECT * FROM medallion.consume('bi_c', 0)$$);
SELECT bi.try(format('SELECT * FROM medallion.consume(''bi_c'', %s)', :dropped_oid));
SELECT bi.try(format('SELECT * FROM medallion.consume(''bi_c'', %s)', :fed_dropped_oid));
SELECT bi.try($$SELECT * FROM medallion.consume('bi_c', 'bi.plain')$$);
SELECT bi.try($$SELECT * FROM medallion.consume('bi_c', 'bi2.src')$$);
SELECT bi.try($$SELECT * FROM medallion.consume('bi_c', 'bi.part_eu')$$);
SELECT bi.try($$SELECT * FROM medallion.consume('bi_c', 'bi.v')$$);
SELECT bi.try_rb($$SELECT * FROM medallion.consume('bi_c', 'bi.part', net => true)$$) AS part_net;
SELECT bi.try($$SELECT * FROM medallion.peek(NULL, 'bi.src')$$);
SELECT bi.try($$SELECT * FROM medallion.peek('bi_c', NULL)$$);
SELECT bi.try($$SELECT * FROM medallion.peek('bi_c', 'bi.src', 0)$$);
SELECT bi.try($$SELECT * FROM medallion.peek('bi_c', 'bi.src', NULL, NULL)$$) AS null_net;
SELECT bi.try($$SELECT * FROM medallion.peek('bi_c', 'bi.src', 2147483647)$$) AS huge_max;
SELECT bi.try($$SELECT * FROM medallion.peek('bi_c', 'bi.plain')$$);
SELECT bi.unchanged();

-- External watermarks: create_watermark, watermark, advance_watermark, is_late -----------------
SELECT bi.try($$SELECT medallion.create_watermark(NULL, 's', 'bigint')$$);
SELECT bi.try($$SELECT medallion.create_watermark('p', NULL, 'bigint')$$);
SELECT bi.try($$SELECT medallion.create_watermark('p', 's', NULL)$$);
SELECT bi.try($$SELECT medallion.create_watermark('', 's', 'bigint')$$);
SELECT bi.try($$SELECT medallion.create_watermark('p', '', 'bigint')$$);
SELECT bi.try($$SELECT medallion.create_watermark('p', 's', 'int')$$);
SELECT bi.try($$SELECT medallion.create_watermark('p', 's', 'BIGINT')$$);
SELECT bi.try($$SELECT medallion.create_watermark('p', 's', 'bigint', interval '1 minute')$$);
SELECT bi.try($$SELECT medallion.create_watermark('p', 's', 'timestamptz', interval '-1 minute')$$);
SELECT bi.try($$SELECT medallion.create_watermark('bi_pipe', 'files', 'bigint')$$);
SELECT bi.try($$SELECT medallion.watermark(NULL, 'files')$$);
SELECT bi.try($$SELECT medallion.watermark('bi_pipe', NULL)$$);
SELECT bi.try($$SELECT medallion.watermark('bi_pipe', 'nope')$$);
SELECT bi.try($$SELECT medallion.advance_watermark(NULL, 'files', '11')$$);
SELECT bi.try($$SELECT medallion.advance_watermark('bi_pipe', NULL, '11')$$);
SELECT bi.try($$SELECT medallion.advance_watermark('bi_pipe', 'files', NULL)$$);
SELECT bi.try($$SELECT medallion.advance_watermark('bi_pipe', 'nope', '11')$$);
SELECT bi.try($$SELECT medallion.advance_watermark('bi_pipe', 'files', '9')$$);
SELECT bi.try($$SELECT medallion.advance_watermark('bi_pipe', 'files', 'abc')$$);
SELECT bi.try($$SELECT medallion.advance_watermark('bi_pipe', 'files', '')$$);
SELECT bi.try($$SELECT medallion.advance_watermark('bi_pipe', 'files', '99999999999999999999')$$);
SELECT bi.try($$SELECT medallion.advance_watermark('bi_pipe', 'files', '1e3')$$);
SELECT bi.try($$SELECT medallion.advance_watermark('bi_pipe', 'files', '9', force => NULL)$$);
SELECT bi.try($$SELECT medallion.advance_watermark('bi_pipe', 'events', 'not a time')$$);
SELECT bi.try($$SELECT medallion.advance_watermark('bi_pipe', 'events', '294277-01-01')$$);
SELECT bi.try($$SELECT medallion.is_late(NULL, 'events', now())$$);
SELECT bi.try($$SELECT medallion.is_late('bi_pipe', 'files', now())$$);
SELECT bi.try($$SELECT medallion.is_late('bi_pipe', 'nope', now())$$);
SELECT bi.try($$SELECT medallion.is_late('bi_pipe', 'events', NULL)$$) AS null_time_is_not_late;
SELECT bi.unchanged();

-- apply_changes(target, source, keys, sequence_by, ...) ----------------------------------------
\set src '$$SELECT * FROM medallion_changes.src(medallion.first_version(''bi.src''))$$'
SELECT bi.try($$SELECT * FROM medallion.apply_changes(NULL, 'bi.cdc', '{id}', '{seq}')$$);
SELECT bi.try($$SELECT * FROM medallion.apply_changes('bi.target', NULL, '{id}', '{seq}')$$);
SELECT bi.try($$SELECT * FROM medallion.apply_changes('bi.target', 'bi.cdc', NULL, '{seq}')$$);
SELECT bi.try($$SELECT * FROM medallion.apply_changes('bi.target', 'bi.cdc', '{id}', NULL)$$);
SELECT bi.try($$SELECT * FROM medallion.apply_changes('bi.target', 'bi.cdc', '{}', '{seq}')$$);
SELECT bi.try($$SELECT * FROM medallion.apply_changes('bi.target', 'bi.cdc', '{id}', '{}')$$);
SELECT bi.try($$SELECT * FROM medallion.apply_changes('bi.target', 'bi.cdc', '{NULL}', '{seq}')$$);
SELECT bi.try($$SELECT * FROM medallion.apply_changes('bi.target', 'bi.cdc', '{id}', '{NULL}')$$);
SELECT bi.try($$SELECT * FROM medallion.apply_changes('bi.target', 'bi.cdc', '{""}', '{seq}')$$);
SELECT bi.try($$SELECT * FROM medallion.apply_changes('bi.target', 'bi.cdc', '{id,id}', '{seq}')$$);
SELECT bi.try($$SELECT * FROM medallion.apply_changes('bi.target', 'bi.cdc', '{id}', '{id}')$$);
SELECT bi.try($$SELECT * FROM medallion.apply_changes('bi.target', 'bi.cdc', '{{id}}', '{seq}')$$) AS two_dimensional_keys;
SELECT bi.try($$SELECT * FROM medallion.apply_changes('bi.target', 'bi.cdc', '{id}', ARRAY(SELECT 'c' || i FROM generate_series(1, 33) i))$$);
SELECT bi.try($$SELECT * FROM medallion.apply_changes('bi.target', 'bi.cdc', ARRAY(SELECT 'c' || i FROM generate_series(1, 1000) i), '{seq}')$$);
SELECT bi.try($$SELECT * FROM medallion.apply_changes('bi.target', 'bi.cdc', '{"id; DROP TABLE bi.src"}', '{seq}')$$);
SELECT bi.try($$SELECT * FROM medallion.apply_changes('bi.target', 'bi.cdc', '{id}', '{ctid}')$$);
SELECT bi.try($$SELECT * FROM medallion.apply_changes('bi.target', 'bi.cdc', '{id}', '{xmin}')$$);
SELECT bi.try($$SELECT * FROM medallion.apply_changes('bi.target', 'bi.cdc', '{id}', '{nope}')$$);
SELECT bi.try($$SELECT * FROM medallion.apply_changes('bi.target', 'bi.cdc', '{id}', '{seq}')$$) AS other_registration;
SELECT bi.try($$SELECT * FROM medallion.apply_changes('bi.target', '', '{id}', '{_commit_version,_change_seq}')$$);
SELECT bi.try($$SELECT * FROM medallion.apply_changes('bi.target', '   ', '{id}', '{_commit_version,_change_seq}')$$);
SELECT bi.try($$SELECT * FROM medallion.apply_changes('bi.target', 'bi.nope', '{id}', '{_commit_version,_change_seq}')$$);
SELECT bi.try($$SELECT * FROM medallion.apply_changes('bi.target', 'bi.seq', '{id}', '{_commit_version,_change_seq}')$$);
SELECT bi.try($$SELECT * FROM medallion.apply_changes('bi.target', 'DELETE FROM bi.src RETURNING *', '{id}', '{_commit_version,_change_seq}')$$);
SELECT bi.try($$SELECT * FROM medallion.apply_changes('bi.target', 'SELECT 1; SELECT 2', '{id}', '{_commit_version,_change_seq}')$$);
SELECT bi.try($$SELECT * FROM medallion.apply_changes('bi.target', 'bi.cdc; DROP TABLE bi.src', '{id}', '{_commit_version,_change_seq}')$$);
SELECT bi.try($$SELECT * FROM medallion.apply_changes('bi.target', 'SELECT * FROM bi.cdc FOR UPDATE', '{id}', '{_commit_version,_change_seq}')$$);
SELECT bi.try($$SELECT * FROM medallion.apply_changes('bi.target', 'SELECT 1/0 AS id', '{id}', '{_commit_version,_change_seq}')$$);
SELECT bi.try($$SELECT * FROM medallion.apply_changes('bi.target', 'VALUES (1)', '{id}', '{_commit_version,_change_seq}')$$);
SELECT bi.try($$SELECT * FROM medallion.apply_changes('bi.target', 'bi.v', '{id}', '{_commit_version,_change_seq}')$$);
SELECT bi.try(format('SELECT * FROM medallion.apply_changes(''bi.target'', %L, ''{id}'', ''{_commit_version,_change_seq}'', delete_when => %L)', :src, ''));
SELECT bi.try(format('SELECT * FROM medallion.apply_changes(''bi.target'', %L, ''{id}'', ''{_commit_version,_change_seq}'', delete_when => %L)', :src, 'true) OR (true'));
SELECT bi.try(format('SELECT * FROM medallion.apply_changes(''bi.target'', %L, ''{id}'', ''{_commit_version,_change_seq}'', delete_when => %L)', :src, 'true; DROP TABLE bi.src'));
SELECT bi.try(format('SELECT * FROM medallion.apply_changes(''bi.target'', %L, ''{id}'', ''{_commit_version,_change_seq}'', delete_when => %L)', :src, 'nope = 1'));
SELECT bi.try(format('SELECT * FROM medallion.apply_changes(''bi.target'', %L, ''{id}'', ''{_commit_version,_change_seq}'', delete_when => %L)', :src, 'count(*) > 0'));
SELECT bi.try(format('SELECT * FROM medallion.apply_changes(''bi.target'', %L, ''{id}'', ''{_commit_version,_change_seq}'', delete_when => %L)', :src, 'row_number() OVER () > 1'));
SELECT bi.try(format('SELECT * FROM medallion.apply_changes(''bi.target'', %L, ''{id}'', ''{_commit_version,_change_seq}'', delete_when => %L)', :src, '1'));
SELECT bi.try(format('SELECT * FROM medallion.apply_changes(''bi.target'', %L, ''{id}'', ''{_commit_version,_change_seq}'', truncate_when => %L)', :src, '(SELECT true FROM bi.src)'));
SELECT bi.try(format('SELECT * FROM medallion.apply_changes(''bi.target'', %L, ''{id}'', ''{_commit_version,_change_seq}'', columns => %L)', :src, '{}'));
SELECT bi.try(format('SELECT * FROM medallion.apply_changes(''bi.target'', %L, ''{id}'', ''{_commit_version,_change_seq}'', columns => %L)', :src, '{NULL}'));
SELECT bi.try(format('SELECT * FROM medallion.apply_changes(''bi.target'', %L, ''{id}'', ''{_commit_version,_change_seq}'', columns => %L)', :src, '{nope}'));
SELECT bi.try(format('SELECT * FROM medallion.apply_changes(''bi.target'', %L, ''{id}'', ''{_commit_version,_change_seq}'', except_columns => %L)', :src, '{id}'));
SELECT bi.try(format('SELECT * FROM medallion.apply_changes(''bi.target'', %L, ''{id}'', ''{_commit_version,_change_seq}'', except_columns => %L)', :src, '{nope}'));
SELECT bi.try(format('SELECT * FROM medallion.apply_changes(''bi.target'', %L, ''{id}'', ''{_commit_version,_change_seq}'', columns => %L, except_columns => %L)', :src, '{txt}', '{txt}'));
SELECT bi.try(format('SELECT * FROM medallion.apply_changes(''bi.target'', %L, ''{id}'', ''{_commit_version,_change_seq}'', scd_type => %s)', :src, 'NULL'));
SELECT bi.try(format('SELECT * FROM medallion.apply_changes(''bi.target'', %L, ''{id}'', ''{_commit_version,_change_seq}'', scd_type => %s)', :src, '0'));
SELECT bi.try(format('SELECT * FROM medallion.apply_changes(''bi.target'', %L, ''{id}'', ''{_commit_version,_change_seq}'', scd_type => %s)', :src, '-1'));
SELECT bi.try(format('SELECT * FROM medallion.apply_changes(''bi.target'', %L, ''{id}'', ''{_commit_version,_change_seq}'', scd_type => %s)', :src, '2147483647'));
SELECT bi.try(format('SELECT * FROM medallion.apply_changes(''bi.target'', %L, ''{id}'', ''{_commit_version,_change_seq}'', scd_type => 2)', :src)) AS other_scd_type;
SELECT bi.try(format('SELECT * FROM medallion.apply_changes(''bi.target'', %L, ''{id}'', ''{_commit_version,_change_seq}'', track_history_columns => %L)', :src, '{txt}'));
SELECT bi.try(format('SELECT * FROM medallion.apply_changes(''bi.target'', %L, ''{id}'', ''{_commit_version,_change_seq}'', ignore_null_updates => NULL)', :src)) AS null_ignore_null_updates;
SELECT bi.try($$SELECT * FROM medallion.apply_changes('bi.hist', 'SELECT id, txt, seq FROM bi.cdc', '{id}', '{seq}', scd_type => 2, ignore_null_updates => true)$$);
SELECT bi.try($$SELECT * FROM medallion.apply_changes('bi.hist', 'SELECT id, txt, seq FROM bi.cdc', '{id}', '{seq}', scd_type => 2, track_history_columns => '{}')$$) AS empty_tracked;
SELECT bi.try($$SELECT * FROM medallion.apply_changes('bi.hist', 'SELECT id, txt, seq FROM bi.cdc', '{id}', '{seq}', scd_type => 2, track_history_columns => '{NULL}')$$);
SELECT bi.try($$SELECT * FROM medallion.apply_changes('bi.hist', 'SELECT id, txt, seq FROM bi.cdc', '{id}', '{seq}', scd_type => 2, track_history_columns => '{_valid_to}')$$);
SELECT bi.try($$SELECT * FROM medallion.apply_changes('bi.hist', 'SELECT id, txt, seq FROM bi.cdc', '{id}', '{seq}', scd_type => 2, truncate_when => 'false')$$);
-- wrong kinds of target
SELECT bi.try($$SELECT * FROM medallion.apply_changes(0, 'bi.cdc', '{id}', '{seq}')$$);
SELECT bi.try(format('SELECT * FROM medallion.apply_changes(%s, ''bi.cdc'', ''{id}'', ''{seq}'')', :dropped_oid));
SELECT bi.try($$SELECT * FROM medallion.apply_changes('bi.v', 'bi.cdc', '{id}', '{seq}')$$);
SELECT bi.try($$SELECT * FROM medallion.apply_changes('bi.mv', 'bi.cdc', '{id}', '{seq}')$$);
SELECT bi.try($$SELECT * FROM medallion.apply_changes('bi.seq', 'bi.cdc', '{id}', '{seq}')$$);
SELECT bi.try($$SELECT * FROM medallion.apply_changes('bi.ft', 'bi.cdc', '{id}', '{seq}')$$);
SELECT bi.try($$SELECT * FROM medallion.apply_changes('bi.src_pkey', 'bi.cdc', '{id}', '{seq}')$$);
SELECT bi.try($$SELECT * FROM medallion.apply_changes('bi.nocols', 'bi.cdc', '{id}', '{seq}')$$);
SELECT bi.try($$SELECT * FROM medallion.apply_changes('bi.plain', 'bi.cdc', '{id}', '{seq}')$$) AS target_lacks_seq;
SELECT bi.try($$SELECT * FROM medallion.apply_changes('pg_class', 'bi.cdc', '{id}', '{seq}')$$);
SELECT bi.try($$SELECT * FROM medallion.apply_changes('medallion.tick', 'bi.cdc', '{version}', '{version}')$$);
SELECT bi.try($$SELECT * FROM medallion.apply_changes('medallion_changes.src', 'bi.cdc', '{id}', '{seq}')$$);
SELECT bi.try($$SELECT * FROM medallion.apply_changes('medallion_state.target_tombstones', 'bi.cdc', '{id}', '{seq}')$$);
SELECT bi.try($$SELECT * FROM medallion.apply_changes('bi.part_eu', 'bi.cdc', '{id}', '{seq}')$$);
SELECT bi.unchanged();

-- drop_merge_state(target) ---------------------------------------------------------------------
SELECT bi.try($$SELECT medallion.drop_merge_state(NULL)$$);
SELECT bi.try($$SELECT medallion.drop_merge_state(0)$$);
SELECT bi.try(format('SELECT medallion.drop_merge_state(%s)', :dropped_oid));
SELECT bi.try($$SELECT medallion.drop_merge_state('bi.plain')$$) AS not_a_target_is_false;
SELECT bi.try($$SELECT medallion.drop_merge_state('bi.v')$$);
SELECT bi.try($$SELECT medallion.drop_merge_state('medallion_state.target_tombstones')$$);
SELECT bi.unchanged();

-- vacuum(source, retain, dry_run, force) and set_retention(source, retain) ---------------------
SELECT bi.try($$SELECT * FROM medallion.vacuum('bi.src', NULL, NULL, NULL)$$) AS all_defaults;
SELECT bi.try($$SELECT * FROM medallion.vacuum(0)$$);
SELECT bi.try(format('SELECT * FROM medallion.vacuum(%s)', :dropped_oid));
SELECT bi.try(format('SELECT * FROM medallion.vacuum(%s)', :fed_dropped_oid));
SELECT bi.try($$SELECT * FROM medallion.vacuum('bi.plain')$$);
SELECT bi.try($$SELECT * FROM medallion.vacuum('bi.part_eu')$$);
SELECT bi.try($$SELECT * FROM medallion.vacuum('bi.v')$$);
SELECT bi.try($$SELECT * FROM medallion.vacuum('medallion_changes.src')$$);
SELECT bi.try($$SELECT * FROM medallion.vacuum('bi.src', interval '-1 day')$$);
SELECT bi.try($$SELECT * FROM medallion.vacuum('bi.src', interval '-1 microsecond')$$);
SELECT bi.try($$SELECT * FROM medallion.vacuum('bi.src', interval '1 second')$$);
SELECT bi.try($$SELECT * FROM medallion.vacuum('bi.src', interval '1 second', dry_run => true)$$);
SELECT bi.try($$SELECT * FROM medallion.vacuum('bi.src', interval '178000000 years', dry_run => true)$$);
SELECT bi.try($$SELECT * FROM medallion.vacuum('bi.src', interval '-178000000 years', dry_run => true, force => true)$$);
SELECT bi.try($$SELECT * FROM medallion.vacuum('bi.src', interval '2147483647 days', dry_run => true)$$);
SELECT bi.try($$SELECT * FROM medallion.vacuum('bi.src', interval '300000 years', dry_run => true)$$);
SELECT bi.try($$SELECT * FROM medallion.vacuum('bi.src', interval '1 mon -31 days', dry_run => true)$$) AS month_minus_days;
SELECT bi.try($$SELECT medallion.set_retention(NULL, interval '1 day')$$);
SELECT bi.try($$SELECT medallion.set_retention(0, interval '1 day')$$);
SELECT bi.try(format('SELECT medallion.set_retention(%s, interval ''1 day'')', :dropped_oid));
SELECT bi.try(format('SELECT medallion.set_retention(%s, interval ''1 day'')', :fed_dropped_oid));
SELECT bi.try($$SELECT medallion.set_retention('bi.plain', interval '1 day')$$);
SELECT bi.try($$SELECT medallion.set_retention('bi.part_eu', interval '1 day')$$);
SELECT bi.try($$SELECT medallion.set_retention('bi.v', interval '1 day')$$);
SELECT bi.try($$SELECT medallion.set_retention('bi.src', interval '-1 day')$$);
SELECT bi.try($$SELECT medallion.set_retention('bi.src', interval '-1 microsecond')$$);
SELECT bi.try($$SELECT medallion.set_retention('bi.src', interval '1 second')$$);
SELECT bi.try($$SELECT medallion.set_retention('bi.src', interval '178000000 years')$$);
SELECT bi.try($$SELECT medallion.set_retention('bi.src', interval '2147483647 days')$$);
SELECT bi.try($$SELECT * FROM medallion.vacuum('bi.src', dry_run => true)$$) AS after_huge_retention;
SELECT bi.try($$SELECT medallion.set_retention('bi.src', NULL)$$) AS undo;
SELECT bi.try($$SELECT medallion.set_retention('bi.hist', interval '-1 day')$$);
SELECT bi.unchanged();

-- as_of(row, version), as_of(row, timestamptz), restore(source, version) -----------------------
SELECT bi.try($$SELECT * FROM medallion.as_of(NULL::bi.src, NULL::bigint)$$);
SELECT bi.try($$SELECT * FROM medallion.as_of(NULL::bi.src, NULL::timestamptz)$$);
SELECT bi.try($$SELECT * FROM medallion.as_of(NULL::bi.src, -1)$$);
SELECT bi.try($$SELECT * FROM medallion.as_of(NULL::bi.src, 0)$$);
SELECT bi.try($$SELECT * FROM medallion.as_of(NULL::bi.src, -9223372036854775808)$$);
SELECT bi.try($$SELECT * FROM medallion.as_of(NULL::bi.src, 9223372036854775807)$$);
SELECT bi.try($$SELECT * FROM medallion.as_of(NULL::bi.src, '-infinity'::timestamptz)$$);
SELECT bi.try($$SELECT * FROM medallion.as_of(NULL::bi.src, 'infinity'::timestamptz)$$) AS infinity_is_newest;
SELECT bi.try($$SELECT * FROM medallion.as_of(NULL::int, 1)$$);
SELECT bi.try($$SELECT * FROM medallion.as_of(NULL::bi.comp, 1)$$);
SELECT bi.try($$SELECT * FROM medallion.as_of(NULL::bi.money_amount, 1)$$);
SELECT bi.try($$SELECT * FROM medallion.as_of(ROW(1, 'a'), 1)$$);
SELECT bi.try($$SELECT * FROM medallion.as_of(ROW(1, 'a'), 1) AS t(a int, b text)$$);
SELECT bi.try($$SELECT * FROM medallion.as_of(NULL::bi.plain, 1)$$);
SELECT bi.try($$SELECT * FROM medallion.as_of(NULL::bi.part_eu, 1)$$);
SELECT bi.try($$SELECT * FROM medallion.as_of(NULL::bi.v, 1)$$);
SELECT bi.try($$SELECT * FROM medallion.as_of(NULL::bi.mv, 1)$$);
SELECT bi.try($$SELECT * FROM medallion.as_of(NULL::bi.ft, 1)$$);
SELECT bi.try($$SELECT * FROM medallion.as_of(NULL::tmp_t, 1)$$);
SELECT bi.try($$SELECT * FROM medallion.as_of(NULL::medallion.tick, 1)$$);
SELECT bi.try($$SELECT * FROM medallion.as_of(NULL::medallion_changes.src, 1)$$);
SELECT bi.try($$SELECT * FROM medallion.as_of(NULL::bi.src[], 1)$$);
SELECT bi.try($$SELECT * FROM medallion.restore(NULL, 1)$$);
SELECT bi.try($$SELECT * FROM medallion.restore('bi.src', NULL)$$);
SELECT bi.try($$SELECT * FROM medallion.restore('bi.src', -1)$$);
SELECT bi.try($$SELECT * FROM medallion.restore('bi.src', 9223372036854775807)$$);
SELECT bi.try($$SELECT * FROM medallion.restore(0, 1)$$);
SELECT bi.try(format('SELECT * FROM medallion.restore(%s, 1)', :dropped_oid));
SELECT bi.try(format('SELECT * FROM medallion.restore(%s, 1)', :fed_dropped_oid));
SELECT bi.try($$SELECT * FROM medallion.restore('bi.plain', 1)$$);
SELECT bi.try($$SELECT * FROM medallion.restore('bi.part_eu', 1)$$);
SELECT bi.try($$SELECT * FROM medallion.restore('bi.v', 1)$$);
SELECT bi.try($$SELECT * FROM medallion.restore('bi.seq', 1)$$);
SELECT bi.try($$SELECT * FROM medallion.restore('medallion_changes.src', 1)$$);
SELECT bi.try($$SELECT * FROM medallion.restore('medallion.tick', 1)$$);
SELECT bi.unchanged();

-- Logical feeds: pull(max_changes), oldest_unpulled_commit(), resume_logical_feeds() -----------
SELECT bi.try($$SELECT * FROM medallion.pull(0)$$);
SELECT bi.try($$SELECT * FROM medallion.pull(-1)$$);
SELECT bi.try($$SELECT * FROM medallion.pull(-9223372036854775808)$$);
SELECT bi.try($$SELECT * FROM medallion.pull(9223372036854775807)$$) AS huge_max;
SELECT bi.try($$SELECT * FROM medallion.pull(NULL)$$) AS no_bound;
SELECT bi.try($$SELECT medallion.oldest_unpulled_commit()$$);
SELECT bi.unchanged();

-- Internal functions PUBLIC can call today ----------------------------------------------------
SELECT feed_id AS src_feed FROM medallion.feed WHERE source = 'bi.src'::regclass \gset
SELECT bi.try($$SELECT * FROM medallion._changes(NULL, 1, NULL) AS c(id int)$$);
SELECT bi.try($$SELECT * FROM medallion._changes(-1, 1, NULL) AS c(id int)$$);
SELECT bi.try($$SELECT * FROM medallion._changes(2147483647, 1, NULL) AS c(id int)$$);
SELECT bi.try(format('SELECT * FROM medallion._changes(%s, medallion.first_version(''bi.src''), NULL) AS c(id int)', :src_feed));
SELECT bi.try(format('SELECT * FROM medallion._changes(%s, medallion.first_version(''bi.src''), NULL) AS c(id text, txt int, j text, n text, amount text, _change_type text, _commit_version text, _commit_timestamp text, _change_seq text)', :src_feed));
SELECT bi.try(format('SELECT * FROM medallion._changes(%s, medallion.first_version(''bi.src''), NULL) AS c(id int, txt text, j jsonb, n numeric, amount numeric, _change_type medallion.change_type, _commit_version bigint, _commit_timestamp timestamptz, _change_seq bigint, extra int)', :src_feed));
SELECT bi.try(format('SELECT medallion._changes(%s, medallion.first_version(''bi.src''), NULL)', :src_feed));
SELECT bi.try($$SELECT * FROM medallion._consume(NULL, 'bi_c', NULL, false, true, false) AS c(id int)$$);
SELECT bi.try(format('SELECT * FROM medallion._consume(%s, NULL, NULL, false, true, false) AS c(id int)', :src_feed));
SELECT bi.try(format('SELECT * FROM medallion._consume(%s, ''bi_c'', NULL, false, true, false) AS c(id int)', :src_feed));
SELECT bi.try(format('SELECT * FROM medallion._consume(%s, ''bi_c'', NULL, false, true, false) AS c(a bigint, b bigint, c bigint, d bigint, e bigint, f bigint, g bigint, h bigint, i bigint)', :src_feed));
SELECT bi.try(format('SELECT * FROM medallion._consume(%s, ''bi_c'', NULL, false, true, false) AS c(id int, txt text, j jsonb, n numeric, amount bi.money_amount, _change_type text, _commit_version bigint, _commit_timestamp timestamptz, _change_seq bigint)', :src_feed));
SELECT bi.try(format('SELECT * FROM medallion._consume(%s, ''bi_c'', NULL, false, true, false) AS c(id int, txt text, j jsonb, n numeric, amount bi.money_amount, _change_type medallion.change_type, _commit_version timestamptz, _commit_timestamp bigint, _change_seq bigint)', :src_feed));
SELECT bi.try($$SELECT medallion._version_from_timestamp(NULL)$$);
SELECT bi.try($$SELECT medallion._version_from_timestamp('infinity')$$);
SELECT bi.try($$SELECT medallion._version_to_timestamp('-infinity')$$);
SELECT bi.try($$SELECT medallion._feed_id(NULL)$$);
SELECT bi.try($$SELECT medallion._external_mark(NULL, NULL)$$);
SELECT bi.try($$SELECT medallion._mark_less('bigint', 'a', 'b')$$);
SELECT bi.try($$SELECT medallion._mark_less(NULL, NULL, NULL)$$);
SELECT bi.try($$SELECT medallion._merge_tally(NULL, NULL)$$);
SELECT bi.try($$SELECT medallion._merge_tally(-1, 1)$$);
SELECT bi.try($$SELECT medallion._merge_tally(2147483647, 9223372036854775807)$$);
SELECT bi.try($$SELECT medallion._merge_stash(0, ROW(1))$$);
SELECT bi.try($$SELECT medallion._merge_stash(NULL, NULL::record)$$);
SELECT bi.try($$SELECT * FROM medallion._merge_stashed(0) AS s(a int)$$);
SELECT bi.try($$SELECT * FROM medallion._merge_stashed(-1) AS s(a int)$$);
SELECT bi.try($$SELECT medallion._merge_place(1)$$);
SELECT bi.try($$SELECT medallion._merge_place(g) OVER (ORDER BY g) FROM generate_series(1, 3) g$$);
SELECT bi.try($$SELECT medallion._merge_place(VARIADIC NULL::int[]) OVER () FROM generate_series(1, 3) g$$);
SELECT bi.try($$SELECT medallion._merge_place(VARIADIC '{}'::int[]) OVER () FROM generate_series(1, 3) g$$);
SELECT bi.try($$SELECT medallion._merge_rank(point(g, g)) OVER () FROM generate_series(1, 3) g$$);
SELECT bi.try($$SELECT medallion._merge_rank(NULL) OVER () FROM generate_series(1, 3) g$$);
SELECT bi.try($$SELECT medallion._merge_rank(1,2,3,4,5,6,7,8,9,10,11,12,13,14,15,16,17,18,19,20,21,22,23,24,25,26,27,28,29,30,31,32,33) OVER ()$$);
SELECT bi.try($$SELECT medallion._sync_partition_triggers()$$);
SELECT bi.try($$SELECT medallion._detach_dropped_feeds()$$);
SELECT bi.try($$SELECT medallion._note_extension_drop()$$);
SELECT bi.try($$SELECT medallion._capture()$$);
SELECT bi.try($$SELECT medallion._truncate_guard()$$);
SELECT bi.unchanged();

-- Capture triggers attached by hand: each must refuse, none may write into another feed.  The
-- UPDATE with only a NEW TABLE crashed the server in 0.1.0: keep it last.
CREATE TABLE bi.forge (id int, txt text);
INSERT INTO bi.forge VALUES (1, 'a');
SELECT bi.unchanged() IS NOT NULL AS reset;
SELECT bi.try(format($$CREATE TRIGGER f1 AFTER INSERT ON bi.forge REFERENCING NEW TABLE AS n FOR EACH STATEMENT EXECUTE FUNCTION medallion._capture(%L); INSERT INTO bi.forge VALUES (2, 'forged'); DROP TRIGGER f1 ON bi.forge$$, :src_feed));
SELECT bi.try($$CREATE TRIGGER f2 AFTER INSERT ON bi.forge REFERENCING NEW TABLE AS n FOR EACH STATEMENT EXECUTE FUNCTION medallion._capture(); INSERT INTO bi.forge VALUES (2, 'x'); DROP TRIGGER f2 ON bi.forge$$);
SELECT bi.try($$CREATE TRIGGER f3 AFTER INSERT ON bi.forge REFERENCING NEW TABLE AS n FOR EACH STATEMENT EXECUTE FUNCTION medallion._capture('1', '2'); INSERT INTO bi.forge VALUES (2, 'x'); DROP TRIGGER f3 ON bi.forge$$);
SELECT bi.try($$CREATE TRIGGER f4 AFTER INSERT ON bi.forge REFERENCING NEW TABLE AS n FOR EACH STATEMENT EXECUTE FUNCTION medallion._capture('x'); INSERT INTO bi.forge VALUES (2, 'x'); DROP TRIGGER f4 ON bi.forge$$);
SELECT bi.try($$CREATE TRIGGER f5 AFTER INSERT ON bi.forge REFERENCING NEW TABLE AS n FOR EACH STATEMENT EXECUTE FUNCTION medallion._capture('99999999'); INSERT INTO bi.forge VALUES (2, 'x'); DROP TRIGGER f5 ON bi.forge$$);
SELECT bi.try($$CREATE TRIGGER f6 AFTER INSERT ON bi.forge FOR EACH STATEMENT EXECUTE FUNCTION medallion._capture('1'); INSERT INTO bi.forge VALUES (2, 'x'); DROP TRIGGER f6 ON bi.forge$$) AS no_transition_table;
SELECT bi.try(format($$CREATE TRIGGER f7 AFTER TRUNCATE ON bi.forge FOR EACH STATEMENT EXECUTE FUNCTION medallion._capture(%L); TRUNCATE bi.forge; DROP TRIGGER f7 ON bi.forge$$, :src_feed));
SELECT bi.try(format($$CREATE TRIGGER f8 AFTER DELETE ON bi.forge REFERENCING OLD TABLE AS o FOR EACH STATEMENT EXECUTE FUNCTION medallion._capture(%L); DELETE FROM bi.forge; DROP TRIGGER f8 ON bi.forge$$, :src_feed));
SELECT bi.try($$CREATE TRIGGER f9 BEFORE INSERT ON bi.forge FOR EACH ROW EXECUTE FUNCTION medallion._truncate_guard(); INSERT INTO bi.forge VALUES (2, 'x'); DROP TRIGGER f9 ON bi.forge$$);
SELECT bi.try($$CREATE TRIGGER f10 BEFORE TRUNCATE ON bi.forge FOR EACH STATEMENT EXECUTE FUNCTION medallion._truncate_guard(); TRUNCATE bi.forge; DROP TRIGGER f10 ON bi.forge$$);
SELECT count(*) AS forged_rows FROM medallion_changes.src(medallion.first_version('bi.src')) WHERE id IS NULL OR txt IN ('forged', 'x');
SELECT bi.unchanged();
INSERT INTO bi.forge VALUES (1, 'a');
SELECT bi.try(format($$CREATE TRIGGER f11 AFTER UPDATE ON bi.forge REFERENCING NEW TABLE AS n FOR EACH STATEMENT EXECUTE FUNCTION medallion._capture(%L); UPDATE bi.forge SET txt = 'y'; DROP TRIGGER f11 ON bi.forge$$, :src_feed)) AS update_without_old_table;
SELECT bi.try(format($$CREATE TRIGGER f12 AFTER UPDATE ON bi.forge REFERENCING OLD TABLE AS o FOR EACH STATEMENT EXECUTE FUNCTION medallion._capture(%L); UPDATE bi.forge SET txt = 'y'; DROP TRIGGER f12 ON bi.forge$$, :src_feed)) AS update_without_new_table;
SELECT bi.unchanged();

-- Clean up: everything this test created goes.
SELECT medallion.drop_consumer('bi_c');
SELECT medallion.drop_merge_state('bi.target'), medallion.drop_merge_state('bi.hist');
DELETE FROM medallion.external_watermark WHERE pipeline = 'bi_pipe';
DROP SCHEMA bi, bi2, "Sales ""EU""" CASCADE;
DROP SERVER bi_server;
DROP FOREIGN DATA WRAPPER bi_fdw;
DROP TABLE IF EXISTS medallion_changes.src, medallion_changes.part, medallion_changes.ren, medallion_changes.ren2,
	medallion_changes."we""ird; name", medallion_changes."tä😀ble",
	medallion_changes.a23456789012345678901234567890123456789012345678901234567890123,
	medallion_changes.a23456789012345678901234567890123456789012345678901234567890124;
SELECT count(*) AS bi_feeds_left FROM medallion.feed WHERE source::text LIKE 'bi%';
RESET search_path;

-- Cleanup: every file starts from an empty database and leaves one.
SET client_min_messages = warning;
DROP EXTENSION pg_medallion CASCADE;
DROP SCHEMA medallion;
RESET client_min_messages;
