-- Merge: apply_changes ---------------------------------------------------

CREATE TABLE medallion.apply_target (
	target			regclass PRIMARY KEY,
	scd_type		integer NOT NULL CHECK (scd_type IN (1, 2)),
	keys			text[] NOT NULL,
	sequence_by		text[] NOT NULL,
	state_table		regclass NOT NULL,
	retain_history	interval,
	created_at		timestamptz NOT NULL DEFAULT pg_catalog.now()
);
COMMENT ON TABLE medallion.apply_target IS
	'Targets of apply_changes: their keys, sequence and merge state table (tombstones or SCD2 event log)';
SELECT pg_catalog.pg_extension_config_dump('medallion.apply_target', '');
REVOKE ALL ON medallion.apply_target FROM PUBLIC;
GRANT SELECT ON medallion.apply_target TO PUBLIC;

-- Records apply_changes (and later flows) refused, with the reason; never silently dropped.
CREATE TABLE medallion.quarantine (
	quarantine_id	bigserial PRIMARY KEY,
	target			regclass NOT NULL,
	reason			text NOT NULL,
	record			jsonb NOT NULL,
	run_id			text,
	quarantined_by	regrole NOT NULL DEFAULT current_user::regrole,
	quarantined_at	timestamptz NOT NULL DEFAULT pg_catalog.now()
);
COMMENT ON TABLE medallion.quarantine IS 'Rejected records with the rule they broke, the target and the run';
CREATE INDEX ON medallion.quarantine (target, quarantined_at);
-- A record is quarantined once per target and reason: re-running a batch adds nothing.
CREATE UNIQUE INDEX ON medallion.quarantine (target, reason, pg_catalog.md5(record::pg_catalog.text));
SELECT pg_catalog.pg_extension_config_dump('medallion.quarantine', '');
SELECT pg_catalog.pg_extension_config_dump('medallion.quarantine_quarantine_id_seq', '');
REVOKE ALL ON medallion.quarantine FROM PUBLIC;
GRANT SELECT, INSERT, DELETE ON medallion.quarantine TO PUBLIC;
GRANT USAGE ON SEQUENCE medallion.quarantine_quarantine_id_seq TO PUBLIC;
ALTER TABLE medallion.quarantine ENABLE ROW LEVEL SECURITY;
-- Who may read or write a target sees and writes its quarantine; nobody forges another role's rows.
CREATE POLICY readers_of_target ON medallion.quarantine FOR SELECT
	USING (pg_catalog.has_table_privilege(target, 'SELECT'));
CREATE POLICY writers_of_target ON medallion.quarantine FOR INSERT
	WITH CHECK (pg_catalog.has_table_privilege(target, 'INSERT') AND quarantined_by = current_user::regrole);
CREATE POLICY owners_clean_up ON medallion.quarantine FOR DELETE
	USING (pg_catalog.pg_has_role((SELECT c.relowner FROM pg_catalog.pg_class c WHERE c.oid = target), 'USAGE'));

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

CREATE FUNCTION medallion.apply_changes(target regclass, source text, keys text[], sequence_by text[],
										delete_when text DEFAULT NULL, truncate_when text DEFAULT NULL,
										columns text[] DEFAULT NULL, except_columns text[] DEFAULT NULL,
										ignore_null_updates boolean DEFAULT false, scd_type integer DEFAULT 1,
										track_history_columns text[] DEFAULT NULL)
RETURNS TABLE(inserted bigint, updated bigint, deleted bigint, unchanged bigint,
			  stale_skipped bigint, rejected bigint)
LANGUAGE C
AS 'MODULE_PATHNAME', 'medallion_apply_changes';
COMMENT ON FUNCTION medallion.apply_changes(regclass, text, text[], text[], text, text, text[], text[],
											boolean, integer, text[]) IS
	'Merges a batch of changes into a target table idempotently: newest sequence per key wins, '
	'stale and duplicate changes are skipped, deletes leave tombstones, SCD type 1 or 2';

CREATE FUNCTION medallion._merge_tally(kind integer, n bigint)
RETURNS boolean
LANGUAGE C VOLATILE COST 1000
AS 'MODULE_PATHNAME', 'medallion_merge_tally';
COMMENT ON FUNCTION medallion._merge_tally(integer, bigint) IS
	'Internal: counts what a running apply_changes skipped; does nothing outside one';

CREATE FUNCTION medallion._merge_ordinal()
RETURNS bigint
LANGUAGE C VOLATILE
AS 'MODULE_PATHNAME', 'medallion_merge_ordinal';
COMMENT ON FUNCTION medallion._merge_ordinal() IS
	'Internal: a number unique within the session, which keeps rows apart in apply_changes';

CREATE FUNCTION medallion._merge_place(VARIADIC "any")
RETURNS integer
LANGUAGE C IMMUTABLE WINDOW
AS 'MODULE_PATHNAME', 'medallion_merge_place';
COMMENT ON FUNCTION medallion._merge_place("any") IS
	'Internal window function of apply_changes: 0 the newest clean change of its key, 1 an older clean one, 2 set aside';

CREATE FUNCTION medallion._merge_rank(VARIADIC "any")
RETURNS integer
LANGUAGE C IMMUTABLE WINDOW
AS 'MODULE_PATHNAME', 'medallion_merge_rank';
COMMENT ON FUNCTION medallion._merge_rank("any") IS
	'Internal window function of apply_changes (sequence...): rank * 2, + 1 if a neighbour shares the sequence';

CREATE FUNCTION medallion._merge_stash(kind integer, "row" record)
RETURNS boolean
LANGUAGE C VOLATILE COST 1000
AS 'MODULE_PATHNAME', 'medallion_merge_stash';
COMMENT ON FUNCTION medallion._merge_stash(integer, record) IS
	'Internal: sets a row aside while apply_changes streams a batch; an error outside one';

CREATE FUNCTION medallion._merge_stashed(kind integer)
RETURNS SETOF record
LANGUAGE C VOLATILE ROWS 1000
AS 'MODULE_PATHNAME', 'medallion_merge_stashed';
COMMENT ON FUNCTION medallion._merge_stashed(integer) IS
	'Internal: the rows apply_changes set aside, read back once; an error outside one';

CREATE FUNCTION medallion.drop_merge_state(target regclass)
RETURNS boolean
LANGUAGE C
AS 'MODULE_PATHNAME', 'medallion_drop_merge_state';
COMMENT ON FUNCTION medallion.drop_merge_state(regclass) IS
	'Forgets a target''s merge state (tombstones or SCD2 event log) so it can be applied with other keys';

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
