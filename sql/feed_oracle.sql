-- Oracle: a random mixed workload (many transactions, savepoints rolled back, multi-row and
-- key-changing statements, truncates), then replaying the feed onto an empty copy must reproduce
-- the source exactly.  Replay applies each statement's deletes and pre-images before its inserts
-- and post-images: a statement is the order key's high bits (_change_seq >> 20).
CREATE EXTENSION pg_medallion;
\set VERBOSITY terse
CREATE TABLE inventory (id int PRIMARY KEY, sku text, qty int, seen timestamptz, tags text[]);
SELECT medallion.enable_feed('inventory') IS NOT NULL AS enabled;
SELECT medallion.current_version() AS v0 \gset
CREATE TABLE replica (LIKE inventory INCLUDING ALL);

DO $$
DECLARE
	i int;
	op float8;
	k int;
BEGIN
	PERFORM setseed(0.42);
	FOR i IN 1..1500 LOOP
		op := random();
		k := (random() * 400)::int;
		BEGIN
			IF op < 0.35 THEN
				INSERT INTO inventory VALUES (k, 'sku' || k, (random() * 100)::int, '2026-01-01'::timestamptz + i * interval '1 min',
					CASE WHEN random() < 0.3 THEN NULL ELSE ARRAY['t' || (k % 7)] END)
				ON CONFLICT (id) DO UPDATE SET qty = excluded.qty;
			ELSIF op < 0.55 THEN
				UPDATE inventory SET qty = qty + 1, sku = CASE WHEN random() < 0.2 THEN NULL ELSE sku END WHERE id = k;
			ELSIF op < 0.62 THEN
				-- key-changing multi-row update; skipped when it would collide
				UPDATE inventory SET id = id + 1000 WHERE id BETWEEN k AND k + 5
					AND NOT EXISTS (SELECT 1 FROM inventory x WHERE x.id BETWEEN k + 1000 AND k + 1005);
			ELSIF op < 0.80 THEN
				DELETE FROM inventory WHERE id = k;
			ELSIF op < 0.88 THEN
				INSERT INTO inventory SELECT g, 'bulk', g % 10, now(), NULL FROM generate_series(k + 2000, k + 2020) g
				ON CONFLICT DO NOTHING;
			ELSIF op < 0.93 THEN
				DELETE FROM inventory WHERE id BETWEEN k + 2000 AND k + 2010;
			ELSIF op < 0.995 THEN
				-- a subtransaction that is rolled back must leave no trace
				BEGIN
					UPDATE inventory SET qty = -1 WHERE id % 3 = k % 3;
					RAISE EXCEPTION 'roll back';
				EXCEPTION WHEN raise_exception THEN NULL;
				END;
			ELSE
				TRUNCATE inventory;
			END IF;
		EXCEPTION WHEN unique_violation THEN NULL;
		END;
		IF i % 10 = 0 THEN
			COMMIT;
		END IF;
		IF i % 100 = 0 THEN
			PERFORM medallion.current_version();
		END IF;
	END LOOP;
	COMMIT;
END $$;

CREATE FUNCTION replay(from_version bigint) RETURNS bigint LANGUAGE plpgsql AS $$
DECLARE
	st record;
	hit bigint;
BEGIN
	CREATE TEMP TABLE changes AS
		SELECT *, _change_seq >> 20 AS statement FROM medallion_changes.inventory(from_version);
	FOR st IN SELECT DISTINCT _commit_version, statement FROM changes ORDER BY 1, 2 LOOP
		-- first everything that leaves ...
		IF EXISTS (SELECT 1 FROM changes c WHERE c.statement = st.statement AND c._change_type = 'truncate') THEN
			DELETE FROM replica;
		END IF;
		DELETE FROM replica r USING changes c
		WHERE c.statement = st.statement AND c._change_type IN ('delete', 'update_preimage') AND r.id = c.id;
		GET DIAGNOSTICS hit = ROW_COUNT;
		IF hit <> (SELECT count(*) FROM changes c
				   WHERE c.statement = st.statement AND c._change_type IN ('delete', 'update_preimage')) THEN
			RAISE EXCEPTION 'replay: the deletes and pre-images of statement % matched % rows', st.statement, hit;
		END IF;
		-- ... then everything that arrives
		INSERT INTO replica SELECT c.id, c.sku, c.qty, c.seen, c.tags FROM changes c
		WHERE c.statement = st.statement AND c._change_type IN ('insert', 'update_postimage');
	END LOOP;
	RETURN (SELECT count(*) FROM changes);
END $$;

SELECT replay(:v0 + 1) > 1000 AS replayed_many;
SELECT count(*) AS missing_in_replica FROM (SELECT * FROM inventory EXCEPT SELECT * FROM replica) x;
SELECT count(*) AS extra_in_replica FROM (SELECT * FROM replica EXCEPT SELECT * FROM inventory) x;
SELECT (SELECT count(*) FROM inventory) = (SELECT count(*) FROM replica) AS same_count;

-- No change of the rolled-back subtransactions is in the feed.
SELECT count(*) AS rolled_back_values FROM medallion_changes.inventory(:v0 + 1) WHERE qty = -1;

-- Reading the same range again gives the same answer (versions are immutable).
CREATE TABLE first_read AS SELECT * FROM medallion_changes.inventory(:v0 + 1, (SELECT max(version) FROM medallion.tick));
SELECT count(*) AS differences FROM (
	(SELECT * FROM first_read EXCEPT ALL SELECT * FROM medallion_changes.inventory(:v0 + 1, (SELECT max(version) FROM medallion.tick)))
	UNION ALL
	(SELECT * FROM medallion_changes.inventory(:v0 + 1, (SELECT max(version) FROM medallion.tick)) EXCEPT ALL SELECT * FROM first_read)) d;

-- Reading in pieces gives the same changes as one read.
SELECT (SELECT count(*) FROM first_read) = (
	SELECT sum((SELECT count(*) FROM medallion_changes.inventory(v, v)))
	FROM generate_series(:v0 + 1, (SELECT max(_commit_version) FROM first_read)) v) AS pieces_add_up;

-- DROP EXTENSION ... CASCADE removes feeds, triggers and change tables with it.
SET client_min_messages = warning;
DROP EXTENSION pg_medallion CASCADE;
RESET client_min_messages;
SELECT count(*) AS capture_triggers_left FROM pg_trigger WHERE tgname LIKE 'medallion_%';
SELECT count(*) AS medallion_schemas_left FROM pg_namespace WHERE nspname LIKE 'medallion%';

-- Cleanup: every file starts from an empty database and leaves one.
SET client_min_messages = warning;
DROP SCHEMA medallion;
DROP TABLE first_read, inventory, replica;
DROP FUNCTION replay(bigint);
RESET client_min_messages;
