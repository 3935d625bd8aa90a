-- Capture inside transactions: subtransactions, aborts, multi-row statements, key updates,
-- NULLs, TOASTed values, ON CONFLICT, MERGE, TRUNCATE.
CREATE EXTENSION pg_medallion;
\set VERBOSITY terse
CREATE TABLE accounts (id int PRIMARY KEY, owner text, balance numeric, note text);
SELECT medallion.enable_feed('accounts') IS NOT NULL AS enabled;
SELECT medallion.current_version() AS v0 \gset

-- A rolled-back subtransaction leaves no change; the released one does.
BEGIN;
INSERT INTO accounts VALUES (1, 'ann', 100, NULL);
SAVEPOINT a;
INSERT INTO accounts VALUES (2, 'ben', 200, NULL);
UPDATE accounts SET balance = 0 WHERE id = 1;
ROLLBACK TO SAVEPOINT a;
SAVEPOINT b;
INSERT INTO accounts VALUES (3, 'cat', 300, NULL);
RELEASE SAVEPOINT b;
COMMIT;

-- An aborted transaction leaves nothing.
BEGIN;
INSERT INTO accounts VALUES (4, 'dan', 400, NULL);
DELETE FROM accounts WHERE id = 1;
ROLLBACK;

-- A failed statement inside a transaction leaves nothing either.
BEGIN;
INSERT INTO accounts VALUES (5, 'eve', 500, NULL);
INSERT INTO accounts VALUES (5, 'dup', 0, NULL);
COMMIT;

SELECT id, owner, balance, _change_type FROM medallion_changes.accounts(:v0 + 1);

-- Multi-row statements, an update of the key, NULLs in images.
SELECT medallion.current_version() AS v1 \gset
INSERT INTO accounts SELECT g, 'bulk' || g, g * 10, NULL FROM generate_series(10, 19) g;
UPDATE accounts SET id = id + 100, note = NULL, balance = NULL WHERE id BETWEEN 10 AND 12;
SELECT id, owner, balance, note, _change_type FROM medallion_changes.accounts(:v1 + 1)
WHERE _change_type <> 'insert';
SELECT count(*) AS inserts FROM medallion_changes.accounts(:v1 + 1) WHERE _change_type = 'insert';

-- ON CONFLICT DO UPDATE captures both an insert and an update.
SELECT medallion.current_version() AS v2 \gset
INSERT INTO accounts VALUES (1, 'ann', 150, 'upsert'), (50, 'new', 1, 'upsert')
ON CONFLICT (id) DO UPDATE SET balance = excluded.balance, note = excluded.note;
SELECT id, balance, note, _change_type FROM medallion_changes.accounts(:v2 + 1);

-- MERGE captures each action.
SELECT medallion.current_version() AS v3 \gset
MERGE INTO accounts a USING (VALUES (1, 175), (3, NULL), (60, 6)) AS s(id, bal) ON a.id = s.id
WHEN MATCHED AND s.bal IS NULL THEN DELETE
WHEN MATCHED THEN UPDATE SET balance = s.bal
WHEN NOT MATCHED THEN INSERT VALUES (s.id, 'merged', s.bal, NULL);
SELECT id, balance, _change_type FROM medallion_changes.accounts(:v3 + 1) ORDER BY _change_seq;

-- TOASTed values: pre- and post-images hold the full value, also when unchanged.
SELECT medallion.current_version() AS v4 \gset
INSERT INTO accounts SELECT 70, 'toast', 1, string_agg(md5(g::text), '') FROM generate_series(1, 2000) g;
UPDATE accounts SET balance = 2 WHERE id = 70;
DELETE FROM accounts WHERE id = 70;
SELECT _change_type, length(note) AS note_length, md5(note) = (SELECT md5(string_agg(md5(g::text), '')) FROM generate_series(1, 2000) g) AS full_value
FROM medallion_changes.accounts(:v4 + 1);

-- A statement changing no row captures nothing.
SELECT medallion.current_version() AS v5 \gset
UPDATE accounts SET balance = 0 WHERE id < 0;
DELETE FROM accounts WHERE id < 0;
INSERT INTO accounts SELECT 1, 'x', 0, NULL WHERE false;
SELECT count(*) AS nothing FROM medallion_changes.accounts(:v5) WHERE _commit_version > :v5;

-- TRUNCATE is one change with NULL data columns.
TRUNCATE accounts;
SELECT id, owner, _change_type FROM medallion_changes.accounts(:v5 + 1);

-- Changes of several transactions between two ticks share one version.
SELECT medallion.current_version() AS v6 \gset
INSERT INTO accounts VALUES (80, 'a', 1, NULL);
INSERT INTO accounts VALUES (81, 'b', 1, NULL);
SELECT count(DISTINCT _commit_version) AS versions, count(*) AS changes FROM medallion_changes.accounts(:v6 + 1);

-- Own uncommitted changes are in no closed version yet.
BEGIN;
INSERT INTO accounts VALUES (90, 'pending', 1, NULL);
SELECT medallion.current_version() AS v7 \gset
SELECT count(*) AS own_pending_visible FROM medallion_changes.accounts(:v7) WHERE id = 90;
COMMIT;
SELECT count(*) AS after_commit FROM medallion_changes.accounts(:v7 + 1) WHERE id = 90;

-- Rows stored before ADD COLUMN (fewer attributes on disk) and dropped columns: images are complete.
CREATE TABLE widened (id int PRIMARY KEY, a text, gone text);
INSERT INTO widened VALUES (1, 'x', 'dropped later');
ALTER TABLE widened ADD COLUMN b int DEFAULT 7;
ALTER TABLE widened ADD COLUMN c text;
ALTER TABLE widened DROP COLUMN gone;
SELECT medallion.enable_feed('widened') IS NOT NULL AS enabled;
SELECT medallion.current_version() AS vw \gset
UPDATE widened SET a = 'y';
INSERT INTO widened VALUES (2, NULL, NULL, 'z');
DELETE FROM widened WHERE id = 1;
SELECT id, a, b, c, _change_type FROM medallion_changes.widened(:vw + 1);
CREATE TABLE narrow (id int PRIMARY KEY, a text);
INSERT INTO narrow VALUES (1, 'old row');
ALTER TABLE narrow ADD COLUMN b int DEFAULT 42;
SELECT medallion.enable_feed('narrow') IS NOT NULL AS enabled;
SELECT medallion.current_version() AS vn \gset
UPDATE narrow SET a = 'updated';
SELECT id, a, b, _change_type FROM medallion_changes.narrow(:vn + 1);

-- Cleanup: every file starts from an empty database and leaves one.
SET client_min_messages = warning;
DROP EXTENSION pg_medallion CASCADE;
DROP SCHEMA medallion;
DROP TABLE accounts, narrow, widened;
RESET client_min_messages;
