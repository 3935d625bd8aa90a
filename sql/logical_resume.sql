-- Broken logical feeds (slot lost or dropped, or the database restored from a dump, which carries no
-- slot) refuse to pull instead of leaving a silent gap; resume_logical_feeds() gives them a new slot,
-- and the feeds, change tables and versions go on from there.
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
CREATE TABLE rs (id int PRIMARY KEY, v text);
ALTER TABLE rs REPLICA IDENTITY FULL;
SELECT medallion.enable_feed('rs', mode => 'logical') IS NOT NULL AS enabled;
SELECT medallion.first_version('rs') AS rs_first \gset
INSERT INTO rs VALUES (1, 'before');
SELECT changes FROM medallion.pull();

-- Nothing to resume while the slot is fine.
SELECT medallion.resume_logical_feeds() IS NULL AS nothing_to_resume;

-- The slot dropped by hand: pull refuses; a change written now falls into the gap.
SELECT 'dropped' FROM pg_drop_replication_slot((SELECT slot_name FROM medallion.logical_slot));
SELECT expect_error('SELECT * FROM medallion.pull()');
INSERT INTO rs VALUES (2, 'in the gap');
SET client_min_messages = warning;  -- the notice names an LSN
SELECT medallion.resume_logical_feeds() IS NOT NULL AS resumed;
RESET client_min_messages;
INSERT INTO rs VALUES (3, 'after');
SELECT changes FROM medallion.pull();
SELECT id, v, _change_type FROM medallion_changes.rs(:rs_first) ORDER BY _commit_version, _change_seq;

-- As after pg_restore: logical feeds, but neither registration nor slot.
SELECT 'dropped' FROM pg_drop_replication_slot((SELECT slot_name FROM medallion.logical_slot));
DELETE FROM medallion.logical_slot;
SELECT expect_error('SELECT * FROM medallion.pull()');
SELECT slot_name, wal_status, feeds FROM medallion.logical_status;
-- It must run before anything else writes in its transaction (it creates the slot).
BEGIN;
INSERT INTO rs VALUES (4, 'in the gap too');
SELECT expect_error('SELECT medallion.resume_logical_feeds()');
ROLLBACK;
SET client_min_messages = warning;
SELECT medallion.resume_logical_feeds() IS NOT NULL AS resumed;
RESET client_min_messages;
SELECT count(*) AS registrations FROM medallion.logical_slot;
SELECT slot_name IS NOT NULL AS has_slot, wal_status, feeds FROM medallion.logical_status;
INSERT INTO rs VALUES (5, 'after the restore');
SELECT changes FROM medallion.pull();
SELECT id, v, _change_type FROM medallion_changes.rs(:rs_first) ORDER BY _commit_version, _change_seq;

-- Only for the extension's owner (and superusers), unless granted.
CREATE ROLE rs_reader;
SET ROLE rs_reader;
SELECT expect_error('SELECT medallion.resume_logical_feeds()');
RESET ROLE;
DROP ROLE rs_reader;

-- Without logical feeds there is nothing to resume.
SELECT medallion.disable_feed('rs');
SELECT expect_error('SELECT medallion.resume_logical_feeds()');
SELECT count(*) AS slots FROM pg_replication_slots WHERE slot_name LIKE 'medallion_%';
DROP TABLE rs;

-- Cleanup: every file starts from an empty database and leaves one.
SET client_min_messages = warning;
DROP EXTENSION pg_medallion CASCADE;
DROP SCHEMA medallion;
DROP FUNCTION expect_error(text);
RESET client_min_messages;
