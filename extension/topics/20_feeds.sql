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
