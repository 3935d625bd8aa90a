-- The output plugin: one JSON object per row change, strict options, REPLICA IDENTITY FULL gives
-- complete old rows (TOASTed values included).  xids, LSNs and times are masked (they vary by run).
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
CREATE TABLE dec (id int PRIMARY KEY, name text, amount numeric, ok boolean, doc jsonb, big text);
ALTER TABLE dec ALTER COLUMN big SET STORAGE EXTERNAL;
CREATE TABLE dec_full (id int PRIMARY KEY, v text, big text);
ALTER TABLE dec_full REPLICA IDENTITY FULL;
ALTER TABLE dec_full ALTER COLUMN big SET STORAGE EXTERNAL;
CREATE FUNCTION masked(line text) RETURNS text LANGUAGE sql AS $$
	SELECT regexp_replace(regexp_replace(regexp_replace(regexp_replace(line,
		'"xid":\d+', '"xid":N'), '"(commit_)?lsn":"[0-9A-F]+/[0-9A-F]+"', '"\1lsn":"L"', 'g'),
		'"commit_time":"[^"]*"', '"commit_time":"T"'), '"([xyz])\1{99,}"', '"<long \1>"', 'g')
$$;
SELECT 'init' FROM pg_create_logical_replication_slot('medallion_test', 'pg_medallion');

INSERT INTO dec VALUES (1, 'a "quoted" name', 12.50, true, '{"k": [1, 2]}', repeat('x', 3000)),
                       (2, NULL, 'NaN', false, NULL, 'small');
UPDATE dec SET name = 'renamed' WHERE id = 1;            -- big is TOASTed and unchanged
UPDATE dec SET id = 20 WHERE id = 2;                     -- a key update: old key logged
DELETE FROM dec WHERE id = 20;
INSERT INTO dec_full VALUES (1, 'v', repeat('y', 3000));
UPDATE dec_full SET v = 'w';                             -- FULL: old row complete, big from it
DELETE FROM dec_full;
TRUNCATE dec, dec_full;
SELECT masked(data) FROM pg_logical_slot_get_changes('medallion_test', NULL, NULL);

-- The JSON is valid and carries the values, TOASTed ones in full.
INSERT INTO dec_full VALUES (2, 'v', repeat('z', 5000));
UPDATE dec_full SET v = 'w2';
SELECT (data::jsonb)->>'change' AS change, length((data::jsonb)->'new'->>'big') AS new_big,
       length((data::jsonb)->'old'->>'big') AS old_big
FROM pg_logical_slot_get_changes('medallion_test', NULL, NULL);

-- Options: strict; booleans only.
INSERT INTO dec VALUES (3, 'opt', 1, true, NULL, 'b');
SELECT masked(data) FROM pg_logical_slot_peek_changes('medallion_test', NULL, NULL,
	'include-xid', 'false', 'include-timestamp', 'off');
SELECT count(*) AS public_excluded FROM pg_logical_slot_peek_changes('medallion_test', NULL, NULL,
	'exclude-schemas', 'audit,public');
SELECT expect_error($$SELECT * FROM pg_logical_slot_peek_changes('medallion_test', NULL, NULL, 'format', 'json')$$);
SELECT expect_error($$SELECT * FROM pg_logical_slot_peek_changes('medallion_test', NULL, NULL, 'exclude-schemas', 'a,,b')$$);
SELECT expect_error($$SELECT * FROM pg_logical_slot_peek_changes('medallion_test', NULL, NULL, 'include-xid', 'maybe')$$);
SELECT 'dropped' FROM pg_drop_replication_slot('medallion_test');
DROP TABLE dec, dec_full;
DROP FUNCTION masked(text);

-- Cleanup: every file starts from an empty database and leaves one.
SET client_min_messages = warning;
DROP FUNCTION expect_error(text);
RESET client_min_messages;
