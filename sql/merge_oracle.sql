-- Property test of apply_changes (invariant 5): for 200 deterministic seeds, a random change set
-- (duplicates, late and out-of-order events, equal sequences broken by a tie column, deletes,
-- re-inserts, NULL keys) split into random batches applied in random order must give the target an
-- oracle computes from scratch; applying everything again must change nothing.
CREATE EXTENSION pg_medallion;
SET client_min_messages = warning;

CREATE TABLE prop_changes (batch int, id int, seq int, tie int, op text, val text, note text);
CREATE TABLE prop_scd1 (id int PRIMARY KEY, seq int, tie int, val text, note text);
CREATE TABLE prop_scd2 (id int, seq int, tie int, val text, note text, _valid_from int, _valid_to int,
                        UNIQUE (id, seq, tie));
-- The source every call reads: one batch, or everything when prop.batch is 0.
CREATE VIEW prop_source AS
SELECT id, seq, tie, op, val, note FROM prop_changes
WHERE batch = current_setting('prop.batch')::int OR current_setting('prop.batch')::int = 0;

-- prop_generate fills prop_changes for one seed.
CREATE FUNCTION prop_generate(seed int) RETURNS void LANGUAGE plpgsql AS $$
DECLARE
	nkeys int;
	nchanges int;
	nbatches int;
	i int;
BEGIN
	TRUNCATE prop_changes;
	PERFORM setseed(seed / 1000.0);
	nkeys := 1 + floor(random() * 6);
	nchanges := 5 + floor(random() * 30);
	nbatches := 1 + floor(random() * 4);
	FOR i IN 1 .. nchanges LOOP
		IF i > 1 AND random() < 0.15 THEN	-- an exact duplicate of an earlier change
			INSERT INTO prop_changes
			SELECT 1 + floor(random() * nbatches), id, seq, tie, op, val, note
			FROM prop_changes ORDER BY random() LIMIT 1;
		ELSE
			INSERT INTO prop_changes VALUES (
				1 + floor(random() * nbatches),
				CASE WHEN random() < 0.05 THEN NULL ELSE 1 + floor(random() * nkeys) END,
				floor(random() * 5),	-- few distinct sequences: ties are common ...
				i,						-- ... and broken by tie, unique per change
				CASE WHEN random() < 0.25 THEN 'D' ELSE 'U' END,
				'v' || floor(random() * 3),
				'n' || floor(random() * 3));
		END IF;
	END LOOP;
END $$;

-- prop_apply applies every batch in a random order, then everything again; returns the second call's counts.
-- SCD1 streams the batch into the MERGE unless pg_medallion.merge_streaming is off: whole => true
-- turns it off, so the same seeds also check the statement that reads the batch as a whole.
CREATE FUNCTION prop_apply(target regclass, scd int, whole boolean)
RETURNS TABLE(inserted bigint, updated bigint, deleted bigint, unchanged bigint, stale_skipped bigint,
              rejected bigint) LANGUAGE plpgsql AS $$
DECLARE
	b int;
	c record;
	expected bigint;
BEGIN
	PERFORM set_config('pg_medallion.merge_streaming', (NOT whole)::text, true);
	FOR b IN SELECT d.batch FROM (SELECT DISTINCT batch FROM prop_changes) d ORDER BY random() LOOP
		PERFORM set_config('prop.batch', b::text, true);
		SELECT * INTO c FROM medallion.apply_changes(target, 'prop_source', '{id}', '{seq,tie}',
			delete_when => $d$op = 'D'$d$, except_columns => '{op}', scd_type => scd,
			track_history_columns => CASE WHEN scd = 2 THEN '{val}'::text[] END);
		SELECT count(*) INTO expected FROM prop_changes WHERE batch = b;
		IF scd = 1 AND c.inserted + c.updated + c.deleted + c.unchanged + c.stale_skipped + c.rejected <> expected THEN
			RAISE EXCEPTION 'batch % of % rows counted %', b, expected, c;
		END IF;
	END LOOP;
	PERFORM set_config('prop.batch', '0', true);
	RETURN QUERY SELECT * FROM medallion.apply_changes(target, 'prop_source', '{id}', '{seq,tie}',
		delete_when => $d$op = 'D'$d$, except_columns => '{op}', scd_type => scd,
		track_history_columns => CASE WHEN scd = 2 THEN '{val}'::text[] END);
END $$;

-- SCD1 oracle: per key the change with the highest (seq, tie); keys whose last change is a delete are absent.
CREATE VIEW prop_oracle1 AS
SELECT id, seq, tie, val, note FROM (
	SELECT DISTINCT ON (id) * FROM prop_changes WHERE id IS NOT NULL ORDER BY id, seq DESC, tie DESC) last
WHERE op <> 'D';

-- SCD2 oracle, written as a plain loop over the sorted changes (independent of the set-based SQL):
-- a version opens at an upsert after nothing or a delete, or when the tracked val changes; untracked
-- note takes the newest value within the version; a version ends at the next change that ends it.
CREATE FUNCTION prop_oracle2() RETURNS TABLE(id int, seq int, tie int, val text, note text,
                                             _valid_from int, _valid_to int) LANGUAGE plpgsql AS $$
DECLARE
	c record;
	open_key int;
	is_open boolean := false;
BEGIN
	FOR c IN SELECT DISTINCT ON (p.id, p.seq, p.tie) p.* FROM prop_changes p WHERE p.id IS NOT NULL
	         ORDER BY p.id, p.seq, p.tie LOOP
		IF is_open AND open_key <> c.id THEN
			RETURN NEXT;	-- the previous key's current version
			is_open := false;
		END IF;
		IF c.op = 'D' THEN
			IF is_open THEN
				_valid_to := c.seq;
				RETURN NEXT;
				is_open := false;
			END IF;
		ELSIF is_open AND val = c.val THEN
			note := c.note;		-- untracked change: in place
		ELSE
			IF is_open THEN
				_valid_to := c.seq;
				RETURN NEXT;
			END IF;
			id := c.id; seq := c.seq; tie := c.tie; val := c.val; note := c.note;
			_valid_from := c.seq; _valid_to := NULL; is_open := true; open_key := c.id;
		END IF;
	END LOOP;
	IF is_open THEN
		RETURN NEXT;
	END IF;
END $$;

-- prop_check runs seeds first .. last and returns how many passed; the first failure raises with its seed.
CREATE FUNCTION prop_check(first int, last int, scd int, whole boolean DEFAULT false) RETURNS text LANGUAGE plpgsql AS $$
DECLARE
	s int;
	again record;
	diff bigint;
	target regclass := CASE scd WHEN 1 THEN 'prop_scd1' ELSE 'prop_scd2' END;
	rejected bigint;
BEGIN
	FOR s IN first .. last LOOP
		PERFORM prop_generate(s);
		EXECUTE format('TRUNCATE %s', target);
		PERFORM medallion.drop_merge_state(target);
		SELECT * INTO again FROM prop_apply(target, scd, whole);
		IF scd = 1 THEN
			SELECT count(*) INTO diff FROM (
				(TABLE prop_scd1 EXCEPT ALL TABLE prop_oracle1)
				UNION ALL (TABLE prop_oracle1 EXCEPT ALL TABLE prop_scd1)) d;
		ELSE
			SELECT count(*) INTO diff FROM (
				(TABLE prop_scd2 EXCEPT ALL SELECT * FROM prop_oracle2())
				UNION ALL (SELECT * FROM prop_oracle2() EXCEPT ALL TABLE prop_scd2)) d;
		END IF;
		IF diff <> 0 THEN
			RAISE EXCEPTION 'seed %: % rows differ from the oracle', s, diff;
		END IF;
		SELECT count(*) INTO rejected FROM prop_changes WHERE id IS NULL;
		IF again.inserted + again.updated + again.deleted <> 0 OR again.rejected <> rejected THEN
			RAISE EXCEPTION 'seed %: applying everything again changed something: %', s, again;
		END IF;
	END LOOP;
	RETURN format('%s seeds match the oracle, re-applying changes nothing', last - first + 1);
END $$;

SELECT prop_check(1, 200, 1) AS scd1;
SELECT prop_check(1, 200, 1, whole => true) AS scd1_whole_batch;
SELECT prop_check(1, 200, 2) AS scd2;

-- The property test must be able to fail: a wrong sequence order (seq only, ties ignored) is caught.
CREATE FUNCTION prop_detects_wrong_order() RETURNS text LANGUAGE plpgsql AS $$
DECLARE
	s int;
	diff bigint;
BEGIN
	FOR s IN 1 .. 200 LOOP
		PERFORM prop_generate(s);
		TRUNCATE prop_scd1;
		PERFORM medallion.drop_merge_state('prop_scd1');
		PERFORM set_config('prop.batch', '0', true);
		PERFORM medallion.apply_changes('prop_scd1', 'prop_source', '{id}', '{seq}',
			delete_when => $d$op = 'D'$d$, except_columns => '{op}');
		SELECT count(*) INTO diff FROM (
			(TABLE prop_scd1 EXCEPT ALL TABLE prop_oracle1)
			UNION ALL (TABLE prop_oracle1 EXCEPT ALL TABLE prop_scd1)) d;
		IF diff <> 0 THEN
			RETURN 'a merge without the tie-breaker differs from the oracle at seed ' || s;
		END IF;
	END LOOP;
	RETURN 'not detected';
END $$;
SELECT prop_detects_wrong_order();

-- Cleanup: every file starts from an empty database and leaves one.
SET client_min_messages = warning;
DROP EXTENSION pg_medallion CASCADE;
DROP SCHEMA medallion;
DROP VIEW prop_oracle1, prop_source;
DROP TABLE prop_changes, prop_scd1, prop_scd2;
DROP FUNCTION prop_apply, prop_check, prop_detects_wrong_order, prop_generate, prop_oracle2;
RESET client_min_messages;
