-- Security (issue 15): a role matrix of every public function and view, then one attack per class,
-- run as a stranger (LOGIN, a schema of its own, nothing else) with a hostile search_path.
-- Every line is deterministic: only allowed/denied and SQLSTATEs, never oids, values or timestamps.
-- Hostile code reports itself: sec_evil.pwn() records, in sec_evil.pwned, every run as a role other
-- than sec_stranger (and raises NOTICE PWN01), and tries ALTER ROLE sec_stranger SUPERUSER.
-- After each attack sec_check() shows whether the stranger became superuser and which hostile code
-- ran as another role (NULL: none), then undoes both so the next attack starts clean.
\set VERBOSITY sqlstate
SET client_min_messages = warning;
CREATE EXTENSION pg_medallion;
RESET client_min_messages;

CREATE ROLE sec_owner;          -- owns sources, feeds, consumers, merge targets
CREATE ROLE sec_reader;         -- SELECT on the source
CREATE ROLE sec_trigger;        -- SELECT and TRIGGER on the source (what enable_feed asks of a non-owner)
CREATE ROLE sec_stranger LOGIN; -- its own schema sec_evil, nothing else
CREATE ROLE sec_rls;            -- SELECT on a source whose row-level security filters its rows
CREATE SCHEMA sec_src AUTHORIZATION sec_owner;
GRANT USAGE ON SCHEMA sec_src TO PUBLIC;
CREATE SCHEMA sec_evil AUTHORIZATION sec_stranger;
GRANT USAGE ON SCHEMA sec_evil TO PUBLIC;
CREATE SCHEMA sec_evil_t AUTHORIZATION sec_stranger;   -- the stranger's types named like pg_catalog's
GRANT USAGE ON SCHEMA sec_evil_t TO PUBLIC;

-- sec_try runs one statement as a role in a subtransaction that is always rolled back, and shows
-- 'allowed' or 'denied:<SQLSTATE>'.  sec_matrix runs it for the four main roles, one line.
CREATE FUNCTION public.sec_try(r name, q text) RETURNS text LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp AS $$
DECLARE
	st text;
BEGIN
	BEGIN
		EXECUTE format('SET LOCAL ROLE %I', r);
		EXECUTE q;
		RAISE SQLSTATE 'SECOK';
	EXCEPTION WHEN OTHERS THEN
		GET STACKED DIAGNOSTICS st = RETURNED_SQLSTATE;
		RETURN CASE WHEN st = 'SECOK' THEN 'allowed' ELSE 'denied:' || st END;
	END;
END $$;
CREATE FUNCTION public.sec_matrix(q text) RETURNS text LANGUAGE sql
SET search_path = pg_catalog, pg_temp AS $$
	SELECT 'owner=' || public.sec_try('sec_owner', q) || ' reader=' || public.sec_try('sec_reader', q)
		|| ' trigger=' || public.sec_try('sec_trigger', q) || ' stranger=' || public.sec_try('sec_stranger', q)
$$;

-- The owner's world: a fed source, a consumer, an SCD1 target with tombstones, an SCD2 target.
SET ROLE sec_owner;
CREATE TABLE sec_src.sec_accounts (id int PRIMARY KEY, name text, secret text, amount int);
GRANT SELECT ON sec_src.sec_accounts TO sec_reader;
GRANT SELECT, TRIGGER ON sec_src.sec_accounts TO sec_trigger;
SELECT medallion.enable_feed('sec_src.sec_accounts') IS NOT NULL AS fed;
CREATE TABLE sec_src.sec_spare (id int PRIMARY KEY);          -- a feed without consumers (disable_feed)
GRANT SELECT, TRIGGER ON sec_src.sec_spare TO sec_trigger;
GRANT SELECT ON sec_src.sec_spare TO sec_reader;
SELECT medallion.enable_feed('sec_src.sec_spare') IS NOT NULL AS fed;
CREATE TABLE sec_src.sec_unfed (id int PRIMARY KEY);          -- no feed yet (enable_feed)
GRANT SELECT, TRIGGER ON sec_src.sec_unfed TO sec_trigger;
GRANT SELECT ON sec_src.sec_unfed TO sec_reader;
CREATE TABLE sec_src.sec_private (id int PRIMARY KEY, v text); -- row-level security for sec_rls
GRANT SELECT ON sec_src.sec_private TO sec_rls;
ALTER TABLE sec_src.sec_private ENABLE ROW LEVEL SECURITY;
CREATE POLICY sec_some ON sec_src.sec_private FOR SELECT TO sec_rls USING (id < 2);
SELECT medallion.enable_feed('sec_src.sec_private') IS NOT NULL AS fed;
INSERT INTO sec_src.sec_private VALUES (1, 'visible'), (2, 'hidden');
INSERT INTO sec_src.sec_accounts VALUES (1, 'ann', 's1', 100), (2, 'ben', 's2', 200), (3, 'cy', 's3', 300);
UPDATE sec_src.sec_accounts SET amount = 110 WHERE id = 1;
DELETE FROM sec_src.sec_accounts WHERE id = 3;
SELECT count(*) AS consumer_feeds FROM medallion.create_consumer('sec_c', ARRAY['sec_src.sec_accounts']::regclass[], 'earliest');
CREATE TABLE sec_src.sec_silver (id int PRIMARY KEY, name text, amount int, _commit_version bigint, _change_seq bigint);
GRANT SELECT ON sec_src.sec_silver TO sec_reader, sec_trigger;
SELECT * FROM medallion.apply_changes('sec_src.sec_silver',
	$$SELECT * FROM medallion_changes.sec_accounts('sec_c')$$,
	keys => '{id}', sequence_by => '{_commit_version,_change_seq}', except_columns => '{secret}');
CREATE TABLE sec_src.sec_hist (id int, name text, amount int, _commit_version bigint, _change_seq bigint,
	_valid_from bigint, _valid_to bigint, UNIQUE (id, _commit_version, _change_seq));
SELECT * FROM medallion.apply_changes('sec_src.sec_hist',
	$$SELECT * FROM medallion_changes.sec_accounts(medallion.first_version('sec_src.sec_accounts'))$$,
	keys => '{id}', sequence_by => '{_commit_version,_change_seq}', except_columns => '{secret}', scd_type => 2);
SELECT medallion.create_watermark('sec_pipe', 'files', 'timestamptz');
SELECT medallion.advance_watermark('sec_pipe', 'files', '2026-01-01 00:00+00');
RESET ROLE;
-- A logical feed (the slot is made in a transaction of its own).
SET ROLE sec_owner;
CREATE TABLE sec_src.sec_logical (id int PRIMARY KEY, v text);
ALTER TABLE sec_src.sec_logical REPLICA IDENTITY FULL;
GRANT SELECT ON sec_src.sec_logical TO sec_reader;
RESET ROLE;
SELECT medallion.enable_feed('sec_src.sec_logical', 'logical') IS NOT NULL AS fed_logical;
ALTER TABLE sec_src.sec_logical OWNER TO sec_owner;
INSERT INTO sec_src.sec_logical VALUES (1, 'a');
SELECT medallion.current_version() > 0 AS ticked;

-- Role matrix -----------------------------------------------------------------------------------
-- Each line: owner / reader (SELECT) / trigger (SELECT, TRIGGER) / stranger (nothing).
-- Expected: allowed for all
SELECT sec_matrix('SELECT medallion.current_version()') AS current_version;
-- Expected: allowed for all
SELECT sec_matrix('SELECT medallion.version_at(pg_catalog.now())') AS version_at;
-- Expected: owner allowed, reader denied (no TRIGGER), trigger allowed (SELECT + TRIGGER), stranger denied
SELECT sec_matrix('SELECT medallion.enable_feed(''sec_src.sec_unfed'')') AS enable_feed;
-- Expected: owner allowed; reader, trigger (class 7: destroying history needs ownership), stranger denied
SELECT sec_matrix('SELECT medallion.disable_feed(''sec_src.sec_spare'')') AS disable_feed;
SELECT sec_matrix('SELECT medallion.disable_feed(''sec_src.sec_spare'', keep_changes => true)') AS disable_feed_keep;
-- Reading needs SELECT on the source. Expected: owner, reader, trigger allowed; stranger denied
SELECT sec_matrix('SELECT * FROM medallion.table_changes(''sec_src.sec_accounts'', medallion.first_version(''sec_src.sec_accounts''))') AS table_changes_versions;
SELECT sec_matrix('SELECT * FROM medallion.table_changes(''sec_src.sec_accounts'', (SELECT t.committed_at FROM medallion.tick AS t WHERE t.version OPERATOR(pg_catalog.=) medallion.first_version(''sec_src.sec_accounts'')))') AS table_changes_timestamps;
SELECT sec_matrix('SELECT * FROM medallion_changes.sec_accounts(medallion.first_version(''sec_src.sec_accounts''))') AS reader_versions;
SELECT sec_matrix('SELECT * FROM medallion_changes.sec_accounts((SELECT t.committed_at FROM medallion.tick AS t WHERE t.version OPERATOR(pg_catalog.=) medallion.first_version(''sec_src.sec_accounts'')))') AS reader_timestamps;
SELECT sec_matrix('SELECT * FROM medallion.history(''sec_src.sec_accounts'')') AS history;
SELECT sec_matrix('SELECT * FROM medallion.as_of(NULL::sec_src.sec_accounts, medallion.current_version())') AS as_of_version;
SELECT sec_matrix('SELECT * FROM medallion.as_of(NULL::sec_src.sec_accounts, pg_catalog.now())') AS as_of_timestamp;
SELECT sec_matrix('SELECT * FROM medallion.create_consumer(''sec_c2'', ARRAY[''sec_src.sec_accounts'']::regclass[], ''earliest'')') AS create_consumer;
SELECT sec_matrix('SELECT * FROM medallion.create_consumer(''sec_c3'', ARRAY[''sec_src.sec_accounts'']::regclass[], ''snapshot'')') AS create_consumer_snapshot;
-- Metadata. Expected: allowed for all
SELECT sec_matrix('SELECT medallion.first_version(''sec_src.sec_accounts'')') AS first_version;
SELECT sec_matrix('SELECT * FROM medallion.feeds') AS feeds_view;
SELECT sec_matrix('SELECT * FROM medallion.consumers') AS consumers_view;
SELECT sec_matrix('SELECT * FROM medallion.quarantine') AS quarantine_view;
SELECT sec_matrix('SELECT * FROM medallion.logical_status') AS logical_status_view;
-- A consumer belongs to its owner's role. Expected: owner allowed; reader, trigger, stranger denied
SELECT sec_matrix('SELECT * FROM medallion.consume(''sec_c'', ''sec_src.sec_accounts'')') AS consume;
SELECT sec_matrix('SELECT * FROM medallion.peek(''sec_c'', ''sec_src.sec_accounts'')') AS peek;
SELECT sec_matrix('SELECT * FROM medallion_changes.sec_accounts(''sec_c'')') AS reader_consumer;
SELECT sec_matrix('SELECT * FROM medallion_changes.sec_accounts(''sec_c'', peek => true)') AS reader_consumer_peek;
SELECT sec_matrix('SELECT * FROM medallion.reset_consumer(''sec_c'', 0)') AS reset_consumer;
SELECT sec_matrix('SELECT medallion.drop_consumer(''sec_c'')') AS drop_consumer;
-- External watermarks: everyone creates and reads; only the owner's members move its marks.
-- Expected: allowed for all
SELECT sec_matrix('SELECT medallion.create_watermark(''sec_pipe2'', ''files'', ''bigint'')') AS create_watermark;
SELECT sec_matrix('SELECT medallion.watermark(''sec_pipe'', ''files'')') AS watermark;
SELECT sec_matrix('SELECT medallion.is_late(''sec_pipe'', ''files'', pg_catalog.now())') AS is_late;
-- Expected: owner allowed; reader, trigger, stranger denied
SELECT sec_matrix('SELECT medallion.advance_watermark(''sec_pipe'', ''files'', ''2026-02-01 00:00+00'')') AS advance_watermark;
-- Merges write the target. Expected: owner allowed; reader, trigger, stranger denied
SELECT sec_matrix($q$SELECT * FROM medallion.apply_changes('sec_src.sec_silver',
	'SELECT * FROM medallion_changes.sec_accounts(medallion.first_version(''sec_src.sec_accounts''))',
	keys => '{id}', sequence_by => '{_commit_version,_change_seq}', except_columns => '{secret}')$q$) AS apply_changes;
SELECT sec_matrix('SELECT medallion.drop_merge_state(''sec_src.sec_silver'')') AS drop_merge_state;
-- Retention: owners only. Expected: owner allowed; reader, trigger, stranger denied
SELECT sec_matrix('SELECT * FROM medallion.vacuum(''sec_src.sec_accounts'')') AS vacuum_feed;
SELECT sec_matrix('SELECT * FROM medallion.vacuum(''sec_src.sec_silver'')') AS vacuum_target;
SELECT sec_matrix('SELECT medallion.set_retention(''sec_src.sec_accounts'', interval ''30 days'')') AS set_retention;
-- vacuum() of everything the caller owns. Expected: allowed for all
SELECT sec_matrix('SELECT * FROM medallion.vacuum()') AS vacuum_all;
-- restore writes the table. Expected: owner allowed; reader, trigger, stranger denied
SELECT sec_matrix('SELECT * FROM medallion.restore(''sec_src.sec_accounts'', medallion.current_version())') AS restore;
-- Logical feeds: pull and oldest_unpulled_commit take the slot; not for PUBLIC (class 4), like
-- resume_logical_feeds. Expected: denied for all four
SELECT sec_matrix('SELECT * FROM medallion.pull()') AS pull;
SELECT sec_matrix('SELECT medallion.oldest_unpulled_commit()') AS oldest_unpulled_commit;
SELECT sec_matrix('SELECT medallion.resume_logical_feeds()') AS resume_logical_feeds;
-- Change tables are readable by the extension owner only. Expected: denied for all four
SELECT sec_matrix('SELECT * FROM medallion_changes.sec_accounts') AS change_table_direct;
SELECT sec_matrix('INSERT INTO medallion_changes.sec_accounts (id, _xid, _seq, _change_type, _role, _app) VALUES (9, 1, 1, ''insert'', 0, 0)') AS change_table_insert;
-- Catalog tables are read-only for everyone but the extension owner. Expected: denied for all four
SELECT sec_matrix('UPDATE medallion.feed SET retained_from = 0') AS feed_update;
SELECT sec_matrix('UPDATE medallion.consumer_feed SET watermark = 0') AS watermark_update;
SELECT sec_matrix('DELETE FROM medallion.tick') AS tick_delete;
-- Internal functions (class 4).  Generated SQL run as the caller calls some of them, so they stay
-- executable; each checks the caller's rights and its input itself (typed reads: SELECT on the
-- source, the column definition list against the change table; merge helpers: act only inside a
-- running apply_changes; watermark helpers: read-only).  Expected: exactly these, for every role,
-- and no other internal function (a new one must be revoked or added here on purpose).
SELECT r AS role, string_agg(p.proname, ',' ORDER BY p.proname) AS internal_functions_executable
FROM unnest(ARRAY['sec_owner', 'sec_reader', 'sec_trigger', 'sec_stranger', 'sec_rls']) AS r
LEFT JOIN pg_proc p ON p.pronamespace = 'medallion'::regnamespace AND p.proname LIKE '\_%'
	AND has_function_privilege(r, p.oid, 'EXECUTE')
GROUP BY r ORDER BY r;
SELECT p.oid::regprocedure AS internal_function_executable_by_public_not_on_the_list
FROM pg_proc p WHERE p.pronamespace = 'medallion'::regnamespace AND p.proname LIKE '\_%'
	AND has_function_privilege('public', p.oid, 'EXECUTE')
	AND p.proname NOT IN ('_changes', '_consume', '_external_mark', '_feed_id', '_mark_less', '_merge_ordinal',
						  '_merge_place', '_merge_rank', '_merge_stash', '_merge_stashed', '_merge_tally',
						  '_oldest_unpulled_for_status', '_version_from_timestamp', '_version_to_timestamp')
ORDER BY 1::text;
-- Row-level security: a role whose rows are filtered is refused every read; the owner reads.
-- Expected: owner allowed, rls denied (42501) on each line
SELECT fn, 'owner=' || sec_try('sec_owner', q) || ' rls=' || sec_try('sec_rls', q) AS rls_reads
FROM (VALUES
	(1, 'table_changes', 'SELECT * FROM medallion.table_changes(''sec_src.sec_private'', medallion.first_version(''sec_src.sec_private''))'),
	(2, 'reader_versions', 'SELECT * FROM medallion_changes.sec_private(medallion.first_version(''sec_src.sec_private''))'),
	(3, 'reader_timestamps', 'SELECT * FROM medallion_changes.sec_private((SELECT k.committed_at FROM medallion.tick AS k WHERE k.version = medallion.first_version(''sec_src.sec_private'')))'),
	(4, 'history', 'SELECT * FROM medallion.history(''sec_src.sec_private'')'),
	(5, 'as_of', 'SELECT * FROM medallion.as_of(NULL::sec_src.sec_private, medallion.current_version())'),
	(6, 'create_consumer', 'SELECT * FROM medallion.create_consumer(''sec_rc'', ARRAY[''sec_src.sec_private'']::regclass[], ''earliest'')'),
	(7, 'create_consumer_snapshot', 'SELECT * FROM medallion.create_consumer(''sec_rc'', ARRAY[''sec_src.sec_private'']::regclass[], ''snapshot'')')
) AS v(i, fn, q) ORDER BY i;

-- Attacks --------------------------------------------------------------------------------------
CREATE FUNCTION public.sec_check(label text)
RETURNS TABLE(attack text, became_superuser boolean, hostile_code_ran_as text)
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
BEGIN
	attack := label;
	SELECT rolsuper INTO became_superuser FROM pg_roles WHERE rolname = 'sec_stranger';
	SELECT string_agg(DISTINCT p.who || ' (' || p.what || ')', ', ') INTO hostile_code_ran_as
	FROM sec_evil.pwned AS p WHERE p.who <> 'sec_stranger';
	ALTER ROLE sec_stranger NOSUPERUSER;
	DELETE FROM sec_evil.pwned;
	RETURN NEXT;
END $$;

SET SESSION AUTHORIZATION sec_stranger;
CREATE TABLE sec_evil.pwned (who text, what text);
GRANT INSERT ON sec_evil.pwned TO PUBLIC;
CREATE FUNCTION sec_evil.pwn(what text) RETURNS boolean LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp AS $$
BEGIN
	IF current_user OPERATOR(pg_catalog.<>) 'sec_stranger' THEN
		RAISE NOTICE 'hostile code % ran as %', what, current_user USING ERRCODE = 'PWN01';
		INSERT INTO sec_evil.pwned VALUES (current_user, what);
		BEGIN
			ALTER ROLE sec_stranger SUPERUSER;
		EXCEPTION WHEN OTHERS THEN
			NULL;
		END;
	END IF;
	RETURN true;
END $$;
-- Operators shadowing pg_catalog's: each reports, then answers like the original.
DO $$
DECLARE
	o record;
	fn text;
	i int := 0;
BEGIN
	FOR o IN SELECT * FROM (VALUES
		('=', 'integer', 'integer'), ('<>', 'integer', 'integer'), ('>', 'integer', 'integer'),
		('=', 'oid', 'oid'), ('=', 'regclass', 'regclass'), ('=', 'regclass', 'oid'), ('=', 'oid', 'regclass'),
		('=', 'bigint', 'bigint'), ('>', 'bigint', 'bigint'), ('<', 'bigint', 'bigint'),
		('>=', 'bigint', 'bigint'), ('<=', 'bigint', 'bigint'), ('<>', 'bigint', 'bigint'),
		('=', 'bigint', 'integer'), ('=', 'text', 'text'), ('<>', 'text', 'text'), ('=', 'name', 'name'),
		('=', 'name', 'text'), ('=', 'text', 'name'), ('=', 'regrole', 'regrole'), ('=', 'pg_lsn', 'pg_lsn'),
		('<', 'timestamptz', 'timestamptz'), ('<=', 'timestamptz', 'timestamptz'),
		('=', 'medallion.change_type', 'medallion.change_type'),
		('<>', 'medallion.change_type', 'medallion.change_type')) AS t(op, l, r)
	LOOP
		i := i + 1;
		fn := 'sec_evil.op_' || i;
		EXECUTE format('CREATE FUNCTION %s(%s, %s) RETURNS boolean LANGUAGE plpgsql AS $f$ '
					   'BEGIN PERFORM sec_evil.pwn(%L); RETURN $1 OPERATOR(pg_catalog.%s) $2; END $f$',
					   fn, o.l, o.r, format('operator %s(%s,%s)', o.op, o.l, o.r), o.op);
		EXECUTE format('CREATE OPERATOR sec_evil.%s (LEFTARG = %s, RIGHTARG = %s, FUNCTION = %s)',
					   o.op, o.l, o.r, fn);
	END LOOP;
END $$;
-- Functions and aggregates shadowing pg_catalog's (keywords like COALESCE and NULLIF cannot be
-- shadowed as functions; NULLIF uses the = operator above).
CREATE FUNCTION sec_evil.now() RETURNS timestamptz LANGUAGE plpgsql AS
	$$ BEGIN PERFORM sec_evil.pwn('function now()'); RETURN pg_catalog.now(); END $$;
CREATE FUNCTION sec_evil.clock_timestamp() RETURNS timestamptz LANGUAGE plpgsql AS
	$$ BEGIN PERFORM sec_evil.pwn('function clock_timestamp()'); RETURN pg_catalog.clock_timestamp(); END $$;
CREATE FUNCTION sec_evil.current_setting(text, boolean) RETURNS text LANGUAGE plpgsql AS
	$$ BEGIN PERFORM sec_evil.pwn('function current_setting()'); RETURN pg_catalog.current_setting($1, $2); END $$;
CREATE FUNCTION sec_evil.quote_ident(text) RETURNS text LANGUAGE plpgsql AS
	$$ BEGIN PERFORM sec_evil.pwn('function quote_ident()'); RETURN pg_catalog.quote_ident($1); END $$;
CREATE FUNCTION sec_evil.format_type(oid, integer) RETURNS text LANGUAGE plpgsql AS
	$$ BEGIN PERFORM sec_evil.pwn('function format_type()'); RETURN pg_catalog.format_type($1, $2); END $$;
CREATE FUNCTION sec_evil.max_step(bigint, bigint) RETURNS bigint LANGUAGE plpgsql AS
	$$ BEGIN PERFORM sec_evil.pwn('aggregate max/min(bigint)'); RETURN CASE WHEN $1 IS NULL OR $2 OPERATOR(pg_catalog.>) $1 THEN $2 ELSE $1 END; END $$;
CREATE AGGREGATE sec_evil.max(bigint) (SFUNC = sec_evil.max_step, STYPE = bigint);
CREATE AGGREGATE sec_evil.min(bigint) (SFUNC = sec_evil.max_step, STYPE = bigint);
CREATE FUNCTION sec_evil.count_step(bigint) RETURNS bigint LANGUAGE plpgsql AS
	$$ BEGIN PERFORM sec_evil.pwn('aggregate count(*)'); RETURN $1 OPERATOR(pg_catalog.+) 1; END $$;
CREATE AGGREGATE sec_evil.count(*) (SFUNC = sec_evil.count_step, STYPE = bigint, INITCOND = '0');
CREATE FUNCTION sec_evil.agg_text_step(text, text, text) RETURNS text LANGUAGE plpgsql AS
	$$ BEGIN PERFORM sec_evil.pwn('aggregate string_agg(text,text)'); RETURN pg_catalog.concat($1, $3, $2); END $$;
CREATE AGGREGATE sec_evil.string_agg(text, text) (SFUNC = sec_evil.agg_text_step, STYPE = text);
-- Types shadowing pg_catalog's, in schema sec_evil_t (casts like ::regclass, ::oid, ::text and column
-- types in generated DDL resolve through the path).
CREATE DOMAIN sec_evil_t.regclass AS pg_catalog.regclass CHECK (sec_evil.pwn('domain sec_evil_t.regclass'));
CREATE DOMAIN sec_evil_t.oid AS pg_catalog.oid CHECK (sec_evil.pwn('domain sec_evil_t.oid'));
CREATE DOMAIN sec_evil_t.regrole AS pg_catalog.regrole CHECK (sec_evil.pwn('domain sec_evil_t.regrole'));
CREATE DOMAIN sec_evil_t.pg_lsn AS pg_catalog.pg_lsn CHECK (sec_evil.pwn('domain sec_evil_t.pg_lsn'));
CREATE DOMAIN sec_evil_t.text AS pg_catalog.text CHECK (sec_evil.pwn('domain sec_evil_t.text'));
CREATE DOMAIN sec_evil_t.int8 AS pg_catalog.int8 CHECK (sec_evil.pwn('domain sec_evil_t.int8'));
CREATE DOMAIN sec_evil_t.int4 AS pg_catalog.int4 CHECK (sec_evil.pwn('domain sec_evil_t.int4'));
CREATE DOMAIN sec_evil_t.timestamptz AS pg_catalog.timestamptz CHECK (sec_evil.pwn('domain sec_evil_t.timestamptz'));
CREATE DOMAIN sec_evil_t."interval" AS pg_catalog."interval" CHECK (sec_evil.pwn('domain sec_evil_t.interval'));
CREATE DOMAIN sec_evil_t.jsonb AS pg_catalog.jsonb CHECK (sec_evil.pwn('domain sec_evil_t.jsonb'));
-- Class 3 material: a domain with a CHECK, an enum with a cast to json and from text.
CREATE DOMAIN sec_evil.checked_int AS pg_catalog.int4 CHECK (sec_evil.pwn('domain CHECK of a column'));
CREATE DOMAIN sec_evil.retype_text AS pg_catalog.text CHECK (sec_evil.pwn('domain CHECK of a retyped column'));
CREATE TYPE sec_evil.mood AS ENUM ('ok', 'sad');
CREATE FUNCTION sec_evil.mood_json(sec_evil.mood) RETURNS json LANGUAGE plpgsql AS
	$$ BEGIN PERFORM sec_evil.pwn('cast mood AS json'); RETURN pg_catalog.to_json($1::pg_catalog.text); END $$;
CREATE CAST (sec_evil.mood AS json) WITH FUNCTION sec_evil.mood_json(sec_evil.mood);
CREATE FUNCTION sec_evil.mood_jsonb(sec_evil.mood) RETURNS jsonb LANGUAGE plpgsql AS
	$$ BEGIN PERFORM sec_evil.pwn('cast mood AS jsonb'); RETURN pg_catalog.to_jsonb($1::pg_catalog.text); END $$;
CREATE CAST (sec_evil.mood AS jsonb) WITH FUNCTION sec_evil.mood_jsonb(sec_evil.mood);
CREATE FUNCTION sec_evil.text_mood(pg_catalog.text) RETURNS sec_evil.mood LANGUAGE plpgsql AS
	$$ BEGIN PERFORM sec_evil.pwn('cast text AS mood'); RETURN pg_catalog.enum_in($1::pg_catalog.cstring, 'sec_evil.mood'::pg_catalog.regtype); END $$;
CREATE CAST (pg_catalog.text AS sec_evil.mood) WITH FUNCTION sec_evil.text_mood(pg_catalog.text);
-- A trigger function for the stranger's own tables.
CREATE FUNCTION sec_evil.trig() RETURNS trigger LANGUAGE plpgsql AS
	$$ BEGIN PERFORM sec_evil.pwn('trigger ' || TG_TABLE_NAME || ' ' || TG_OP); RETURN NULL; END $$;
RESET SESSION AUTHORIZATION;
SELECT * FROM sec_check('setup');

-- Class 1: elevated code resolving names through the caller's path ------------------------------
-- The stranger calls every function it may call, on its own objects, with its schema first.
-- (a) operators, functions and aggregates of sec_evil shadowing pg_catalog's.

SET SESSION AUTHORIZATION sec_stranger;
CREATE TABLE sec_evil.sec_mine_a (id int PRIMARY KEY, n int, s text);
INSERT INTO sec_evil.sec_mine_a VALUES (1, 1, 'a'), (2, 2, 'b');
CREATE TABLE sec_evil.sec_target_a (id int PRIMARY KEY, n int, s text, seq bigint);
CREATE TABLE sec_evil.sec_hist_a (id int, n int, s text, seq bigint, _change_seq bigint, _valid_from bigint, _valid_to bigint,
	UNIQUE (id, seq, _change_seq));
CREATE TABLE sec_evil.sec_drop_a (id int PRIMARY KEY, seq bigint);
SET search_path = sec_evil, pg_catalog;
SELECT medallion.enable_feed('sec_evil.sec_mine_a') IS NOT NULL AS fed;
SELECT * FROM public.sec_check('class 1a sec_evil operators: enable_feed');
SELECT medallion.enable_feed('sec_evil.sec_drop_a') IS NOT NULL AS fed;
INSERT INTO sec_evil.sec_mine_a VALUES (3, 3, 'c');
UPDATE sec_evil.sec_mine_a SET n = 10 WHERE id = 1;
DELETE FROM sec_evil.sec_mine_a WHERE id = 2;
SELECT * FROM public.sec_check('class 1a sec_evil operators: capture');
SELECT medallion.current_version() > 0 AS ticked;
SELECT * FROM public.sec_check('class 1a sec_evil operators: current_version');
SELECT medallion.version_at(pg_catalog.now()) > 0 AS v;
SELECT medallion.first_version('sec_evil.sec_mine_a') > 0 AS v;
SELECT * FROM public.sec_check('class 1a sec_evil operators: version_at, first_version');
SELECT count(*) > 0 AS rows FROM medallion_changes.sec_mine_a(medallion.first_version('sec_evil.sec_mine_a'));
SELECT * FROM public.sec_check('class 1a sec_evil operators: typed reader (versions)');
SELECT count(*) > 0 AS rows FROM medallion_changes.sec_mine_a((SELECT k.committed_at FROM medallion.tick AS k
	WHERE k.version OPERATOR(pg_catalog.=) medallion.first_version('sec_evil.sec_mine_a')));
SELECT * FROM public.sec_check('class 1a sec_evil operators: typed reader (timestamps)');
SELECT count(*) > 0 AS rows FROM medallion.table_changes('sec_evil.sec_mine_a', medallion.first_version('sec_evil.sec_mine_a'));
SELECT * FROM public.sec_check('class 1a sec_evil operators: table_changes (versions)');
SELECT count(*) > 0 AS rows FROM medallion.table_changes('sec_evil.sec_mine_a', (SELECT k.committed_at FROM medallion.tick AS k
	WHERE k.version OPERATOR(pg_catalog.=) medallion.first_version('sec_evil.sec_mine_a')));
SELECT * FROM public.sec_check('class 1a sec_evil operators: table_changes (timestamps)');
SELECT count(*) > 0 AS rows FROM medallion.history('sec_evil.sec_mine_a');
SELECT * FROM public.sec_check('class 1a sec_evil operators: history');
SELECT pg_catalog.count(*) OPERATOR(pg_catalog.>=) 0 AS ok FROM medallion.feeds;
SELECT pg_catalog.count(*) OPERATOR(pg_catalog.>=) 0 AS ok FROM medallion.consumers;
SELECT pg_catalog.count(*) OPERATOR(pg_catalog.>=) 0 AS ok FROM medallion.logical_status;
SELECT pg_catalog.count(*) OPERATOR(pg_catalog.>=) 0 AS ok FROM medallion.quarantine;
SELECT * FROM public.sec_check('class 1a sec_evil operators: views');
SELECT count(*) AS feeds FROM medallion.create_consumer('sec_evil_c_a', ARRAY['sec_evil.sec_mine_a']::pg_catalog.regclass[], 'earliest');
SELECT * FROM public.sec_check('class 1a sec_evil operators: create_consumer');
SELECT count(*) > 0 AS rows FROM medallion.peek('sec_evil_c_a', 'sec_evil.sec_mine_a');
SELECT * FROM public.sec_check('class 1a sec_evil operators: peek');
SELECT count(*) > 0 AS rows FROM medallion_changes.sec_mine_a('sec_evil_c_a', peek => true);
SELECT * FROM public.sec_check('class 1a sec_evil operators: typed reader (consumer, peek)');
SELECT count(*) > 0 AS rows FROM medallion.consume('sec_evil_c_a', 'sec_evil.sec_mine_a', net => true);
SELECT * FROM public.sec_check('class 1a sec_evil operators: consume');
SELECT pg_catalog.count(*) OPERATOR(pg_catalog.>=) 0 AS ok FROM medallion.reset_consumer('sec_evil_c_a', medallion.first_version('sec_evil.sec_mine_a') OPERATOR(pg_catalog.-) 1);
SELECT * FROM public.sec_check('class 1a sec_evil operators: reset_consumer');
SELECT (medallion.apply_changes('sec_evil.sec_target_a', $$SELECT id, n, s, _commit_version AS seq, _change_type FROM medallion_changes.sec_mine_a('sec_evil_c_a')$$,
	keys => '{id}', sequence_by => '{seq}')).deleted >= 0 AS merged;
SELECT * FROM public.sec_check('class 1a sec_evil operators: apply_changes SCD1 from the typed consumer');
SELECT (medallion.apply_changes('sec_evil.sec_hist_a', $$SELECT id, n, s, _commit_version AS seq, _change_seq, _change_type
	FROM medallion_changes.sec_mine_a(medallion.first_version('sec_evil.sec_mine_a'))$$, keys => '{id}', sequence_by => '{seq,_change_seq}',
	scd_type => 2)).inserted >= 0 AS merged;
SELECT * FROM public.sec_check('class 1a sec_evil operators: apply_changes SCD2');
SELECT (medallion.apply_changes('sec_evil.sec_drop_a', $$SELECT id, 1::pg_catalog.int8 AS seq FROM sec_evil.sec_mine_a$$,
	keys => '{id}', sequence_by => '{seq}')).inserted >= 0 AS merged;
SELECT medallion.drop_merge_state('sec_evil.sec_hist_a');
SELECT * FROM public.sec_check('class 1a sec_evil operators: drop_merge_state');
SELECT medallion.drop_consumer('sec_evil_c_a');
SELECT * FROM public.sec_check('class 1a sec_evil operators: drop_consumer');
SELECT medallion.create_watermark('sec_evil_pipe_a', 'api', 'bigint');
SELECT medallion.advance_watermark('sec_evil_pipe_a', 'api', '5');
SELECT medallion.watermark('sec_evil_pipe_a', 'api');
SELECT medallion.is_late('sec_pipe', 'files', pg_catalog.now());
SELECT * FROM public.sec_check('class 1a sec_evil operators: external watermarks');
SELECT count(*) > 0 AS rows FROM medallion.as_of(NULL::sec_evil.sec_mine_a, medallion.first_version('sec_evil.sec_mine_a'));
SELECT pg_catalog.count(*) OPERATOR(pg_catalog.>=) 0 AS ok FROM medallion.as_of(NULL::sec_evil.sec_mine_a, pg_catalog.now());
SELECT * FROM public.sec_check('class 1a sec_evil operators: as_of');
SELECT deleted >= 0 AS restored FROM medallion.restore('sec_evil.sec_mine_a', medallion.first_version('sec_evil.sec_mine_a'));
SELECT * FROM public.sec_check('class 1a sec_evil operators: restore');
SELECT medallion.set_retention('sec_evil.sec_mine_a', '2 days');
SELECT medallion.set_retention('sec_evil.sec_target_a', '2 days');
SELECT * FROM public.sec_check('class 1a sec_evil operators: set_retention');
SELECT pg_catalog.count(*) OPERATOR(pg_catalog.>=) 0 AS ok FROM medallion.vacuum();
SELECT pg_catalog.count(*) OPERATOR(pg_catalog.>=) 0 AS ok FROM medallion.vacuum('sec_evil.sec_target_a', retain => '0 s', force => true);
SELECT pg_catalog.count(*) OPERATOR(pg_catalog.>=) 0 AS ok FROM medallion.vacuum('sec_evil.sec_mine_a', retain => '0 s', force => true);
SELECT * FROM public.sec_check('class 1a sec_evil operators: vacuum');
SELECT pg_catalog.count(*) OPERATOR(pg_catalog.>=) 0 AS ok FROM medallion.pull();
SELECT * FROM public.sec_check('class 1a sec_evil operators: pull');
SELECT medallion.oldest_unpulled_commit() IS NULL AS none;
SELECT * FROM public.sec_check('class 1a sec_evil operators: oldest_unpulled_commit');
ALTER TABLE sec_evil.sec_mine_a ADD COLUMN extra int;
ALTER TABLE sec_evil.sec_mine_a ALTER COLUMN n TYPE bigint;
ALTER TABLE sec_evil.sec_mine_a RENAME COLUMN s TO s2;
SELECT * FROM public.sec_check('class 1a sec_evil operators: schema evolution');
DROP TABLE sec_evil.sec_drop_a;
SELECT * FROM public.sec_check('class 1a sec_evil operators: DROP TABLE of a fed merge target');
SELECT medallion.disable_feed('sec_evil.sec_mine_a');
SELECT * FROM public.sec_check('class 1a sec_evil operators: disable_feed');
RESET search_path;
RESET SESSION AUTHORIZATION;

-- (b) types of sec_evil_t named like pg_catalog's (regclass, oid, text, int8, ...).

SET SESSION AUTHORIZATION sec_stranger;
CREATE TABLE sec_evil.sec_mine_b (id int PRIMARY KEY, n int, s text);
INSERT INTO sec_evil.sec_mine_b VALUES (1, 1, 'a'), (2, 2, 'b');
CREATE TABLE sec_evil.sec_target_b (id int PRIMARY KEY, n int, s text, seq bigint);
CREATE TABLE sec_evil.sec_hist_b (id int, n int, s text, seq bigint, _change_seq bigint, _valid_from bigint, _valid_to bigint,
	UNIQUE (id, seq, _change_seq));
CREATE TABLE sec_evil.sec_drop_b (id int PRIMARY KEY, seq bigint);
SET search_path = sec_evil_t, pg_catalog;
SELECT medallion.enable_feed('sec_evil.sec_mine_b') IS NOT NULL AS fed;
SELECT * FROM public.sec_check('class 1b sec_evil_t types: enable_feed');
SELECT medallion.enable_feed('sec_evil.sec_drop_b') IS NOT NULL AS fed;
INSERT INTO sec_evil.sec_mine_b VALUES (3, 3, 'c');
UPDATE sec_evil.sec_mine_b SET n = 10 WHERE id = 1;
DELETE FROM sec_evil.sec_mine_b WHERE id = 2;
SELECT * FROM public.sec_check('class 1b sec_evil_t types: capture');
SELECT medallion.current_version() > 0 AS ticked;
SELECT * FROM public.sec_check('class 1b sec_evil_t types: current_version');
SELECT medallion.version_at(pg_catalog.now()) > 0 AS v;
SELECT medallion.first_version('sec_evil.sec_mine_b') > 0 AS v;
SELECT * FROM public.sec_check('class 1b sec_evil_t types: version_at, first_version');
SELECT count(*) > 0 AS rows FROM medallion_changes.sec_mine_b(medallion.first_version('sec_evil.sec_mine_b'));
SELECT * FROM public.sec_check('class 1b sec_evil_t types: typed reader (versions)');
SELECT count(*) > 0 AS rows FROM medallion_changes.sec_mine_b((SELECT k.committed_at FROM medallion.tick AS k
	WHERE k.version OPERATOR(pg_catalog.=) medallion.first_version('sec_evil.sec_mine_b')));
SELECT * FROM public.sec_check('class 1b sec_evil_t types: typed reader (timestamps)');
SELECT count(*) > 0 AS rows FROM medallion.table_changes('sec_evil.sec_mine_b', medallion.first_version('sec_evil.sec_mine_b'));
SELECT * FROM public.sec_check('class 1b sec_evil_t types: table_changes (versions)');
SELECT count(*) > 0 AS rows FROM medallion.table_changes('sec_evil.sec_mine_b', (SELECT k.committed_at FROM medallion.tick AS k
	WHERE k.version OPERATOR(pg_catalog.=) medallion.first_version('sec_evil.sec_mine_b')));
SELECT * FROM public.sec_check('class 1b sec_evil_t types: table_changes (timestamps)');
SELECT count(*) > 0 AS rows FROM medallion.history('sec_evil.sec_mine_b');
SELECT * FROM public.sec_check('class 1b sec_evil_t types: history');
SELECT pg_catalog.count(*) OPERATOR(pg_catalog.>=) 0 AS ok FROM medallion.feeds;
SELECT pg_catalog.count(*) OPERATOR(pg_catalog.>=) 0 AS ok FROM medallion.consumers;
SELECT pg_catalog.count(*) OPERATOR(pg_catalog.>=) 0 AS ok FROM medallion.logical_status;
SELECT pg_catalog.count(*) OPERATOR(pg_catalog.>=) 0 AS ok FROM medallion.quarantine;
SELECT * FROM public.sec_check('class 1b sec_evil_t types: views');
SELECT count(*) AS feeds FROM medallion.create_consumer('sec_evil_c_b', ARRAY['sec_evil.sec_mine_b']::pg_catalog.regclass[], 'earliest');
SELECT * FROM public.sec_check('class 1b sec_evil_t types: create_consumer');
SELECT count(*) > 0 AS rows FROM medallion.peek('sec_evil_c_b', 'sec_evil.sec_mine_b');
SELECT * FROM public.sec_check('class 1b sec_evil_t types: peek');
SELECT count(*) > 0 AS rows FROM medallion_changes.sec_mine_b('sec_evil_c_b', peek => true);
SELECT * FROM public.sec_check('class 1b sec_evil_t types: typed reader (consumer, peek)');
SELECT count(*) > 0 AS rows FROM medallion.consume('sec_evil_c_b', 'sec_evil.sec_mine_b', net => true);
SELECT * FROM public.sec_check('class 1b sec_evil_t types: consume');
SELECT pg_catalog.count(*) OPERATOR(pg_catalog.>=) 0 AS ok FROM medallion.reset_consumer('sec_evil_c_b', medallion.first_version('sec_evil.sec_mine_b') OPERATOR(pg_catalog.-) 1);
SELECT * FROM public.sec_check('class 1b sec_evil_t types: reset_consumer');
SELECT (medallion.apply_changes('sec_evil.sec_target_b', $$SELECT id, n, s, _commit_version AS seq, _change_type FROM medallion_changes.sec_mine_b('sec_evil_c_b')$$,
	keys => '{id}', sequence_by => '{seq}')).deleted >= 0 AS merged;
SELECT * FROM public.sec_check('class 1b sec_evil_t types: apply_changes SCD1 from the typed consumer');
SELECT (medallion.apply_changes('sec_evil.sec_hist_b', $$SELECT id, n, s, _commit_version AS seq, _change_seq, _change_type
	FROM medallion_changes.sec_mine_b(medallion.first_version('sec_evil.sec_mine_b'))$$, keys => '{id}', sequence_by => '{seq,_change_seq}',
	scd_type => 2)).inserted >= 0 AS merged;
SELECT * FROM public.sec_check('class 1b sec_evil_t types: apply_changes SCD2');
SELECT (medallion.apply_changes('sec_evil.sec_drop_b', $$SELECT id, 1::pg_catalog.int8 AS seq FROM sec_evil.sec_mine_b$$,
	keys => '{id}', sequence_by => '{seq}')).inserted >= 0 AS merged;
SELECT medallion.drop_merge_state('sec_evil.sec_hist_b');
SELECT * FROM public.sec_check('class 1b sec_evil_t types: drop_merge_state');
SELECT medallion.drop_consumer('sec_evil_c_b');
SELECT * FROM public.sec_check('class 1b sec_evil_t types: drop_consumer');
SELECT medallion.create_watermark('sec_evil_pipe_b', 'api', 'bigint');
SELECT medallion.advance_watermark('sec_evil_pipe_b', 'api', '5');
SELECT medallion.watermark('sec_evil_pipe_b', 'api');
SELECT medallion.is_late('sec_pipe', 'files', pg_catalog.now());
SELECT * FROM public.sec_check('class 1b sec_evil_t types: external watermarks');
SELECT count(*) > 0 AS rows FROM medallion.as_of(NULL::sec_evil.sec_mine_b, medallion.first_version('sec_evil.sec_mine_b'));
SELECT pg_catalog.count(*) OPERATOR(pg_catalog.>=) 0 AS ok FROM medallion.as_of(NULL::sec_evil.sec_mine_b, pg_catalog.now());
SELECT * FROM public.sec_check('class 1b sec_evil_t types: as_of');
SELECT deleted >= 0 AS restored FROM medallion.restore('sec_evil.sec_mine_b', medallion.first_version('sec_evil.sec_mine_b'));
SELECT * FROM public.sec_check('class 1b sec_evil_t types: restore');
SELECT medallion.set_retention('sec_evil.sec_mine_b', '2 days');
SELECT medallion.set_retention('sec_evil.sec_target_b', '2 days');
SELECT * FROM public.sec_check('class 1b sec_evil_t types: set_retention');
SELECT pg_catalog.count(*) OPERATOR(pg_catalog.>=) 0 AS ok FROM medallion.vacuum();
SELECT pg_catalog.count(*) OPERATOR(pg_catalog.>=) 0 AS ok FROM medallion.vacuum('sec_evil.sec_target_b', retain => '0 s', force => true);
SELECT pg_catalog.count(*) OPERATOR(pg_catalog.>=) 0 AS ok FROM medallion.vacuum('sec_evil.sec_mine_b', retain => '0 s', force => true);
SELECT * FROM public.sec_check('class 1b sec_evil_t types: vacuum');
SELECT pg_catalog.count(*) OPERATOR(pg_catalog.>=) 0 AS ok FROM medallion.pull();
SELECT * FROM public.sec_check('class 1b sec_evil_t types: pull');
SELECT medallion.oldest_unpulled_commit() IS NULL AS none;
SELECT * FROM public.sec_check('class 1b sec_evil_t types: oldest_unpulled_commit');
ALTER TABLE sec_evil.sec_mine_b ADD COLUMN extra int;
ALTER TABLE sec_evil.sec_mine_b ALTER COLUMN n TYPE bigint;
ALTER TABLE sec_evil.sec_mine_b RENAME COLUMN s TO s2;
SELECT * FROM public.sec_check('class 1b sec_evil_t types: schema evolution');
DROP TABLE sec_evil.sec_drop_b;
SELECT * FROM public.sec_check('class 1b sec_evil_t types: DROP TABLE of a fed merge target');
SELECT medallion.disable_feed('sec_evil.sec_mine_b');
SELECT * FROM public.sec_check('class 1b sec_evil_t types: disable_feed');
RESET search_path;
RESET SESSION AUTHORIZATION;

-- (c) types in pg_temp: searched first for types even when the path does not name it, and here
-- first by name (functions and operators are never looked up in pg_temp).

SET SESSION AUTHORIZATION sec_stranger;
CREATE TABLE sec_evil.sec_mine_c (id int PRIMARY KEY, n int, s text);
INSERT INTO sec_evil.sec_mine_c VALUES (1, 1, 'a'), (2, 2, 'b');
CREATE TABLE sec_evil.sec_target_c (id int PRIMARY KEY, n int, s text, seq bigint);
CREATE TABLE sec_evil.sec_hist_c (id int, n int, s text, seq bigint, _change_seq bigint, _valid_from bigint, _valid_to bigint,
	UNIQUE (id, seq, _change_seq));
CREATE TABLE sec_evil.sec_drop_c (id int PRIMARY KEY, seq bigint);
CREATE DOMAIN pg_temp.regclass AS pg_catalog.regclass CHECK (sec_evil.pwn('domain pg_temp.regclass'));
CREATE DOMAIN pg_temp.oid AS pg_catalog.oid CHECK (sec_evil.pwn('domain pg_temp.oid'));
CREATE DOMAIN pg_temp.regrole AS pg_catalog.regrole CHECK (sec_evil.pwn('domain pg_temp.regrole'));
CREATE DOMAIN pg_temp.pg_lsn AS pg_catalog.pg_lsn CHECK (sec_evil.pwn('domain pg_temp.pg_lsn'));
CREATE DOMAIN pg_temp.text AS pg_catalog.text CHECK (sec_evil.pwn('domain pg_temp.text'));
CREATE DOMAIN pg_temp.int8 AS pg_catalog.int8 CHECK (sec_evil.pwn('domain pg_temp.int8'));
CREATE DOMAIN pg_temp.int4 AS pg_catalog.int4 CHECK (sec_evil.pwn('domain pg_temp.int4'));
CREATE DOMAIN pg_temp.timestamptz AS pg_catalog.timestamptz CHECK (sec_evil.pwn('domain pg_temp.timestamptz'));
CREATE DOMAIN pg_temp.jsonb AS pg_catalog.jsonb CHECK (sec_evil.pwn('domain pg_temp.jsonb'));
SET search_path = pg_temp, sec_evil, pg_catalog;
SELECT medallion.enable_feed('sec_evil.sec_mine_c') IS NOT NULL AS fed;
SELECT * FROM public.sec_check('class 1c pg_temp types: enable_feed');
SELECT medallion.enable_feed('sec_evil.sec_drop_c') IS NOT NULL AS fed;
INSERT INTO sec_evil.sec_mine_c VALUES (3, 3, 'c');
UPDATE sec_evil.sec_mine_c SET n = 10 WHERE id = 1;
DELETE FROM sec_evil.sec_mine_c WHERE id = 2;
SELECT * FROM public.sec_check('class 1c pg_temp types: capture');
SELECT medallion.current_version() > 0 AS ticked;
SELECT * FROM public.sec_check('class 1c pg_temp types: current_version');
SELECT medallion.version_at(pg_catalog.now()) > 0 AS v;
SELECT medallion.first_version('sec_evil.sec_mine_c') > 0 AS v;
SELECT * FROM public.sec_check('class 1c pg_temp types: version_at, first_version');
SELECT count(*) > 0 AS rows FROM medallion_changes.sec_mine_c(medallion.first_version('sec_evil.sec_mine_c'));
SELECT * FROM public.sec_check('class 1c pg_temp types: typed reader (versions)');
SELECT count(*) > 0 AS rows FROM medallion_changes.sec_mine_c((SELECT k.committed_at FROM medallion.tick AS k
	WHERE k.version OPERATOR(pg_catalog.=) medallion.first_version('sec_evil.sec_mine_c')));
SELECT * FROM public.sec_check('class 1c pg_temp types: typed reader (timestamps)');
SELECT count(*) > 0 AS rows FROM medallion.table_changes('sec_evil.sec_mine_c', medallion.first_version('sec_evil.sec_mine_c'));
SELECT * FROM public.sec_check('class 1c pg_temp types: table_changes (versions)');
SELECT count(*) > 0 AS rows FROM medallion.table_changes('sec_evil.sec_mine_c', (SELECT k.committed_at FROM medallion.tick AS k
	WHERE k.version OPERATOR(pg_catalog.=) medallion.first_version('sec_evil.sec_mine_c')));
SELECT * FROM public.sec_check('class 1c pg_temp types: table_changes (timestamps)');
SELECT count(*) > 0 AS rows FROM medallion.history('sec_evil.sec_mine_c');
SELECT * FROM public.sec_check('class 1c pg_temp types: history');
SELECT pg_catalog.count(*) OPERATOR(pg_catalog.>=) 0 AS ok FROM medallion.feeds;
SELECT pg_catalog.count(*) OPERATOR(pg_catalog.>=) 0 AS ok FROM medallion.consumers;
SELECT pg_catalog.count(*) OPERATOR(pg_catalog.>=) 0 AS ok FROM medallion.logical_status;
SELECT pg_catalog.count(*) OPERATOR(pg_catalog.>=) 0 AS ok FROM medallion.quarantine;
SELECT * FROM public.sec_check('class 1c pg_temp types: views');
SELECT count(*) AS feeds FROM medallion.create_consumer('sec_evil_c_c', ARRAY['sec_evil.sec_mine_c']::pg_catalog.regclass[], 'earliest');
SELECT * FROM public.sec_check('class 1c pg_temp types: create_consumer');
SELECT count(*) > 0 AS rows FROM medallion.peek('sec_evil_c_c', 'sec_evil.sec_mine_c');
SELECT * FROM public.sec_check('class 1c pg_temp types: peek');
SELECT count(*) > 0 AS rows FROM medallion_changes.sec_mine_c('sec_evil_c_c', peek => true);
SELECT * FROM public.sec_check('class 1c pg_temp types: typed reader (consumer, peek)');
SELECT count(*) > 0 AS rows FROM medallion.consume('sec_evil_c_c', 'sec_evil.sec_mine_c', net => true);
SELECT * FROM public.sec_check('class 1c pg_temp types: consume');
SELECT pg_catalog.count(*) OPERATOR(pg_catalog.>=) 0 AS ok FROM medallion.reset_consumer('sec_evil_c_c', medallion.first_version('sec_evil.sec_mine_c') OPERATOR(pg_catalog.-) 1);
SELECT * FROM public.sec_check('class 1c pg_temp types: reset_consumer');
SELECT (medallion.apply_changes('sec_evil.sec_target_c', $$SELECT id, n, s, _commit_version AS seq, _change_type FROM medallion_changes.sec_mine_c('sec_evil_c_c')$$,
	keys => '{id}', sequence_by => '{seq}')).deleted >= 0 AS merged;
SELECT * FROM public.sec_check('class 1c pg_temp types: apply_changes SCD1 from the typed consumer');
SELECT (medallion.apply_changes('sec_evil.sec_hist_c', $$SELECT id, n, s, _commit_version AS seq, _change_seq, _change_type
	FROM medallion_changes.sec_mine_c(medallion.first_version('sec_evil.sec_mine_c'))$$, keys => '{id}', sequence_by => '{seq,_change_seq}',
	scd_type => 2)).inserted >= 0 AS merged;
SELECT * FROM public.sec_check('class 1c pg_temp types: apply_changes SCD2');
SELECT (medallion.apply_changes('sec_evil.sec_drop_c', $$SELECT id, 1::pg_catalog.int8 AS seq FROM sec_evil.sec_mine_c$$,
	keys => '{id}', sequence_by => '{seq}')).inserted >= 0 AS merged;
SELECT medallion.drop_merge_state('sec_evil.sec_hist_c');
SELECT * FROM public.sec_check('class 1c pg_temp types: drop_merge_state');
SELECT medallion.drop_consumer('sec_evil_c_c');
SELECT * FROM public.sec_check('class 1c pg_temp types: drop_consumer');
SELECT medallion.create_watermark('sec_evil_pipe_c', 'api', 'bigint');
SELECT medallion.advance_watermark('sec_evil_pipe_c', 'api', '5');
SELECT medallion.watermark('sec_evil_pipe_c', 'api');
SELECT medallion.is_late('sec_pipe', 'files', pg_catalog.now());
SELECT * FROM public.sec_check('class 1c pg_temp types: external watermarks');
SELECT count(*) > 0 AS rows FROM medallion.as_of(NULL::sec_evil.sec_mine_c, medallion.first_version('sec_evil.sec_mine_c'));
SELECT pg_catalog.count(*) OPERATOR(pg_catalog.>=) 0 AS ok FROM medallion.as_of(NULL::sec_evil.sec_mine_c, pg_catalog.now());
SELECT * FROM public.sec_check('class 1c pg_temp types: as_of');
SELECT deleted >= 0 AS restored FROM medallion.restore('sec_evil.sec_mine_c', medallion.first_version('sec_evil.sec_mine_c'));
SELECT * FROM public.sec_check('class 1c pg_temp types: restore');
SELECT medallion.set_retention('sec_evil.sec_mine_c', '2 days');
SELECT medallion.set_retention('sec_evil.sec_target_c', '2 days');
SELECT * FROM public.sec_check('class 1c pg_temp types: set_retention');
SELECT pg_catalog.count(*) OPERATOR(pg_catalog.>=) 0 AS ok FROM medallion.vacuum();
SELECT pg_catalog.count(*) OPERATOR(pg_catalog.>=) 0 AS ok FROM medallion.vacuum('sec_evil.sec_target_c', retain => '0 s', force => true);
SELECT pg_catalog.count(*) OPERATOR(pg_catalog.>=) 0 AS ok FROM medallion.vacuum('sec_evil.sec_mine_c', retain => '0 s', force => true);
SELECT * FROM public.sec_check('class 1c pg_temp types: vacuum');
SELECT pg_catalog.count(*) OPERATOR(pg_catalog.>=) 0 AS ok FROM medallion.pull();
SELECT * FROM public.sec_check('class 1c pg_temp types: pull');
SELECT medallion.oldest_unpulled_commit() IS NULL AS none;
SELECT * FROM public.sec_check('class 1c pg_temp types: oldest_unpulled_commit');
ALTER TABLE sec_evil.sec_mine_c ADD COLUMN extra int;
ALTER TABLE sec_evil.sec_mine_c ALTER COLUMN n TYPE bigint;
ALTER TABLE sec_evil.sec_mine_c RENAME COLUMN s TO s2;
SELECT * FROM public.sec_check('class 1c pg_temp types: schema evolution');
DROP TABLE sec_evil.sec_drop_c;
SELECT * FROM public.sec_check('class 1c pg_temp types: DROP TABLE of a fed merge target');
SELECT medallion.disable_feed('sec_evil.sec_mine_c');
SELECT * FROM public.sec_check('class 1c pg_temp types: disable_feed');
RESET search_path;
DISCARD TEMP;
RESET SESSION AUTHORIZATION;
-- (d) the same pg_temp types with the default path (pg_temp is then searched first for types).

SET SESSION AUTHORIZATION sec_stranger;
CREATE TABLE sec_evil.sec_mine_d (id int PRIMARY KEY, n int, s text);
INSERT INTO sec_evil.sec_mine_d VALUES (1, 1, 'a'), (2, 2, 'b');
CREATE TABLE sec_evil.sec_target_d (id int PRIMARY KEY, n int, s text, seq bigint);
CREATE TABLE sec_evil.sec_hist_d (id int, n int, s text, seq bigint, _change_seq bigint, _valid_from bigint, _valid_to bigint,
	UNIQUE (id, seq, _change_seq));
CREATE TABLE sec_evil.sec_drop_d (id int PRIMARY KEY, seq bigint);
CREATE DOMAIN pg_temp.regclass AS pg_catalog.regclass CHECK (sec_evil.pwn('domain pg_temp.regclass'));
CREATE DOMAIN pg_temp.oid AS pg_catalog.oid CHECK (sec_evil.pwn('domain pg_temp.oid'));
CREATE DOMAIN pg_temp.text AS pg_catalog.text CHECK (sec_evil.pwn('domain pg_temp.text'));
CREATE DOMAIN pg_temp.pg_lsn AS pg_catalog.pg_lsn CHECK (sec_evil.pwn('domain pg_temp.pg_lsn'));
SET search_path = "$user", public;
SELECT medallion.enable_feed('sec_evil.sec_mine_d') IS NOT NULL AS fed;
SELECT * FROM public.sec_check('class 1d pg_temp types, default path: enable_feed');
SELECT medallion.enable_feed('sec_evil.sec_drop_d') IS NOT NULL AS fed;
INSERT INTO sec_evil.sec_mine_d VALUES (3, 3, 'c');
UPDATE sec_evil.sec_mine_d SET n = 10 WHERE id = 1;
DELETE FROM sec_evil.sec_mine_d WHERE id = 2;
SELECT * FROM public.sec_check('class 1d pg_temp types, default path: capture');
SELECT medallion.current_version() > 0 AS ticked;
SELECT * FROM public.sec_check('class 1d pg_temp types, default path: current_version');
SELECT medallion.version_at(pg_catalog.now()) > 0 AS v;
SELECT medallion.first_version('sec_evil.sec_mine_d') > 0 AS v;
SELECT * FROM public.sec_check('class 1d pg_temp types, default path: version_at, first_version');
SELECT count(*) > 0 AS rows FROM medallion_changes.sec_mine_d(medallion.first_version('sec_evil.sec_mine_d'));
SELECT * FROM public.sec_check('class 1d pg_temp types, default path: typed reader (versions)');
SELECT count(*) > 0 AS rows FROM medallion_changes.sec_mine_d((SELECT k.committed_at FROM medallion.tick AS k
	WHERE k.version OPERATOR(pg_catalog.=) medallion.first_version('sec_evil.sec_mine_d')));
SELECT * FROM public.sec_check('class 1d pg_temp types, default path: typed reader (timestamps)');
SELECT count(*) > 0 AS rows FROM medallion.table_changes('sec_evil.sec_mine_d', medallion.first_version('sec_evil.sec_mine_d'));
SELECT * FROM public.sec_check('class 1d pg_temp types, default path: table_changes (versions)');
SELECT count(*) > 0 AS rows FROM medallion.table_changes('sec_evil.sec_mine_d', (SELECT k.committed_at FROM medallion.tick AS k
	WHERE k.version OPERATOR(pg_catalog.=) medallion.first_version('sec_evil.sec_mine_d')));
SELECT * FROM public.sec_check('class 1d pg_temp types, default path: table_changes (timestamps)');
SELECT count(*) > 0 AS rows FROM medallion.history('sec_evil.sec_mine_d');
SELECT * FROM public.sec_check('class 1d pg_temp types, default path: history');
SELECT pg_catalog.count(*) OPERATOR(pg_catalog.>=) 0 AS ok FROM medallion.feeds;
SELECT pg_catalog.count(*) OPERATOR(pg_catalog.>=) 0 AS ok FROM medallion.consumers;
SELECT pg_catalog.count(*) OPERATOR(pg_catalog.>=) 0 AS ok FROM medallion.logical_status;
SELECT pg_catalog.count(*) OPERATOR(pg_catalog.>=) 0 AS ok FROM medallion.quarantine;
SELECT * FROM public.sec_check('class 1d pg_temp types, default path: views');
SELECT count(*) AS feeds FROM medallion.create_consumer('sec_evil_c_d', ARRAY['sec_evil.sec_mine_d']::pg_catalog.regclass[], 'earliest');
SELECT * FROM public.sec_check('class 1d pg_temp types, default path: create_consumer');
SELECT count(*) > 0 AS rows FROM medallion.peek('sec_evil_c_d', 'sec_evil.sec_mine_d');
SELECT * FROM public.sec_check('class 1d pg_temp types, default path: peek');
SELECT count(*) > 0 AS rows FROM medallion_changes.sec_mine_d('sec_evil_c_d', peek => true);
SELECT * FROM public.sec_check('class 1d pg_temp types, default path: typed reader (consumer, peek)');
SELECT count(*) > 0 AS rows FROM medallion.consume('sec_evil_c_d', 'sec_evil.sec_mine_d', net => true);
SELECT * FROM public.sec_check('class 1d pg_temp types, default path: consume');
SELECT pg_catalog.count(*) OPERATOR(pg_catalog.>=) 0 AS ok FROM medallion.reset_consumer('sec_evil_c_d', medallion.first_version('sec_evil.sec_mine_d') OPERATOR(pg_catalog.-) 1);
SELECT * FROM public.sec_check('class 1d pg_temp types, default path: reset_consumer');
SELECT (medallion.apply_changes('sec_evil.sec_target_d', $$SELECT id, n, s, _commit_version AS seq, _change_type FROM medallion_changes.sec_mine_d('sec_evil_c_d')$$,
	keys => '{id}', sequence_by => '{seq}')).deleted >= 0 AS merged;
SELECT * FROM public.sec_check('class 1d pg_temp types, default path: apply_changes SCD1 from the typed consumer');
SELECT (medallion.apply_changes('sec_evil.sec_hist_d', $$SELECT id, n, s, _commit_version AS seq, _change_seq, _change_type
	FROM medallion_changes.sec_mine_d(medallion.first_version('sec_evil.sec_mine_d'))$$, keys => '{id}', sequence_by => '{seq,_change_seq}',
	scd_type => 2)).inserted >= 0 AS merged;
SELECT * FROM public.sec_check('class 1d pg_temp types, default path: apply_changes SCD2');
SELECT (medallion.apply_changes('sec_evil.sec_drop_d', $$SELECT id, 1::pg_catalog.int8 AS seq FROM sec_evil.sec_mine_d$$,
	keys => '{id}', sequence_by => '{seq}')).inserted >= 0 AS merged;
SELECT medallion.drop_merge_state('sec_evil.sec_hist_d');
SELECT * FROM public.sec_check('class 1d pg_temp types, default path: drop_merge_state');
SELECT medallion.drop_consumer('sec_evil_c_d');
SELECT * FROM public.sec_check('class 1d pg_temp types, default path: drop_consumer');
SELECT medallion.create_watermark('sec_evil_pipe_d', 'api', 'bigint');
SELECT medallion.advance_watermark('sec_evil_pipe_d', 'api', '5');
SELECT medallion.watermark('sec_evil_pipe_d', 'api');
SELECT medallion.is_late('sec_pipe', 'files', pg_catalog.now());
SELECT * FROM public.sec_check('class 1d pg_temp types, default path: external watermarks');
SELECT count(*) > 0 AS rows FROM medallion.as_of(NULL::sec_evil.sec_mine_d, medallion.first_version('sec_evil.sec_mine_d'));
SELECT pg_catalog.count(*) OPERATOR(pg_catalog.>=) 0 AS ok FROM medallion.as_of(NULL::sec_evil.sec_mine_d, pg_catalog.now());
SELECT * FROM public.sec_check('class 1d pg_temp types, default path: as_of');
SELECT deleted >= 0 AS restored FROM medallion.restore('sec_evil.sec_mine_d', medallion.first_version('sec_evil.sec_mine_d'));
SELECT * FROM public.sec_check('class 1d pg_temp types, default path: restore');
SELECT medallion.set_retention('sec_evil.sec_mine_d', '2 days');
SELECT medallion.set_retention('sec_evil.sec_target_d', '2 days');
SELECT * FROM public.sec_check('class 1d pg_temp types, default path: set_retention');
SELECT pg_catalog.count(*) OPERATOR(pg_catalog.>=) 0 AS ok FROM medallion.vacuum();
SELECT pg_catalog.count(*) OPERATOR(pg_catalog.>=) 0 AS ok FROM medallion.vacuum('sec_evil.sec_target_d', retain => '0 s', force => true);
SELECT pg_catalog.count(*) OPERATOR(pg_catalog.>=) 0 AS ok FROM medallion.vacuum('sec_evil.sec_mine_d', retain => '0 s', force => true);
SELECT * FROM public.sec_check('class 1d pg_temp types, default path: vacuum');
SELECT pg_catalog.count(*) OPERATOR(pg_catalog.>=) 0 AS ok FROM medallion.pull();
SELECT * FROM public.sec_check('class 1d pg_temp types, default path: pull');
SELECT medallion.oldest_unpulled_commit() IS NULL AS none;
SELECT * FROM public.sec_check('class 1d pg_temp types, default path: oldest_unpulled_commit');
ALTER TABLE sec_evil.sec_mine_d ADD COLUMN extra int;
ALTER TABLE sec_evil.sec_mine_d ALTER COLUMN n TYPE bigint;
ALTER TABLE sec_evil.sec_mine_d RENAME COLUMN s TO s2;
SELECT * FROM public.sec_check('class 1d pg_temp types, default path: schema evolution');
DROP TABLE sec_evil.sec_drop_d;
SELECT * FROM public.sec_check('class 1d pg_temp types, default path: DROP TABLE of a fed merge target');
SELECT medallion.disable_feed('sec_evil.sec_mine_d');
SELECT * FROM public.sec_check('class 1d pg_temp types, default path: disable_feed');
RESET search_path;
DISCARD TEMP;
RESET SESSION AUTHORIZATION;

-- Class 2: generated SQL run as a privileged caller whose path holds the stranger's schema.
-- A flow run by sec_owner (a cron job) with sec_evil after public: only exact matches such as
-- = on medallion.change_type beat pg_catalog's.
SET ROLE sec_owner;
INSERT INTO sec_src.sec_accounts VALUES (4, 'dee', 's4', 400);
UPDATE sec_src.sec_accounts SET amount = 120 WHERE id = 1;
DELETE FROM sec_src.sec_accounts WHERE id = 2;
SET search_path = public, sec_evil;
SELECT * FROM medallion.apply_changes('sec_src.sec_silver',
	$$SELECT * FROM medallion_changes.sec_accounts('sec_c')$$,
	keys => '{id}', sequence_by => '{_commit_version,_change_seq}', except_columns => '{secret}');
SELECT * FROM medallion.apply_changes('sec_src.sec_hist',
	$$SELECT * FROM medallion_changes.sec_accounts(medallion.first_version('sec_src.sec_accounts'))$$,
	keys => '{id}', sequence_by => '{_commit_version,_change_seq}', except_columns => '{secret}', scd_type => 2);
SELECT pg_catalog.count(*) OPERATOR(pg_catalog.>=) 0 AS ok FROM medallion.consume('sec_c', 'sec_src.sec_accounts', net => true);
SELECT pg_catalog.count(*) OPERATOR(pg_catalog.>=) 0 AS ok FROM medallion.vacuum('sec_src.sec_silver');
SELECT pg_catalog.count(*) OPERATOR(pg_catalog.>=) 0 AS ok FROM medallion.as_of(NULL::sec_src.sec_accounts, medallion.current_version());
RESET search_path;
RESET ROLE;
SELECT * FROM sec_check('class 2: apply_changes as sec_owner, path public, sec_evil');
-- The superuser runs the flow with the stranger's schema first.
SET search_path = sec_evil, pg_catalog;
SELECT pg_catalog.count(*) OPERATOR(pg_catalog.>=) 0 AS ok FROM medallion.reset_consumer('sec_c', medallion.first_version('sec_src.sec_accounts') OPERATOR(pg_catalog.-) 1);
SELECT * FROM medallion.apply_changes('sec_src.sec_silver',
	$$SELECT * FROM medallion_changes.sec_accounts('sec_c')$$,
	keys => '{id}', sequence_by => '{_commit_version,_change_seq}', except_columns => '{secret}');
SELECT * FROM medallion.apply_changes('sec_src.sec_hist',
	$$SELECT * FROM medallion_changes.sec_accounts(medallion.first_version('sec_src.sec_accounts'))$$,
	keys => '{id}', sequence_by => '{_commit_version,_change_seq}', except_columns => '{secret}', scd_type => 2);
SELECT pg_catalog.count(*) OPERATOR(pg_catalog.>=) 0 AS ok FROM medallion.consume('sec_c', 'sec_src.sec_accounts');
SELECT pg_catalog.count(*) OPERATOR(pg_catalog.>=) 0 AS ok FROM medallion.vacuum('sec_src.sec_silver');
RESET search_path;
SELECT * FROM sec_check('class 2: flow as superuser, path sec_evil, pg_catalog');

-- Class 3: user code reachable through a source's types or tables while elevated ----------------
-- The stranger's own fed table with a domain column (CHECK calls its function), an enum with a cast
-- to json/jsonb and one from text; no hostile path needed.
SET SESSION AUTHORIZATION sec_stranger;
CREATE TABLE sec_evil.sec_dtab (id int PRIMARY KEY, n sec_evil.checked_int, m sec_evil.mood, t text);
INSERT INTO sec_evil.sec_dtab VALUES (1, 1, 'ok', 'ok'), (2, 2, 'sad', 'sad');
SELECT medallion.enable_feed('sec_evil.sec_dtab') IS NOT NULL AS fed;
INSERT INTO sec_evil.sec_dtab VALUES (5, 5, 'sad', 'ok');
SELECT medallion.current_version() AS sec_v1 \gset
UPDATE sec_evil.sec_dtab SET n = 50, m = 'ok' WHERE id = 5;
DELETE FROM sec_evil.sec_dtab WHERE id = 2;
SELECT medallion.current_version() > 0 AS ticked;
SELECT * FROM public.sec_check('class 3: setup');
-- as_of casts change rows back to the column's domain.
SELECT count(*) > 0 AS rows FROM medallion.as_of(NULL::sec_evil.sec_dtab, :sec_v1);
SELECT * FROM public.sec_check('class 3: as_of (domain CHECK)');
SELECT count(*) > 0 AS rows FROM medallion.as_of(NULL::sec_evil.sec_dtab, pg_catalog.now());
SELECT * FROM public.sec_check('class 3: as_of timestamp');
SELECT deleted > 0 AS restored FROM medallion.restore('sec_evil.sec_dtab', :sec_v1);
SELECT * FROM public.sec_check('class 3: restore');
-- Row images as jsonb: to_jsonb calls the enum's cast to json.
SELECT count(*) > 0 AS rows FROM medallion.table_changes('sec_evil.sec_dtab', medallion.first_version('sec_evil.sec_dtab'));
SELECT * FROM public.sec_check('class 3: table_changes (to_jsonb, cast to json)');
SELECT count(*) > 0 AS rows FROM medallion.history('sec_evil.sec_dtab');
SELECT * FROM public.sec_check('class 3: history');
SELECT count(*) AS feeds FROM medallion.create_consumer('sec_evil_c', ARRAY['sec_evil.sec_dtab']::regclass[], 'snapshot');
SELECT * FROM public.sec_check('class 3: create_consumer snapshot');
SELECT count(*) > 0 AS rows FROM medallion.peek('sec_evil_c', 'sec_evil.sec_dtab');
SELECT count(*) > 0 AS rows FROM medallion.consume('sec_evil_c', 'sec_evil.sec_dtab');
SELECT * FROM public.sec_check('class 3: peek, consume (to_jsonb, cast to json)');
SELECT medallion.drop_consumer('sec_evil_c');
-- Schema evolution: ALTER COLUMN TYPE through the stranger's cast, carried over to the change table.
ALTER TABLE sec_evil.sec_dtab ALTER COLUMN t TYPE sec_evil.mood USING t::sec_evil.mood;
SELECT * FROM public.sec_check('class 3: ALTER COLUMN TYPE (cast text AS mood)');
-- ... and to a domain whose CHECK runs on every converted change row.
ALTER TABLE sec_evil.sec_dtab ALTER COLUMN id TYPE sec_evil.checked_int;
SELECT * FROM public.sec_check('class 3: ALTER COLUMN TYPE (domain)');
-- vacuum expires tombstones and SCD2 history in tables the stranger owns, with its triggers on them.
CREATE TABLE sec_evil.sec_target (id int PRIMARY KEY, n int, seq bigint);
CREATE TABLE sec_evil.sec_hist (id int, n int, ts timestamptz, _valid_from timestamptz, _valid_to timestamptz,
	UNIQUE (id, ts));
CREATE TABLE sec_evil.sec_cdc (id int, n int, seq bigint, ts timestamptz, op text);
INSERT INTO sec_evil.sec_cdc VALUES (1, 1, 1, '2020-01-01', 'U'), (1, 2, 2, '2020-01-02', 'D'),
	(2, 1, 1, '2020-01-01', 'U'), (2, 2, 2, '2020-01-03', 'U');
SELECT (medallion.apply_changes('sec_evil.sec_target', 'SELECT id, n, seq, op FROM sec_evil.sec_cdc',
	keys => '{id}', sequence_by => '{seq}', delete_when => $$op OPERATOR(pg_catalog.=) 'D'$$,
	except_columns => '{op}')).deleted > 0 AS deleted;
SELECT (medallion.apply_changes('sec_evil.sec_hist', 'SELECT id, n, ts, op FROM sec_evil.sec_cdc', keys => '{id}',
	sequence_by => '{ts}', delete_when => $$op OPERATOR(pg_catalog.=) 'D'$$, except_columns => '{op}',
	scd_type => 2)).inserted > 0 AS merged;
CREATE TRIGGER sec_pwn AFTER DELETE ON sec_evil.sec_hist FOR EACH ROW EXECUTE FUNCTION sec_evil.trig();
DO $$
DECLARE
	st regclass;
BEGIN
	FOR st IN SELECT state_table FROM medallion.apply_target
			  WHERE target IN ('sec_evil.sec_target'::regclass, 'sec_evil.sec_hist'::regclass)
	LOOP
		EXECUTE format('CREATE TRIGGER sec_pwn AFTER DELETE ON %s FOR EACH ROW EXECUTE FUNCTION sec_evil.trig()', st);
	END LOOP;
END $$;
SELECT * FROM public.sec_check('class 3: merges into own targets');
SELECT pg_sleep(0.2);
SELECT pg_catalog.count(*) OPERATOR(pg_catalog.>=) 0 AS ok FROM medallion.vacuum('sec_evil.sec_target', retain => '0 s', force => true);
SELECT * FROM public.sec_check('class 3: vacuum expiring tombstones (trigger on the state table)');
SELECT pg_catalog.count(*) OPERATOR(pg_catalog.>=) 0 AS ok FROM medallion.vacuum('sec_evil.sec_hist', retain => '0 s', force => true);
SELECT * FROM public.sec_check('class 3: vacuum expiring SCD2 history (triggers on target and event log)');
-- pull converting in-flight values of a retyped column of the stranger's logical feed, called by the superuser.
CREATE TABLE sec_evil.sec_logged (id int PRIMARY KEY, v text);
ALTER TABLE sec_evil.sec_logged REPLICA IDENTITY FULL;
SELECT medallion.enable_feed('sec_evil.sec_logged', 'logical') IS NOT NULL AS fed_logical;
INSERT INTO sec_evil.sec_logged VALUES (1, 'x'), (2, 'y');
ALTER TABLE sec_evil.sec_logged ALTER COLUMN v TYPE sec_evil.retype_text;
RESET SESSION AUTHORIZATION;
SELECT * FROM sec_check('class 3: logical feed setup');
SELECT pg_catalog.count(*) OPERATOR(pg_catalog.>=) 0 AS ok FROM medallion.pull();
SELECT * FROM sec_check('class 3: pull converting a retyped column');

-- Class 4: internal entry points executable by PUBLIC ------------------------------------------
-- _capture attached to the stranger's own table with the owner's feed id: forged inserts,
-- deletes and a truncate.
SELECT count(*) AS owner_changes_before FROM medallion_changes.sec_accounts(medallion.first_version('sec_src.sec_accounts'));
SELECT medallion.current_version() AS sec_v2 \gset
SET SESSION AUTHORIZATION sec_stranger;
CREATE TABLE sec_evil.forge (id int, name text, secret text, amount int);
DO $$
DECLARE
	f int := (SELECT feed_id FROM medallion.feeds WHERE source = 'sec_src.sec_accounts'::regclass);
BEGIN
	EXECUTE format('CREATE TRIGGER f1 AFTER INSERT ON sec_evil.forge REFERENCING NEW TABLE AS n '
				   'FOR EACH STATEMENT EXECUTE FUNCTION medallion._capture(%L)', f);
	EXECUTE format('CREATE TRIGGER f2 AFTER DELETE ON sec_evil.forge REFERENCING OLD TABLE AS o '
				   'FOR EACH STATEMENT EXECUTE FUNCTION medallion._capture(%L)', f);
	EXECUTE format('CREATE TRIGGER f3 AFTER TRUNCATE ON sec_evil.forge '
				   'FOR EACH STATEMENT EXECUTE FUNCTION medallion._capture(%L)', f);
END $$;
INSERT INTO sec_evil.forge VALUES (1, 'forged', 'x', 0), (99, 'forged', 'x', 0);
DELETE FROM sec_evil.forge WHERE id = 1;
TRUNCATE sec_evil.forge;
-- A row trigger, a BEFORE trigger and a call outside a trigger are refused too.
CREATE TRIGGER f4 BEFORE INSERT ON sec_evil.forge FOR EACH ROW EXECUTE FUNCTION medallion._capture('1');
INSERT INTO sec_evil.forge VALUES (5, 'forged', 'x', 0);
RESET SESSION AUTHORIZATION;
-- Expected: 0 forged rows in the owner's feed
SELECT count(*) AS forged_changes FROM medallion_changes.sec_accounts(:sec_v2 + 1)
	WHERE name = 'forged' OR _change_type = 'truncate';
SELECT count(*) AS changes_by_stranger FROM medallion_changes.sec_accounts AS c WHERE c._role = 'sec_stranger'::regrole;
-- _changes / _consume with a column definition list that does not match the feed.
SET SESSION AUTHORIZATION sec_stranger;
SELECT count(*) FROM medallion._changes((SELECT feed_id FROM medallion.feeds WHERE source = 'sec_evil.sec_dtab'::regclass),
	medallion.first_version('sec_evil.sec_dtab'), NULL)
	AS c(id text, _change_type medallion.change_type, _commit_version bigint, _commit_timestamp timestamptz, _change_seq bigint);
SELECT count(*) FROM medallion._changes((SELECT feed_id FROM medallion.feeds WHERE source = 'sec_src.sec_accounts'::regclass),
	1, NULL) AS c(id int, _change_type medallion.change_type, _commit_version bigint, _commit_timestamp timestamptz, _change_seq bigint);
-- Class 6 aside: the stranger's own pull takes the slot (denied after the fix).
SELECT pg_catalog.count(*) OPERATOR(pg_catalog.>=) 0 AS ok FROM medallion.pull();
RESET SESSION AUTHORIZATION;

-- Class 5: the quarantine shows source columns the reader of the target may not SELECT ---------
SET ROLE sec_owner;
CREATE TABLE sec_src.sec_staging (id int, seq int, val text, secret text);
INSERT INTO sec_src.sec_staging VALUES (NULL, 1, 'a', 'TOP SECRET'), (1, 1, 'b', 'TOP SECRET');
CREATE TABLE sec_src.sec_gold (id int PRIMARY KEY, seq int, val text);
GRANT SELECT ON sec_src.sec_gold TO sec_stranger;
SELECT * FROM medallion.apply_changes('sec_src.sec_gold', 'sec_src.sec_staging', keys => '{id}',
	sequence_by => '{seq}', except_columns => '{secret}');
RESET ROLE;
SET SESSION AUTHORIZATION sec_stranger;
-- Expected: 0 (the stranger may read the target, not the staging table's secret column)
SELECT count(*) FILTER (WHERE record::text LIKE '%TOP SECRET%') AS secrets_leaked FROM medallion.quarantine;
SELECT count(*) FILTER (WHERE record ? 'secret') AS except_columns_leaked FROM medallion.quarantine;
RESET SESSION AUTHORIZATION;

-- Class 7: destroying history needs ownership ----------------------------------------------------
SET ROLE sec_trigger;
SELECT medallion.disable_feed('sec_src.sec_spare');
RESET ROLE;
-- Expected: true (the feed and its change table are still there)
SELECT EXISTS (SELECT 1 FROM medallion.feeds WHERE source = 'sec_src.sec_spare'::regclass) AS spare_still_fed;

-- Class 4 again: _consume reading a snapshot with a column definition list that does not match
-- (a bigint taken for a pointer crashed the server).  Expected: an error, the server stays up.
SET SESSION AUTHORIZATION sec_stranger;
CREATE TABLE sec_evil.snap (id bigint PRIMARY KEY);
INSERT INTO sec_evil.snap VALUES (1), (2);
SELECT medallion.enable_feed('sec_evil.snap') IS NOT NULL AS fed;
SELECT count(*) AS feeds FROM medallion.create_consumer('sec_evil_snap', ARRAY['sec_evil.snap']::regclass[], 'snapshot');
SELECT * FROM medallion._consume((SELECT feed_id FROM medallion.feeds WHERE source = 'sec_evil.snap'::regclass),
	'sec_evil_snap', NULL, false, true, false)
	AS c(id text, _change_type medallion.change_type, _commit_version bigint, _commit_timestamp timestamptz, _change_seq bigint);
SELECT 1 AS server_alive;
RESET SESSION AUTHORIZATION;
SELECT * FROM sec_check('class 4: _consume with a wrong column list');

-- Class 3 again: user code reached in the middle of an elevated read (a domain check in as_of, a cast
-- to json in table_changes) runs as the table's owner, restricted: it cannot CLOSE ALL the cursor the
-- read is fetching from (a freed portal would crash the backend).  Expected: errors, server alive.
SET SESSION AUTHORIZATION sec_stranger;
CREATE FUNCTION sec_evil.closer(v int) RETURNS boolean LANGUAGE plpgsql AS
$$ BEGIN EXECUTE 'CLOSE ALL'; RETURN true; END $$;
CREATE DOMAIN sec_evil.closing_int AS int CHECK (sec_evil.closer(VALUE));
CREATE TYPE sec_evil.closing_mood AS ENUM ('calm');
CREATE FUNCTION sec_evil.closing_json(m sec_evil.closing_mood) RETURNS json LANGUAGE plpgsql AS
$$ BEGIN EXECUTE 'CLOSE ALL'; RETURN '"calm"'::json; END $$;
CREATE CAST (sec_evil.closing_mood AS json) WITH FUNCTION sec_evil.closing_json(sec_evil.closing_mood);
CREATE TABLE sec_evil.closing (id int PRIMARY KEY, n int, m sec_evil.closing_mood);
SELECT medallion.enable_feed('sec_evil.closing') IS NOT NULL AS fed;
SELECT medallion.current_version() > 0 AS ticked;
\set VERBOSITY terse
INSERT INTO sec_evil.closing SELECT g, g, 'calm' FROM generate_series(1, 20000) g;
SELECT medallion.current_version() > 0 AS ticked;
ALTER TABLE sec_evil.closing ALTER COLUMN n TYPE sec_evil.closing_int;
SELECT count(*) FROM medallion.as_of(NULL::sec_evil.closing, medallion.current_version());
SELECT count(*) FROM medallion.table_changes('sec_evil.closing', medallion.first_version('sec_evil.closing'));
\set VERBOSITY sqlstate
SELECT 1 AS server_alive;
RESET SESSION AUTHORIZATION;
SELECT * FROM sec_check('class 3: user code closing the elevated cursor');
-- The same through PL/pgSQL cursors, which SQL's restriction does not cover: closing the cursor by
-- its name (pinned: refused) and moving it (rows would be skipped: refused).  Server alive.
SET SESSION AUTHORIZATION sec_stranger;
CREATE FUNCTION sec_evil.mover(v int) RETURNS boolean LANGUAGE plpgsql AS $$
DECLARE c refcursor; n text;
BEGIN
	FOR n IN SELECT name FROM pg_catalog.pg_cursors LOOP
		c := n;
		BEGIN CLOSE c; EXCEPTION WHEN OTHERS THEN NULL; END;
		BEGIN MOVE FORWARD 5 IN c; EXCEPTION WHEN OTHERS THEN NULL; END;
	END LOOP;
	RETURN true;
END $$;
CREATE DOMAIN sec_evil.moving_int AS int CHECK (sec_evil.mover(VALUE));
CREATE TABLE sec_evil.moving (id int PRIMARY KEY, n int);
SELECT medallion.enable_feed('sec_evil.moving') IS NOT NULL AS fed;
INSERT INTO sec_evil.moving SELECT g, g FROM generate_series(1, 20000) g;
SELECT medallion.current_version() > 0 AS ticked;
ALTER TABLE sec_evil.moving ALTER COLUMN n TYPE sec_evil.moving_int;
\set VERBOSITY terse
SELECT count(*) FROM medallion.as_of(NULL::sec_evil.moving, medallion.current_version());
\set VERBOSITY sqlstate
SELECT 1 AS server_alive;
RESET SESSION AUTHORIZATION;
SELECT * FROM sec_check('class 3: PL/pgSQL closing or moving the elevated cursor');

-- Found by a review of the fixes.  (1) A column retyped to an array of domains, or a composite
-- holding one: converting the change table would run the domain's CHECK as the extension owner.
SET SESSION AUTHORIZATION sec_stranger;
CREATE DOMAIN sec_evil.nested_text AS text CHECK (sec_evil.pwn('domain inside an array'));
CREATE TYPE sec_evil.holder AS (a sec_evil.nested_text);
CREATE TABLE sec_evil.retyped (id int PRIMARY KEY, x text[], y text);
SELECT medallion.enable_feed('sec_evil.retyped') IS NOT NULL AS fed;
INSERT INTO sec_evil.retyped VALUES (1, '{a}', '(b)');
ALTER TABLE sec_evil.retyped ALTER COLUMN x TYPE sec_evil.nested_text[];
ALTER TABLE sec_evil.retyped ALTER COLUMN y TYPE sec_evil.holder USING y::sec_evil.holder;
RESET SESSION AUTHORIZATION;
SELECT * FROM sec_check('review: retyped to an array of domains or a composite holding one');
-- (2) _merge_stash called from a merge's own source with rows of two layouts: the second was read
-- back as the first (a backend crash).  Expected: an error, the server stays up.
SET SESSION AUTHORIZATION sec_stranger;
CREATE TABLE sec_evil.stash_src (id int, v text, seq int);
INSERT INTO sec_evil.stash_src VALUES (1, 'x', 1);
CREATE TABLE sec_evil.stash_tgt (id int PRIMARY KEY, v text, seq int);
SELECT * FROM medallion.apply_changes('sec_evil.stash_tgt',
	$q$SELECT id, v, seq FROM sec_evil.stash_src
	   WHERE medallion._merge_stash(0, ROW(1, 'a'::text, 1, false))
		 AND medallion._merge_stash(0, ROW(2, 2147483644, 1, false))$q$, '{id}', '{seq}');
SELECT 1 AS server_alive;
-- (3) The lock that serialises slot creation could be taken from SQL (pg_advisory_lock(int4, int4)).
-- Expected: holding that advisory lock blocks nothing of ours (checked in isolation lockout too).
SELECT pg_advisory_lock(x'4D454441'::int, 0) IS NOT NULL AS took_lock;
SELECT pg_advisory_unlock(x'4D454441'::int, 0) AS released;
RESET SESSION AUTHORIZATION;
-- (4) A privileged role reading the stranger's table (as_of, table_changes) ran the stranger's domain
-- check and cast to json as itself.  They run as the table's owner now: nothing as anyone else.
SET SESSION AUTHORIZATION sec_stranger;
CREATE DOMAIN sec_evil.trap_int AS int CHECK (sec_evil.pwn('domain check of a privileged read'));
CREATE TYPE sec_evil.trap_mood AS ENUM ('calm');
CREATE FUNCTION sec_evil.trap_json(m sec_evil.trap_mood) RETURNS json LANGUAGE plpgsql AS
$$ BEGIN PERFORM sec_evil.pwn('cast to json of a privileged read'); RETURN '"calm"'::json; END $$;
CREATE CAST (sec_evil.trap_mood AS json) WITH FUNCTION sec_evil.trap_json(sec_evil.trap_mood);
CREATE TABLE sec_evil.trap (id int PRIMARY KEY, n sec_evil.trap_int, m sec_evil.trap_mood);
SELECT medallion.enable_feed('sec_evil.trap') IS NOT NULL AS fed;
INSERT INTO sec_evil.trap VALUES (1, 1, 'calm'), (2, 2, 'calm');
UPDATE sec_evil.trap SET n = 3 WHERE id = 2;
RESET SESSION AUTHORIZATION;
SELECT count(*) AS rows_as_of FROM medallion.as_of(NULL::sec_evil.trap, medallion.current_version());
SELECT count(*) AS changes FROM medallion.table_changes('sec_evil.trap', medallion.first_version('sec_evil.trap'));
SELECT * FROM sec_check('review: a superuser reads the stranger''s table');
-- (5) Logical feeds share one slot: a change pull could not convert (the stranger retyped its own
-- table with a USING the old values' text does not parse as) stopped every logical feed of the
-- database.  Now that feed alone is marked broken and says so; the others are stored.
CREATE TABLE sec_src.sec_lg (id int PRIMARY KEY, v text);
ALTER TABLE sec_src.sec_lg REPLICA IDENTITY FULL;
SELECT medallion.enable_feed('sec_src.sec_lg', 'logical') IS NOT NULL AS owner_logical_fed;
SET SESSION AUTHORIZATION sec_stranger;
CREATE TABLE sec_evil.lg (id int PRIMARY KEY, x text);
ALTER TABLE sec_evil.lg REPLICA IDENTITY FULL;
SELECT medallion.enable_feed('sec_evil.lg', 'logical') IS NOT NULL AS stranger_logical_fed;
INSERT INTO sec_evil.lg VALUES (1, 'abc');
ALTER TABLE sec_evil.lg ALTER COLUMN x TYPE int USING 0;
RESET SESSION AUTHORIZATION;
INSERT INTO sec_src.sec_lg VALUES (1, 'stored all the same');
\set VERBOSITY terse
SELECT feed, changes FROM medallion.pull() ORDER BY feed::text;
\set VERBOSITY sqlstate
SELECT v FROM medallion_changes.sec_lg(medallion.first_version('sec_src.sec_lg'));
SELECT source, broken IS NOT NULL AS broken FROM medallion.feed WHERE mode = 'logical' ORDER BY source::text;
\set VERBOSITY terse
SELECT count(*) FROM medallion.table_changes('sec_evil.lg', medallion.first_version('sec_evil.lg'));
\set VERBOSITY sqlstate
SELECT medallion.disable_feed('sec_evil.lg'), medallion.disable_feed('sec_src.sec_lg');
-- (6) The same with input functions that raise other than data exceptions (regclass: 42P01,
-- tsquery: 42601): still that feed alone.  And (7) the owner's code never runs in a privileged
-- reader's session: a superuser with a cursor of its own open reads the stranger's table; the
-- domain check is not run for it (the values passed it when written) and the jsonb read that would
-- run the stranger's cast to json is refused.
CREATE TABLE sec_src.sec_lg2 (id int PRIMARY KEY, v text);
ALTER TABLE sec_src.sec_lg2 REPLICA IDENTITY FULL;
SELECT medallion.enable_feed('sec_src.sec_lg2', 'logical') IS NOT NULL AS owner_logical_fed;
SET SESSION AUTHORIZATION sec_stranger;
CREATE TABLE sec_evil.lg2 (id int PRIMARY KEY, c text, q text);
ALTER TABLE sec_evil.lg2 REPLICA IDENTITY FULL;
SELECT medallion.enable_feed('sec_evil.lg2', 'logical') IS NOT NULL AS stranger_logical_fed;
BEGIN;
INSERT INTO sec_evil.lg2 VALUES (1, 'no_such_relation_xyz', '((((');
DELETE FROM sec_evil.lg2;
ALTER TABLE sec_evil.lg2 ALTER COLUMN c TYPE regclass USING NULL, ALTER COLUMN q TYPE tsquery USING NULL;
COMMIT;
RESET SESSION AUTHORIZATION;
INSERT INTO sec_src.sec_lg2 VALUES (1, 'stored all the same');
\set VERBOSITY terse
SELECT feed, changes FROM medallion.pull() WHERE feed IN ('sec_evil.lg2'::regclass, 'sec_src.sec_lg2'::regclass) ORDER BY feed::text;
\set VERBOSITY sqlstate
SELECT v FROM medallion_changes.sec_lg2(medallion.first_version('sec_src.sec_lg2'));
SELECT source, broken IS NOT NULL AS broken FROM medallion.feed WHERE source IN ('sec_evil.lg2'::regclass, 'sec_src.sec_lg2'::regclass) ORDER BY source::text;
SELECT medallion.disable_feed('sec_evil.lg2'), medallion.disable_feed('sec_src.sec_lg2');
SET SESSION AUTHORIZATION sec_stranger;
CREATE TABLE sec_evil.loot (x text);
GRANT INSERT ON sec_evil.loot TO PUBLIC;
CREATE FUNCTION sec_evil.peeker(v int) RETURNS boolean LANGUAGE plpgsql AS $$
DECLARE r refcursor := 'sec_su_cursor'; rec record;
BEGIN
	BEGIN FETCH r INTO rec; INSERT INTO sec_evil.loot VALUES (rec::text); EXCEPTION WHEN OTHERS THEN NULL; END;
	RETURN true;
END $$;
CREATE DOMAIN sec_evil.peek_int AS int CHECK (sec_evil.peeker(VALUE));
CREATE TABLE sec_evil.peeked (id int PRIMARY KEY, n sec_evil.peek_int);
SELECT medallion.enable_feed('sec_evil.peeked') IS NOT NULL AS fed;
INSERT INTO sec_evil.peeked VALUES (1, 1);
RESET SESSION AUTHORIZATION;
CREATE TABLE sec_src.sec_su_secret (s text);
INSERT INTO sec_src.sec_su_secret VALUES ('SUPERUSER SECRET');
BEGIN;
DECLARE sec_su_cursor CURSOR FOR SELECT s FROM sec_src.sec_su_secret;
SELECT count(*) AS rows_as_of FROM medallion.as_of(NULL::sec_evil.peeked, medallion.current_version());
FETCH sec_su_cursor;
COMMIT;
-- Expected: 0 (the stranger's check did not run in the superuser's session)
SELECT count(*) AS stolen FROM sec_evil.loot;
\set VERBOSITY terse
SELECT count(*) FROM medallion.table_changes('sec_evil.trap', medallion.first_version('sec_evil.trap'));
\set VERBOSITY sqlstate

-- Clean up ---------------------------------------------------------------------------------------
RESET search_path;
DO $$
DECLARE
	c text;
	r regclass;
BEGIN
	FOR c IN SELECT consumer FROM medallion.consumer WHERE consumer LIKE 'sec\_%' LOOP
		PERFORM medallion.drop_consumer(c);
	END LOOP;
	FOR r IN SELECT source FROM medallion.feed WHERE source::text ~ '^sec_(src|evil)\.' ORDER BY feed_id LOOP
		PERFORM medallion.disable_feed(r);
	END LOOP;
	FOR r IN SELECT target FROM medallion.apply_target WHERE target::text ~ '^sec_(src|evil)\.' LOOP
		PERFORM medallion.drop_merge_state(r);
	END LOOP;
END $$;
DELETE FROM medallion.external_watermark WHERE pipeline LIKE 'sec\_%';
DELETE FROM medallion.quarantine WHERE target::text LIKE 'sec\_src.%';
SET client_min_messages = warning;
DROP SCHEMA sec_evil, sec_evil_t, sec_src CASCADE;
RESET client_min_messages;
DROP FUNCTION sec_check(text), sec_matrix(text), sec_try(name, text);
DROP OWNED BY sec_owner, sec_reader, sec_trigger, sec_stranger, sec_rls;
DROP ROLE sec_owner, sec_reader, sec_trigger, sec_stranger, sec_rls;

-- Cleanup: every file starts from an empty database and leaves one.
SET client_min_messages = warning;
DROP EXTENSION pg_medallion CASCADE;
DROP SCHEMA medallion;
RESET client_min_messages;
