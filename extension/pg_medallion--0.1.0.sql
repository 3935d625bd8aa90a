-- pg_medallion 0.1.0: feeds, the version clock and reads.
\echo Use "CREATE EXTENSION pg_medallion" to load this file. \quit

-- Change tables and their typed readers live in their own schema, readable
-- only through the reader functions (which check SELECT on the source).
CREATE SCHEMA medallion_changes;
GRANT USAGE ON SCHEMA medallion TO PUBLIC;
GRANT USAGE ON SCHEMA medallion_changes TO PUBLIC;

CREATE TYPE medallion.change_type AS ENUM
	('insert', 'update_preimage', 'update_postimage', 'delete', 'truncate');
COMMENT ON TYPE medallion.change_type IS
	'Kinds of captured change, with Delta Lake change data feed names';

-- The version clock: one row per closed version, the snapshot that closed it.
-- Version v holds the changes whose writer is visible in snapshot(v) and not
-- in snapshot(v - 1).  Full xids are stored as bigint.
CREATE TABLE medallion.tick (
	version			bigint PRIMARY KEY CHECK (version >= 0),
	snapshot_xmin	bigint NOT NULL,
	snapshot_xmax	bigint NOT NULL,
	snapshot_xip	bigint[] NOT NULL,
	committed_at	timestamptz NOT NULL,
	tick_xid		bigint,			-- the ticking transaction, to tell an idle clock
	CHECK (snapshot_xmin <= snapshot_xmax)
);
COMMENT ON TABLE medallion.tick IS
	'Version clock: the snapshot and timestamp that closed each version';

-- Version 0 sees no transaction: every change belongs to a version >= 1.
INSERT INTO medallion.tick VALUES (0, 3, 3, '{}', pg_catalog.clock_timestamp(), NULL);

-- Statement order keys: drawn while the writer holds its row locks.
CREATE SEQUENCE medallion.change_seq AS bigint;

CREATE TABLE medallion.feed (
	feed_id			serial PRIMARY KEY,
	source			regclass NOT NULL UNIQUE,
	change_table	regclass NOT NULL UNIQUE,
	reader			text NOT NULL,
	mode			text NOT NULL CHECK (mode IN ('trigger', 'logical')),
	enabled_xid		bigint NOT NULL,
	enabled_at		timestamptz NOT NULL DEFAULT pg_catalog.now(),
	partition_span	bigint NOT NULL CHECK (partition_span > 0),
	retained_from	bigint NOT NULL DEFAULT 0,	-- oldest readable version, moved by vacuum
	retention		interval,						-- NULL: pg_medallion.retention
	enabled_lsn		pg_lsn							-- logical feeds: changes committed after it are the feed's
);
COMMENT ON TABLE medallion.feed IS
	'Feeds: one row per captured source table';

SELECT pg_catalog.pg_extension_config_dump('medallion.feed', '');
SELECT pg_catalog.pg_extension_config_dump('medallion.feed_feed_id_seq', '');
SELECT pg_catalog.pg_extension_config_dump('medallion.tick', 'WHERE version > 0');
SELECT pg_catalog.pg_extension_config_dump('medallion.change_seq', '');

REVOKE ALL ON ALL TABLES IN SCHEMA medallion FROM PUBLIC;
REVOKE ALL ON ALL SEQUENCES IN SCHEMA medallion FROM PUBLIC;
GRANT SELECT ON medallion.feed, medallion.tick TO PUBLIC;

-- Capture ---------------------------------------------------------------

CREATE FUNCTION medallion._capture()
RETURNS trigger
LANGUAGE C
AS 'MODULE_PATHNAME', 'medallion_capture';
COMMENT ON FUNCTION medallion._capture() IS
	'Statement-level AFTER trigger that copies transition tables into a change table';

CREATE FUNCTION medallion.enable_feed(source regclass, mode text DEFAULT 'trigger')
RETURNS regclass
LANGUAGE C
AS 'MODULE_PATHNAME', 'medallion_enable_feed';
COMMENT ON FUNCTION medallion.enable_feed(regclass, text) IS
	'Starts capturing the changes of a table; returns its change table';

CREATE FUNCTION medallion.disable_feed(source regclass, keep_changes boolean DEFAULT false)
RETURNS void
LANGUAGE C
AS 'MODULE_PATHNAME', 'medallion_disable_feed';
COMMENT ON FUNCTION medallion.disable_feed(regclass, boolean) IS
	'Stops capturing a table; drops its change table unless keep_changes';

-- Version clock ---------------------------------------------------------

-- Closes the open version if anything committed since the last one, and
-- returns the newest version.  Runs in the tick worker's own transaction,
-- serialised by the lock on medallion.tick.
CREATE FUNCTION medallion._tick()
RETURNS bigint
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
	last medallion.tick;
	s pg_snapshot;
	v bigint;
BEGIN
	LOCK TABLE medallion.tick IN EXCLUSIVE MODE;
	-- A new statement: its snapshot is taken after the lock was granted.
	SELECT * INTO STRICT last FROM medallion.tick ORDER BY version DESC LIMIT 1;
	s := pg_current_snapshot();
	IF pg_snapshot_xmax(s)::text::bigint < last.snapshot_xmax THEN
		-- Versions restored from another cluster: this cluster's xids are not comparable.
		RAISE EXCEPTION 'transaction ids are behind the newest version: version % was closed at xid %, this cluster is at xid %',
			last.version, last.snapshot_xmax, pg_snapshot_xmax(s)
			USING ERRCODE = 'object_not_in_prerequisite_state',
				  HINT = 'medallion.tick was restored from another cluster. Recreate the extension and the feeds in this cluster.';
	END IF;
	-- Nothing but the last tick itself committed since it: the open version is empty.
	IF ARRAY(SELECT x::text::bigint FROM pg_snapshot_xip(s) AS x ORDER BY 1) = last.snapshot_xip
	   AND (pg_snapshot_xmax(s)::text::bigint = last.snapshot_xmax
			OR (last.tick_xid = last.snapshot_xmax
				AND pg_snapshot_xmax(s)::text::bigint = last.snapshot_xmax + 1)) THEN
		RETURN last.version;
	END IF;
	v := last.version + 1;
	INSERT INTO medallion.tick
	VALUES (v,
			pg_snapshot_xmin(s)::text::bigint,
			pg_snapshot_xmax(s)::text::bigint,
			ARRAY(SELECT x::text::bigint FROM pg_snapshot_xip(s) AS x ORDER BY 1),
			greatest(clock_timestamp(), last.committed_at),
			pg_current_xact_id()::text::bigint);
	PERFORM medallion._ensure_partitions();
	RETURN v;
END;
$$;
REVOKE ALL ON FUNCTION medallion._tick() FROM PUBLIC;

CREATE FUNCTION medallion._ensure_partitions()
RETURNS void
LANGUAGE C
AS 'MODULE_PATHNAME', 'medallion_ensure_partitions';
REVOKE ALL ON FUNCTION medallion._ensure_partitions() FROM PUBLIC;

CREATE FUNCTION medallion.current_version()
RETURNS bigint
LANGUAGE C
AS 'MODULE_PATHNAME', 'medallion_current_version';
COMMENT ON FUNCTION medallion.current_version() IS
	'Closes the open version and returns the newest readable version';

CREATE FUNCTION medallion.version_at(at timestamptz)
RETURNS bigint
LANGUAGE sql STABLE STRICT
SET search_path = pg_catalog, pg_temp
AS $$ SELECT max(version) FROM medallion.tick WHERE committed_at <= at $$;
COMMENT ON FUNCTION medallion.version_at(timestamptz) IS
	'The newest version closed at or before a timestamp (NULL if none)';

-- Reads -----------------------------------------------------------------

CREATE FUNCTION medallion._changes(feed_id integer, from_version bigint, to_version bigint)
RETURNS SETOF record
LANGUAGE C
AS 'MODULE_PATHNAME', 'medallion_changes_typed';
COMMENT ON FUNCTION medallion._changes(integer, bigint, bigint) IS
	'Typed read of a feed; called by the generated readers in medallion_changes';

CREATE FUNCTION medallion._version_from_timestamp(from_timestamp timestamptz)
RETURNS bigint
LANGUAGE C
AS 'MODULE_PATHNAME', 'medallion_version_from_timestamp';
COMMENT ON FUNCTION medallion._version_from_timestamp(timestamptz) IS
	'The first version closed at or after a timestamp; an error if there is none';

CREATE FUNCTION medallion._version_to_timestamp(to_timestamp timestamptz)
RETURNS bigint
LANGUAGE C
AS 'MODULE_PATHNAME', 'medallion_version_to_timestamp';
COMMENT ON FUNCTION medallion._version_to_timestamp(timestamptz) IS
	'The last version closed at or before a timestamp (NULL input: close the open version)';

CREATE FUNCTION medallion.table_changes(source regclass, from_version bigint, to_version bigint DEFAULT NULL)
RETURNS TABLE(data jsonb, _change_type medallion.change_type, _commit_version bigint,
			  _commit_timestamp timestamptz, _change_seq bigint)
LANGUAGE C
AS 'MODULE_PATHNAME', 'medallion_table_changes';
COMMENT ON FUNCTION medallion.table_changes(regclass, bigint, bigint) IS
	'Changes of a feed in versions [from_version, to_version], both inclusive, row images as jsonb';

CREATE FUNCTION medallion.table_changes(source regclass, from_timestamp timestamptz,
										to_timestamp timestamptz DEFAULT NULL)
RETURNS TABLE(data jsonb, _change_type medallion.change_type, _commit_version bigint,
			  _commit_timestamp timestamptz, _change_seq bigint)
LANGUAGE sql
SET search_path = pg_catalog, pg_temp
AS $$
	SELECT * FROM medallion.table_changes(source,
		medallion._version_from_timestamp(from_timestamp),
		medallion._version_to_timestamp(to_timestamp))
$$;
COMMENT ON FUNCTION medallion.table_changes(regclass, timestamptz, timestamptz) IS
	'Changes of a feed in the versions closed in [from_timestamp, to_timestamp], both inclusive';

CREATE FUNCTION medallion.first_version(source regclass)
RETURNS bigint
LANGUAGE C
AS 'MODULE_PATHNAME', 'medallion_first_version';
COMMENT ON FUNCTION medallion.first_version(regclass) IS
	'The first version of a feed (the one its enable committed in); NULL while the enable is uncommitted';

-- Application names of writers, by the id stored in each change row (_app); see application.c.
CREATE TABLE medallion.application (
	app_id	integer PRIMARY KEY,
	name	text NOT NULL
);
COMMENT ON TABLE medallion.application IS 'application_name of writing sessions, by the id change rows carry';
SELECT pg_catalog.pg_extension_config_dump('medallion.application', '');
GRANT SELECT ON medallion.application TO PUBLIC;

CREATE FUNCTION medallion._feed_id(source regclass)
RETURNS integer
LANGUAGE sql STABLE
SET search_path = pg_catalog, pg_temp
AS $$ SELECT feed_id FROM medallion.feed WHERE feed.source = _feed_id.source $$;

CREATE FUNCTION medallion.history(source regclass)
RETURNS TABLE(version bigint, commit_timestamp timestamptz, operations text[], rows bigint, inserts bigint,
			  updates bigint, deletes bigint, truncates bigint, roles text[], applications text[])
LANGUAGE sql
SET search_path = pg_catalog, pg_temp
AS $$
	SELECT c._commit_version, c._commit_timestamp,
		   array_agg(DISTINCT CASE c._change_type WHEN 'insert' THEN 'INSERT' WHEN 'delete' THEN 'DELETE'
								   WHEN 'truncate' THEN 'TRUNCATE' ELSE 'UPDATE' END),
		   count(*) FILTER (WHERE c._change_type <> 'update_preimage'),
		   count(*) FILTER (WHERE c._change_type = 'insert'),
		   count(*) FILTER (WHERE c._change_type = 'update_postimage'),
		   count(*) FILTER (WHERE c._change_type = 'delete'),
		   count(*) FILTER (WHERE c._change_type = 'truncate'),
		   array_agg(DISTINCT coalesce(r.rolname::text, c._role::text)),
		   array_remove(array_agg(DISTINCT CASE WHEN c._app = 0 THEN NULL
												ELSE coalesce(a.name, '#' || c._app) END), NULL)
	FROM medallion._changes(medallion._feed_id(source),
							coalesce(medallion.first_version(source), medallion.current_version()), NULL)
		 AS c(_role oid, _app integer, _change_type medallion.change_type, _commit_version bigint,
			  _commit_timestamp timestamptz, _change_seq bigint)
	LEFT JOIN pg_roles AS r ON r.oid = c._role
	LEFT JOIN medallion.application AS a ON a.app_id = c._app
	GROUP BY 1, 2
	ORDER BY 1
$$;
COMMENT ON FUNCTION medallion.history(regclass) IS
	'Per version of a feed that has changes: commit time, operations, row counts, roles and applications';

CREATE VIEW medallion.feeds AS
SELECT f.feed_id, f.source, f.change_table, f.reader, f.mode, f.enabled_at,
	   medallion.first_version(f.source) AS first_version
FROM medallion.feed AS f;
COMMENT ON VIEW medallion.feeds IS 'Feeds with their first version';
GRANT SELECT ON medallion.feeds TO PUBLIC;

CREATE FUNCTION medallion._truncate_guard()
RETURNS trigger
LANGUAGE C
AS 'MODULE_PATHNAME', 'medallion_truncate_guard';
COMMENT ON FUNCTION medallion._truncate_guard() IS
	'BEFORE TRUNCATE trigger that refuses truncating one partition of a fed table';

CREATE INDEX ON medallion.tick (snapshot_xmax);

-- Partitions created, attached or detached after enable_feed: keep their capture triggers in step.
CREATE FUNCTION medallion._sync_partition_triggers()
RETURNS event_trigger
LANGUAGE C
AS 'MODULE_PATHNAME', 'medallion_sync_partition_triggers';
COMMENT ON FUNCTION medallion._sync_partition_triggers() IS
	'Event trigger: adds capture triggers to new partitions of fed tables, removes them from detached ones';

CREATE EVENT TRIGGER medallion_partitions ON ddl_command_end
	WHEN TAG IN ('CREATE TABLE', 'ALTER TABLE')
	EXECUTE FUNCTION medallion._sync_partition_triggers();

-- A fed table that is dropped takes its feed along: readers and catalog row go, the change table
-- stays (with a notice) so its history is not lost silently.
CREATE FUNCTION medallion._detach_dropped_feeds()
RETURNS event_trigger
LANGUAGE C
AS 'MODULE_PATHNAME', 'medallion_detach_dropped_feeds';
COMMENT ON FUNCTION medallion._detach_dropped_feeds() IS
	'Event trigger: detaches the feeds of dropped tables, keeping their change tables';

CREATE EVENT TRIGGER medallion_dropped_sources ON sql_drop
	EXECUTE FUNCTION medallion._detach_dropped_feeds();

-- The database's replication slot is not an object PostgreSQL can make depend on the extension:
-- a command that may drop the extension asks for the slot to be dropped at commit if it did.
CREATE FUNCTION medallion._note_extension_drop()
RETURNS event_trigger
LANGUAGE C
AS 'MODULE_PATHNAME', 'medallion_note_extension_drop';
COMMENT ON FUNCTION medallion._note_extension_drop() IS
	'Event trigger: a command that may drop pg_medallion drops its replication slot at commit if it did';

CREATE EVENT TRIGGER medallion_extension_drop ON ddl_command_start
	WHEN TAG IN ('DROP EXTENSION', 'DROP SCHEMA', 'DROP OWNED')
	EXECUTE FUNCTION medallion._note_extension_drop();

-- Consumers and watermarks ----------------------------------------------

CREATE TABLE medallion.consumer (
	consumer	text PRIMARY KEY CHECK (length(consumer) BETWEEN 1 AND 200),
	owner		regrole NOT NULL,
	start		text NOT NULL,
	created_at	timestamptz NOT NULL DEFAULT pg_catalog.now()
);
COMMENT ON TABLE medallion.consumer IS 'Consumers: named readers of feeds';

-- The watermark table: one row per (consumer, feed), the last version fully consumed (inclusive).
CREATE TABLE medallion.consumer_feed (
	consumer	text NOT NULL REFERENCES medallion.consumer ON DELETE CASCADE,
	feed_id		integer NOT NULL REFERENCES medallion.feed,
	watermark	bigint NOT NULL CHECK (watermark >= 0),
	updated_at	timestamptz NOT NULL DEFAULT pg_catalog.now(),
	last_run_id	text,
	snapshot_table regclass,	-- start 'snapshot': the rows as of version `watermark`, until first read
	PRIMARY KEY (consumer, feed_id)
);
COMMENT ON TABLE medallion.consumer_feed IS
	'Watermarks: per consumer and feed, the last version fully consumed; the next read starts after it';

-- Marks of sources outside the database: offsets, timestamps, LSNs, opaque text.
CREATE TABLE medallion.external_watermark (
	pipeline	text NOT NULL CHECK (pipeline <> ''),
	source		text NOT NULL CHECK (source <> ''),
	kind		text NOT NULL CHECK (kind IN ('bigint', 'timestamptz', 'lsn', 'text')),
	value		text,
	allowed_lateness interval CHECK (allowed_lateness >= interval '0'),
	owner		regrole NOT NULL DEFAULT pg_catalog.current_user()::regrole,
	updated_at	timestamptz NOT NULL DEFAULT pg_catalog.now(),
	last_run_id	text,
	PRIMARY KEY (pipeline, source)
);
COMMENT ON TABLE medallion.external_watermark IS
	'Watermarks of sources outside the database, one per (pipeline, source), advancing monotonically';

-- Every explicit move of a watermark: creation, reset, forced rewind, drop.
CREATE TABLE medallion.watermark_log (
	at			timestamptz NOT NULL DEFAULT pg_catalog.clock_timestamp(),
	name		text NOT NULL,
	source		text NOT NULL,
	action		text NOT NULL,
	old_value	text,
	new_value	text,
	run_id		text,
	by_role		name NOT NULL DEFAULT pg_catalog.session_user()
);
COMMENT ON TABLE medallion.watermark_log IS 'Audit of watermark creations, resets, forced moves and drops';

SELECT pg_catalog.pg_extension_config_dump('medallion.consumer', '');
SELECT pg_catalog.pg_extension_config_dump('medallion.consumer_feed', '');
SELECT pg_catalog.pg_extension_config_dump('medallion.external_watermark', '');
SELECT pg_catalog.pg_extension_config_dump('medallion.watermark_log', '');
REVOKE ALL ON medallion.consumer, medallion.consumer_feed, medallion.external_watermark,
	medallion.watermark_log FROM PUBLIC;
GRANT SELECT ON medallion.consumer, medallion.consumer_feed, medallion.external_watermark,
	medallion.watermark_log TO PUBLIC;

-- External marks are written through the functions below, as the caller: row-level security lets
-- each role move only the marks it owns (or its roles own), and write the log only as itself.
GRANT INSERT, UPDATE ON medallion.external_watermark TO PUBLIC;
GRANT INSERT ON medallion.watermark_log TO PUBLIC;
ALTER TABLE medallion.external_watermark ENABLE ROW LEVEL SECURITY;
CREATE POLICY owner_reads ON medallion.external_watermark FOR SELECT USING (true);
CREATE POLICY owner_creates ON medallion.external_watermark FOR INSERT
	WITH CHECK (pg_catalog.pg_has_role(owner, 'MEMBER'));
CREATE POLICY owner_moves ON medallion.external_watermark FOR UPDATE
	USING (pg_catalog.pg_has_role(owner, 'MEMBER'));
ALTER TABLE medallion.watermark_log ENABLE ROW LEVEL SECURITY;
CREATE POLICY everyone_reads ON medallion.watermark_log FOR SELECT USING (true);
CREATE POLICY write_as_yourself ON medallion.watermark_log FOR INSERT
	WITH CHECK (by_role = pg_catalog.session_user());

CREATE VIEW medallion.consumers AS
SELECT c.consumer, c.owner, f.source AS feed, cf.watermark, cf.watermark + 1 AS next_version,
	   t.newest AS newest_version, greatest(t.newest - cf.watermark, 0) AS lag_versions,
	   cf.updated_at, cf.last_run_id
FROM medallion.consumer c
JOIN medallion.consumer_feed cf USING (consumer)
JOIN medallion.feed f USING (feed_id)
CROSS JOIN (SELECT max(version) AS newest FROM medallion.tick) t;
COMMENT ON VIEW medallion.consumers IS 'Consumers with their watermark and lag per feed';
GRANT SELECT ON medallion.consumers TO PUBLIC;

CREATE FUNCTION medallion.create_consumer(name text, feeds regclass[], start text DEFAULT 'latest')
RETURNS TABLE(feed regclass, watermark bigint)
LANGUAGE C
AS 'MODULE_PATHNAME', 'medallion_create_consumer';
COMMENT ON FUNCTION medallion.create_consumer(text, regclass[], text) IS
	'Registers a consumer of feeds starting at ''latest'', ''earliest'', ''snapshot'' or a version; returns its watermarks';

CREATE FUNCTION medallion.drop_consumer(name text)
RETURNS void
LANGUAGE C
AS 'MODULE_PATHNAME', 'medallion_drop_consumer';
COMMENT ON FUNCTION medallion.drop_consumer(text) IS 'Removes a consumer and its watermarks';

CREATE FUNCTION medallion.reset_consumer(name text, to_version bigint, feed regclass DEFAULT NULL)
RETURNS TABLE(feed regclass, old_watermark bigint, new_watermark bigint)
LANGUAGE C
AS 'MODULE_PATHNAME', 'medallion_reset_consumer';
COMMENT ON FUNCTION medallion.reset_consumer(text, bigint, regclass) IS
	'Moves a consumer''s watermark (rewind or skip) on one feed or all; logged in medallion.watermark_log';

CREATE FUNCTION medallion.consume(consumer text, feed regclass, max_versions integer DEFAULT NULL,
								  nowait boolean DEFAULT false, net boolean DEFAULT false)
RETURNS TABLE(data jsonb, _change_type medallion.change_type, _commit_version bigint,
			  _commit_timestamp timestamptz, _change_seq bigint)
LANGUAGE C
AS 'MODULE_PATHNAME', 'medallion_consume';
COMMENT ON FUNCTION medallion.consume(text, regclass, integer, boolean, boolean) IS
	'Reads the versions (watermark, newest] of a feed and advances the watermark in the caller''s transaction';

CREATE FUNCTION medallion.peek(consumer text, feed regclass, max_versions integer DEFAULT NULL,
							   net boolean DEFAULT false)
RETURNS TABLE(data jsonb, _change_type medallion.change_type, _commit_version bigint,
			  _commit_timestamp timestamptz, _change_seq bigint)
LANGUAGE C
AS 'MODULE_PATHNAME', 'medallion_peek';
COMMENT ON FUNCTION medallion.peek(text, regclass, integer, boolean) IS
	'Reads what consume would read, without advancing the watermark';

CREATE FUNCTION medallion._consume(feed_id integer, consumer text, max_versions integer,
								   nowait boolean, peek boolean, net boolean)
RETURNS SETOF record
LANGUAGE C
AS 'MODULE_PATHNAME', 'medallion_consume_typed';
COMMENT ON FUNCTION medallion._consume(integer, text, integer, boolean, boolean, boolean) IS
	'Typed consume of a feed; called by the generated readers in medallion_changes';

-- External watermarks ----------------------------------------------------

CREATE FUNCTION medallion._external_mark(pipeline text, source text)
RETURNS medallion.external_watermark
LANGUAGE plpgsql STABLE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
	mark medallion.external_watermark;
BEGIN
	IF pipeline IS NULL OR source IS NULL THEN
		RAISE EXCEPTION 'pipeline and source must not be NULL'
			USING ERRCODE = 'null_value_not_allowed', HINT = 'Name the pipeline and the source it reads.';
	END IF;
	SELECT * INTO mark FROM medallion.external_watermark w WHERE w.pipeline = $1 AND w.source = $2;
	IF NOT FOUND THEN
		RAISE EXCEPTION 'watermark of pipeline "%" on source "%" does not exist', pipeline, source
			USING ERRCODE = 'undefined_object', HINT = 'Create it with medallion.create_watermark().';
	END IF;
	RETURN mark;
END $$;

CREATE FUNCTION medallion._mark_less(kind text, a text, b text)
RETURNS boolean
LANGUAGE sql IMMUTABLE
SET search_path = pg_catalog, pg_temp
AS $$
	SELECT CASE kind
		WHEN 'bigint' THEN a::bigint < b::bigint
		WHEN 'timestamptz' THEN a::timestamptz < b::timestamptz
		WHEN 'lsn' THEN a::pg_lsn < b::pg_lsn
		ELSE a COLLATE "C" < b COLLATE "C" END
$$;

CREATE FUNCTION medallion.create_watermark(pipeline text, source text, kind text,
										   allowed_lateness interval DEFAULT NULL)
RETURNS void
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
	IF pipeline IS NULL OR source IS NULL OR kind IS NULL THEN
		RAISE EXCEPTION 'pipeline, source and kind must not be NULL'
			USING ERRCODE = 'null_value_not_allowed', HINT = 'Kinds are bigint, timestamptz, lsn and text.';
	END IF;
	IF kind NOT IN ('bigint', 'timestamptz', 'lsn', 'text') THEN
		RAISE EXCEPTION 'unknown watermark kind "%"', kind
			USING ERRCODE = 'invalid_parameter_value', HINT = 'Kinds are bigint, timestamptz, lsn and text.';
	END IF;
	IF allowed_lateness IS NOT NULL AND (kind <> 'timestamptz' OR allowed_lateness < interval '0') THEN
		RAISE EXCEPTION 'allowed_lateness needs a timestamptz watermark and a non-negative interval'
			USING ERRCODE = 'invalid_parameter_value', HINT = 'Event-time watermarks have kind timestamptz.';
	END IF;
	INSERT INTO medallion.external_watermark (pipeline, source, kind, allowed_lateness)
	VALUES (pipeline, source, kind, allowed_lateness);
	INSERT INTO medallion.watermark_log (name, source, action, new_value)
	VALUES (pipeline, source, 'create', kind);
EXCEPTION WHEN unique_violation THEN
	RAISE EXCEPTION 'watermark of pipeline "%" on source "%" already exists', pipeline, source
		USING ERRCODE = 'duplicate_object', HINT = 'Advance it with medallion.advance_watermark().';
END $$;
COMMENT ON FUNCTION medallion.create_watermark(text, text, text, interval) IS
	'Declares the watermark of an external source: kind bigint, timestamptz, lsn or text';

CREATE FUNCTION medallion.watermark(pipeline text, source text)
RETURNS text
LANGUAGE sql STABLE
SET search_path = pg_catalog, pg_temp
AS $$ SELECT (medallion._external_mark(pipeline, source)).value $$;
COMMENT ON FUNCTION medallion.watermark(text, text) IS
	'The current mark of an external source (NULL before the first advance)';

CREATE FUNCTION medallion.advance_watermark(pipeline text, source text, value text,
											run_id text DEFAULT NULL, force boolean DEFAULT false)
RETURNS text
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
	mark medallion.external_watermark;
BEGIN
	mark := medallion._external_mark(pipeline, source);
	run_id := coalesce(run_id, nullif(current_setting('pg_medallion.run_id', true), ''));
	IF NOT pg_has_role(mark.owner, 'MEMBER') THEN
		RAISE EXCEPTION 'permission denied for the watermark of pipeline "%" on source "%"', pipeline, source
			USING ERRCODE = 'insufficient_privilege', HINT = 'Marks are moved by members of their owner role, ' || mark.owner || '.';
	END IF;
	IF value IS NULL THEN
		RAISE EXCEPTION 'value must not be NULL'
			USING ERRCODE = 'null_value_not_allowed', HINT = 'Pass the new mark as text.';
	END IF;
	BEGIN
		PERFORM medallion._mark_less(mark.kind, value, value);
	EXCEPTION WHEN data_exception OR syntax_error THEN
		RAISE EXCEPTION 'value "%" is not a valid % mark', value, mark.kind
			USING ERRCODE = 'invalid_text_representation', HINT = 'The watermark was created with kind ' || mark.kind || '.';
	END;
	-- Serialise advances of one mark, then compare with what is committed.
	SELECT * INTO mark FROM medallion.external_watermark w
	WHERE w.pipeline = $1 AND w.source = $2 FOR UPDATE;
	IF mark.value IS NOT NULL AND medallion._mark_less(mark.kind, value, mark.value) THEN
		IF NOT force THEN
			RAISE EXCEPTION 'watermark of pipeline "%" on source "%" would go backwards from % to %',
				pipeline, source, mark.value, value
				USING ERRCODE = 'invalid_parameter_value',
					  HINT = 'Watermarks only advance; pass force => true to rewind on purpose (it is logged).';
		END IF;
		INSERT INTO medallion.watermark_log (name, source, action, old_value, new_value, run_id)
		VALUES (pipeline, source, 'force', mark.value, value, run_id);
	END IF;
	UPDATE medallion.external_watermark w
	SET value = advance_watermark.value, updated_at = now(), last_run_id = run_id
	WHERE w.pipeline = $1 AND w.source = $2;
	RETURN value;
END $$;
COMMENT ON FUNCTION medallion.advance_watermark(text, text, text, text, boolean) IS
	'Moves an external mark forward in the caller''s transaction; backwards only with force (logged)';

CREATE FUNCTION medallion.is_late(pipeline text, source text, event_time timestamptz)
RETURNS boolean
LANGUAGE plpgsql STABLE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
	mark medallion.external_watermark;
BEGIN
	mark := medallion._external_mark(pipeline, source);
	IF mark.kind <> 'timestamptz' THEN
		RAISE EXCEPTION 'watermark of pipeline "%" on source "%" is not an event-time watermark', pipeline, source
			USING ERRCODE = 'wrong_object_type', HINT = 'Event-time watermarks have kind timestamptz.';
	END IF;
	IF mark.value IS NULL OR event_time IS NULL THEN
		RETURN false;
	END IF;
	RETURN event_time < mark.value::timestamptz - coalesce(mark.allowed_lateness, interval '0');
END $$;
COMMENT ON FUNCTION medallion.is_late(text, text, timestamptz) IS
	'Whether an event time is older than the mark minus the allowed lateness';

-- Merge: apply_changes ---------------------------------------------------

-- Per-target merge state lives in medallion_state: tombstones (SCD1) or the event log (SCD2).
CREATE SCHEMA medallion_state;
GRANT USAGE ON SCHEMA medallion_state TO PUBLIC;

CREATE TABLE medallion.apply_target (
	target			regclass PRIMARY KEY,
	scd_type		integer NOT NULL CHECK (scd_type IN (1, 2)),
	keys			text[] NOT NULL,
	sequence_by		text[] NOT NULL,
	state_table		regclass NOT NULL,
	retain_history	interval,
	created_at		timestamptz NOT NULL DEFAULT pg_catalog.now()
);
COMMENT ON TABLE medallion.apply_target IS
	'Targets of apply_changes: their keys, sequence and merge state table (tombstones or SCD2 event log)';
SELECT pg_catalog.pg_extension_config_dump('medallion.apply_target', '');
REVOKE ALL ON medallion.apply_target FROM PUBLIC;
GRANT SELECT ON medallion.apply_target TO PUBLIC;

-- Records apply_changes (and later flows) refused, with the reason; never silently dropped.
CREATE TABLE medallion.quarantine (
	quarantine_id	bigserial PRIMARY KEY,
	target			regclass NOT NULL,
	reason			text NOT NULL,
	record			jsonb NOT NULL,
	run_id			text,
	quarantined_by	regrole NOT NULL DEFAULT current_user::regrole,
	quarantined_at	timestamptz NOT NULL DEFAULT pg_catalog.now()
);
COMMENT ON TABLE medallion.quarantine IS 'Rejected records with the rule they broke, the target and the run';
CREATE INDEX ON medallion.quarantine (target, quarantined_at);
-- A record is quarantined once per target and reason: re-running a batch adds nothing.
CREATE UNIQUE INDEX ON medallion.quarantine (target, reason, pg_catalog.md5(record::pg_catalog.text));
SELECT pg_catalog.pg_extension_config_dump('medallion.quarantine', '');
SELECT pg_catalog.pg_extension_config_dump('medallion.quarantine_quarantine_id_seq', '');
REVOKE ALL ON medallion.quarantine FROM PUBLIC;
GRANT SELECT, INSERT, DELETE ON medallion.quarantine TO PUBLIC;
GRANT USAGE ON SEQUENCE medallion.quarantine_quarantine_id_seq TO PUBLIC;
ALTER TABLE medallion.quarantine ENABLE ROW LEVEL SECURITY;
-- Who may read or write a target sees and writes its quarantine; nobody forges another role's rows.
CREATE POLICY readers_of_target ON medallion.quarantine FOR SELECT
	USING (pg_catalog.has_table_privilege(target, 'SELECT'));
CREATE POLICY writers_of_target ON medallion.quarantine FOR INSERT
	WITH CHECK (pg_catalog.has_table_privilege(target, 'INSERT') AND quarantined_by = current_user::regrole);
CREATE POLICY owners_clean_up ON medallion.quarantine FOR DELETE
	USING (pg_catalog.pg_has_role((SELECT c.relowner FROM pg_catalog.pg_class c WHERE c.oid = target), 'USAGE'));

CREATE FUNCTION medallion.apply_changes(target regclass, source text, keys text[], sequence_by text[],
										delete_when text DEFAULT NULL, truncate_when text DEFAULT NULL,
										columns text[] DEFAULT NULL, except_columns text[] DEFAULT NULL,
										ignore_null_updates boolean DEFAULT false, scd_type integer DEFAULT 1,
										track_history_columns text[] DEFAULT NULL)
RETURNS TABLE(inserted bigint, updated bigint, deleted bigint, unchanged bigint,
			  stale_skipped bigint, rejected bigint)
LANGUAGE C
AS 'MODULE_PATHNAME', 'medallion_apply_changes';
COMMENT ON FUNCTION medallion.apply_changes(regclass, text, text[], text[], text, text, text[], text[],
											boolean, integer, text[]) IS
	'Merges a batch of changes into a target table idempotently: newest sequence per key wins, '
	'stale and duplicate changes are skipped, deletes leave tombstones, SCD type 1 or 2';

CREATE FUNCTION medallion._merge_tally(kind integer, n bigint)
RETURNS boolean
LANGUAGE C VOLATILE COST 1000
AS 'MODULE_PATHNAME', 'medallion_merge_tally';
COMMENT ON FUNCTION medallion._merge_tally(integer, bigint) IS
	'Internal: counts what a running apply_changes skipped; does nothing outside one';

CREATE FUNCTION medallion._merge_ordinal()
RETURNS bigint
LANGUAGE C VOLATILE
AS 'MODULE_PATHNAME', 'medallion_merge_ordinal';
COMMENT ON FUNCTION medallion._merge_ordinal() IS
	'Internal: a number unique within the session, which keeps rows apart in apply_changes';

CREATE FUNCTION medallion._merge_place(VARIADIC "any")
RETURNS integer
LANGUAGE C IMMUTABLE WINDOW
AS 'MODULE_PATHNAME', 'medallion_merge_place';
COMMENT ON FUNCTION medallion._merge_place("any") IS
	'Internal window function of apply_changes: 0 the newest clean change of its key, 1 an older clean one, 2 set aside';

CREATE FUNCTION medallion._merge_rank(VARIADIC "any")
RETURNS integer
LANGUAGE C IMMUTABLE WINDOW
AS 'MODULE_PATHNAME', 'medallion_merge_rank';
COMMENT ON FUNCTION medallion._merge_rank("any") IS
	'Internal window function of apply_changes (sequence...): rank * 2, + 1 if a neighbour shares the sequence';

CREATE FUNCTION medallion._merge_stash(kind integer, "row" record)
RETURNS boolean
LANGUAGE C VOLATILE COST 1000
AS 'MODULE_PATHNAME', 'medallion_merge_stash';
COMMENT ON FUNCTION medallion._merge_stash(integer, record) IS
	'Internal: sets a row aside while apply_changes streams a batch; an error outside one';

CREATE FUNCTION medallion._merge_stashed(kind integer)
RETURNS SETOF record
LANGUAGE C VOLATILE ROWS 1000
AS 'MODULE_PATHNAME', 'medallion_merge_stashed';
COMMENT ON FUNCTION medallion._merge_stashed(integer) IS
	'Internal: the rows apply_changes set aside, read back once; an error outside one';

CREATE FUNCTION medallion.drop_merge_state(target regclass)
RETURNS boolean
LANGUAGE C
AS 'MODULE_PATHNAME', 'medallion_drop_merge_state';
COMMENT ON FUNCTION medallion.drop_merge_state(regclass) IS
	'Forgets a target''s merge state (tombstones or SCD2 event log) so it can be applied with other keys';

-- Retention ----------------------------------------------------------------

CREATE FUNCTION medallion.vacuum(source regclass DEFAULT NULL, retain interval DEFAULT NULL,
								 dry_run boolean DEFAULT false, force boolean DEFAULT false)
RETURNS TABLE(feed regclass, versions_removed bigint, rows_removed bigint, bytes_freed bigint,
			  oldest_kept_version bigint, pinned_by text[])
LANGUAGE C
AS 'MODULE_PATHNAME', 'medallion_vacuum';
COMMENT ON FUNCTION medallion.vacuum(regclass, interval, boolean, boolean) IS
	'Removes versions older than the retention by dropping whole change partitions, never what a '
	'consumer has not consumed unless forced; expires merge tombstones';

CREATE FUNCTION medallion.set_retention(source regclass, retain interval)
RETURNS void
LANGUAGE C
AS 'MODULE_PATHNAME', 'medallion_set_retention';
COMMENT ON FUNCTION medallion.set_retention(regclass, interval) IS
	'Sets how long a feed keeps versions, or a merge target its tombstones (NULL: pg_medallion.retention)';

-- Time travel --------------------------------------------------------------

CREATE FUNCTION medallion.as_of(source anyelement, version bigint)
RETURNS SETOF anyelement
LANGUAGE C
AS 'MODULE_PATHNAME', 'medallion_as_of';
COMMENT ON FUNCTION medallion.as_of(anyelement, bigint) IS
	'The rows of a fed table as they were at a version: SELECT * FROM medallion.as_of(NULL::t, 42)';

CREATE FUNCTION medallion.as_of(source anyelement, at timestamptz)
RETURNS SETOF anyelement
LANGUAGE sql
AS $$ SELECT * FROM medallion.as_of($1, medallion.version_at($2)) $$;
COMMENT ON FUNCTION medallion.as_of(anyelement, timestamptz) IS
	'The rows of a fed table as they were at the newest version closed at or before a time';

-- Restores a fed table to a version in the caller's transaction; the feed captures the restore as a
-- new version.  With a primary key only the rows that differ are deleted and inserted.
CREATE FUNCTION medallion.restore(source regclass, version bigint)
RETURNS TABLE(deleted bigint, inserted bigint)
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
	cols text;
	has_key boolean;
BEGIN
	IF source IS NULL OR version IS NULL THEN
		RAISE EXCEPTION 'source and version must not be NULL'
			USING ERRCODE = '22004', HINT = 'Pass the fed table and the version to restore.';
	END IF;
	SELECT string_agg(quote_ident(a.attname), ', ' ORDER BY a.attnum) INTO cols
	FROM pg_attribute a WHERE a.attrelid = source AND a.attnum > 0 AND NOT a.attisdropped AND a.attgenerated = '';
	SELECT EXISTS (SELECT 1 FROM pg_index i WHERE i.indrelid = source AND i.indisprimary) INTO has_key;
	IF to_regclass('pg_temp.medallion_restore') IS NOT NULL THEN
		DROP TABLE pg_temp.medallion_restore;
	END IF;
	EXECUTE format('CREATE TEMP TABLE medallion_restore ON COMMIT DROP AS SELECT * FROM medallion.as_of(NULL::%s, $1)',
				   source) USING version;
	IF has_key THEN
		-- Rows that differ from the version, by whole-row text, go; missing ones come back.
		EXECUTE format('DELETE FROM %s AS s WHERE NOT EXISTS (SELECT 1 FROM pg_temp.medallion_restore AS r '
					   'WHERE r::text = s::text)', source);
		GET DIAGNOSTICS deleted = ROW_COUNT;
		EXECUTE format('INSERT INTO %s (%s) OVERRIDING SYSTEM VALUE SELECT %s FROM pg_temp.medallion_restore AS r '
					   'WHERE NOT EXISTS (SELECT 1 FROM %s AS s WHERE r::text = s::text)', source, cols, cols, source);
		GET DIAGNOSTICS inserted = ROW_COUNT;
	ELSE
		-- Without a key, rows are told apart only as multisets: replace them all.
		EXECUTE format('DELETE FROM %s', source);
		GET DIAGNOSTICS deleted = ROW_COUNT;
		EXECUTE format('INSERT INTO %s (%s) OVERRIDING SYSTEM VALUE SELECT %s FROM pg_temp.medallion_restore',
					   source, cols, cols);
		GET DIAGNOSTICS inserted = ROW_COUNT;
	END IF;
	DROP TABLE pg_temp.medallion_restore;
	RETURN NEXT;
END $$;
COMMENT ON FUNCTION medallion.restore(regclass, bigint) IS
	'Puts a fed table back to a version in one transaction; the restore is captured as changes (Delta RESTORE)';

-- Schema evolution ---------------------------------------------------------

-- ALTER TABLE on a fed source, as carried over to its change table and readers (see README).
CREATE TABLE medallion.schema_change (
	feed_id		integer NOT NULL,
	xid			bigint NOT NULL,		-- the altering transaction; its version is the one it committed in
	command		text NOT NULL,
	summary		text NOT NULL,
	changed_by	regrole NOT NULL DEFAULT current_user::regrole,
	changed_at	timestamptz NOT NULL DEFAULT pg_catalog.now()
);
COMMENT ON TABLE medallion.schema_change IS 'Column changes of fed tables, carried over to their change tables';
SELECT pg_catalog.pg_extension_config_dump('medallion.schema_change', '');
REVOKE ALL ON medallion.schema_change FROM PUBLIC;
GRANT SELECT ON medallion.schema_change TO PUBLIC;

-- Logical feeds -------------------------------------------------------------

-- The database's replication slot and the LSN up to which pull has stored its changes.
CREATE TABLE medallion.logical_slot (
	slot_name	name PRIMARY KEY,
	stored_lsn	pg_lsn NOT NULL,
	pulled_at	timestamptz
);
COMMENT ON TABLE medallion.logical_slot IS
	'The slot logical feeds read, and the watermark of what pull stored (committed with the changes)';
REVOKE ALL ON medallion.logical_slot FROM PUBLIC;
GRANT SELECT ON medallion.logical_slot TO PUBLIC;

CREATE FUNCTION medallion.pull(max_changes bigint DEFAULT NULL)
RETURNS TABLE(feed regclass, changes bigint)
LANGUAGE C
AS 'MODULE_PATHNAME', 'medallion_pull';
COMMENT ON FUNCTION medallion.pull(bigint) IS
	'Stores decoded changes of the logical feeds into their change tables, exactly once, in the caller''s transaction';

CREATE FUNCTION medallion.oldest_unpulled_commit()
RETURNS timestamptz
LANGUAGE C
AS 'MODULE_PATHNAME', 'medallion_oldest_unpulled';
COMMENT ON FUNCTION medallion.oldest_unpulled_commit() IS
	'Commit time of the oldest transaction with logical feed changes not stored yet (NULL: none); decodes up to it';

CREATE FUNCTION medallion.resume_logical_feeds()
RETURNS pg_lsn
LANGUAGE C
AS 'MODULE_PATHNAME', 'medallion_resume_logical_feeds';
COMMENT ON FUNCTION medallion.resume_logical_feeds() IS
	'Gives broken logical feeds (restored from a dump, slot lost or dropped) a new slot; returns where capture resumes';
REVOKE ALL ON FUNCTION medallion.resume_logical_feeds() FROM PUBLIC;

-- How far behind the logical feeds are: WAL not yet pulled, and whether the slot still holds it.
CREATE VIEW medallion.logical_status AS
SELECT l.slot_name, s.active, s.wal_status,
	   pg_catalog.pg_wal_lsn_diff(pg_catalog.pg_current_wal_lsn(), l.stored_lsn)::bigint AS lag_bytes,
	   CASE WHEN s.wal_status IS DISTINCT FROM 'lost' AND s.slot_name IS NOT NULL
			THEN medallion.oldest_unpulled_commit() END AS oldest_unpulled_commit,
	   l.stored_lsn, s.confirmed_flush_lsn, l.pulled_at,
	   (SELECT pg_catalog.array_agg(f.source ORDER BY f.feed_id) FROM medallion.feed f WHERE f.mode = 'logical') AS feeds
FROM medallion.logical_slot l
LEFT JOIN pg_catalog.pg_replication_slots s USING (slot_name)
UNION ALL
-- Logical feeds without a registered slot (restored from a dump): broken until resume_logical_feeds().
SELECT NULL, NULL, 'missing', NULL, NULL, NULL, NULL, NULL,
	   (SELECT pg_catalog.array_agg(f.source ORDER BY f.feed_id) FROM medallion.feed f WHERE f.mode = 'logical')
WHERE EXISTS (SELECT 1 FROM medallion.feed WHERE mode = 'logical')
  AND NOT EXISTS (SELECT 1 FROM medallion.logical_slot);
COMMENT ON VIEW medallion.logical_status IS
	'The logical feeds'' slot: bytes of WAL not yet pulled, oldest unpulled commit, last pull, and wal_status (lost or missing = feeds broken)';
GRANT SELECT ON medallion.logical_status TO PUBLIC;
