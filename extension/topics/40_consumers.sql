-- Consumers and watermarks ----------------------------------------------

CREATE TABLE medallion.consumer (
	consumer	text PRIMARY KEY CHECK (length(consumer) BETWEEN 1 AND 200),
	owner		regrole NOT NULL,
	start		text NOT NULL,
	created_at	timestamptz NOT NULL DEFAULT pg_catalog.now()
);
COMMENT ON TABLE medallion.consumer IS 'Consumers: named readers of feeds';

-- The watermark table: one row per (consumer, feed), the last version fully consumed (inclusive).
CREATE TABLE medallion.consumer_feed (
	consumer	text NOT NULL REFERENCES medallion.consumer ON DELETE CASCADE,
	feed_id		integer NOT NULL REFERENCES medallion.feed,
	watermark	bigint NOT NULL CHECK (watermark >= 0),
	updated_at	timestamptz NOT NULL DEFAULT pg_catalog.now(),
	last_run_id	text,
	snapshot_table regclass,	-- start 'snapshot': the rows as of version `watermark`, until first read
	PRIMARY KEY (consumer, feed_id)
);
COMMENT ON TABLE medallion.consumer_feed IS
	'Watermarks: per consumer and feed, the last version fully consumed; the next read starts after it';

-- Marks of sources outside the database: offsets, timestamps, LSNs, opaque text.
CREATE TABLE medallion.external_watermark (
	pipeline	text NOT NULL CHECK (pipeline <> ''),
	source		text NOT NULL CHECK (source <> ''),
	kind		text NOT NULL CHECK (kind IN ('bigint', 'timestamptz', 'lsn', 'text')),
	value		text,
	allowed_lateness interval CHECK (allowed_lateness >= interval '0'),
	owner		regrole NOT NULL DEFAULT pg_catalog.current_user()::regrole,
	updated_at	timestamptz NOT NULL DEFAULT pg_catalog.now(),
	last_run_id	text,
	PRIMARY KEY (pipeline, source)
);
COMMENT ON TABLE medallion.external_watermark IS
	'Watermarks of sources outside the database, one per (pipeline, source), advancing monotonically';

-- Every explicit move of a watermark: creation, reset, forced rewind, drop.
CREATE TABLE medallion.watermark_log (
	at			timestamptz NOT NULL DEFAULT pg_catalog.clock_timestamp(),
	name		text NOT NULL,
	source		text NOT NULL,
	action		text NOT NULL,
	old_value	text,
	new_value	text,
	run_id		text,
	by_role		name NOT NULL DEFAULT pg_catalog.session_user()
);
COMMENT ON TABLE medallion.watermark_log IS 'Audit of watermark creations, resets, forced moves and drops';

SELECT pg_catalog.pg_extension_config_dump('medallion.consumer', '');
SELECT pg_catalog.pg_extension_config_dump('medallion.consumer_feed', '');
SELECT pg_catalog.pg_extension_config_dump('medallion.external_watermark', '');
SELECT pg_catalog.pg_extension_config_dump('medallion.watermark_log', '');
REVOKE ALL ON medallion.consumer, medallion.consumer_feed, medallion.external_watermark,
	medallion.watermark_log FROM PUBLIC;
GRANT SELECT ON medallion.consumer, medallion.consumer_feed, medallion.external_watermark,
	medallion.watermark_log TO PUBLIC;

-- External marks are written through the functions below, as the caller: row-level security lets
-- each role move only the marks it owns (or its roles own), and write the log only as itself.
GRANT INSERT, UPDATE ON medallion.external_watermark TO PUBLIC;
GRANT INSERT ON medallion.watermark_log TO PUBLIC;
ALTER TABLE medallion.external_watermark ENABLE ROW LEVEL SECURITY;
CREATE POLICY owner_reads ON medallion.external_watermark FOR SELECT USING (true);
CREATE POLICY owner_creates ON medallion.external_watermark FOR INSERT
	WITH CHECK (pg_catalog.pg_has_role(owner, 'MEMBER'));
CREATE POLICY owner_moves ON medallion.external_watermark FOR UPDATE
	USING (pg_catalog.pg_has_role(owner, 'MEMBER'));
ALTER TABLE medallion.watermark_log ENABLE ROW LEVEL SECURITY;
CREATE POLICY everyone_reads ON medallion.watermark_log FOR SELECT USING (true);
CREATE POLICY write_as_yourself ON medallion.watermark_log FOR INSERT
	WITH CHECK (by_role = pg_catalog.session_user());
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

CREATE FUNCTION medallion.create_consumer(name text, feeds regclass[], start text DEFAULT 'latest')
RETURNS TABLE(feed regclass, watermark bigint)
LANGUAGE C
AS 'MODULE_PATHNAME', 'medallion_create_consumer';
COMMENT ON FUNCTION medallion.create_consumer(text, regclass[], text) IS
	'Registers a consumer of feeds starting at ''latest'', ''earliest'', ''snapshot'' or a version; returns its watermarks';

CREATE FUNCTION medallion.drop_consumer(name text)
RETURNS void
LANGUAGE C
AS 'MODULE_PATHNAME', 'medallion_drop_consumer';
COMMENT ON FUNCTION medallion.drop_consumer(text) IS 'Removes a consumer and its watermarks';

CREATE FUNCTION medallion.reset_consumer(name text, to_version bigint, feed regclass DEFAULT NULL)
RETURNS TABLE(feed regclass, old_watermark bigint, new_watermark bigint)
LANGUAGE C
AS 'MODULE_PATHNAME', 'medallion_reset_consumer';
COMMENT ON FUNCTION medallion.reset_consumer(text, bigint, regclass) IS
	'Moves a consumer''s watermark (rewind or skip) on one feed or all; logged in medallion.watermark_log';

CREATE FUNCTION medallion.consume(consumer text, feed regclass, max_versions integer DEFAULT NULL,
								  nowait boolean DEFAULT false, net boolean DEFAULT false)
RETURNS TABLE(data jsonb, _change_type medallion.change_type, _commit_version bigint,
			  _commit_timestamp timestamptz, _change_seq bigint)
LANGUAGE C
AS 'MODULE_PATHNAME', 'medallion_consume';
COMMENT ON FUNCTION medallion.consume(text, regclass, integer, boolean, boolean) IS
	'Reads the versions (watermark, newest] of a feed and advances the watermark in the caller''s transaction';

CREATE FUNCTION medallion.peek(consumer text, feed regclass, max_versions integer DEFAULT NULL,
							   net boolean DEFAULT false)
RETURNS TABLE(data jsonb, _change_type medallion.change_type, _commit_version bigint,
			  _commit_timestamp timestamptz, _change_seq bigint)
LANGUAGE C
AS 'MODULE_PATHNAME', 'medallion_peek';
COMMENT ON FUNCTION medallion.peek(text, regclass, integer, boolean) IS
	'Reads what consume would read, without advancing the watermark';

CREATE FUNCTION medallion._consume(feed_id integer, consumer text, max_versions integer,
								   nowait boolean, peek boolean, net boolean)
RETURNS SETOF record
LANGUAGE C
AS 'MODULE_PATHNAME', 'medallion_consume_typed';
COMMENT ON FUNCTION medallion._consume(integer, text, integer, boolean, boolean, boolean) IS
	'Typed consume of a feed; called by the generated readers in medallion_changes';
-- External watermarks ----------------------------------------------------

CREATE FUNCTION medallion._external_mark(pipeline text, source text)
RETURNS medallion.external_watermark
LANGUAGE plpgsql STABLE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
	mark medallion.external_watermark;
BEGIN
	IF pipeline IS NULL OR source IS NULL THEN
		RAISE EXCEPTION 'pipeline and source must not be NULL'
			USING ERRCODE = 'null_value_not_allowed', HINT = 'Name the pipeline and the source it reads.';
	END IF;
	SELECT * INTO mark FROM medallion.external_watermark w WHERE w.pipeline = $1 AND w.source = $2;
	IF NOT FOUND THEN
		RAISE EXCEPTION 'watermark of pipeline "%" on source "%" does not exist', pipeline, source
			USING ERRCODE = 'undefined_object', HINT = 'Create it with medallion.create_watermark().';
	END IF;
	RETURN mark;
END $$;
COMMENT ON FUNCTION medallion._external_mark(text, text) IS
	'Internal: the row of an external watermark; an error if it does not exist';

CREATE FUNCTION medallion._mark_less(kind text, a text, b text)
RETURNS boolean
LANGUAGE sql IMMUTABLE
SET search_path = pg_catalog, pg_temp
AS $$
	SELECT CASE kind
		WHEN 'bigint' THEN a::bigint < b::bigint
		WHEN 'timestamptz' THEN a::timestamptz < b::timestamptz
		WHEN 'lsn' THEN a::pg_lsn < b::pg_lsn
		ELSE a COLLATE "C" < b COLLATE "C" END
$$;
COMMENT ON FUNCTION medallion._mark_less(text, text, text) IS
	'Internal: whether mark a is before mark b, compared as the watermark kind says';

CREATE FUNCTION medallion.create_watermark(pipeline text, source text, kind text,
										   allowed_lateness interval DEFAULT NULL)
RETURNS void
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
	IF pipeline IS NULL OR source IS NULL OR kind IS NULL THEN
		RAISE EXCEPTION 'pipeline, source and kind must not be NULL'
			USING ERRCODE = 'null_value_not_allowed', HINT = 'Kinds are bigint, timestamptz, lsn and text.';
	END IF;
	IF kind NOT IN ('bigint', 'timestamptz', 'lsn', 'text') THEN
		RAISE EXCEPTION 'unknown watermark kind "%"', kind
			USING ERRCODE = 'invalid_parameter_value', HINT = 'Kinds are bigint, timestamptz, lsn and text.';
	END IF;
	IF allowed_lateness IS NOT NULL AND (kind <> 'timestamptz' OR allowed_lateness < interval '0') THEN
		RAISE EXCEPTION 'allowed_lateness needs a timestamptz watermark and a non-negative interval'
			USING ERRCODE = 'invalid_parameter_value', HINT = 'Event-time watermarks have kind timestamptz.';
	END IF;
	INSERT INTO medallion.external_watermark (pipeline, source, kind, allowed_lateness)
	VALUES (pipeline, source, kind, allowed_lateness);
	INSERT INTO medallion.watermark_log (name, source, action, new_value)
	VALUES (pipeline, source, 'create', kind);
EXCEPTION WHEN unique_violation THEN
	RAISE EXCEPTION 'watermark of pipeline "%" on source "%" already exists', pipeline, source
		USING ERRCODE = 'duplicate_object', HINT = 'Advance it with medallion.advance_watermark().';
END $$;
COMMENT ON FUNCTION medallion.create_watermark(text, text, text, interval) IS
	'Declares the watermark of an external source: kind bigint, timestamptz, lsn or text';

CREATE FUNCTION medallion.watermark(pipeline text, source text)
RETURNS text
LANGUAGE sql STABLE
SET search_path = pg_catalog, pg_temp
AS $$ SELECT (medallion._external_mark(pipeline, source)).value $$;
COMMENT ON FUNCTION medallion.watermark(text, text) IS
	'The current mark of an external source (NULL before the first advance)';

CREATE FUNCTION medallion.advance_watermark(pipeline text, source text, value text,
											run_id text DEFAULT NULL, force boolean DEFAULT false)
RETURNS text
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
	mark medallion.external_watermark;
BEGIN
	mark := medallion._external_mark(pipeline, source);
	run_id := coalesce(run_id, nullif(current_setting('pg_medallion.run_id', true), ''));
	IF NOT pg_has_role(mark.owner, 'MEMBER') THEN
		RAISE EXCEPTION 'permission denied for the watermark of pipeline "%" on source "%"', pipeline, source
			USING ERRCODE = 'insufficient_privilege', HINT = 'Marks are moved by members of their owner role, ' || mark.owner || '.';
	END IF;
	IF value IS NULL THEN
		RAISE EXCEPTION 'value must not be NULL'
			USING ERRCODE = 'null_value_not_allowed', HINT = 'Pass the new mark as text.';
	END IF;
	BEGIN
		PERFORM medallion._mark_less(mark.kind, value, value);
	EXCEPTION WHEN data_exception OR syntax_error THEN
		RAISE EXCEPTION 'value "%" is not a valid % mark', value, mark.kind
			USING ERRCODE = 'invalid_text_representation', HINT = 'The watermark was created with kind ' || mark.kind || '.';
	END;
	-- Serialise advances of one mark, then compare with what is committed.
	SELECT * INTO mark FROM medallion.external_watermark w
	WHERE w.pipeline = $1 AND w.source = $2 FOR UPDATE;
	IF mark.value IS NOT NULL AND medallion._mark_less(mark.kind, value, mark.value) THEN
		IF NOT force THEN
			RAISE EXCEPTION 'watermark of pipeline "%" on source "%" would go backwards from % to %',
				pipeline, source, mark.value, value
				USING ERRCODE = 'invalid_parameter_value',
					  HINT = 'Watermarks only advance; pass force => true to rewind on purpose (it is logged).';
		END IF;
		INSERT INTO medallion.watermark_log (name, source, action, old_value, new_value, run_id)
		VALUES (pipeline, source, 'force', mark.value, value, run_id);
	END IF;
	UPDATE medallion.external_watermark w
	SET value = advance_watermark.value, updated_at = now(), last_run_id = run_id
	WHERE w.pipeline = $1 AND w.source = $2;
	RETURN value;
END $$;
COMMENT ON FUNCTION medallion.advance_watermark(text, text, text, text, boolean) IS
	'Moves an external mark forward in the caller''s transaction; backwards only with force (logged)';

CREATE FUNCTION medallion.is_late(pipeline text, source text, event_time timestamptz)
RETURNS boolean
LANGUAGE plpgsql STABLE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
	mark medallion.external_watermark;
BEGIN
	mark := medallion._external_mark(pipeline, source);
	IF mark.kind <> 'timestamptz' THEN
		RAISE EXCEPTION 'watermark of pipeline "%" on source "%" is not an event-time watermark', pipeline, source
			USING ERRCODE = 'wrong_object_type', HINT = 'Event-time watermarks have kind timestamptz.';
	END IF;
	IF mark.value IS NULL OR event_time IS NULL THEN
		RETURN false;
	END IF;
	RETURN event_time < mark.value::timestamptz - coalesce(mark.allowed_lateness, interval '0');
END $$;
COMMENT ON FUNCTION medallion.is_late(text, text, timestamptz) IS
	'Whether an event time is older than the mark minus the allowed lateness';
