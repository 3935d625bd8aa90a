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
