-- pg_medallion 0.2.0 -> 0.3.0: the same objects, every one of them commented (the install script
-- is now built from extension/topics/*.sql).  Regress `upgrade` checks that an updated database has
-- exactly the objects of a fresh install.
\echo Use "ALTER EXTENSION pg_medallion UPDATE TO '0.3.0'" to load this file. \quit

-- Schemas (topics/00_schemas.sql) -----------------------------------------------------------------

COMMENT ON SCHEMA medallion IS
	'pg_medallion: feeds, the version clock, consumers, watermarks and merges (functions, catalog tables, views)';
COMMENT ON SCHEMA medallion_changes IS
	'pg_medallion change tables and their typed readers, one set per feed; read through the readers';
COMMENT ON SCHEMA medallion_state IS
	'pg_medallion merge state of apply_changes targets: tombstones (SCD type 1) or event logs (SCD type 2)';

-- The version clock (topics/10_clock.sql) ---------------------------------------------------------

-- The tick in C (src/clock/tick.c): the same rule, a fraction of the cost.  CREATE OR REPLACE keeps
-- the function's privileges and comment; SET search_path goes (the C code pins its own).
CREATE OR REPLACE FUNCTION medallion._tick()
RETURNS bigint
LANGUAGE C
AS 'MODULE_PATHNAME', 'medallion_tick';
ALTER FUNCTION medallion._tick() RESET ALL;

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
COMMENT ON FUNCTION medallion._tick() IS
	'Internal: closes the open version if anything committed since the last one; returns the newest version';
COMMENT ON FUNCTION medallion._ensure_partitions() IS
	'Internal: creates the change table partitions every feed will need next; called by each tick';

-- Feeds and capture (topics/20_feeds.sql) ---------------------------------------------------------

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

-- Writers' application names (topics/25_application.sql) ------------------------------------------

COMMENT ON COLUMN medallion.application.app_id IS
	'The id change rows carry in _app (0: the writer had no application_name)';
COMMENT ON COLUMN medallion.application.name IS 'The application_name of the writing session';

-- Reads (topics/30_reads.sql) ---------------------------------------------------------------------

COMMENT ON FUNCTION medallion._feed_id(regclass) IS
	'Internal: the feed id of a fed table (NULL if it has no feed)';

-- Consumers and watermarks (topics/40_consumers.sql) ----------------------------------------------

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
COMMENT ON FUNCTION medallion._external_mark(text, text) IS
	'Internal: the row of an external watermark; an error if it does not exist';
COMMENT ON FUNCTION medallion._mark_less(text, text, text) IS
	'Internal: whether mark a is before mark b, compared as the watermark kind says';

-- Merge (topics/50_merge.sql) ---------------------------------------------------------------------

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

-- New: what apply_changes would run, for review (regress merge_statements) and debugging.
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

-- Schema evolution (topics/75_schema_evolution.sql) -----------------------------------------------

COMMENT ON COLUMN medallion.schema_change.xid IS
	'The altering transaction (full xid); the change took effect in the version it committed in';
COMMENT ON COLUMN medallion.schema_change.command IS 'The ALTER TABLE command, as the user sent it';
COMMENT ON COLUMN medallion.schema_change.summary IS 'What changed in the change table and the readers';

-- Logical feeds (topics/80_logical.sql) -----------------------------------------------------------

COMMENT ON COLUMN medallion.logical_slot.stored_lsn IS
	'The LSN up to which pull has stored the changes, committed in the same transaction as them';
COMMENT ON COLUMN medallion.logical_slot.pulled_at IS 'When a pull last stored changes';

-- Event triggers (topics/95_event_triggers.sql) ---------------------------------------------------

COMMENT ON EVENT TRIGGER medallion_partitions IS
	'Keeps the capture triggers of fed tables on their partitions: added to new or attached ones, removed from detached ones';
COMMENT ON EVENT TRIGGER medallion_dropped_sources IS
	'Detaches the feeds of dropped tables, keeping their change tables';
COMMENT ON EVENT TRIGGER medallion_extension_drop IS
	'Drops the replication slot of the logical feeds at commit if the command dropped pg_medallion';
