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
