-- pg_medallion 0.3.0 -> 0.4.0
\echo Use "ALTER EXTENSION pg_medallion UPDATE TO '0.4.0'" to load this file. \quit

-- A run whose transform raises a data error over the whole batch returns 'isolate' to run_flow, which
-- transforms the batch again in ranges of rows, following the row noted last by
-- medallion._flow_row_seen (page by page and by halves when that does not find it), and calls again
-- with 'isolated' (src/flow/isolate.c).  A run reads the batch's columns by name (on_schema_change
-- 'ignore').  Owners of existing flows may note rows, as create_flow grants.  New: resume_flow,
-- alter_flow.
CREATE FUNCTION medallion._flow_row_seen(pg_catalog.tid)
RETURNS boolean
LANGUAGE C STRICT VOLATILE
AS 'MODULE_PATHNAME', 'medallion_flow_row_seen';
REVOKE ALL ON FUNCTION medallion._flow_row_seen(pg_catalog.tid) FROM PUBLIC;
COMMENT ON FUNCTION medallion._flow_row_seen(pg_catalog.tid) IS
	'Internal: notes a row of a flow''s batch as it enters the transform while a run isolates the rows it refuses; true. Executable by flow owners';

CREATE OR REPLACE FUNCTION medallion._flow_run(flow jsonb, expectations jsonb, run_id bigint, replay text)
RETURNS jsonb
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
	batch_t text := flow->>'batch_table';
	out_t text := flow->>'output_table';
	quarantine_t text := flow->>'quarantine_table';
	transform text := flow->>'transform';
	rows_in bigint;
	rows_out bigint := 0;
	transform_errors bigint := 0;
	n bigint;
	e record;
	m record;
	counts jsonb := '{}';
	dropped bigint := 0;
	quarantined bigint := 0;
	warned bigint := 0;
	merged_in bigint;
	preimages bigint := 0;
	merged bigint;
	transformed_sql text;
	columns text;
	writes text := '';
	late_when text;
	newest_event timestamptz;
BEGIN
	IF flow ? 'isolated' THEN
		-- Called again after run_flow transformed the batch a page at a time, the rows that raise
		-- quarantined (medallion._flow_run returned 'isolate'): batch and output are staged.
		rows_in := (flow->'isolated'->>'rows_in')::bigint;
		rows_out := (flow->'isolated'->>'rows_out')::bigint;
		transform_errors := (flow->'isolated'->>'transform_errors')::bigint;
	ELSE
		EXECUTE format('TRUNCATE %s, %s', batch_t, out_t);
		SELECT string_agg(quote_ident(a.attname), ', ' ORDER BY a.attnum) INTO columns
		FROM pg_attribute a WHERE a.attrelid = batch_t::regclass AND a.attnum > 0 AND NOT a.attisdropped;
		IF replay IS NULL THEN
			-- The batch's columns by name: with on_schema_change 'ignore' the feed may give more.
			EXECUTE format('INSERT INTO %s (%s) SELECT %s FROM %s(%L::text, %s::integer)', batch_t, columns, columns,
						   flow->>'reader', flow->>'consumer', coalesce(flow->>'max_versions_per_run', 'NULL'));
			GET DIAGNOSTICS rows_in = ROW_COUNT;
		ELSE
			-- A replay: the quarantined rows that match, out of the quarantine; rows the transform refused go
			-- through it again, rows an expectation refused are checked again.  The merge's sequence guard
			-- keeps an old row from overwriting a newer one.
			EXECUTE format('WITH r AS (DELETE FROM %s AS q WHERE NOT q.transformed AND (%s) RETURNING q.record) '
						   'INSERT INTO %s SELECT (pg_catalog.jsonb_populate_record(NULL::%s, r.record)).* FROM r',
						   quarantine_t, replay, batch_t, batch_t);
			GET DIAGNOSTICS rows_in = ROW_COUNT;
			EXECUTE format('WITH r AS (DELETE FROM %s AS q WHERE q.transformed AND (%s) RETURNING q.record) '
						   'INSERT INTO %s SELECT (pg_catalog.jsonb_populate_record(NULL::%s, r.record)).* FROM r',
						   quarantine_t, replay, out_t, out_t);
			GET DIAGNOSTICS n = ROW_COUNT;
			rows_in := rows_in + n;
			rows_out := n;
		END IF;

		-- The transform over the whole batch.  A data error (class 22: a bad cast, malformed JSON) rolls
		-- it back and returns 'isolate' with the statements run_flow needs to transform the batch again a
		-- page at a time, isolating the rows that raise (src/flow/isolate.c); it then calls again with
		-- 'isolated'.  Other errors fail the run.
		transformed_sql := CASE WHEN transform IS NULL THEN format('SELECT * FROM %s', batch_t)
			ELSE format('WITH batch AS (SELECT * FROM %s) SELECT * FROM (%s) AS t', batch_t, transform) END;
		BEGIN
			EXECUTE format('INSERT INTO %s SELECT * FROM (%s) AS s', out_t, transformed_sql);
			GET DIAGNOSTICS n = ROW_COUNT;
			rows_out := rows_out + n;
		EXCEPTION WHEN data_exception THEN
			-- range_insert_noting also notes each row as it enters the transform: when the transform
			-- takes rows one by one, the row noted last when it raised is the one that raised.
			RETURN jsonb_build_object('isolate', true, 'rows_in', rows_in, 'rows_out', rows_out,
				'range_insert', format('INSERT INTO %s SELECT * FROM (WITH batch AS (SELECT * FROM %s AS b '
									   'WHERE b.ctid OPERATOR(pg_catalog.>=) $1 AND b.ctid OPERATOR(pg_catalog.<) $2) '
									   'SELECT * FROM (%s) AS t) AS s', out_t, batch_t, coalesce(transform, 'SELECT * FROM batch')),
				'range_insert_noting', format('INSERT INTO %s SELECT * FROM (WITH batch AS (SELECT b.* FROM %s AS b '
									   'WHERE b.ctid OPERATOR(pg_catalog.>=) $1 AND b.ctid OPERATOR(pg_catalog.<) $2 '
									   'AND medallion._flow_row_seen(b.ctid)) '
									   'SELECT * FROM (%s) AS t) AS s', out_t, batch_t, coalesce(transform, 'SELECT * FROM batch')),
				'quarantine_insert', format('INSERT INTO %s (run_id, rule, source_version, error, record, transformed) '
											'SELECT $2, ''transform'', b._commit_version, $3, pg_catalog.to_jsonb(b), false '
											'FROM %s AS b WHERE b.ctid OPERATOR(pg_catalog.=) $1', quarantine_t, batch_t));
		END;
	END IF;

	-- Expectations, the strictest first: a row is counted by the first one it violates.  They judge
	-- the rows that write values: a feed's deletes, pre-images and truncates pass.
	IF EXISTS (SELECT 1 FROM pg_attribute WHERE attrelid = out_t::regclass AND attname = '_change_type' AND NOT attisdropped) THEN
		writes := ' AND batch._change_type::text NOT IN (''delete'', ''update_preimage'', ''truncate'')';
	END IF;
	-- Late rows: older than the flow's event-time watermark as it was before this run.  They are set
	-- aside before the expectations judge (rule 'late'), or merged and counted, as the flow says.  A
	-- replay takes quarantined late rows as they are: replaying them accepts them.
	IF flow->>'event_time' IS NOT NULL AND flow->>'event_watermark' IS NOT NULL AND replay IS NULL THEN
		late_when := format('(batch.%I)::pg_catalog.timestamptz OPERATOR(pg_catalog.<) %L::pg_catalog.timestamptz',
							flow->>'event_time', flow->>'event_watermark');
		IF flow->>'late_rows' = 'merge' THEN
			EXECUTE format('SELECT count(*) FROM %s AS batch WHERE %s%s', out_t, late_when, writes) INTO n;
		ELSE
			EXECUTE format('WITH late AS (DELETE FROM %s AS batch WHERE %s%s RETURNING batch.*) '
						   'INSERT INTO %s (run_id, rule, source_version, error, record, transformed) '
						   'SELECT $1, ''late'', (to_jsonb(late)->>''_commit_version'')::bigint, $2, to_jsonb(late), true FROM late',
						   out_t, late_when, writes, quarantine_t)
				USING run_id, format('event time older than the flow''s event-time watermark %s', flow->>'event_watermark');
			GET DIAGNOSTICS n = ROW_COUNT;
			quarantined := quarantined + n;
		END IF;
		counts := counts || jsonb_build_object('late', n);
	END IF;
	FOR e IN SELECT x.name, x.predicate, x.action
			 FROM jsonb_to_recordset(expectations) AS x(name text, predicate text, action text)
			 ORDER BY CASE x.action WHEN 'fail' THEN 0 WHEN 'quarantine' THEN 1 WHEN 'drop' THEN 2 ELSE 3 END, x.name LOOP
		IF e.action = 'fail' THEN
			EXECUTE format('SELECT count(*) FROM %s AS batch WHERE NOT coalesce((%s), false)%s', out_t, e.predicate, writes) INTO n;
			IF n > 0 THEN
				RAISE EXCEPTION 'expectation "%" of flow "%" failed for % row(s)', e.name, flow->>'name', n
					USING ERRCODE = 'check_violation',
						  HINT = 'Nothing was merged and the watermark did not move. Fix the source rows or the expectation, then run the flow again.';
			END IF;
		ELSIF e.action = 'quarantine' THEN
			EXECUTE format('WITH bad AS (DELETE FROM %s AS batch WHERE NOT coalesce((%s), false)%s RETURNING batch.*) '
						   'INSERT INTO %s (run_id, rule, source_version, error, record, transformed) '
						   'SELECT $1, $2, (to_jsonb(bad)->>''_commit_version'')::bigint, NULL, to_jsonb(bad), true FROM bad',
						   out_t, e.predicate, writes, quarantine_t) USING run_id, e.name;
			GET DIAGNOSTICS n = ROW_COUNT;
			quarantined := quarantined + n;
		ELSIF e.action = 'drop' THEN
			EXECUTE format('DELETE FROM %s AS batch WHERE NOT coalesce((%s), false)%s', out_t, e.predicate, writes);
			GET DIAGNOSTICS n = ROW_COUNT;
			dropped := dropped + n;
		ELSE
			EXECUTE format('SELECT count(*) FROM %s AS batch WHERE NOT coalesce((%s), false)%s', out_t, e.predicate, writes) INTO n;
			warned := warned + n;
		END IF;
		counts := counts || jsonb_build_object(e.name, n);
	END LOOP;

	EXECUTE format('SELECT count(*) FROM %s', out_t) INTO merged_in;
	-- The newest event time this run merges: run_flow moves the event-time watermark after it.
	IF flow->>'event_time' IS NOT NULL THEN
		EXECUTE format('SELECT max((batch.%I)::pg_catalog.timestamptz) FROM %s AS batch WHERE true%s',
					   flow->>'event_time', out_t, writes) INTO newest_event;
	END IF;
	IF to_regclass(out_t) IS NOT NULL AND EXISTS (SELECT 1 FROM pg_attribute
		WHERE attrelid = out_t::regclass AND attname = '_change_type' AND NOT attisdropped) THEN
		EXECUTE format('SELECT count(*) FROM %s WHERE _change_type::text = ''update_preimage''', out_t) INTO preimages;
	END IF;
	SELECT * INTO m FROM medallion.apply_changes((flow->>'target')::oid::regclass, out_t,
		ARRAY(SELECT jsonb_array_elements_text(flow->'keys')),
		ARRAY(SELECT jsonb_array_elements_text(flow->'sequence_by')),
		flow->>'delete_when', flow->>'truncate_when',
		CASE WHEN jsonb_typeof(flow->'columns') = 'array' THEN ARRAY(SELECT jsonb_array_elements_text(flow->'columns')) END,
		CASE WHEN jsonb_typeof(flow->'except_columns') = 'array' THEN ARRAY(SELECT jsonb_array_elements_text(flow->'except_columns')) END,
		(flow->>'ignore_null_updates')::boolean, (flow->>'scd_type')::integer,
		CASE WHEN jsonb_typeof(flow->'track_history_columns') = 'array' THEN ARRAY(SELECT jsonb_array_elements_text(flow->'track_history_columns')) END);

	-- The counts reconcile, or the run fails: every transformed row is dropped, quarantined or merged,
	-- and every merged row is counted by the merge once, but pre-images it pairs with their post-image.
	merged := m.inserted + m.updated + m.deleted + m.unchanged + m.stale_skipped + m.rejected;
	IF rows_out <> dropped + quarantined + merged_in OR merged > merged_in OR merged_in - merged > preimages THEN
		RAISE EXCEPTION 'the counts of a run of flow "%" do not reconcile', flow->>'name'
			USING ERRCODE = 'internal_error',
				  DETAIL = format('rows out %s, dropped %s, quarantined %s, merged in %s, merge counted %s, pre-images %s',
								  rows_out, dropped, quarantined, merged_in, merged, preimages);
	END IF;
	EXECUTE format('TRUNCATE %s, %s', batch_t, out_t);
	RETURN jsonb_build_object('rows_in', rows_in, 'rows_out', rows_out, 'inserted', m.inserted,
		'updated', m.updated, 'deleted', m.deleted, 'unchanged', m.unchanged, 'stale', m.stale_skipped,
		'rejected', m.rejected, 'dropped', dropped, 'quarantined', quarantined + transform_errors,
		'warned', warned, 'expectations', counts, 'newest_event_time', newest_event);
END
$$;
REVOKE ALL ON FUNCTION medallion._flow_run(jsonb, jsonb, bigint, text) FROM PUBLIC;
COMMENT ON FUNCTION medallion._flow_run(jsonb, jsonb, bigint, text) IS
	'Internal: the work of one run (or replay), run by run_flow and replay_quarantine as the flow''s owner';

DO $$
DECLARE
	owner_name text;
BEGIN
	FOR owner_name IN SELECT DISTINCT f.owner::regrole::text FROM medallion.flow f LOOP
		EXECUTE format('GRANT EXECUTE ON FUNCTION medallion._flow_row_seen(pg_catalog.tid) TO %s', owner_name);
	END LOOP;
END
$$;

CREATE FUNCTION medallion.resume_flow(name text)
RETURNS void
LANGUAGE sql
SET search_path = pg_catalog, pg_temp
AS $$SELECT medallion.pause_flow(name, false)$$;
COMMENT ON FUNCTION medallion.resume_flow(text) IS 'Resumes a paused flow (pause_flow with paused => false)';

CREATE FUNCTION medallion.alter_flow(name text, transform text DEFAULT NULL, max_versions_per_run integer DEFAULT NULL)
RETURNS void
LANGUAGE C
AS 'MODULE_PATHNAME', 'medallion_alter_flow';
COMMENT ON FUNCTION medallion.alter_flow(text, text, integer) IS
	'Changes a flow''s transform (an empty one for none) and/or max_versions_per_run (0 for no limit) between runs; recorded in altered_at and definition_hash';

-- BEGIN continuous, graph, late data
-- Continuous flows (the flow runner), the flow graph, late data: the flow row says which flows run
-- continuously and what their event-time watermark is; create_flow takes event_time,
-- allowed_lateness and late_rows; medallion.flows shows them and the flows upstream.
ALTER TABLE medallion.flow
	ADD COLUMN continuous				boolean NOT NULL DEFAULT false,
	ADD COLUMN event_time				text,
	ADD COLUMN allowed_lateness		interval,
	ADD COLUMN late_rows				text NOT NULL DEFAULT 'quarantine' CHECK (late_rows IN ('quarantine', 'merge')),
	ADD COLUMN event_watermark			timestamptz;
COMMENT ON COLUMN medallion.flow.continuous IS
	'Run by the flow runner whenever its source may have new changes (schedule_flow(name, ''continuous''))';
COMMENT ON COLUMN medallion.flow.event_time IS 'The output column whose time the event-time watermark follows, or NULL';
COMMENT ON COLUMN medallion.flow.allowed_lateness IS 'How far behind the newest event time seen a row may be and not be late';
COMMENT ON COLUMN medallion.flow.late_rows IS 'What a run does with late rows: quarantine them (rule ''late'') or merge them (counted)';
COMMENT ON COLUMN medallion.flow.event_watermark IS
	'The newest event time merged by a run, less allowed_lateness: rows older than this are late';
DROP FUNCTION medallion.create_flow(text, regclass, regclass, text[], text[], text, integer, text, text,
								 text[], text[], boolean, text[], integer, text, text);
CREATE FUNCTION medallion.create_flow(name text, source regclass, target regclass, keys text[],
									  sequence_by text[] DEFAULT '{_commit_version,_change_seq}',
									  transform text DEFAULT NULL, scd_type integer DEFAULT 1,
									  delete_when text DEFAULT NULL, truncate_when text DEFAULT NULL,
									  columns text[] DEFAULT NULL, except_columns text[] DEFAULT NULL,
									  ignore_null_updates boolean DEFAULT false,
									  track_history_columns text[] DEFAULT NULL,
									  max_versions_per_run integer DEFAULT NULL, start text DEFAULT 'snapshot',
									  on_schema_change text DEFAULT 'fail', event_time text DEFAULT NULL,
									  allowed_lateness interval DEFAULT NULL, late_rows text DEFAULT 'quarantine')
RETURNS integer
LANGUAGE C
AS 'MODULE_PATHNAME', 'medallion_create_flow';
COMMENT ON FUNCTION medallion.create_flow(text, regclass, regclass, text[], text[], text, integer, text, text,
										  text[], text[], boolean, text[], integer, text, text, text, interval, text) IS
	'Declares a flow from a fed source into a target (a consumer, a transform, the merge options); returns its id';

CREATE OR REPLACE VIEW medallion.flows WITH (security_barrier) AS
SELECT f.name, f.owner, f.source, f.target, f.consumer, f.keys, f.sequence_by, f.transform, f.scd_type,
	   f.max_versions_per_run, f.on_schema_change, f.paused, f.definition_hash, f.created_at, f.altered_at,
	   (SELECT pg_catalog.count(*) FROM medallion.expectation e WHERE e.flow_id OPERATOR(pg_catalog.=) f.flow_id) AS expectations,
	   r.run_id AS last_run_id, r.status AS last_status, r.finished_at AS last_run_at,
	   f.continuous, f.event_time, f.allowed_lateness, f.late_rows, f.event_watermark,
	   ARRAY(SELECT u.name FROM medallion.flow u WHERE u.target OPERATOR(pg_catalog.=) f.source
			 AND pg_catalog.pg_has_role(u.owner, 'MEMBER') ORDER BY u.name) AS upstream
FROM medallion.flow f
LEFT JOIN LATERAL (SELECT * FROM medallion.flow_run x WHERE x.flow_id OPERATOR(pg_catalog.=) f.flow_id
				   ORDER BY x.run_id DESC LIMIT 1) r ON true
WHERE pg_catalog.pg_has_role(f.owner, 'MEMBER');
GRANT SELECT ON medallion.flows TO PUBLIC;
COMMENT ON VIEW medallion.flows IS 'The flows whose owner the current role is a member of, with their last run';


COMMENT ON FUNCTION medallion.schedule_flow(text, text) IS
	'Runs a flow on a pg_cron schedule (cron syntax or ''N seconds'', returns the job id) or ''continuous'' (by the flow runner, returns NULL)';
COMMENT ON FUNCTION medallion.unschedule_flow(text) IS 'Stops running a flow continuously and removes its pg_cron job; false if it had neither';
-- END continuous, graph, late data
