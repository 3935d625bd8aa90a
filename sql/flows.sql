-- Flows: declaration, runs (one transaction as the owner), expectations, quarantine and replay,
-- the run log (failed runs recorded although their work rolled back), privileges, bad calls.
CREATE EXTENSION pg_medallion;
CREATE SCHEMA fl;
CREATE TABLE fl.bronze (id int PRIMARY KEY, amount text, note text);
SELECT medallion.enable_feed('fl.bronze') IS NOT NULL AS fed;
INSERT INTO fl.bronze VALUES (1, '10.5', 'a'), (2, 'x', 'b'), (3, '-4', 'c');
CREATE TABLE fl.silver (id int PRIMARY KEY, amount numeric, note text, _commit_version bigint, _change_seq bigint);

-- 1. Bad calls change nothing.
CREATE FUNCTION fl.try(statement text) RETURNS text LANGUAGE plpgsql AS $$
DECLARE state text; msg text; hint text;
BEGIN
	EXECUTE statement;
	RETURN 'no error';
EXCEPTION WHEN OTHERS THEN
	GET STACKED DIAGNOSTICS state = RETURNED_SQLSTATE, msg = MESSAGE_TEXT, hint = PG_EXCEPTION_HINT;
	RETURN state || ': ' || regexp_replace(msg, '\d+', 'N', 'g') || coalesce(' | hint: ' || nullif(hint, ''), ' | NO HINT');
END $$;
SELECT fl.try($$SELECT medallion.create_flow(NULL, 'fl.bronze', 'fl.silver', '{id}')$$);
SELECT fl.try($$SELECT medallion.create_flow('', 'fl.bronze', 'fl.silver', '{id}')$$);
SELECT fl.try($$SELECT medallion.create_flow('f', 'fl.silver', 'fl.bronze', '{id}')$$);
SELECT fl.try($$SELECT medallion.create_flow('f', 'fl.bronze', 'fl.bronze', '{id}')$$);
SELECT fl.try($$SELECT medallion.create_flow('f', 'fl.bronze', 'fl.silver', '{id}', scd_type => 3)$$);
SELECT fl.try($$SELECT medallion.create_flow('f', 'fl.bronze', 'fl.silver', '{id}', max_versions_per_run => 0)$$);
SELECT fl.try($$SELECT medallion.create_flow('f', 'fl.bronze', 'fl.silver', '{id}', on_schema_change => 'add_columns')$$);
SELECT fl.try($$SELECT medallion.create_flow('f', 'fl.bronze', 'fl.silver', '{id}', on_schema_change => 'sometimes')$$);
SELECT fl.try($$SELECT medallion.create_flow('f', 'fl.bronze', 'fl.silver', '{id}', transform => 'DELETE FROM fl.silver')$$);
SELECT fl.try($$SELECT medallion.create_flow('f', 'fl.bronze', 'fl.silver', '{id}', transform => 'SELECT 1 FROM batch; DROP TABLE fl.silver')$$);
SELECT fl.try($$SELECT medallion.create_flow('f', 'fl.bronze', 'fl.silver', '{nope}')$$);
SELECT fl.try($$SELECT medallion.create_flow('f', 'fl.bronze', 'fl.silver', '{id}', start => 'yesterday',
	transform => 'SELECT id, note, _change_type, _commit_version, _change_seq FROM batch')$$);
SELECT fl.try($$SELECT * FROM medallion.run_flow('nope')$$);
SELECT count(*) AS flows, (SELECT count(*) FROM medallion.consumers) AS consumers,
	(SELECT count(*) FROM pg_class WHERE relnamespace = 'medallion_state'::regnamespace AND relname LIKE 'flow%') AS staging
FROM medallion.flows;

-- 2. A flow: casts in the transform, a quarantine rule; the bad cast is quarantined, not fatal.
SELECT medallion.create_flow('silver', 'fl.bronze', 'fl.silver', '{id}',
	transform => $$SELECT id, amount::numeric AS amount, note, _change_type, _commit_version, _change_seq FROM batch$$) > 0 AS created;
SELECT fl.try($$SELECT medallion.create_flow('silver', 'fl.bronze', 'fl.silver', '{id}')$$);
SELECT medallion.add_expectation('silver', 'positive', 'amount > 0', 'quarantine');
SELECT fl.try($$SELECT medallion.add_expectation('silver', 'bad', 'amount >', 'warn')$$);
SELECT fl.try($$SELECT medallion.add_expectation('silver', 'bad', 'nope > 0', 'warn')$$);
SELECT fl.try($$SELECT medallion.add_expectation('silver', 'bad', 'amount > 0', 'shout')$$);
SELECT rows_in, rows_out, inserted, updated, deleted, quarantined, status FROM medallion.run_flow('silver');
SELECT id, amount, note FROM fl.silver ORDER BY id;
SELECT rule, error, record->>'id' AS id, transformed FROM medallion.flow_quarantine('silver') ORDER BY id;

-- 3. Updates and deletes flow through; an expectation judges only rows that write values.
UPDATE fl.bronze SET amount = '7' WHERE id = 1;
DELETE FROM fl.bronze WHERE id = 3;
SELECT rows_in, rows_out, inserted, updated, deleted, quarantined, status FROM medallion.run_flow('silver');
SELECT id, amount FROM fl.silver ORDER BY id;
-- Nothing new in the source: answered without a run (no run row, nothing written), however often,
-- while other tables' writes close versions; the first change after it runs again.
SELECT count(*) AS runs_before FROM medallion.runs WHERE flow = 'silver' \gset
SELECT rows_in, from_version = to_version AS same_version, status FROM medallion.run_flow('silver');
CREATE TABLE fl.elsewhere (id int);
SELECT medallion.enable_feed('fl.elsewhere') IS NOT NULL AS other_feed;
INSERT INTO fl.elsewhere VALUES (1);
SELECT rows_in, status FROM medallion.run_flow('silver');
SELECT status, pg_current_xact_id_if_assigned() IS NULL AS wrote_nothing FROM medallion.run_flow('silver');
SELECT count(*) - :runs_before AS runs_recorded FROM medallion.runs WHERE flow = 'silver';
UPDATE fl.bronze SET note = note WHERE id = 1;
SELECT rows_in, status FROM medallion.run_flow('silver');
SELECT count(*) - :runs_before AS runs_recorded FROM medallion.runs WHERE flow = 'silver';
SELECT medallion.disable_feed('fl.elsewhere');
DROP TABLE fl.elsewhere;

-- 4. A fail expectation: the run fails, nothing is merged, the watermark stays, the failure is recorded.
SELECT medallion.add_expectation('silver', 'small', 'amount < 100', 'fail');
INSERT INTO fl.bronze VALUES (4, '1000', 'd');
SELECT fl.try($$SELECT * FROM medallion.run_flow('silver')$$);
SELECT id FROM fl.silver ORDER BY id;
SELECT run_id, status, rows_in, quarantined, sqlstate, message FROM medallion.runs ORDER BY run_id;
-- The failure was recorded in a transaction of its own: even a rolled back caller leaves it.
BEGIN;
SELECT fl.try($$SELECT * FROM medallion.run_flow('silver')$$);
ROLLBACK;
SELECT count(*) FILTER (WHERE status = 'failed') AS failed_runs FROM medallion.runs;
SELECT medallion.drop_expectation('silver', 'small');
SELECT fl.try($$SELECT medallion.drop_expectation('silver', 'small')$$);
SELECT rows_in, inserted, status FROM medallion.run_flow('silver');
SELECT id, amount FROM fl.silver ORDER BY id;

-- 5. Warn and drop count; the definition hash changes with the expectations.
SELECT definition_hash AS hash_before FROM medallion.flows WHERE name = 'silver' \gset
SELECT medallion.add_expectation('silver', 'short_note', 'length(note) < 2', 'warn');
SELECT medallion.add_expectation('silver', 'not_nine', 'amount <> 9', 'drop');
SELECT definition_hash <> :'hash_before' AS hash_changed FROM medallion.flows WHERE name = 'silver';
INSERT INTO fl.bronze VALUES (5, '9', 'e'), (6, '6', 'long note');
SELECT rows_in, rows_out, inserted, dropped, warned, status FROM medallion.run_flow('silver');
SELECT expectations FROM medallion.runs ORDER BY run_id DESC LIMIT 1;
SELECT id FROM fl.silver ORDER BY id;

-- 6. Replay.  A record the transform still refuses goes back to the quarantine (with the new run id).
-- Without the rule that refused it, the quarantined insert of id 3 replays -- but id 3 was deleted
-- since, and the merge's sequence guard keeps the old insert from resurrecting it.
SELECT rule, record->>'id' AS id FROM medallion.flow_quarantine('silver') ORDER BY id;
SELECT rows_in, rows_out, quarantined, status FROM medallion.replay_quarantine('silver', $$rule = 'transform'$$);
SELECT rule, record->>'id' AS id FROM medallion.flow_quarantine('silver') ORDER BY id;
SELECT medallion.drop_expectation('silver', 'positive');
SELECT rows_in, rows_out, inserted, stale, quarantined, status FROM medallion.replay_quarantine('silver', $$rule = 'positive'$$);
SELECT id FROM fl.silver ORDER BY id;
-- Replaying again replays nothing.
SELECT rows_in, status FROM medallion.replay_quarantine('silver', $$rule = 'positive'$$);

-- 7. Pause, resume, and who may run a flow: members of its owner; runs run as the owner.
SELECT medallion.pause_flow('silver');
INSERT INTO fl.bronze VALUES (70, '70', 'while paused');
SELECT status FROM medallion.run_flow('silver');
SELECT medallion.pause_flow('silver', false);
SELECT rows_in, status FROM medallion.run_flow('silver');
CREATE ROLE flow_stranger;
GRANT USAGE ON SCHEMA fl TO flow_stranger;
SET ROLE flow_stranger;
SELECT fl.try($$SELECT * FROM medallion.run_flow('silver')$$);
SELECT fl.try($$SELECT medallion.drop_flow('silver')$$);
SELECT fl.try($$SELECT * FROM medallion.flow_quarantine('silver')$$);
SELECT count(*) AS visible_flows, (SELECT count(*) FROM medallion.runs) AS visible_runs FROM medallion.flows;
SELECT fl.try($$SELECT * FROM medallion._flow_run('{}', '[]', 0, NULL)$$);
SELECT count(*) AS visible_expectations FROM medallion.expectations;
RESET ROLE;
SELECT flow, name, action FROM medallion.expectations ORDER BY name;

-- 8. Scheduling needs pg_cron.
SELECT fl.try($$SELECT medallion.schedule_flow('silver', '* * * * *')$$);
SELECT fl.try($$SELECT medallion.schedule_flow('silver', 'continuous')$$);

-- 9. drop_flow removes the flow, its consumer and staging; its runs stay.
SELECT medallion.drop_flow('silver');
SELECT fl.try($$SELECT * FROM medallion.run_flow('silver')$$);
SELECT count(*) AS flows, (SELECT count(*) FROM medallion.consumers) AS consumers,
	(SELECT count(*) FROM pg_class WHERE relnamespace = 'medallion_state'::regnamespace AND relname LIKE 'flow%') AS staging,
	(SELECT count(*) > 0 FROM medallion.flow_run) AS runs_kept
FROM medallion.flows;

-- 10. A flow of a role with a mixed-case name belongs to that role (not to a lower-cased namesake),
-- and runs as it.  A superuser who is not a member in its own right runs it only from a session
-- without open cursors (the owner's code runs in the caller's session).
CREATE ROLE "FlowOwner";
CREATE ROLE flowowner;
GRANT USAGE, CREATE ON SCHEMA fl TO "FlowOwner";
ALTER TABLE fl.bronze OWNER TO "FlowOwner";
SET ROLE "FlowOwner";
CREATE TABLE fl.silver2 (id int PRIMARY KEY, amount numeric, note text, _commit_version bigint, _change_seq bigint);
SELECT medallion.create_flow('owned', 'fl.bronze', 'fl.silver2', '{id}', start => 'snapshot',
	transform => $$SELECT id, amount::numeric AS amount, note, _change_type, _commit_version, _change_seq,
		current_user::text AS ran_as FROM batch$$, except_columns => '{ran_as}') > 0 AS created;
SELECT medallion.add_expectation('owned', 'runs_as_owner', $$ran_as = 'FlowOwner'$$, 'fail');
RESET ROLE;
SELECT owner FROM medallion.flows WHERE name = 'owned';
UPDATE fl.bronze SET amount = '8' WHERE id = 1;
BEGIN;
DECLARE secret CURSOR FOR SELECT rolname FROM pg_authid;
SELECT fl.try($$SELECT * FROM medallion.run_flow('owned')$$);
CLOSE secret;
SELECT rows_in, inserted, status FROM medallion.run_flow('owned');
COMMIT;
SELECT id, amount FROM fl.silver2 ORDER BY id;
SELECT run_by, status FROM medallion.runs WHERE flow = 'owned';
-- on_schema_change 'fail': a run after the source's columns changed reads nothing and says what changed.
ALTER TABLE fl.bronze ADD COLUMN extra int;
SELECT fl.try($$SELECT * FROM medallion.run_flow('owned')$$);
SET ROLE "FlowOwner";
SELECT medallion.drop_flow('owned');
RESET ROLE;

-- 11. Refused rows in a batch of many pages: the batch is transformed again a page at a time, halves
-- of a page on error, so the rows that raise are found wherever they are (first and last rows of the
-- batch, neighbours, a page with several), each quarantined once, and every other row merged once.
CREATE TABLE fl.wide (id int PRIMARY KEY, amount text, pad text);
SELECT medallion.enable_feed('fl.wide') IS NOT NULL AS fed;
CREATE TABLE fl.wide_out (id int PRIMARY KEY, amount numeric, _commit_version bigint, _change_seq bigint);
INSERT INTO fl.wide SELECT g, CASE WHEN g IN (1, 2, 3, 777, 778, 1500, 2999, 3000) OR g % 250 = 100 THEN 'bad' || g ELSE g::text END,
	pg_catalog.repeat('p', 60) FROM generate_series(1, 3000) g;
SELECT medallion.create_flow('wide', 'fl.wide', 'fl.wide_out', '{id}', start => 'earliest',
	transform => 'SELECT id, amount::numeric AS amount, _change_type, _commit_version, _change_seq FROM batch') AS wide_flow;
SELECT rows_in, rows_out, inserted, quarantined, status FROM medallion.run_flow('wide');
SELECT pg_catalog.pg_relation_size(batch_table) = 0 AS staging_emptied FROM medallion.flow WHERE name = 'wide';
SELECT (SELECT pg_catalog.array_agg((record->>'id')::int ORDER BY (record->>'id')::int) FROM medallion.flow_quarantine('wide'))
	= (SELECT pg_catalog.array_agg(id ORDER BY id) FROM fl.wide WHERE amount LIKE 'bad%') AS quarantined_exactly_the_bad,
	(SELECT count(DISTINCT error) FROM medallion.flow_quarantine('wide') WHERE error LIKE '22P02: invalid input syntax for type numeric%') AS numeric_errors,
	(SELECT count(*) FROM fl.wide_out) = (SELECT count(*) FROM fl.wide WHERE amount NOT LIKE 'bad%') AS merged_the_rest,
	(SELECT count(*) FROM fl.wide_out o JOIN fl.wide w USING (id) WHERE o.amount <> w.amount::numeric) AS wrong_values;
-- The same with a transform that reads the whole batch before it casts (a window over it): the row
-- noted last is not the one that raised, and the search goes page by page; the same rows refused.
SELECT medallion.drop_flow('wide');
TRUNCATE fl.wide_out;
SELECT medallion.create_flow('wide', 'fl.wide', 'fl.wide_out', '{id}', start => 'earliest',
	transform => $$SELECT id, amount::numeric + 0 * pg_catalog.count(*) OVER () AS amount,
	_change_type, _commit_version, _change_seq FROM batch$$) AS wide_flow;
SELECT rows_in, rows_out, inserted, quarantined, status FROM medallion.run_flow('wide');
SELECT (SELECT pg_catalog.array_agg((record->>'id')::int ORDER BY (record->>'id')::int) FROM medallion.flow_quarantine('wide'))
	= (SELECT pg_catalog.array_agg(id ORDER BY id) FROM fl.wide WHERE amount LIKE 'bad%') AS quarantined_exactly_the_bad,
	(SELECT count(*) FROM fl.wide_out) = (SELECT count(*) FROM fl.wide WHERE amount NOT LIKE 'bad%') AS merged_the_rest,
	(SELECT count(*) FROM fl.wide_out o JOIN fl.wide w USING (id) WHERE o.amount <> w.amount::numeric) AS wrong_values;
-- An error that is not a data error (here 42P01, from a cast to regclass) fails the run: nothing
-- merged, nothing quarantined, the watermark unmoved.
UPDATE fl.wide SET amount = '1', pad = CASE WHEN id = 1200 THEN 'no_such_table' ELSE pad END WHERE id IN (1, 1200, 2000);
SELECT medallion.drop_flow('wide');
TRUNCATE fl.wide_out;
SELECT medallion.create_flow('wide', 'fl.wide', 'fl.wide_out', '{id}', start => 'earliest',
	transform => $$SELECT id, CASE WHEN pad = 'no_such_table' THEN pad::pg_catalog.regclass::text::numeric
	ELSE pg_catalog.length(pad)::numeric END AS amount, _change_type, _commit_version, _change_seq FROM batch$$) AS wide_flow;
SELECT fl.try($$SELECT * FROM medallion.run_flow('wide')$$);
SELECT (SELECT count(*) FROM fl.wide_out) AS merged, (SELECT count(*) FROM medallion.flow_quarantine('wide')) AS quarantined,
	(SELECT status || ' ' || sqlstate FROM medallion.runs WHERE flow = 'wide' ORDER BY run_id DESC LIMIT 1) AS recorded;
SELECT medallion.drop_flow('wide');
SELECT medallion.disable_feed('fl.wide');
DROP TABLE fl.wide, fl.wide_out;

-- 12. The run log is bounded: vacuum() removes the runs older than pg_medallion.run_retention
-- (30 days) of the flows whose owner the caller is a member of; a stranger's vacuum removes none.
UPDATE medallion.flow_run SET started_at = started_at - interval '40 days', finished_at = finished_at - interval '40 days'
WHERE run_id IN (SELECT run_id FROM medallion.flow_run ORDER BY run_id LIMIT 3);
SET ROLE flow_stranger;
SELECT count(*) AS stranger_rows FROM medallion.vacuum() WHERE feed = 'medallion.flow_run'::regclass;
RESET ROLE;
SELECT feed, versions_removed, rows_removed FROM medallion.vacuum(dry_run => true) WHERE feed = 'medallion.flow_run'::regclass;
SELECT count(*) AS old_runs FROM medallion.flow_run WHERE finished_at < now() - interval '30 days';
SELECT feed, rows_removed FROM medallion.vacuum() WHERE feed = 'medallion.flow_run'::regclass;
SELECT count(*) AS old_runs FROM medallion.flow_run WHERE finished_at < now() - interval '30 days';
SET pg_medallion.run_retention = '1min';
SELECT fl.try($$SELECT * FROM medallion.vacuum()$$);
RESET pg_medallion.run_retention;

-- 13. alter_flow changes the transform and max_versions_per_run between runs; the change is
-- recorded (altered_at, a new definition hash the next runs carry); a new transform with other
-- columns gets a new output table; a bad call changes nothing.  resume_flow undoes pause_flow.
CREATE TABLE fl.raw (id int PRIMARY KEY, amount text, note text);
SELECT medallion.enable_feed('fl.raw') IS NOT NULL AS fed;
CREATE TABLE fl.alt (id int PRIMARY KEY, amount numeric, note text, _commit_version bigint, _change_seq bigint);
INSERT INTO fl.raw VALUES (1, '1', 'one'), (2, '2', 'two');
SELECT medallion.create_flow('alt', 'fl.raw', 'fl.alt', '{id}', start => 'earliest',
	transform => 'SELECT id, amount::numeric AS amount, _change_type, _commit_version, _change_seq FROM batch') AS alt_flow;
SELECT rows_in, inserted, status FROM medallion.run_flow('alt');
SELECT definition_hash AS hash_before FROM medallion.flow WHERE name = 'alt' \gset
SELECT fl.try($$SELECT medallion.alter_flow('alt')$$);
SELECT fl.try($$SELECT medallion.alter_flow('alt', max_versions_per_run => -1)$$);
SELECT fl.try($$SELECT medallion.alter_flow('nosuch', max_versions_per_run => 1)$$);
SELECT fl.try($$SELECT medallion.alter_flow('alt', transform => 'DELETE FROM fl.alt')$$);
SELECT fl.try($$SELECT medallion.alter_flow('alt', transform => 'SELECT amount::numeric AS amount, _change_type, _commit_version, _change_seq FROM batch')$$);
SET ROLE flow_stranger;
SELECT fl.try($$SELECT medallion.alter_flow('alt', max_versions_per_run => 1)$$);
RESET ROLE;
SELECT definition_hash = :'hash_before' AS unchanged, altered_at IS NULL AS never_altered FROM medallion.flow WHERE name = 'alt';
-- The same columns: the output table stays; the next run carries the new hash.
SELECT output_table::oid AS out_before FROM medallion.flow WHERE name = 'alt' \gset
SELECT medallion.alter_flow('alt', transform => 'SELECT id, amount::numeric * 10 AS amount, _change_type, _commit_version, _change_seq FROM batch',
	max_versions_per_run => 5);
SELECT definition_hash <> :'hash_before' AS new_hash, altered_at IS NOT NULL AS altered, max_versions_per_run,
	output_table::oid = :out_before AS same_output FROM medallion.flow WHERE name = 'alt';
SELECT definition_hash AS hash_altered FROM medallion.flow WHERE name = 'alt' \gset
INSERT INTO fl.raw VALUES (3, '3', 'three');
SELECT rows_in, inserted, status FROM medallion.run_flow('alt');
-- Other columns are refused while the quarantine holds rows of the current output (a replay would
-- merge them as the new transform's), and when an expectation no longer applies to the new output.
SELECT medallion.add_expectation('alt', 'small', 'amount < 1000', 'quarantine');
INSERT INTO fl.raw VALUES (9, '900', 'big');
SELECT rows_in, quarantined, status FROM medallion.run_flow('alt');
SELECT fl.try($$SELECT medallion.alter_flow('alt', transform => 'SELECT id, amount::numeric AS amount, note, _change_type, _commit_version, _change_seq FROM batch')$$);
SELECT quarantine_table AS alt_quarantine FROM medallion.flow WHERE name = 'alt' \gset
DELETE FROM :alt_quarantine;
SELECT fl.try($$SELECT medallion.alter_flow('alt', transform => 'SELECT id, amount::numeric AS total, _change_type, _commit_version, _change_seq FROM batch')$$);
SELECT fl.try($$SELECT medallion.alter_flow('alt', transform => 'SELECT id, note, _change_type, _commit_version, _change_seq FROM batch')$$);
SELECT medallion.drop_expectation('alt', 'small');
SELECT definition_hash = :'hash_altered' AS refused_changed_nothing, output_table::oid = :out_before AS same_output
FROM medallion.flow WHERE name = 'alt';
-- Other columns: a new output table; notes now flow too.
SELECT medallion.alter_flow('alt', transform => $$SELECT id, amount::numeric AS amount, pg_catalog.upper(note) AS note,
	_change_type, _commit_version, _change_seq FROM batch$$, max_versions_per_run => 0);
SELECT output_table::oid <> :out_before AS new_output, max_versions_per_run IS NULL AS no_limit FROM medallion.flow WHERE name = 'alt';
UPDATE fl.raw SET amount = '4' WHERE id = 1;
SELECT medallion.pause_flow('alt');
SELECT status FROM medallion.run_flow('alt');
SELECT medallion.resume_flow('alt');
SELECT rows_in, updated, status FROM medallion.run_flow('alt');
SELECT id, amount, note FROM fl.alt ORDER BY id;
SELECT count(DISTINCT definition_hash) AS hashes_in_runs FROM medallion.runs WHERE flow = 'alt';
-- An empty transform removes it: the batch is merged as it is (its columns match the target's).
SELECT fl.try($$SELECT medallion.alter_flow('alt', transform => '')$$);
SELECT medallion.drop_flow('alt');
SELECT medallion.disable_feed('fl.raw');
DROP TABLE fl.raw, fl.alt;

-- 14. on_schema_change 'ignore': columns added to the source are not read (the run goes on with the
-- columns it was made for); a column it reads dropped or retyped still fails the run, naming it.
CREATE TABLE fl.drift (id int PRIMARY KEY, amount text);
SELECT medallion.enable_feed('fl.drift') IS NOT NULL AS fed;
CREATE TABLE fl.drift_out (id int PRIMARY KEY, amount numeric, _commit_version bigint, _change_seq bigint);
INSERT INTO fl.drift VALUES (1, '1');
SELECT medallion.create_flow('drift', 'fl.drift', 'fl.drift_out', '{id}', start => 'earliest', on_schema_change => 'ignore',
	transform => 'SELECT id, amount::numeric AS amount, _change_type, _commit_version, _change_seq FROM batch') AS drift_flow;
SELECT rows_in, inserted, status FROM medallion.run_flow('drift');
ALTER TABLE fl.drift ADD COLUMN note text;
INSERT INTO fl.drift VALUES (2, '2', 'not read');
UPDATE fl.drift SET amount = '10', note = 'x' WHERE id = 1;
SELECT rows_in, inserted, updated, status FROM medallion.run_flow('drift');
SELECT id, amount FROM fl.drift_out ORDER BY id;
ALTER TABLE fl.drift ALTER COLUMN amount TYPE varchar(10);
INSERT INTO fl.drift VALUES (3, '3', 'after the retype');
SELECT fl.try($$SELECT * FROM medallion.run_flow('drift')$$);
SELECT count(*) AS merged FROM fl.drift_out;
SELECT medallion.drop_flow('drift');
SELECT medallion.disable_feed('fl.drift');
DROP TABLE fl.drift, fl.drift_out;

-- 15. Flows form a graph: a flow's source may be another flow's target; a flow that would close a
-- cycle is refused (nothing created); medallion.flows names the flows upstream.
CREATE TABLE fl.g1 (id int PRIMARY KEY, v text, seq bigint);
CREATE TABLE fl.g2 (id int PRIMARY KEY, v text, seq bigint);
CREATE TABLE fl.g3 (id int PRIMARY KEY, v text, seq bigint);
SELECT medallion.enable_feed('fl.g1') IS NOT NULL AND medallion.enable_feed('fl.g2') IS NOT NULL
	AND medallion.enable_feed('fl.g3') IS NOT NULL AS fed;
SELECT medallion.create_flow('g12', 'fl.g1', 'fl.g2', '{id}', sequence_by => '{seq}',
	transform => 'SELECT id, v, _commit_version AS seq, _change_type FROM batch') > 0 AS created;
SELECT medallion.create_flow('g23', 'fl.g2', 'fl.g3', '{id}', sequence_by => '{seq}',
	transform => 'SELECT id, v, _commit_version AS seq, _change_type FROM batch') > 0 AS created;
SELECT fl.try($$SELECT medallion.create_flow('g31', 'fl.g3', 'fl.g1', '{id}', sequence_by => '{seq}', transform => 'SELECT id, v, _commit_version AS seq, _change_type FROM batch')$$);
SELECT fl.try($$SELECT medallion.create_flow('g21', 'fl.g2', 'fl.g1', '{id}', sequence_by => '{seq}', transform => 'SELECT id, v, _commit_version AS seq, _change_type FROM batch')$$);
SELECT count(*) AS refused_left_nothing FROM medallion.flows WHERE name IN ('g31', 'g21');
SELECT name, upstream FROM medallion.flows WHERE name LIKE 'g%' ORDER BY name;
SELECT medallion.drop_flow('g12'), medallion.drop_flow('g23');
SELECT medallion.disable_feed('fl.g1'), medallion.disable_feed('fl.g2'), medallion.disable_feed('fl.g3');
DROP TABLE fl.g1, fl.g2, fl.g3;

-- 16. Late data: with event_time, a run sets aside rows older than the flow's event-time watermark
-- (the newest event time merged so far less allowed_lateness) as 'late' in the quarantine, or merges
-- and counts them (late_rows => 'merge'); never drops them.  A replay accepts late rows.
CREATE TABLE fl.ev (id int PRIMARY KEY, ts text);
SELECT medallion.enable_feed('fl.ev') IS NOT NULL AS fed;
CREATE TABLE fl.ev_out (id int PRIMARY KEY, ts timestamptz, _commit_version bigint, _change_seq bigint);
CREATE TABLE fl.ev_merged (id int PRIMARY KEY, ts timestamptz, _commit_version bigint, _change_seq bigint);
SELECT fl.try($$SELECT medallion.create_flow('ev', 'fl.ev', 'fl.ev_out', '{id}', event_time => 'nope')$$);
SELECT fl.try($$SELECT medallion.create_flow('ev', 'fl.ev', 'fl.ev_out', '{id}', event_time => 'ts')$$);
SELECT fl.try($$SELECT medallion.create_flow('ev', 'fl.ev', 'fl.ev_out', '{id}', allowed_lateness => '1 hour')$$);
SELECT fl.try($$SELECT medallion.create_flow('ev', 'fl.ev', 'fl.ev_out', '{id}', event_time => 'ts', allowed_lateness => '-1 hour')$$);
SELECT fl.try($$SELECT medallion.create_flow('ev', 'fl.ev', 'fl.ev_out', '{id}', event_time => 'ts', late_rows => 'drop')$$);
SELECT count(*) AS nothing_created FROM medallion.flows WHERE name = 'ev';
SELECT medallion.create_flow('ev', 'fl.ev', 'fl.ev_out', '{id}', event_time => 'ts', allowed_lateness => '1 hour',
	transform => 'SELECT id, ts::timestamptz AS ts, _change_type, _commit_version, _change_seq FROM batch') > 0 AS created;
SELECT medallion.create_flow('ev_m', 'fl.ev', 'fl.ev_merged', '{id}', event_time => 'ts', allowed_lateness => '1 hour',
	late_rows => 'merge',
	transform => 'SELECT id, ts::timestamptz AS ts, _change_type, _commit_version, _change_seq FROM batch') > 0 AS created;
INSERT INTO fl.ev VALUES (1, '2026-01-01 12:00+00'), (2, '2026-01-01 10:00+00');
SELECT rows_in, inserted, quarantined, status FROM medallion.run_flow('ev');
SELECT event_watermark FROM medallion.flows WHERE name = 'ev';
-- 11:30 is within the hour allowed; 10:59 is late; 13:00 moves the watermark on after this run.
INSERT INTO fl.ev VALUES (3, '2026-01-01 11:30+00'), (4, '2026-01-01 10:59+00'), (5, '2026-01-01 13:00+00');
SELECT rows_in, inserted, quarantined, status FROM medallion.run_flow('ev');
SELECT expectations FROM medallion.runs WHERE flow = 'ev' ORDER BY run_id DESC LIMIT 1;
SELECT (record->>'id')::int AS id, rule, error FROM medallion.flow_quarantine('ev') ORDER BY 1;
SELECT id, ts FROM fl.ev_out ORDER BY id;
SELECT event_watermark FROM medallion.flows WHERE name = 'ev';
-- The watermark never moves back: a run of only old rows leaves it.
INSERT INTO fl.ev VALUES (6, '2026-01-01 12:30+00');
SELECT rows_in, inserted, quarantined FROM medallion.run_flow('ev');
SELECT event_watermark FROM medallion.flows WHERE name = 'ev';
-- Merged and counted instead.
SELECT rows_in, inserted, quarantined, status FROM medallion.run_flow('ev_m');
INSERT INTO fl.ev VALUES (7, '2026-01-01 09:00+00');
SELECT rows_in, inserted, quarantined, status FROM medallion.run_flow('ev_m');
SELECT expectations FROM medallion.runs WHERE flow = 'ev_m' ORDER BY run_id DESC LIMIT 1;
SELECT count(*) AS merged_all, count(*) FILTER (WHERE id = 7) AS late_merged FROM fl.ev_merged;
-- A replay accepts the late rows.
SELECT rows_in, inserted, quarantined FROM medallion.replay_quarantine('ev');
SELECT id FROM fl.ev_out ORDER BY id;
SELECT medallion.drop_flow('ev'), medallion.drop_flow('ev_m');
SELECT medallion.disable_feed('fl.ev');
DROP TABLE fl.ev, fl.ev_out, fl.ev_merged;

-- 17. on_schema_change 'add_columns': a column added to the source reaches the batch, the output and
-- the target (as the flow's owner, in the run); a transform whose output would change shape, or a
-- target the owner does not own, fails the run naming why, reading nothing.
CREATE TABLE fl.wide (id int PRIMARY KEY, amount text);
SELECT medallion.enable_feed('fl.wide') IS NOT NULL AS fed;
CREATE TABLE fl.wide_out (id int PRIMARY KEY, amount text, _commit_version bigint, _change_seq bigint);
CREATE TABLE fl.wide_t (id int PRIMARY KEY, amount numeric, _commit_version bigint, _change_seq bigint);
INSERT INTO fl.wide VALUES (1, '1');
SELECT medallion.create_flow('wide', 'fl.wide', 'fl.wide_out', '{id}', start => 'earliest', on_schema_change => 'add_columns') AS wide_flow;
SELECT medallion.create_flow('wide_t', 'fl.wide', 'fl.wide_t', '{id}', start => 'earliest', on_schema_change => 'add_columns',
	transform => 'SELECT id, amount::numeric AS amount, _change_type, _commit_version, _change_seq FROM batch') AS wide_t_flow;
SELECT rows_in, inserted, status FROM medallion.run_flow('wide');
SELECT rows_in, inserted, status FROM medallion.run_flow('wide_t');
ALTER TABLE fl.wide ADD COLUMN note text, ADD COLUMN qty int;
INSERT INTO fl.wide VALUES (2, '2', 'new', 5);
UPDATE fl.wide SET note = 'old row' WHERE id = 1;
SELECT rows_in, inserted, updated, status FROM medallion.run_flow('wide');
SELECT id, amount, note, qty FROM fl.wide_out ORDER BY id;
-- A transform listing its columns keeps its output: the target is left as it is.
SELECT rows_in, inserted, updated, status FROM medallion.run_flow('wide_t');
SELECT string_agg(attname, ', ' ORDER BY attnum) AS wide_t_columns FROM pg_attribute
	WHERE attrelid = 'fl.wide_t'::regclass AND attnum > 0 AND NOT attisdropped;
SELECT fl.try($$SELECT medallion.create_flow('w', 'fl.wide', 'fl.wide_out', '{id}', on_schema_change => 'grow')$$);
-- An output whose columns would move (the new ones before the transform's own) fails the run.
CREATE TABLE fl.wide_s (id int PRIMARY KEY, amount text, note text, qty int, one int, _commit_version bigint, _change_seq bigint);
SELECT medallion.create_flow('wide_s', 'fl.wide', 'fl.wide_s', '{id}', start => 'earliest', on_schema_change => 'add_columns',
	transform => 'SELECT b.*, 1 AS one FROM batch b') AS wide_s_flow;
SELECT rows_in, inserted, status FROM medallion.run_flow('wide_s');
ALTER TABLE fl.wide ADD COLUMN late_col text;
INSERT INTO fl.wide VALUES (3, '3');
SELECT fl.try($$SELECT * FROM medallion.run_flow('wide_s')$$);
SELECT count(*) AS wide_s_rows FROM fl.wide_s;
SELECT medallion.drop_flow('wide_s');
DROP TABLE fl.wide_s;
SELECT medallion.drop_flow('wide'), medallion.drop_flow('wide_t');
SELECT medallion.disable_feed('fl.wide');
DROP TABLE fl.wide, fl.wide_out, fl.wide_t;

REVOKE USAGE ON SCHEMA fl FROM flow_stranger;
DROP ROLE flow_stranger;
DROP EXTENSION pg_medallion CASCADE;
DROP SCHEMA medallion;
DROP SCHEMA fl CASCADE;
DROP ROLE "FlowOwner", flowowner;
