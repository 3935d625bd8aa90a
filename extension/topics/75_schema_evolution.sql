-- Schema evolution ---------------------------------------------------------

-- ALTER TABLE on a fed source, as carried over to its change table and readers (see README).
CREATE TABLE medallion.schema_change (
	feed_id		integer NOT NULL,
	xid			bigint NOT NULL,		-- the altering transaction; its version is the one it committed in
	command		text NOT NULL,
	summary		text NOT NULL,
	changed_by	regrole NOT NULL DEFAULT current_user::regrole,
	changed_at	timestamptz NOT NULL DEFAULT pg_catalog.now()
);
COMMENT ON TABLE medallion.schema_change IS 'Column changes of fed tables, carried over to their change tables';
SELECT pg_catalog.pg_extension_config_dump('medallion.schema_change', '');
REVOKE ALL ON medallion.schema_change FROM PUBLIC;
GRANT SELECT ON medallion.schema_change TO PUBLIC;
COMMENT ON COLUMN medallion.schema_change.xid IS
	'The altering transaction (full xid); the change took effect in the version it committed in';
COMMENT ON COLUMN medallion.schema_change.command IS 'The ALTER TABLE command, as the user sent it';
COMMENT ON COLUMN medallion.schema_change.summary IS 'What changed in the change table and the readers';
