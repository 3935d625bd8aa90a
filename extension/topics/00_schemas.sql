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
