-- ALTER TABLE on a fed table is carried over to its change table and readers: no shifted or
-- garbled columns across the change; refused clearly when recorded changes cannot follow.
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
CREATE TABLE cust (id int PRIMARY KEY, name text, score int);
SELECT medallion.enable_feed('cust') IS NOT NULL AS fed;
INSERT INTO cust VALUES (1, 'ada', 10);
SELECT medallion.current_version() AS v1 \gset
ALTER TABLE cust ADD COLUMN tier text;                         -- older changes read NULL
INSERT INTO cust VALUES (2, 'bob', 20, 'gold');
ALTER TABLE cust RENAME COLUMN name TO full_name;              -- older changes follow the rename
UPDATE cust SET full_name = 'bobby' WHERE id = 2;
ALTER TABLE cust ALTER COLUMN score TYPE bigint;               -- older changes converted
ALTER TABLE cust DROP COLUMN tier;                             -- older changes keep their values
INSERT INTO cust VALUES (3, 'cy', 30000000000);
SELECT id, full_name, score, _change_type FROM medallion_changes.cust(:v1) ORDER BY _change_seq;
SELECT data, _change_type FROM medallion.table_changes('cust', :v1) ORDER BY _change_seq;
SELECT command, summary FROM medallion.schema_change ORDER BY xid, summary;
-- An ALTER that touches no column leaves the feed alone.
ALTER TABLE cust ADD CONSTRAINT score_positive CHECK (score >= 0);
SELECT count(*) AS schema_changes FROM medallion.schema_change;
-- Refused: recorded changes that do not convert, and names the change table needs.
SELECT expect_error('ALTER TABLE cust ALTER COLUMN full_name TYPE int USING length(full_name)');
SELECT expect_error('ALTER TABLE cust ADD COLUMN _xid int');
SELECT expect_error('ALTER TABLE cust RENAME COLUMN score TO _change_type');
-- The refused commands changed nothing.
SELECT column_name, data_type FROM information_schema.columns WHERE table_schema = 'public' AND table_name = 'cust' ORDER BY ordinal_position;
-- Time travel across the changes maps columns by name.
SELECT id, full_name, score FROM medallion.as_of(NULL::cust, :v1) ORDER BY id;
-- Capture goes on with the new layout; a merge consumer reading the feed sees it.
UPDATE cust SET score = score + 1 WHERE id = 1;
SELECT id, full_name, score, _change_type FROM medallion_changes.cust(medallion.current_version()) ORDER BY _change_seq;

-- Cleanup: every file starts from an empty database and leaves one.
SET client_min_messages = warning;
DROP EXTENSION pg_medallion CASCADE;
DROP SCHEMA medallion;
DROP TABLE cust;
DROP FUNCTION expect_error(text);
RESET client_min_messages;
