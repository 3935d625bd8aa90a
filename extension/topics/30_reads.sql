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
	'The first version of a feed (the one its enable committed in); NULL while the enable is uncommitted';

CREATE FUNCTION medallion._feed_id(source regclass)
RETURNS integer
LANGUAGE sql STABLE
SET search_path = pg_catalog, pg_temp
AS $$ SELECT feed_id FROM medallion.feed WHERE feed.source = _feed_id.source $$;
COMMENT ON FUNCTION medallion._feed_id(regclass) IS
	'Internal: the feed id of a fed table (NULL if it has no feed)';

CREATE FUNCTION medallion.history(source regclass)
RETURNS TABLE(version bigint, commit_timestamp timestamptz, operations text[], rows bigint, inserts bigint,
			  updates bigint, deletes bigint, truncates bigint, roles text[], applications text[])
LANGUAGE sql
SET search_path = pg_catalog, pg_temp
AS $$
	SELECT c._commit_version, c._commit_timestamp,
		   array_agg(DISTINCT CASE c._change_type WHEN 'insert' THEN 'INSERT' WHEN 'delete' THEN 'DELETE'
								   WHEN 'truncate' THEN 'TRUNCATE' ELSE 'UPDATE' END),
		   count(*) FILTER (WHERE c._change_type <> 'update_preimage'),
		   count(*) FILTER (WHERE c._change_type = 'insert'),
		   count(*) FILTER (WHERE c._change_type = 'update_postimage'),
		   count(*) FILTER (WHERE c._change_type = 'delete'),
		   count(*) FILTER (WHERE c._change_type = 'truncate'),
		   array_agg(DISTINCT coalesce(r.rolname::text, c._role::text)),
		   array_remove(array_agg(DISTINCT CASE WHEN c._app = 0 THEN NULL
												ELSE coalesce(a.name, '#' || c._app) END), NULL)
	FROM medallion._changes(medallion._feed_id(source),
							coalesce(medallion.first_version(source), medallion.current_version()), NULL)
		 AS c(_role oid, _app integer, _change_type medallion.change_type, _commit_version bigint,
			  _commit_timestamp timestamptz, _change_seq bigint)
	LEFT JOIN pg_roles AS r ON r.oid = c._role
	LEFT JOIN medallion.application AS a ON a.app_id = c._app
	GROUP BY 1, 2
	ORDER BY 1
$$;
COMMENT ON FUNCTION medallion.history(regclass) IS
	'Per version of a feed that has changes: commit time, operations, row counts, roles and applications';
