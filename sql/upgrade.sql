-- ALTER EXTENSION pg_medallion UPDATE from the shipped 0.1.0 (through 0.2.0 to the current version)
-- keeps feeds, consumers, merge state and watermarks working, brings the 0.2.0 privilege model, and
-- leaves exactly the objects a fresh install creates.  The current library serves the 0.1.0 SQL
-- objects until the update.  Runs in a database of its own.
CREATE DATABASE medallion_upgrade;
\c medallion_upgrade
SET client_min_messages = warning;
CREATE EXTENSION pg_medallion VERSION '0.1.0';
SELECT extversion FROM pg_extension WHERE extname = 'pg_medallion';

-- The current library under the 0.1.0 SQL objects: feeds of both modes, capture, pull, reads,
-- consumers, merges and external watermarks work before the update.
CREATE TABLE orders (id int PRIMARY KEY, status text);
SELECT medallion.enable_feed('orders') IS NOT NULL AS fed;
CREATE TABLE events (id int PRIMARY KEY, kind text);
ALTER TABLE events REPLICA IDENTITY FULL;
SELECT medallion.enable_feed('events', mode => 'logical') IS NOT NULL AS fed_logical;
SELECT count(*) FROM medallion.create_consumer('silver', ARRAY['orders']::regclass[], 'earliest');
SELECT count(*) FROM medallion.create_consumer('audit', ARRAY['orders', 'events']::regclass[], 'earliest');
INSERT INTO orders VALUES (1, 'new'), (2, 'new');
INSERT INTO events VALUES (1, 'created'), (2, 'created');
UPDATE events SET kind = 'seen' WHERE id = 2;
SELECT feed, changes FROM medallion.pull() ORDER BY 1::text;
SELECT data->>'id' AS id, data->>'status' AS status, _change_type
FROM medallion.table_changes('orders', 1) ORDER BY _commit_version, _change_seq;
SELECT id, kind, _change_type FROM medallion_changes.events(1) ORDER BY _commit_version, _change_seq;
SELECT data->>'id' AS id, _change_type FROM medallion.consume('audit', 'orders') ORDER BY _commit_version, _change_seq;
SELECT data->>'id' AS id, data->>'kind' AS kind, _change_type
FROM medallion.consume('audit', 'events') ORDER BY _commit_version, _change_seq;
SELECT count(*) AS consumed_again FROM medallion.consume('audit', 'orders');
CREATE TABLE silver_orders (id int PRIMARY KEY, status text, _commit_version bigint, _change_seq bigint);
SELECT inserted FROM medallion.apply_changes('silver_orders',
	$$SELECT * FROM medallion_changes.orders('silver')$$, '{id}', '{_commit_version,_change_seq}');
CREATE TABLE order_history (id int, status text, seq int, _valid_from int, _valid_to int, UNIQUE (id, seq));
SELECT inserted FROM medallion.apply_changes('order_history',
	$$SELECT * FROM (VALUES (1, 'new', 10), (1, 'paid', 20)) v(id, status, seq)$$, '{id}', '{seq}', scd_type => 2);
SELECT medallion.create_watermark('ingest', 'kafka:orders', 'bigint');
SELECT medallion.advance_watermark('ingest', 'kafka:orders', '100');
-- Under 0.1.0 PUBLIC may execute the internal entry points.
SELECT has_function_privilege('public', 'medallion._capture()', 'EXECUTE') AS capture_public_before;

ALTER EXTENSION pg_medallion UPDATE;
SELECT extversion FROM pg_extension WHERE extname = 'pg_medallion';
-- Internal entry points and the slot-taking functions are no longer PUBLIC's.
SELECT p.oid::regprocedure AS function, has_function_privilege('public', p.oid, 'EXECUTE') AS public_may_execute
FROM pg_proc p WHERE p.pronamespace = 'medallion'::regnamespace
  AND p.proname IN ('_capture', '_truncate_guard', '_sync_partition_triggers', '_detach_dropped_feeds',
					'_note_extension_drop', 'pull', 'oldest_unpulled_commit', '_oldest_unpulled_for_status')
ORDER BY 1::text;
-- What was there keeps working: capture, pull, the consumers' watermarks, the merge state, the marks.
UPDATE orders SET status = 'paid' WHERE id = 1;
DELETE FROM orders WHERE id = 2;
DELETE FROM events WHERE id = 1;
SELECT feed, changes FROM medallion.pull() ORDER BY 1::text;
SELECT data->>'id' AS id, data->>'status' AS status, _change_type
FROM medallion.consume('audit', 'orders') ORDER BY _commit_version, _change_seq;
SELECT data->>'id' AS id, _change_type FROM medallion.consume('audit', 'events') ORDER BY _commit_version, _change_seq;
SELECT inserted, updated, deleted FROM medallion.apply_changes('silver_orders',
	$$SELECT * FROM medallion_changes.orders('silver')$$, '{id}', '{_commit_version,_change_seq}');
SELECT id, status FROM silver_orders ORDER BY id;
-- A late re-insert of 2 from before the delete stays deleted: the tombstones survived the update.
SELECT stale_skipped FROM medallion.apply_changes('silver_orders',
	$$SELECT 2 AS id, 'new' AS status, 1::bigint AS _commit_version, 0::bigint AS _change_seq$$,
	'{id}', '{_commit_version,_change_seq}');
SELECT count(*) AS rows_of_2 FROM silver_orders WHERE id = 2;
-- The SCD2 event log survived too: a late change at 15 splits the first version.
SELECT inserted, updated FROM medallion.apply_changes('order_history',
	$$SELECT 1 AS id, 'checked' AS status, 15 AS seq$$, '{id}', '{seq}', scd_type => 2);
SELECT id, status, _valid_from, _valid_to FROM order_history ORDER BY seq;
SELECT medallion.advance_watermark('ingest', 'kafka:orders', '200') AS mark;
SELECT name, source, action FROM medallion.watermark_log ORDER BY at, name, source;
-- Everyone may read the status view; it takes no slot for a role that may not decode.
CREATE ROLE upgrade_stranger;
SET ROLE upgrade_stranger;
SELECT count(*) AS status_rows, bool_and(oldest_unpulled_commit IS NULL) AS no_decoding
FROM medallion.logical_status;
RESET ROLE;

-- The updated extension has exactly the objects of a fresh install.  describe() lists every member
-- of the extension (pg_depend deptype 'e') and its schema, with what defines each one and what
-- belongs to it: comments, privileges (owner and PUBLIC by role, not name), function definitions,
-- columns (by name, with their position among the live columns), indexes, constraints, policies,
-- triggers, views, sequences, enum labels, event triggers, and the tables pg_dump dumps.  The
-- snapshots go into tables of a schema of their own, which outlive the extension.
CREATE SCHEMA upgrade_check;
CREATE FUNCTION upgrade_check.acl(acl aclitem[], owner oid) RETURNS text LANGUAGE sql STABLE AS $$
	SELECT CASE WHEN acl IS NULL THEN 'default' ELSE coalesce(
		(SELECT string_agg(item, ', ' ORDER BY item)
		 FROM (SELECT format('%s=%s%s/%s',
					CASE a.grantee WHEN owner THEN 'OWNER' WHEN 0 THEN 'PUBLIC' ELSE a.grantee::regrole::text END,
					a.privilege_type, CASE WHEN a.is_grantable THEN '*' ELSE '' END,
					CASE a.grantor WHEN owner THEN 'OWNER' ELSE a.grantor::regrole::text END) AS item
			   FROM aclexplode(acl) a) i), 'none') END
$$;
CREATE FUNCTION upgrade_check.describe() RETURNS TABLE(object text, property text, value text)
LANGUAGE sql STABLE AS $$
WITH ext AS (
	SELECT e.* FROM pg_extension e WHERE e.extname = 'pg_medallion'
), member AS (
	SELECT d.classid, d.objid, i.type AS kind, i.type || ' ' || i.identity AS object
	FROM ext, pg_depend d, LATERAL pg_identify_object(d.classid, d.objid, 0) i
	WHERE d.refclassid = 'pg_extension'::regclass AND d.refobjid = ext.oid AND d.deptype = 'e'
	UNION ALL
	-- CREATE EXTENSION made the extension's schema (control file: schema = medallion), not the script.
	SELECT 'pg_namespace'::regclass, ext.extnamespace, 'schema', 'schema ' || ext.extnamespace::regnamespace
	FROM ext
), rel AS (
	SELECT m.object, c.* FROM member m JOIN pg_class c ON m.classid = 'pg_class'::regclass AND c.oid = m.objid
)
SELECT object, 'object', kind FROM member
UNION ALL
SELECT 'extension pg_medallion', 'extension', format('version %s, schema %s, relocatable %s, owned by a superuser %s',
	extversion, extnamespace::regnamespace, extrelocatable, (SELECT rolsuper FROM pg_roles WHERE oid = extowner))
FROM ext
UNION ALL
SELECT 'extension pg_medallion', 'dumped table ' || c.cfg::regclass::text, coalesce(c.cond, 'NULL')
FROM ext, unnest(ext.extconfig::oid[], ext.extcondition) AS c(cfg, cond)
UNION ALL
-- Comments of the members and of their columns.
SELECT m.object, CASE WHEN d.objsubid = 0 THEN 'comment' ELSE 'comment on column ' || a.attname END, d.description
FROM member m
JOIN pg_description d ON d.classoid = m.classid AND d.objoid = m.objid
LEFT JOIN pg_attribute a ON d.classoid = 'pg_class'::regclass AND a.attrelid = d.objoid AND a.attnum = d.objsubid
UNION ALL
-- Relations: kind and settings, privileges, columns, indexes, constraints, policies, triggers, rules.
SELECT object, 'relation', format('kind %s, persistence %s, row security %s, forced %s, replica identity %s, options %s, owned by the extension owner %s',
	relkind, relpersistence, relrowsecurity, relforcerowsecurity, relreplident, reloptions,
	relowner = (SELECT extowner FROM ext))
FROM rel
UNION ALL
SELECT object, 'privileges', upgrade_check.acl(relacl, relowner) FROM rel
UNION ALL
SELECT r.object, 'column ' || a.attname,
	format('position %s, type %s, not null %s, default %s, identity %s, generated %s, collation %s, privileges %s',
		   row_number() OVER (PARTITION BY a.attrelid ORDER BY a.attnum), format_type(a.atttypid, a.atttypmod),
		   a.attnotnull, pg_get_expr(ad.adbin, ad.adrelid), a.attidentity, a.attgenerated,
		   nullif(a.attcollation, 0)::regcollation, upgrade_check.acl(a.attacl, r.relowner))
FROM rel r
JOIN pg_attribute a ON a.attrelid = r.oid AND a.attnum > 0 AND NOT a.attisdropped
LEFT JOIN pg_attrdef ad ON ad.adrelid = a.attrelid AND ad.adnum = a.attnum
UNION ALL
SELECT r.object, 'index ' || ic.relname,
	format('%s; comment %s', pg_get_indexdef(i.indexrelid), obj_description(i.indexrelid, 'pg_class'))
FROM rel r JOIN pg_index i ON i.indrelid = r.oid JOIN pg_class ic ON ic.oid = i.indexrelid
UNION ALL
SELECT r.object, 'constraint ' || c.conname,
	format('%s; comment %s', pg_get_constraintdef(c.oid), obj_description(c.oid, 'pg_constraint'))
FROM rel r JOIN pg_constraint c ON c.conrelid = r.oid
UNION ALL
SELECT r.object, 'policy ' || p.polname,
	format('command %s, permissive %s, roles %s, using %s, with check %s; comment %s',
		   p.polcmd, p.polpermissive,
		   (SELECT string_agg(r, ', ' ORDER BY r)
			FROM (SELECT CASE WHEN x = 0 THEN 'PUBLIC' ELSE x::regrole::text END FROM unnest(p.polroles) x) AS n(r)),
		   pg_get_expr(p.polqual, p.polrelid), pg_get_expr(p.polwithcheck, p.polrelid),
		   obj_description(p.oid, 'pg_policy'))
FROM rel r JOIN pg_policy p ON p.polrelid = r.oid
UNION ALL
SELECT r.object, 'trigger ' || t.tgname, format('%s, enabled %s', pg_get_triggerdef(t.oid), t.tgenabled)
FROM rel r JOIN pg_trigger t ON t.tgrelid = r.oid AND NOT t.tgisinternal
UNION ALL
SELECT r.object, 'rule ' || w.rulename, pg_get_ruledef(w.oid)
FROM rel r JOIN pg_rewrite w ON w.ev_class = r.oid AND w.rulename <> '_RETURN'
UNION ALL
SELECT object, 'view', pg_get_viewdef(oid) FROM rel WHERE relkind IN ('v', 'm')
UNION ALL
SELECT r.object, 'sequence', format('type %s, start %s, increment %s, min %s, max %s, cache %s, cycle %s, owned by %s',
	s.seqtypid::regtype, s.seqstart, s.seqincrement, s.seqmin, s.seqmax, s.seqcache, s.seqcycle,
	(SELECT pg_describe_object(d.refclassid, d.refobjid, d.refobjsubid) FROM pg_depend d
	 WHERE d.classid = 'pg_class'::regclass AND d.objid = r.oid AND d.deptype IN ('a', 'i')
	   AND d.refclassid = 'pg_class'::regclass))
FROM rel r JOIN pg_sequence s ON s.seqrelid = r.oid
UNION ALL
-- Functions: the whole definition, and the settings that matter most once more on their own.
SELECT m.object, 'definition', pg_get_functiondef(p.oid)
FROM member m JOIN pg_proc p ON m.classid = 'pg_proc'::regclass AND p.oid = m.objid
UNION ALL
SELECT m.object, 'function', format('volatility %s, security definer %s, strict %s, parallel %s, config %s, owned by the extension owner %s',
	p.provolatile, p.prosecdef, p.proisstrict, p.proparallel, p.proconfig, p.proowner = (SELECT extowner FROM ext))
FROM member m JOIN pg_proc p ON m.classid = 'pg_proc'::regclass AND p.oid = m.objid
UNION ALL
SELECT m.object, 'privileges', upgrade_check.acl(p.proacl, p.proowner)
FROM member m JOIN pg_proc p ON m.classid = 'pg_proc'::regclass AND p.oid = m.objid
UNION ALL
-- Types (enum labels in order), schemas, event triggers.
SELECT m.object, 'type', format('type %s, category %s, labels %s, privileges %s', t.typtype, t.typcategory,
	(SELECT string_agg(e.enumlabel, ', ' ORDER BY e.enumsortorder) FROM pg_enum e WHERE e.enumtypid = t.oid),
	upgrade_check.acl(t.typacl, t.typowner))
FROM member m JOIN pg_type t ON m.classid = 'pg_type'::regclass AND t.oid = m.objid
UNION ALL
SELECT m.object, 'schema', format('privileges %s, owned by the extension owner %s',
	upgrade_check.acl(n.nspacl, n.nspowner), n.nspowner = (SELECT extowner FROM ext))
FROM member m JOIN pg_namespace n ON m.classid = 'pg_namespace'::regclass AND n.oid = m.objid
UNION ALL
SELECT m.object, 'event trigger', format('on %s, tags %s, function %s, enabled %s, owned by the extension owner %s',
	e.evtevent, e.evttags, e.evtfoid::regprocedure, e.evtenabled, e.evtowner = (SELECT extowner FROM ext))
FROM member m JOIN pg_event_trigger e ON m.classid = 'pg_event_trigger'::regclass AND e.oid = m.objid
$$;
CREATE TABLE upgrade_check.updated AS SELECT * FROM upgrade_check.describe();

-- Drop everything: consumers, merge state, the feeds (the logical one's slot goes at commit), the
-- tables, the extension and its schema.  Then install the current version fresh and describe it again.
SELECT medallion.drop_consumer('silver'), medallion.drop_consumer('audit');
SELECT medallion.drop_merge_state('silver_orders') AS dropped, medallion.drop_merge_state('order_history') AS dropped;
SELECT medallion.disable_feed('orders'), medallion.disable_feed('events');
DROP TABLE orders, events, silver_orders, order_history;
DROP EXTENSION pg_medallion CASCADE;
DROP SCHEMA medallion;
SELECT count(*) AS slots_left FROM pg_replication_slots WHERE database = current_database();
CREATE EXTENSION pg_medallion;
SELECT extversion FROM pg_extension WHERE extname = 'pg_medallion';
CREATE TABLE upgrade_check.fresh AS SELECT * FROM upgrade_check.describe();
-- What a fresh install has, by kind of object.
SELECT value AS kind, count(*) FROM upgrade_check.fresh WHERE property = 'object' GROUP BY 1 ORDER BY 1;
-- Every object has a comment.
SELECT object AS without_comment FROM upgrade_check.fresh WHERE property = 'object'
EXCEPT SELECT object FROM upgrade_check.fresh WHERE property = 'comment' ORDER BY 1;
-- Only after the update, only in the fresh install: nothing either way.
SELECT * FROM upgrade_check.updated EXCEPT SELECT * FROM upgrade_check.fresh ORDER BY 1, 2, 3;
SELECT * FROM upgrade_check.fresh EXCEPT SELECT * FROM upgrade_check.updated ORDER BY 1, 2, 3;
SELECT count(*) > 500 AS described FROM upgrade_check.fresh;

\c contrib_regression
DROP DATABASE medallion_upgrade;
DROP ROLE upgrade_stranger;
