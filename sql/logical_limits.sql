-- Logical feeds at their limits: a transaction far larger than work_mem and
-- logical_decoding_work_mem is stored whole by one pull (the reorder buffer and pull's buffers
-- spill to disk); a PostgreSQL that does not list the plugin in output_plugin_libraries is
-- refused with the setting to change in the hint.
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
CREATE TABLE lim (id int PRIMARY KEY, payload text);
ALTER TABLE lim REPLICA IDENTITY FULL;
SELECT medallion.enable_feed('lim', mode => 'logical') IS NOT NULL AS fed;
SELECT medallion.current_version() AS v0 \gset

SET work_mem = '64kB';
SET logical_decoding_work_mem = '64kB';
BEGIN;
INSERT INTO lim SELECT g, repeat(md5(g::text), 4) FROM generate_series(1, 30000) g;
UPDATE lim SET payload = upper(payload) WHERE id % 3 = 0;
DELETE FROM lim WHERE id % 5 = 0;
COMMIT;
SELECT changes AS pulled_in_one FROM medallion.pull();
RESET work_mem;
RESET logical_decoding_work_mem;
SELECT _change_type, count(*) FROM medallion_changes.lim(:v0 + 1) GROUP BY 1 ORDER BY 1;
-- The newest image of every row equals the table.
SELECT count(*) AS differences FROM (
	(SELECT id, payload FROM lim
	 EXCEPT SELECT id, payload FROM (SELECT DISTINCT ON (id) id, payload, _change_type
		FROM medallion_changes.lim(:v0 + 1) ORDER BY id, _commit_version DESC, _change_seq DESC) n
		WHERE _change_type <> 'delete')
	UNION ALL
	(SELECT id, payload FROM (SELECT DISTINCT ON (id) id, payload, _change_type
		FROM medallion_changes.lim(:v0 + 1) ORDER BY id, _commit_version DESC, _change_seq DESC) n
		WHERE _change_type <> 'delete'
	 EXCEPT SELECT id, payload FROM lim)) d;

-- Without the plugin in output_plugin_libraries: refused before anything is created.
ALTER SYSTEM SET output_plugin_libraries = 'pgoutput', 'test_decoding';
SELECT pg_reload_conf() AS reloaded;
SELECT pg_sleep(0.5);
CREATE TABLE lim2 (id int PRIMARY KEY);
ALTER TABLE lim2 REPLICA IDENTITY FULL;
SELECT expect_error($$SELECT medallion.enable_feed('lim2', mode => 'logical')$$);
SELECT expect_error('SELECT * FROM medallion.pull()');
ALTER SYSTEM RESET output_plugin_libraries;
SELECT pg_reload_conf() AS reloaded;
SELECT pg_sleep(0.5);
SELECT count(*) AS lim2_feeds FROM medallion.feeds WHERE source = 'lim2'::regclass;

SELECT medallion.disable_feed('lim');
DROP TABLE lim, lim2;

-- Cleanup: every file starts from an empty database and leaves one.
SET client_min_messages = warning;
DROP EXTENSION pg_medallion CASCADE;
DROP SCHEMA medallion;
DROP FUNCTION expect_error(text);
RESET client_min_messages;
