-- A real peer as oracle: the same workload decoded by wal2json (Debian's postgresql-15-wal2json,
-- format-version 2) gives the same set of changes as the logical feed stored by pull.
CREATE EXTENSION pg_medallion;
SET client_min_messages = warning;
CREATE TABLE lw (id int PRIMARY KEY, v text, n numeric);
ALTER TABLE lw REPLICA IDENTITY FULL;
SELECT medallion.enable_feed('lw', mode => 'logical') IS NOT NULL AS fed;
SELECT 'init' FROM pg_create_logical_replication_slot('lw_wal2json', 'wal2json');
SELECT medallion.current_version() AS v0 \gset
SELECT setseed(0.7);
INSERT INTO lw SELECT g, 'v' || g, g FROM generate_series(1, 50) g;
DO $$ BEGIN
	FOR i IN 1 .. 80 LOOP
		CASE floor(random() * 4)
			WHEN 0 THEN UPDATE lw SET v = 'u' || i, n = n + 1 WHERE id = 1 + floor(random() * 50)::int;
			WHEN 1 THEN DELETE FROM lw WHERE id = 1 + floor(random() * 50)::int;
			WHEN 2 THEN INSERT INTO lw VALUES (100 + i, 'i' || i, NULL) ON CONFLICT (id) DO NOTHING;
			ELSE UPDATE lw SET id = id + 1000 WHERE id = 1 + floor(random() * 50)::int;
		END CASE;
	END LOOP;
END $$;
UPDATE lw SET n = 0 WHERE id % 3 = 0;
SELECT changes > 0 AS pulled FROM medallion.pull();

-- wal2json's changes as (type, id, v, n): an update is a pre-image (identity) and a post-image (columns).
CREATE TABLE peer AS
SELECT t.kind, (t.img->>'id')::int AS id, t.img->>'v' AS v, (t.img->>'n')::numeric AS n
FROM (SELECT data::jsonb AS j FROM pg_logical_slot_get_changes('lw_wal2json', NULL, NULL,
		'format-version', '2', 'add-tables', 'public.lw')) w,
LATERAL (
	SELECT 'insert' AS kind, (SELECT jsonb_object_agg(c->>'name', c->'value') FROM jsonb_array_elements(w.j->'columns') c) AS img
	WHERE w.j->>'action' = 'I'
	UNION ALL
	SELECT 'update_preimage', (SELECT jsonb_object_agg(c->>'name', c->'value') FROM jsonb_array_elements(w.j->'identity') c)
	WHERE w.j->>'action' = 'U'
	UNION ALL
	SELECT 'update_postimage', (SELECT jsonb_object_agg(c->>'name', c->'value') FROM jsonb_array_elements(w.j->'columns') c)
	WHERE w.j->>'action' = 'U'
	UNION ALL
	SELECT 'delete', (SELECT jsonb_object_agg(c->>'name', c->'value') FROM jsonb_array_elements(w.j->'identity') c)
	WHERE w.j->>'action' = 'D') t;
CREATE TABLE ours AS
SELECT _change_type::text AS kind, id, v, n FROM medallion_changes.lw(:v0 + 1);
SELECT (SELECT count(*) FROM peer) AS peer_changes, (SELECT count(*) FROM ours) AS our_changes;
SELECT count(*) AS differences FROM ((TABLE peer EXCEPT ALL TABLE ours) UNION ALL (TABLE ours EXCEPT ALL TABLE peer)) d;
SELECT kind, count(*) FROM ours GROUP BY 1 ORDER BY 1;

SELECT 'dropped' FROM pg_drop_replication_slot('lw_wal2json');
SELECT medallion.disable_feed('lw');
DROP TABLE peer, ours, lw;

-- Cleanup: every file starts from an empty database and leaves one.
SET client_min_messages = warning;
DROP EXTENSION pg_medallion CASCADE;
DROP SCHEMA medallion;
RESET client_min_messages;
