-- The database's replication slot goes with the extension: a slot left behind would hold back
-- WAL forever.  Dropping the extension is not final until commit, so neither is the slot's drop.
SET client_min_messages = warning;
CREATE EXTENSION pg_medallion;
CREATE TABLE dropme (id int PRIMARY KEY, v text);
ALTER TABLE dropme REPLICA IDENTITY FULL;
SELECT medallion.enable_feed('dropme', mode => 'logical') IS NOT NULL AS enabled;
INSERT INTO dropme VALUES (1, 'a');
CREATE VIEW our_slot AS
	SELECT count(*) AS slots FROM pg_replication_slots
	WHERE slot_name = 'medallion_' || (SELECT oid FROM pg_database WHERE datname = current_database());
SELECT * FROM our_slot;

-- Rolled back, in whole or to a savepoint: the slot stays and the feed goes on.
BEGIN;
DROP EXTENSION pg_medallion CASCADE;
ROLLBACK;
SELECT * FROM our_slot;
BEGIN;
SAVEPOINT s;
DROP EXTENSION pg_medallion CASCADE;
ROLLBACK TO s;
COMMIT;
SELECT * FROM our_slot;
INSERT INTO dropme VALUES (2, 'b');
SELECT feed, changes FROM medallion.pull();
SELECT id, v, _change_type FROM medallion_changes.dropme(1) ORDER BY _commit_version, _change_seq;

-- disable_feed of the last logical feed drops the slot at commit: rolled back, all three stay.
BEGIN;
SELECT medallion.disable_feed('dropme');
ROLLBACK;
SELECT * FROM our_slot;
BEGIN;
SAVEPOINT s;
SELECT medallion.disable_feed('dropme');
ROLLBACK TO s;
COMMIT;
SELECT * FROM our_slot;
INSERT INTO dropme VALUES (3, 'c');
SELECT feed, changes FROM medallion.pull();

-- Dropping the last logical-fed table takes the slot along (nothing would ever advance it).
CREATE TABLE dropme_too (id int PRIMARY KEY);
ALTER TABLE dropme_too REPLICA IDENTITY FULL;
SELECT medallion.enable_feed('dropme_too', mode => 'logical') IS NOT NULL AS enabled;
SELECT medallion.disable_feed('dropme');
SELECT * FROM our_slot;
BEGIN;
DROP TABLE dropme_too;
ROLLBACK;
SELECT * FROM our_slot;
DROP TABLE dropme_too;
SELECT * FROM our_slot;
SELECT count(*) AS registrations FROM medallion.logical_slot;
SELECT medallion.enable_feed('dropme', mode => 'logical') IS NOT NULL AS enabled_again;

-- Committed: the slot is gone with the extension.
DROP EXTENSION pg_medallion CASCADE;
SELECT * FROM our_slot;

-- DROP SCHEMA ... CASCADE takes the extension, and the slot, along too.
CREATE EXTENSION pg_medallion;
SELECT medallion.enable_feed('dropme', mode => 'logical') IS NOT NULL AS enabled;
SELECT * FROM our_slot;
DROP SCHEMA medallion CASCADE;
SELECT count(*) AS extensions FROM pg_extension WHERE extname = 'pg_medallion';
SELECT * FROM our_slot;

DROP VIEW our_slot;
DROP TABLE dropme;

-- A re-created extension has a new change_seq starting at 1; statement numbers handed out from
-- shared memory (preloaded) must come from it, not from what the dropped one had reserved: the
-- order keys of one row keep growing across more statements than one reserved range holds.
CREATE EXTENSION pg_medallion;
CREATE TABLE renum (id int PRIMARY KEY, n int);
SELECT medallion.enable_feed('renum') IS NOT NULL AS enabled;
INSERT INTO renum VALUES (1, 0);
DO $$ BEGIN FOR i IN 1..1100 LOOP UPDATE renum SET n = i WHERE id = 1; END LOOP; END $$;
SELECT medallion.current_version() IS NOT NULL AS closed;
SELECT count(*) AS postimages,
	bool_and(n > coalesce(prev_n, -1)) AS keys_follow_statements
FROM (SELECT n, lag(n) OVER (ORDER BY _commit_version, _change_seq) AS prev_n
	  FROM medallion_changes.renum(medallion.first_version('renum'))
	  WHERE _change_type IN ('insert', 'update_postimage')) c;
DROP EXTENSION pg_medallion CASCADE;
DROP TABLE renum;

-- Cleanup: every file starts from an empty database and leaves one.
SET client_min_messages = warning;
DROP SCHEMA medallion;
RESET client_min_messages;
