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
