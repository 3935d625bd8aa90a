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
