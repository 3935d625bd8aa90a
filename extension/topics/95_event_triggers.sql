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
