-- as_of rebuilds a fed table at a version from the table now and the feed since; compared with
-- snapshots saved during the test.  restore puts a table back and is captured as a new version.
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
CREATE TABLE acct (id int PRIMARY KEY, owner text, bal numeric(10,2), note text);
SELECT medallion.enable_feed('acct') IS NOT NULL AS fed;
INSERT INTO acct SELECT g, 'owner' || g, g * 10, repeat('x', g % 3) FROM generate_series(1, 50) g;
SELECT medallion.current_version() AS v1 \gset
CREATE TABLE snap1 AS TABLE acct;
UPDATE acct SET bal = bal + 1 WHERE id % 5 = 0;
DELETE FROM acct WHERE id BETWEEN 10 AND 14;
INSERT INTO acct VALUES (100, 'new', 1, NULL);
UPDATE acct SET id = 200 WHERE id = 3;                        -- a key update
BEGIN;
UPDATE acct SET note = 'twice' WHERE id = 1;
UPDATE acct SET note = 'thrice' WHERE id = 1;                 -- the same row twice in one transaction
COMMIT;
SELECT medallion.current_version() AS v2 \gset
CREATE TABLE snap2 AS TABLE acct;
DELETE FROM acct WHERE id > 40;
UPDATE acct SET owner = 'changed';
INSERT INTO acct VALUES (3, 'again', 3, 'reused key');       -- a key that existed at v1
SELECT medallion.current_version() AS v3 \gset
UPDATE acct SET bal = 0 WHERE id = 2;                          -- in the open version: as_of sees it too

-- Each saved state equals its rebuild, both ways.
SELECT (SELECT count(*) FROM (SELECT * FROM medallion.as_of(NULL::acct, :v1) EXCEPT ALL TABLE snap1) a)
     + (SELECT count(*) FROM (TABLE snap1 EXCEPT ALL SELECT * FROM medallion.as_of(NULL::acct, :v1)) b) AS diff_v1;
SELECT (SELECT count(*) FROM (SELECT * FROM medallion.as_of(NULL::acct, :v2) EXCEPT ALL TABLE snap2) a)
     + (SELECT count(*) FROM (TABLE snap2 EXCEPT ALL SELECT * FROM medallion.as_of(NULL::acct, :v2)) b) AS diff_v2;
SELECT count(*) AS rows_v1 FROM medallion.as_of(NULL::acct, :v1);
-- The timestamp form uses the version closed at or before the time.
SELECT count(*) = (SELECT count(*) FROM snap2) AS by_time
FROM medallion.as_of(NULL::acct, (SELECT committed_at FROM medallion.tick WHERE version = :v2));

-- A table without a primary key is rebuilt as a multiset (duplicates kept).
CREATE TABLE tt_events (kind text, n int);
SELECT medallion.enable_feed('tt_events') IS NOT NULL AS fed;
INSERT INTO tt_events VALUES ('a', 1), ('a', 1), ('b', 2);
SELECT medallion.current_version() AS e1 \gset
CREATE TABLE esnap AS TABLE tt_events;
DELETE FROM tt_events WHERE ctid = (SELECT min(ctid) FROM tt_events WHERE kind = 'a');
UPDATE tt_events SET n = 5 WHERE kind = 'b';
INSERT INTO tt_events VALUES ('c', 3);
SELECT (SELECT count(*) FROM (SELECT * FROM medallion.as_of(NULL::tt_events, :e1) EXCEPT ALL TABLE esnap) a)
     + (SELECT count(*) FROM (TABLE esnap EXCEPT ALL SELECT * FROM medallion.as_of(NULL::tt_events, :e1)) b) AS diff_e1;

-- restore: back to v2 in one transaction; the feed records it as a new version.
SELECT * FROM medallion.restore('acct', :v2);
SELECT (SELECT count(*) FROM (TABLE acct EXCEPT ALL TABLE snap2) a)
     + (SELECT count(*) FROM (TABLE snap2 EXCEPT ALL TABLE acct) b) AS diff_after_restore;
SELECT medallion.current_version() AS v4 \gset
SELECT _change_type, count(*) FROM medallion_changes.acct(:v3 + 1, :v4) GROUP BY 1 ORDER BY 1;
-- Restoring to where it already is changes nothing.
SELECT * FROM medallion.restore('acct', :v4);
SELECT * FROM medallion.restore('tt_events', :e1);
SELECT (SELECT count(*) FROM (TABLE tt_events EXCEPT ALL TABLE esnap) a) + (SELECT count(*) FROM (TABLE esnap EXCEPT ALL TABLE tt_events) b) AS diff_events;

-- Bad calls.
SELECT expect_error('SELECT * FROM medallion.as_of(NULL::acct, NULL::bigint)');
SELECT expect_error(format('SELECT * FROM medallion.as_of(NULL::acct, %s)', :v4 + 1000));
SELECT expect_error('SELECT * FROM medallion.as_of(NULL::snap1, 1)');
SELECT expect_error('SELECT * FROM medallion.as_of(1, 1)');
SELECT expect_error('SELECT * FROM medallion.as_of(NULL::acct, 0)');
SELECT expect_error('SELECT * FROM medallion.restore(NULL, 1)');
TRUNCATE tt_events;
INSERT INTO tt_events VALUES ('z', 9);
SELECT expect_error(format('SELECT * FROM medallion.as_of(NULL::tt_events, %s)', :e1));
-- Reading needs SELECT on the table; restoring needs the right to write it.
CREATE ROLE tt_reader;
GRANT USAGE ON SCHEMA public TO tt_reader;
SET ROLE tt_reader;
SELECT expect_error(format('SELECT * FROM medallion.as_of(NULL::acct, %s)', :v2));
RESET ROLE;
GRANT SELECT ON acct TO tt_reader;
SET ROLE tt_reader;
SELECT count(*) AS readable FROM medallion.as_of(NULL::acct, :v2);
SELECT expect_error(format('SELECT * FROM medallion.restore(''acct'', %s)', :v2));
RESET ROLE;
DROP OWNED BY tt_reader;
DROP ROLE tt_reader;

-- history: per version the operations, row counts, roles and applications that wrote it.
CREATE TABLE hist (id int PRIMARY KEY, v text);
SELECT medallion.enable_feed('hist') IS NOT NULL AS fed;
CREATE ROLE hist_writer;
GRANT INSERT, UPDATE, DELETE, SELECT ON hist TO hist_writer;
SET application_name = 'loader';
INSERT INTO hist SELECT g, 'x' FROM generate_series(1, 5) g;
SELECT medallion.current_version() IS NOT NULL AS closed;
SET ROLE hist_writer;
SET application_name = 'nightly fix';
UPDATE hist SET v = 'y' WHERE id <= 2;
DELETE FROM hist WHERE id = 5;
RESET ROLE;
SET application_name = 'loader';
INSERT INTO hist VALUES (6, 'z');
RESET application_name;
TRUNCATE hist;
SELECT operations, rows, inserts, updates, deletes, truncates, roles, applications
FROM medallion.history('hist') ORDER BY version;
SELECT name FROM medallion.application WHERE name NOT LIKE 'pg_regress%' ORDER BY name;
REVOKE ALL ON hist FROM hist_writer;
DROP ROLE hist_writer;

-- Cleanup: every file starts from an empty database and leaves one.
SET client_min_messages = warning;
DROP EXTENSION pg_medallion CASCADE;
DROP SCHEMA medallion;
DROP TABLE acct, esnap, hist, snap1, snap2, tt_events;
DROP FUNCTION expect_error(text);
RESET client_min_messages;
