-- pg_medallion 0.3.0 as shipped (built from extension/topics/*.sql of 0.3.0): never edited.
\echo Use "CREATE EXTENSION pg_medallion" to load this file. \quit

-- 00_schemas.sql
-- Schemas and types -----------------------------------------------------------

-- The extension's own schema, medallion, is made by CREATE EXTENSION (pg_medallion.control:
-- schema = medallion), not by this script, and is no member of the extension.

-- Change tables and their typed readers live in their own schema, readable
-- only through the reader functions (which check SELECT on the source).
CREATE SCHEMA medallion_changes;
-- Per-target merge state lives in medallion_state: tombstones (SCD1) or the event log (SCD2).
CREATE SCHEMA medallion_state;
GRANT USAGE ON SCHEMA medallion TO PUBLIC;
GRANT USAGE ON SCHEMA medallion_changes TO PUBLIC;
GRANT USAGE ON SCHEMA medallion_state TO PUBLIC;
COMMENT ON SCHEMA medallion IS
	'pg_medallion: feeds, the version clock, consumers, watermarks and merges (functions, catalog tables, views)';
COMMENT ON SCHEMA medallion_changes IS
	'pg_medallion change tables and their typed readers, one set per feed; read through the readers';
COMMENT ON SCHEMA medallion_state IS
	'pg_medallion merge state of apply_changes targets: tombstones (SCD type 1) or event logs (SCD type 2)';

CREATE TYPE medallion.change_type AS ENUM
	('insert', 'update_preimage', 'update_postimage', 'delete', 'truncate');
COMMENT ON TYPE medallion.change_type IS
	'Kinds of captured change, with Delta Lake change data feed names';

-- 10_clock.sql
-- The version clock ---------------------------------------------------------

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
-- Versions by the snapshot that closed them: the version of a writer's xid is found from here.
CREATE INDEX ON medallion.tick (snapshot_xmax);
SELECT pg_catalog.pg_extension_config_dump('medallion.tick', 'WHERE version > 0');
REVOKE ALL ON medallion.tick FROM PUBLIC;
GRANT SELECT ON medallion.tick TO PUBLIC;
COMMENT ON COLUMN medallion.tick.version IS
	'The version this row closed; version 0 sees no transaction, so every change belongs to a version >= 1';
COMMENT ON COLUMN medallion.tick.snapshot_xmin IS 'xmin of the snapshot that closed the version (full xid)';
COMMENT ON COLUMN medallion.tick.snapshot_xmax IS 'xmax of the snapshot that closed the version (full xid)';
COMMENT ON COLUMN medallion.tick.snapshot_xip IS
	'Transactions in progress in the snapshot that closed the version (full xids, sorted)';
COMMENT ON COLUMN medallion.tick.committed_at IS
	'When the version was closed; never earlier than the version before it';
COMMENT ON COLUMN medallion.tick.tick_xid IS
	'The transaction that closed the version, to tell an idle clock (NULL for version 0)';

-- Closes the open version if anything committed since the last one, and
-- returns the newest version.  Runs in the tick worker's own transaction,
-- serialised by the lock on medallion.tick.
-- Closes the open version (src/clock/tick.c): EXCLUSIVE lock on medallion.tick, then the snapshot.
CREATE FUNCTION medallion._tick()
RETURNS bigint
LANGUAGE C
AS 'MODULE_PATHNAME', 'medallion_tick';
REVOKE ALL ON FUNCTION medallion._tick() FROM PUBLIC;
COMMENT ON FUNCTION medallion._tick() IS
	'Internal: closes the open version if anything committed since the last one; returns the newest version';

CREATE FUNCTION medallion._ensure_partitions()
RETURNS void
LANGUAGE C
AS 'MODULE_PATHNAME', 'medallion_ensure_partitions';
REVOKE ALL ON FUNCTION medallion._ensure_partitions() FROM PUBLIC;
COMMENT ON FUNCTION medallion._ensure_partitions() IS
	'Internal: creates the change table partitions every feed will need next; called by each tick';

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

-- 20_feeds.sql
-- Feeds and capture -----------------------------------------------------------

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
	enabled_lsn		pg_lsn,							-- logical feeds: changes committed after it are the feed's
	-- A logical feed whose change a pull cannot store (a value that does not convert to a retyped
	-- column) is marked here and skipped, instead of stopping every logical feed of the database.
	broken			text
);
COMMENT ON TABLE medallion.feed IS
	'Feeds: one row per captured source table';
SELECT pg_catalog.pg_extension_config_dump('medallion.feed', '');
SELECT pg_catalog.pg_extension_config_dump('medallion.feed_feed_id_seq', '');
SELECT pg_catalog.pg_extension_config_dump('medallion.change_seq', '');
REVOKE ALL ON medallion.feed FROM PUBLIC;
REVOKE ALL ON SEQUENCE medallion.change_seq, medallion.feed_feed_id_seq FROM PUBLIC;
GRANT SELECT ON medallion.feed TO PUBLIC;
COMMENT ON SEQUENCE medallion.change_seq IS
	'Statement order keys of captured changes (_change_seq), drawn while the writer holds its row locks';
COMMENT ON SEQUENCE medallion.feed_feed_id_seq IS 'Ids of feeds (medallion.feed.feed_id)';
COMMENT ON COLUMN medallion.feed.source IS 'The captured table';
COMMENT ON COLUMN medallion.feed.change_table IS
	'The table in medallion_changes that stores the changes, partitioned by the writer''s xid';
COMMENT ON COLUMN medallion.feed.reader IS
	'The typed reader functions of the feed in medallion_changes (by version, by timestamp, by consumer)';
COMMENT ON COLUMN medallion.feed.mode IS
	'trigger: captured by statement triggers; logical: decoded from the WAL and stored by pull';
COMMENT ON COLUMN medallion.feed.enabled_xid IS
	'The transaction that enabled the feed (full xid); the feed starts at the version it committed in';
COMMENT ON COLUMN medallion.feed.partition_span IS 'Transaction ids per partition of the change table';
COMMENT ON COLUMN medallion.feed.retained_from IS 'Oldest readable version, moved forward by vacuum';
COMMENT ON COLUMN medallion.feed.retention IS 'How long the feed keeps versions (NULL: pg_medallion.retention)';
COMMENT ON COLUMN medallion.feed.enabled_lsn IS
	'Logical feeds: the changes committed after this LSN are the feed''s';
COMMENT ON COLUMN medallion.feed.broken IS
	'Why a pull could not store a change of this logical feed (NULL: fine); its readers fail until it is disabled and enabled';

CREATE FUNCTION medallion._capture()
RETURNS trigger
LANGUAGE C
AS 'MODULE_PATHNAME', 'medallion_capture';
-- Internal entry points nobody calls directly: triggers and event triggers fire without an EXECUTE
-- check, and enable_feed creates the triggers as the extension owner.  Who could execute _capture
-- could attach it to a table of their own and write into another role's feed.
REVOKE ALL ON FUNCTION medallion._capture() FROM PUBLIC;
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

CREATE FUNCTION medallion._truncate_guard()
RETURNS trigger
LANGUAGE C
AS 'MODULE_PATHNAME', 'medallion_truncate_guard';
REVOKE ALL ON FUNCTION medallion._truncate_guard() FROM PUBLIC;
COMMENT ON FUNCTION medallion._truncate_guard() IS
	'BEFORE TRUNCATE trigger that refuses truncating one partition of a fed table';

-- 25_application.sql
-- Writers' application names ---------------------------------------------------

-- Application names of writers, by the id stored in each change row (_app); see application.c.
CREATE TABLE medallion.application (
	app_id	integer PRIMARY KEY,
	name	text NOT NULL
);
COMMENT ON TABLE medallion.application IS 'application_name of writing sessions, by the id change rows carry';
SELECT pg_catalog.pg_extension_config_dump('medallion.application', '');
GRANT SELECT ON medallion.application TO PUBLIC;
COMMENT ON COLUMN medallion.application.app_id IS
	'The id change rows carry in _app (0: the writer had no application_name)';
COMMENT ON COLUMN medallion.application.name IS 'The application_name of the writing session';

-- 30_reads.sql
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

CREATE FUNCTION medallion._feed_id(source regclass)
RETURNS integer
LANGUAGE sql STABLE
SET search_path = pg_catalog, pg_temp
AS $$ SELECT feed_id FROM medallion.feed WHERE feed.source = _feed_id.source $$;
COMMENT ON FUNCTION medallion._feed_id(regclass) IS
	'Internal: the feed id of a fed table (NULL if it has no feed)';

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

-- 40_consumers.sql
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
COMMENT ON POLICY owner_reads ON medallion.external_watermark IS 'Everyone reads every mark';
COMMENT ON POLICY owner_creates ON medallion.external_watermark IS 'Marks are created for roles the creator is a member of';
COMMENT ON POLICY owner_moves ON medallion.external_watermark IS 'Marks are moved by members of their owner role';
COMMENT ON POLICY everyone_reads ON medallion.watermark_log IS 'Everyone reads the whole log';
COMMENT ON POLICY write_as_yourself ON medallion.watermark_log IS 'Log rows are written only as the session user';
COMMENT ON COLUMN medallion.consumer.owner IS 'The role that uses the consumer; members of it may consume, reset and drop it';
COMMENT ON COLUMN medallion.consumer.start IS
	'Where the consumer started: ''latest'', ''earliest'', ''snapshot'' or a version';
COMMENT ON COLUMN medallion.consumer_feed.watermark IS
	'The last version fully consumed (inclusive); the next read starts after it';
COMMENT ON COLUMN medallion.consumer_feed.last_run_id IS
	'pg_medallion.run_id of the run that last moved the watermark';
COMMENT ON COLUMN medallion.consumer_feed.snapshot_table IS
	'start ''snapshot'': the rows as of version watermark, read first by the first consume (NULL after it)';
COMMENT ON COLUMN medallion.external_watermark.kind IS
	'How marks compare: bigint, timestamptz, lsn or text (collation C)';
COMMENT ON COLUMN medallion.external_watermark.value IS 'The current mark, as text (NULL before the first advance)';
COMMENT ON COLUMN medallion.external_watermark.allowed_lateness IS
	'Event-time (timestamptz) marks: how far behind the mark an event may be before is_late says it is late';
COMMENT ON COLUMN medallion.external_watermark.owner IS 'Members of this role may move the mark';
COMMENT ON COLUMN medallion.watermark_log.name IS 'The consumer or pipeline whose mark moved';
COMMENT ON COLUMN medallion.watermark_log.action IS 'What happened: create, reset, force or drop';
COMMENT ON COLUMN medallion.watermark_log.by_role IS 'The session user that moved the mark';

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
COMMENT ON FUNCTION medallion._external_mark(text, text) IS
	'Internal: the row of an external watermark; an error if it does not exist';

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
COMMENT ON FUNCTION medallion._mark_less(text, text, text) IS
	'Internal: whether mark a is before mark b, compared as the watermark kind says';

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

-- 50_merge.sql
-- Merge: apply_changes ---------------------------------------------------

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

COMMENT ON SEQUENCE medallion.quarantine_quarantine_id_seq IS 'Ids of quarantined records (medallion.quarantine.quarantine_id)';
COMMENT ON POLICY readers_of_target ON medallion.quarantine IS 'Who may read a target reads its quarantined records';
COMMENT ON POLICY writers_of_target ON medallion.quarantine IS
	'Who may insert into a target quarantines records for it, as themselves';
COMMENT ON POLICY owners_clean_up ON medallion.quarantine IS 'Members of a target''s owner role delete its quarantined records';
COMMENT ON COLUMN medallion.apply_target.scd_type IS
	'1: the target holds the newest row per key; 2: a row per version of a key, with _valid_from and _valid_to';
COMMENT ON COLUMN medallion.apply_target.keys IS 'The key columns of the target';
COMMENT ON COLUMN medallion.apply_target.sequence_by IS 'The columns that order the changes of a key: the newest wins';
COMMENT ON COLUMN medallion.apply_target.state_table IS
	'The merge state in medallion_state: tombstones (SCD type 1) or the event log (SCD type 2)';
COMMENT ON COLUMN medallion.apply_target.retain_history IS
	'How long merge state is kept: SCD1 tombstones, SCD2 ended versions (NULL: pg_medallion.retention); set by set_retention';
COMMENT ON COLUMN medallion.quarantine.reason IS 'The rule the record broke';
COMMENT ON COLUMN medallion.quarantine.record IS 'The refused record';
COMMENT ON COLUMN medallion.quarantine.run_id IS 'pg_medallion.run_id of the run that refused it';

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

CREATE FUNCTION medallion.merge_statements(target regclass, source text, keys text[], sequence_by text[],
										   delete_when text DEFAULT NULL, truncate_when text DEFAULT NULL,
										   columns text[] DEFAULT NULL, except_columns text[] DEFAULT NULL,
										   ignore_null_updates boolean DEFAULT false, scd_type integer DEFAULT 1,
										   track_history_columns text[] DEFAULT NULL)
RETURNS TABLE(step text, statement text)
LANGUAGE C
AS 'MODULE_PATHNAME', 'medallion_merge_statements';
COMMENT ON FUNCTION medallion.merge_statements(regclass, text, text[], text[], text, text, text[], text[],
											   boolean, integer, text[]) IS
	'The statements apply_changes would run for the same arguments, in order, without running them: '
	'for review and debugging';

-- 60_retention.sql
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

-- 70_time_travel.sql
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
-- new version.  With a primary key only the rows that differ are deleted and inserted; a dropped
-- table's oid, or a relation that is no table, is a clear error.
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
	-- A dropped table's oid, or not a table at all: a clear error, not a syntax error in the SQL below.
	IF NOT EXISTS (SELECT 1 FROM pg_class c WHERE c.oid = source::oid AND c.relkind IN ('r', 'p')) THEN
		RAISE EXCEPTION 'relation with oid % is not a table', source::oid
			USING ERRCODE = '42P01', HINT = 'Pass an existing fed table.';
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

-- 75_schema_evolution.sql
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
COMMENT ON COLUMN medallion.schema_change.xid IS
	'The altering transaction (full xid); the change took effect in the version it committed in';
COMMENT ON COLUMN medallion.schema_change.command IS 'The ALTER TABLE command, as the user sent it';
COMMENT ON COLUMN medallion.schema_change.summary IS 'What changed in the change table and the readers';

-- 80_logical.sql
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
COMMENT ON COLUMN medallion.logical_slot.stored_lsn IS
	'The LSN up to which pull has stored the changes, committed in the same transaction as them';
COMMENT ON COLUMN medallion.logical_slot.pulled_at IS 'When a pull last stored changes';

CREATE FUNCTION medallion.pull(max_changes bigint DEFAULT NULL)
RETURNS TABLE(feed regclass, changes bigint)
LANGUAGE C
AS 'MODULE_PATHNAME', 'medallion_pull';
-- pull and oldest_unpulled_commit take the database's replication slot and decode WAL: the
-- extension owner's (or whoever it grants them to), like resume_logical_feeds.
REVOKE ALL ON FUNCTION medallion.pull(bigint) FROM PUBLIC;
COMMENT ON FUNCTION medallion.pull(bigint) IS
	'Stores decoded changes of the logical feeds into their change tables, exactly once, in the caller''s transaction';

CREATE FUNCTION medallion.oldest_unpulled_commit()
RETURNS timestamptz
LANGUAGE C
AS 'MODULE_PATHNAME', 'medallion_oldest_unpulled';
REVOKE ALL ON FUNCTION medallion.oldest_unpulled_commit() FROM PUBLIC;
COMMENT ON FUNCTION medallion.oldest_unpulled_commit() IS
	'Commit time of the oldest transaction with logical feed changes not stored yet (NULL: none); decodes up to it';

CREATE FUNCTION medallion.resume_logical_feeds()
RETURNS pg_lsn
LANGUAGE C
AS 'MODULE_PATHNAME', 'medallion_resume_logical_feeds';
COMMENT ON FUNCTION medallion.resume_logical_feeds() IS
	'Gives broken logical feeds (restored from a dump, slot lost or dropped) a new slot; returns where capture resumes';
REVOKE ALL ON FUNCTION medallion.resume_logical_feeds() FROM PUBLIC;

-- The status view everyone reads takes no slot: its oldest_unpulled_commit is NULL for roles
-- that may not execute medallion.oldest_unpulled_commit().
CREATE FUNCTION medallion._oldest_unpulled_for_status()
RETURNS timestamptz
LANGUAGE C
AS 'MODULE_PATHNAME', 'medallion_oldest_unpulled_for_status';
COMMENT ON FUNCTION medallion._oldest_unpulled_for_status() IS
	'Internal: oldest_unpulled_commit() for roles allowed to execute it, else NULL without touching the slot';

-- 85_flows.sql
-- Flows (src/flow/): a silver pipeline as one declaration and one scheduled call.  A flow consumes its
-- source's feed through its own consumer, transforms the batch, checks its expectations, merges into
-- its target and records the run, in one transaction, as the flow's owner whoever runs it.

CREATE TABLE medallion.flow (
	flow_id					serial PRIMARY KEY,
	name					text NOT NULL UNIQUE,
	owner					regrole NOT NULL,
	source					regclass NOT NULL,
	target					regclass NOT NULL,
	consumer				text NOT NULL UNIQUE,
	keys					text[] NOT NULL,
	sequence_by				text[] NOT NULL,
	transform				text,
	scd_type				integer NOT NULL,
	delete_when				text,
	truncate_when			text,
	columns					text[],
	except_columns			text[],
	ignore_null_updates		boolean NOT NULL,
	track_history_columns	text[],
	max_versions_per_run	integer,
	on_schema_change		text NOT NULL,
	paused					boolean NOT NULL DEFAULT false,
	batch_table				regclass NOT NULL,
	output_table			regclass NOT NULL,
	quarantine_table		regclass NOT NULL,
	definition_hash			text NOT NULL,
	created_at				timestamptz NOT NULL DEFAULT pg_catalog.now(),
	altered_at				timestamptz
);
REVOKE ALL ON TABLE medallion.flow FROM PUBLIC;
REVOKE ALL ON SEQUENCE medallion.flow_flow_id_seq FROM PUBLIC;
SELECT pg_catalog.pg_extension_config_dump('medallion.flow', '');
SELECT pg_catalog.pg_extension_config_dump('medallion.flow_flow_id_seq', '');
COMMENT ON TABLE medallion.flow IS
	'Flows: source feed, transform, expectations and merge options of each; read medallion.flows';
COMMENT ON SEQUENCE medallion.flow_flow_id_seq IS 'Ids of medallion.flow';
COMMENT ON COLUMN medallion.flow.owner IS 'The role every run of the flow runs as, whoever calls run_flow';
COMMENT ON COLUMN medallion.flow.consumer IS 'The consumer on the source''s feed whose watermark the runs advance';
COMMENT ON COLUMN medallion.flow.transform IS 'One SELECT over the relation batch (the typed changes of a run), or NULL';
COMMENT ON COLUMN medallion.flow.batch_table IS 'Staging of a run''s changes (owned by the flow''s owner)';
COMMENT ON COLUMN medallion.flow.output_table IS 'Staging of a run''s transformed rows (owned by the flow''s owner)';
COMMENT ON COLUMN medallion.flow.quarantine_table IS
	'Rows the transform or a quarantine expectation refused, kept for replay_quarantine (owned by the flow''s owner)';
COMMENT ON COLUMN medallion.flow.definition_hash IS
	'md5 of the definition and the expectations: the code version that produced the output';

CREATE TABLE medallion.expectation (
	flow_id		integer NOT NULL REFERENCES medallion.flow ON DELETE CASCADE,
	name		text NOT NULL,
	predicate	text NOT NULL,
	action		text NOT NULL CHECK (action IN ('warn', 'drop', 'quarantine', 'fail')),
	PRIMARY KEY (flow_id, name)
);
REVOKE ALL ON TABLE medallion.expectation FROM PUBLIC;
SELECT pg_catalog.pg_extension_config_dump('medallion.expectation', '');
COMMENT ON TABLE medallion.expectation IS
	'Expectations of flows: a predicate every transformed row must satisfy, and what a violation does';

CREATE SEQUENCE medallion.flow_run_id_seq;
REVOKE ALL ON SEQUENCE medallion.flow_run_id_seq FROM PUBLIC;
SELECT pg_catalog.pg_extension_config_dump('medallion.flow_run_id_seq', '');
COMMENT ON SEQUENCE medallion.flow_run_id_seq IS 'Run ids of flows';

CREATE TABLE medallion.flow_run (
	run_id				bigint PRIMARY KEY,
	flow_id				integer NOT NULL,
	flow				text NOT NULL,
	owner				regrole NOT NULL,
	started_at			timestamptz NOT NULL,
	finished_at			timestamptz NOT NULL,
	status				text NOT NULL CHECK (status IN ('succeeded', 'failed')),
	from_version		bigint,
	to_version			bigint,
	rows_in				bigint,
	rows_out			bigint,
	inserted			bigint,
	updated				bigint,
	deleted				bigint,
	unchanged			bigint,
	stale				bigint,
	rejected			bigint,
	dropped				bigint,
	quarantined			bigint,
	warned				bigint,
	expectations		jsonb,
	sqlstate			text,
	message				text,
	run_by				text NOT NULL,
	application_name	text,
	definition_hash		text NOT NULL
);
CREATE INDEX ON medallion.flow_run (flow_id, run_id);
REVOKE ALL ON TABLE medallion.flow_run FROM PUBLIC;
SELECT pg_catalog.pg_extension_config_dump('medallion.flow_run', '');
COMMENT ON TABLE medallion.flow_run IS
	'Every run of every flow, failed ones too (written in a transaction of their own); read medallion.runs';

CREATE FUNCTION medallion.create_flow(name text, source regclass, target regclass, keys text[],
									  sequence_by text[] DEFAULT '{_commit_version,_change_seq}',
									  transform text DEFAULT NULL, scd_type integer DEFAULT 1,
									  delete_when text DEFAULT NULL, truncate_when text DEFAULT NULL,
									  columns text[] DEFAULT NULL, except_columns text[] DEFAULT NULL,
									  ignore_null_updates boolean DEFAULT false,
									  track_history_columns text[] DEFAULT NULL,
									  max_versions_per_run integer DEFAULT NULL, start text DEFAULT 'snapshot',
									  on_schema_change text DEFAULT 'fail')
RETURNS integer
LANGUAGE C
AS 'MODULE_PATHNAME', 'medallion_create_flow';
COMMENT ON FUNCTION medallion.create_flow(text, regclass, regclass, text[], text[], text, integer, text, text,
										  text[], text[], boolean, text[], integer, text, text) IS
	'Declares a flow from a fed source into a target (a consumer, a transform, the merge options); returns its id';

CREATE FUNCTION medallion.drop_flow(name text)
RETURNS void
LANGUAGE C
AS 'MODULE_PATHNAME', 'medallion_drop_flow';
COMMENT ON FUNCTION medallion.drop_flow(text) IS
	'Removes a flow, its consumer, expectations and staging; its runs stay in medallion.runs';

CREATE FUNCTION medallion.add_expectation(flow text, name text, predicate text, action text DEFAULT 'warn')
RETURNS void
LANGUAGE C
AS 'MODULE_PATHNAME', 'medallion_add_expectation';
COMMENT ON FUNCTION medallion.add_expectation(text, text, text, text) IS
	'Adds an expectation to a flow: rows for which predicate is not true are warned, dropped, quarantined or fail the run';

CREATE FUNCTION medallion.drop_expectation(flow text, name text)
RETURNS void
LANGUAGE C
AS 'MODULE_PATHNAME', 'medallion_drop_expectation';
COMMENT ON FUNCTION medallion.drop_expectation(text, text) IS 'Removes an expectation from a flow';

CREATE FUNCTION medallion.pause_flow(name text, paused boolean DEFAULT true)
RETURNS void
LANGUAGE C
AS 'MODULE_PATHNAME', 'medallion_pause_flow';
COMMENT ON FUNCTION medallion.pause_flow(text, boolean) IS
	'Pauses a flow (its runs do nothing and say so) or, with paused => false, resumes it';

CREATE FUNCTION medallion.run_flow(name text, nowait boolean DEFAULT false)
RETURNS TABLE(run_id bigint, from_version bigint, to_version bigint, rows_in bigint, rows_out bigint,
			  inserted bigint, updated bigint, deleted bigint, unchanged bigint, stale bigint, rejected bigint,
			  dropped bigint, quarantined bigint, warned bigint, status text, duration interval)
LANGUAGE C
AS 'MODULE_PATHNAME', 'medallion_run_flow';
COMMENT ON FUNCTION medallion.run_flow(text, boolean) IS
	'Runs a flow once, in the caller''s transaction: consume, transform, check, merge, advance, record';

CREATE FUNCTION medallion._flow_run(flow jsonb, expectations jsonb, run_id bigint, replay text)
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
	r record;
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
	writes text := '';
BEGIN
	EXECUTE format('TRUNCATE %s, %s', batch_t, out_t);
	IF replay IS NULL THEN
		EXECUTE format('INSERT INTO %s SELECT * FROM %s(%L::text, %s::integer)', batch_t, flow->>'reader', flow->>'consumer',
					   coalesce(flow->>'max_versions_per_run', 'NULL'));
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

	-- The transform over the whole batch; a data error (class 22: a bad cast, malformed JSON) isolates
	-- the rows that raise it, one subtransaction each, and quarantines them.  Other errors fail the run.
	transformed_sql := CASE WHEN transform IS NULL THEN format('SELECT * FROM %s', batch_t)
		ELSE format('WITH batch AS (SELECT * FROM %s) SELECT * FROM (%s) AS t', batch_t, transform) END;
	BEGIN
		EXECUTE format('INSERT INTO %s SELECT * FROM (%s) AS s', out_t, transformed_sql);
		GET DIAGNOSTICS n = ROW_COUNT;
		rows_out := rows_out + n;
	EXCEPTION WHEN data_exception THEN
		FOR r IN EXECUTE format('SELECT b.ctid AS row, to_jsonb(b) AS record, b._commit_version AS version FROM %s AS b',
								batch_t) LOOP
			BEGIN
				EXECUTE format('INSERT INTO %s SELECT * FROM (WITH batch AS (SELECT * FROM %s WHERE ctid OPERATOR(pg_catalog.=) $1) '
							   'SELECT * FROM (%s) AS t) AS s', out_t, batch_t, transform) USING r.row;
				GET DIAGNOSTICS n = ROW_COUNT;
				rows_out := rows_out + n;
			EXCEPTION WHEN data_exception THEN
				EXECUTE format('INSERT INTO %s (run_id, rule, source_version, error, record, transformed) '
							   'VALUES ($1, $2, $3, $4, $5, false)', quarantine_t)
					USING run_id, 'transform', r.version, SQLSTATE || ': ' || SQLERRM, r.record;
				transform_errors := transform_errors + 1;
			END;
		END LOOP;
	END;

	-- Expectations, the strictest first: a row is counted by the first one it violates.  They judge
	-- the rows that write values: a feed's deletes, pre-images and truncates pass.
	IF EXISTS (SELECT 1 FROM pg_attribute WHERE attrelid = out_t::regclass AND attname = '_change_type' AND NOT attisdropped) THEN
		writes := ' AND batch._change_type::text NOT IN (''delete'', ''update_preimage'', ''truncate'')';
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
		'warned', warned, 'expectations', counts);
END
$$;
REVOKE ALL ON FUNCTION medallion._flow_run(jsonb, jsonb, bigint, text) FROM PUBLIC;
COMMENT ON FUNCTION medallion._flow_run(jsonb, jsonb, bigint, text) IS
	'Internal: the work of one run (or replay), run by run_flow and replay_quarantine as the flow''s owner';

CREATE FUNCTION medallion.replay_quarantine(flow text, "where" text DEFAULT NULL)
RETURNS TABLE(run_id bigint, from_version bigint, to_version bigint, rows_in bigint, rows_out bigint,
			  inserted bigint, updated bigint, deleted bigint, unchanged bigint, stale bigint, rejected bigint,
			  dropped bigint, quarantined bigint, warned bigint, status text, duration interval)
LANGUAGE C
AS 'MODULE_PATHNAME', 'medallion_replay_quarantine';
COMMENT ON FUNCTION medallion.replay_quarantine(text, text) IS
	'Runs a flow''s quarantined rows (those matching "where", a condition over the quarantine) through its current transform, expectations and merge';

CREATE FUNCTION medallion.flow_quarantine(flow text)
RETURNS TABLE(run_id bigint, rule text, source_version bigint, error text, record jsonb, transformed boolean,
			  quarantined_at timestamptz)
LANGUAGE C
AS 'MODULE_PATHNAME', 'medallion_flow_quarantine';
COMMENT ON FUNCTION medallion.flow_quarantine(text) IS
	'The rows a flow quarantined, for roles that may read its source';

CREATE FUNCTION medallion.schedule_flow(name text, schedule text)
RETURNS bigint
LANGUAGE C
AS 'MODULE_PATHNAME', 'medallion_schedule_flow';
COMMENT ON FUNCTION medallion.schedule_flow(text, text) IS
	'Runs a flow on a pg_cron schedule (cron syntax or ''N seconds''); returns the cron job id';

CREATE FUNCTION medallion.unschedule_flow(name text)
RETURNS boolean
LANGUAGE C
AS 'MODULE_PATHNAME', 'medallion_unschedule_flow';
COMMENT ON FUNCTION medallion.unschedule_flow(text) IS 'Removes a flow''s pg_cron job; false if it had none';

CREATE VIEW medallion.flows AS
SELECT f.name, f.owner, f.source, f.target, f.consumer, f.keys, f.sequence_by, f.transform, f.scd_type,
	   f.max_versions_per_run, f.on_schema_change, f.paused, f.definition_hash, f.created_at, f.altered_at,
	   (SELECT pg_catalog.count(*) FROM medallion.expectation e WHERE e.flow_id OPERATOR(pg_catalog.=) f.flow_id) AS expectations,
	   r.run_id AS last_run_id, r.status AS last_status, r.finished_at AS last_run_at
FROM medallion.flow f
LEFT JOIN LATERAL (SELECT * FROM medallion.flow_run x WHERE x.flow_id OPERATOR(pg_catalog.=) f.flow_id
				   ORDER BY x.run_id DESC LIMIT 1) r ON true
WHERE pg_catalog.pg_has_role(f.owner, 'MEMBER');
GRANT SELECT ON medallion.flows TO PUBLIC;
COMMENT ON VIEW medallion.flows IS 'The flows whose owner the current role is a member of, with their last run';

CREATE VIEW medallion.runs AS
SELECT r.run_id, r.flow, r.owner, r.started_at, r.finished_at, r.finished_at OPERATOR(pg_catalog.-) r.started_at AS duration,
	   r.status, r.from_version, r.to_version, r.rows_in, r.rows_out, r.inserted, r.updated, r.deleted,
	   r.unchanged, r.stale, r.rejected, r.dropped, r.quarantined, r.warned, r.expectations, r.sqlstate,
	   r.message, r.run_by, r.application_name, r.definition_hash
FROM medallion.flow_run r
WHERE pg_catalog.pg_has_role(r.owner, 'MEMBER');
GRANT SELECT ON medallion.runs TO PUBLIC;
COMMENT ON VIEW medallion.runs IS
	'Runs of the flows whose owner the current role is a member of: counts, versions, errors, definition hash';

CREATE VIEW medallion.expectations AS
SELECT f.name AS flow, e.name, e.predicate, e.action
FROM medallion.expectation e JOIN medallion.flow f ON f.flow_id OPERATOR(pg_catalog.=) e.flow_id
WHERE pg_catalog.pg_has_role(f.owner, 'MEMBER');
GRANT SELECT ON medallion.expectations TO PUBLIC;
COMMENT ON VIEW medallion.expectations IS 'The expectations of the flows whose owner the current role is a member of';

-- 90_views.sql
-- Views, everyone's to read ---------------------------------------------------

CREATE VIEW medallion.feeds AS
SELECT f.feed_id, f.source, f.change_table, f.reader, f.mode, f.enabled_at,
	   medallion.first_version(f.source) AS first_version
FROM medallion.feed AS f;
COMMENT ON VIEW medallion.feeds IS 'Feeds with their first version';
GRANT SELECT ON medallion.feeds TO PUBLIC;

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

-- How far behind the logical feeds are: WAL not yet pulled, and whether the slot still holds it.
-- The status view everyone reads takes no slot: its oldest_unpulled_commit is NULL for roles
-- that may not execute medallion.oldest_unpulled_commit().
CREATE VIEW medallion.logical_status AS
SELECT l.slot_name, s.active, s.wal_status,
	   pg_catalog.pg_wal_lsn_diff(pg_catalog.pg_current_wal_lsn(), l.stored_lsn)::bigint AS lag_bytes,
	   CASE WHEN s.wal_status IS DISTINCT FROM 'lost' AND s.slot_name IS NOT NULL
			THEN medallion._oldest_unpulled_for_status() END AS oldest_unpulled_commit,
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

-- 95_event_triggers.sql
-- Event triggers, last: they fire for no command of this script ------------------

-- Partitions created, attached or detached after enable_feed: keep their capture triggers in step.
CREATE FUNCTION medallion._sync_partition_triggers()
RETURNS event_trigger
LANGUAGE C
AS 'MODULE_PATHNAME', 'medallion_sync_partition_triggers';
REVOKE ALL ON FUNCTION medallion._sync_partition_triggers() FROM PUBLIC;
COMMENT ON FUNCTION medallion._sync_partition_triggers() IS
	'Event trigger: adds capture triggers to new partitions of fed tables, removes them from detached ones';

CREATE EVENT TRIGGER medallion_partitions ON ddl_command_end
	WHEN TAG IN ('CREATE TABLE', 'ALTER TABLE')
	EXECUTE FUNCTION medallion._sync_partition_triggers();
COMMENT ON EVENT TRIGGER medallion_partitions IS
	'Keeps the capture triggers of fed tables on their partitions: added to new or attached ones, removed from detached ones';

-- A fed table that is dropped takes its feed along: readers and catalog row go, the change table
-- stays (with a notice) so its history is not lost silently.
CREATE FUNCTION medallion._detach_dropped_feeds()
RETURNS event_trigger
LANGUAGE C
AS 'MODULE_PATHNAME', 'medallion_detach_dropped_feeds';
REVOKE ALL ON FUNCTION medallion._detach_dropped_feeds() FROM PUBLIC;
COMMENT ON FUNCTION medallion._detach_dropped_feeds() IS
	'Event trigger: detaches the feeds of dropped tables, keeping their change tables';

CREATE EVENT TRIGGER medallion_dropped_sources ON sql_drop
	EXECUTE FUNCTION medallion._detach_dropped_feeds();
COMMENT ON EVENT TRIGGER medallion_dropped_sources IS
	'Detaches the feeds of dropped tables, keeping their change tables';

-- The database's replication slot is not an object PostgreSQL can make depend on the extension:
-- a command that may drop the extension asks for the slot to be dropped at commit if it did.
CREATE FUNCTION medallion._note_extension_drop()
RETURNS event_trigger
LANGUAGE C
AS 'MODULE_PATHNAME', 'medallion_note_extension_drop';
REVOKE ALL ON FUNCTION medallion._note_extension_drop() FROM PUBLIC;
COMMENT ON FUNCTION medallion._note_extension_drop() IS
	'Event trigger: a command that may drop pg_medallion drops its replication slot at commit if it did';

CREATE EVENT TRIGGER medallion_extension_drop ON ddl_command_start
	WHEN TAG IN ('DROP EXTENSION', 'DROP SCHEMA', 'DROP OWNED')
	EXECUTE FUNCTION medallion._note_extension_drop();
COMMENT ON EVENT TRIGGER medallion_extension_drop IS
	'Drops the replication slot of the logical feeds at commit if the command dropped pg_medallion';
