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
	partition_span	bigint NOT NULL CHECK (partition_span > 0)
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
	'The first version of a feed (the one its enable committed in); NULL until it is closed';

CREATE FUNCTION medallion.history(source regclass)
RETURNS TABLE(version bigint, commit_timestamp timestamptz, inserts bigint, updates bigint,
			  deletes bigint, truncates bigint)
LANGUAGE sql
SET search_path = pg_catalog, pg_temp
AS $$
	SELECT c._commit_version, c._commit_timestamp,
		   count(*) FILTER (WHERE c._change_type = 'insert'),
		   count(*) FILTER (WHERE c._change_type = 'update_postimage'),
		   count(*) FILTER (WHERE c._change_type = 'delete'),
		   count(*) FILTER (WHERE c._change_type = 'truncate')
	FROM medallion.table_changes(source, coalesce(medallion.first_version(source),
												  medallion.current_version())) AS c
	GROUP BY 1, 2
	ORDER BY 1
$$;
COMMENT ON FUNCTION medallion.history(regclass) IS
	'Per version of a feed that has changes: counts by change type and the commit timestamp';

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
