-- Oracle: a random workload (inserts, updates, deletes, duplicate writes, values the transform refuses,
-- values an expectation quarantines) runs through a flow in random run splits, with re-runs; after
-- every run the target equals what the source's history says the flow must have produced, computed from
-- scratch, every run's counts reconcile, and the quarantine holds exactly the refused changes.
-- Refused values occur in inserts only (a refused delete would keep its row: see docs/reference.md).
CREATE EXTENSION pg_medallion;
CREATE SCHEMA fo;
CREATE TABLE fo.src (id int PRIMARY KEY, amount text, note text);
SELECT medallion.enable_feed('fo.src') IS NOT NULL AS fed;
CREATE TABLE fo.dst (id int PRIMARY KEY, amount numeric, note text, _commit_version bigint, _change_seq bigint);
SELECT medallion.create_flow('fo', 'fo.src', 'fo.dst', '{id}', start => 'earliest', max_versions_per_run => 3,
	transform => $$SELECT id, amount::numeric AS amount, note, _change_type, _commit_version, _change_seq FROM batch$$) > 0 AS created;
SELECT medallion.add_expectation('fo', 'positive', 'amount > 0', 'quarantine');
SELECT medallion.add_expectation('fo', 'note_short', 'length(note) < 8', 'warn');

-- expected: per key, the newest change the flow accepts (a delete, or a post-image/insert whose amount
-- casts and is positive); the key is present if that change is not a delete.
CREATE VIEW fo.expected AS
SELECT id, amount::numeric AS amount, note FROM (
	SELECT DISTINCT ON (id) id, amount, note, _change_type
	FROM medallion_changes.src(medallion.first_version('fo.src')) AS c
	WHERE c._change_type = 'delete' OR (c._change_type IN ('insert', 'update_postimage')
		AND c.amount ~ '^-?[0-9]+(\.[0-9]+)?$' AND c.amount::numeric > 0)
	ORDER BY id, _commit_version DESC, _change_seq DESC) AS newest
WHERE _change_type <> 'delete';

-- One round: a few random writes (some committed in several transactions), then 0 to 2 runs.
CREATE PROCEDURE fo.round(r int) LANGUAGE plpgsql AS $$
DECLARE
	k int;
	writes int := 1 + floor(random() * 4)::int;
BEGIN
	FOR w IN 1..writes LOOP
		k := 1 + floor(random() * 30)::int;
		CASE floor(random() * 6)::int
		WHEN 0, 1 THEN	-- insert: sometimes a value the transform refuses or the expectation quarantines
			INSERT INTO fo.src VALUES (k, CASE floor(random() * 5)::int WHEN 0 THEN 'x' || k WHEN 1 THEN '-' || k
				ELSE (k * 10 + r)::text END, 'n' || r)
			ON CONFLICT (id) DO NOTHING;
		WHEN 2, 3 THEN	-- update to a good value, sometimes a long note (warned)
			UPDATE fo.src SET amount = (k * 10 + r + 1)::text,
				note = CASE WHEN random() < 0.3 THEN 'a longer note' ELSE 'u' || r END WHERE id = k;
		WHEN 4 THEN		-- the same values again
			UPDATE fo.src SET amount = amount WHERE id = k;
		ELSE
			DELETE FROM fo.src WHERE id = k;
		END CASE;
		IF random() < 0.5 THEN COMMIT; END IF;
	END LOOP;
	COMMIT;
	FOR n IN 1..floor(random() * 3)::int LOOP
		PERFORM * FROM medallion.run_flow('fo');
		COMMIT;
	END LOOP;
END $$;

SELECT setseed(0.42);
DO $$ BEGIN FOR r IN 1..80 LOOP CALL fo.round(r); END LOOP; END $$;
-- Drain: runs of at most 3 versions each until one reads nothing.
DO $$ BEGIN
	LOOP
		EXIT WHEN (SELECT rows_in FROM medallion.run_flow('fo')) = 0;
	END LOOP;
END $$;

-- Every run succeeded (a run whose counts do not reconcile fails), more than a few did work.
SELECT count(*) > 40 AS many_runs, count(*) FILTER (WHERE status <> 'succeeded') AS failed,
	count(*) FILTER (WHERE rows_in > 0) > 10 AS working_runs FROM medallion.runs;
-- Exactly once: the runs read every change of the feed once.
SELECT (SELECT sum(rows_in) FROM medallion.runs) =
	(SELECT count(*) FROM medallion_changes.src(medallion.first_version('fo.src'))) AS every_change_once;
-- The target is what the history says.
SELECT (SELECT count(*) FROM (SELECT * FROM fo.expected EXCEPT SELECT id, amount, note FROM fo.dst) a) AS missing,
	(SELECT count(*) FROM (SELECT id, amount, note FROM fo.dst EXCEPT SELECT * FROM fo.expected) b) AS extra,
	(SELECT count(*) FROM fo.dst) > 5 AS nonempty;
-- The quarantine holds exactly the refused changes: those whose amount does not cast (any change type),
-- and the inserts and post-images whose amount is not positive.
SELECT (SELECT count(*) FROM medallion.flow_quarantine('fo') WHERE rule = 'transform') =
	(SELECT count(*) FROM medallion_changes.src(medallion.first_version('fo.src')) WHERE amount !~ '^-?[0-9]+(\.[0-9]+)?$')
	AS transform_refusals,
	(SELECT count(*) FROM medallion.flow_quarantine('fo') WHERE rule = 'positive') =
	(SELECT count(*) FROM medallion_changes.src(medallion.first_version('fo.src'))
	 WHERE _change_type IN ('insert', 'update_postimage') AND amount ~ '^-?[0-9]+(\.[0-9]+)?$' AND amount::numeric <= 0)
	AS rule_refusals,
	(SELECT count(*) FROM medallion.flow_quarantine('fo')) > 0 AS some_quarantined;
-- Warned rows were counted, and merged.
SELECT sum(warned) > 0 AS warned FROM medallion.runs;
-- Running again changes nothing.
CREATE TABLE fo.before AS SELECT * FROM fo.dst;
SELECT rows_in, inserted + updated + deleted AS written FROM medallion.run_flow('fo');
SELECT count(*) AS changed FROM (SELECT * FROM fo.dst EXCEPT SELECT * FROM fo.before) c;

SELECT medallion.drop_flow('fo');
DROP EXTENSION pg_medallion CASCADE;
DROP SCHEMA medallion;
DROP SCHEMA fo CASCADE;
