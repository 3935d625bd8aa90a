-- pg_medallion 0.1.0 -> 0.2.0: the privilege model (see README "Security model").
\echo Use "ALTER EXTENSION pg_medallion UPDATE TO '0.2.0'" to load this file. \quit

-- Internal entry points nobody calls directly: triggers and event triggers fire without an EXECUTE
-- check, and enable_feed creates the triggers as the extension owner.  Who could execute _capture
-- could attach it to a table of their own and write into another role's feed.
REVOKE ALL ON FUNCTION medallion._capture() FROM PUBLIC;
REVOKE ALL ON FUNCTION medallion._truncate_guard() FROM PUBLIC;
REVOKE ALL ON FUNCTION medallion._sync_partition_triggers() FROM PUBLIC;
REVOKE ALL ON FUNCTION medallion._detach_dropped_feeds() FROM PUBLIC;
REVOKE ALL ON FUNCTION medallion._note_extension_drop() FROM PUBLIC;

-- pull and oldest_unpulled_commit take the database's replication slot and decode WAL: the
-- extension owner's (or whoever it grants them to), like resume_logical_feeds.
REVOKE ALL ON FUNCTION medallion.pull(bigint) FROM PUBLIC;
REVOKE ALL ON FUNCTION medallion.oldest_unpulled_commit() FROM PUBLIC;

-- The status view everyone reads takes no slot: its oldest_unpulled_commit is NULL for roles
-- that may not execute medallion.oldest_unpulled_commit().
CREATE FUNCTION medallion._oldest_unpulled_for_status()
RETURNS timestamptz
LANGUAGE C
AS 'MODULE_PATHNAME', 'medallion_oldest_unpulled_for_status';
COMMENT ON FUNCTION medallion._oldest_unpulled_for_status() IS
	'Internal: oldest_unpulled_commit() for roles allowed to execute it, else NULL without touching the slot';

CREATE OR REPLACE VIEW medallion.logical_status AS
SELECT l.slot_name, s.active, s.wal_status,
	   pg_catalog.pg_wal_lsn_diff(pg_catalog.pg_current_wal_lsn(), l.stored_lsn)::bigint AS lag_bytes,
	   CASE WHEN s.wal_status IS DISTINCT FROM 'lost' AND s.slot_name IS NOT NULL
			THEN medallion._oldest_unpulled_for_status() END AS oldest_unpulled_commit,
	   l.stored_lsn, s.confirmed_flush_lsn, l.pulled_at,
	   (SELECT pg_catalog.array_agg(f.source ORDER BY f.feed_id) FROM medallion.feed f WHERE f.mode = 'logical') AS feeds
FROM medallion.logical_slot l
LEFT JOIN pg_catalog.pg_replication_slots s USING (slot_name)
UNION ALL
SELECT NULL, NULL, 'missing', NULL, NULL, NULL, NULL, NULL,
	   (SELECT pg_catalog.array_agg(f.source ORDER BY f.feed_id) FROM medallion.feed f WHERE f.mode = 'logical')
WHERE EXISTS (SELECT 1 FROM medallion.feed WHERE mode = 'logical')
  AND NOT EXISTS (SELECT 1 FROM medallion.logical_slot);

-- restore() of a dropped table's oid, or of a relation that is no table: a clear error.
CREATE OR REPLACE FUNCTION medallion.restore(source regclass, version bigint)
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

-- A logical feed whose change a pull cannot store (a value that does not convert to a retyped
-- column) is marked here and skipped, instead of stopping every logical feed of the database.
ALTER TABLE medallion.feed ADD COLUMN broken text;
COMMENT ON COLUMN medallion.feed.broken IS
	'Why a pull could not store a change of this logical feed (NULL: fine); its readers fail until it is disabled and enabled';
