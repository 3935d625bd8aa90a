-- Reading a feed needs SELECT on its source; change tables are not readable directly;
-- row-level security is refused loudly; generated SQL quotes every identifier.
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
\set VERBOSITY terse
CREATE TABLE salaries (id int PRIMARY KEY, name text, amount int);
SELECT medallion.enable_feed('salaries') IS NOT NULL AS enabled;
INSERT INTO salaries VALUES (1, 'ann', 100), (2, 'ben', 200);
SELECT medallion.current_version() AS v \gset
SELECT medallion.first_version('salaries') AS vf \gset

CREATE ROLE medallion_reader;
CREATE ROLE medallion_nobody;
GRANT SELECT ON salaries TO medallion_reader;

SET ROLE medallion_reader;
SELECT count(*) AS reader_sees FROM medallion_changes.salaries(:vf, :v);
SELECT count(*) AS reader_json FROM medallion.table_changes('salaries', :vf, :v);
SELECT expect_error('SELECT * FROM medallion_changes.salaries');
SELECT expect_error('SELECT medallion.enable_feed(''salaries'')');
SELECT expect_error('SELECT medallion.disable_feed(''salaries'')');
RESET ROLE;

SET ROLE medallion_nobody;
SELECT expect_error(format('SELECT * FROM medallion_changes.salaries(%s, %s)', :vf, :v));
SELECT expect_error(format('SELECT * FROM medallion.table_changes(''salaries'', %s, %s)', :vf, :v));
SELECT expect_error('SELECT * FROM medallion_changes.salaries');
SELECT expect_error('SELECT * FROM medallion.history(''salaries'')');
-- A role without SELECT cannot enable a feed either.
RESET ROLE;
CREATE TABLE nobodys (id int);
ALTER TABLE nobodys OWNER TO medallion_nobody;
REVOKE SELECT ON nobodys FROM medallion_nobody;
SET ROLE medallion_nobody;
SELECT expect_error('SELECT medallion.enable_feed(''nobodys'')');
RESET ROLE;

-- Writers need no privilege on the change table: capture runs as part of their statement.
GRANT INSERT, UPDATE, DELETE ON salaries TO medallion_nobody;
SET ROLE medallion_nobody;
INSERT INTO salaries VALUES (3, 'cy', 300);
RESET ROLE;
SELECT count(*) AS written_by_nobody FROM medallion_changes.salaries(:v + 1) WHERE id = 3;

-- Row-level security on the source: readers subject to a policy are refused, owners read.
ALTER TABLE salaries ENABLE ROW LEVEL SECURITY;
CREATE POLICY only_small ON salaries FOR SELECT TO medallion_reader USING (amount < 150);
SET ROLE medallion_reader;
SELECT expect_error(format('SELECT * FROM medallion_changes.salaries(%s, %s)', :vf, :v));
RESET ROLE;
SELECT count(*) AS owner_reads FROM medallion_changes.salaries(:vf, :v);
ALTER TABLE salaries DISABLE ROW LEVEL SECURITY;

-- A table whose name needs quoting, with columns that need quoting, in a schema that needs quoting.
CREATE SCHEMA "Sales ""EU""";
CREATE TABLE "Sales ""EU"""."we""ird; name" ("Order Id" int PRIMARY KEY, "select" text, "a""b" int);
SELECT medallion.enable_feed('"Sales ""EU"""."we""ird; name"');
INSERT INTO "Sales ""EU"""."we""ird; name" VALUES (1, 'drop table x;', 2);
UPDATE "Sales ""EU"""."we""ird; name" SET "select" = 'ok' WHERE "Order Id" = 1;
SELECT medallion.current_version() AS vw \gset
SELECT "Order Id", "select", "a""b", _change_type
FROM medallion_changes."we""ird; name"(medallion.first_version('"Sales ""EU"""."we""ird; name"'));
SELECT data, _change_type FROM medallion.table_changes('"Sales ""EU"""."we""ird; name"',
	medallion.first_version('"Sales ""EU"""."we""ird; name"'));
SELECT version > 0 AS v, inserts, updates FROM medallion.history('"Sales ""EU"""."we""ird; name"');
SELECT medallion.disable_feed('"Sales ""EU"""."we""ird; name"');
DROP SCHEMA "Sales ""EU""" CASCADE;

-- A second table with the same name in another schema gets a distinct change table.
CREATE SCHEMA archive;
CREATE TABLE archive.salaries (id int);
SELECT medallion.enable_feed('archive.salaries');
SELECT medallion.disable_feed('archive.salaries');
DROP SCHEMA archive CASCADE;

-- Cleanup: every file starts from an empty database and leaves one.
SET client_min_messages = warning;
DROP EXTENSION pg_medallion CASCADE;
DROP SCHEMA medallion;
DROP TABLE nobodys, salaries;
DROP FUNCTION expect_error(text);
DROP ROLE medallion_reader, medallion_nobody;
RESET client_min_messages;
