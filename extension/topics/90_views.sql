-- Views, everyone's to read ---------------------------------------------------

CREATE VIEW medallion.feeds AS
SELECT f.feed_id, f.source, f.change_table, f.reader, f.mode, f.enabled_at,
	   medallion.first_version(f.source) AS first_version
FROM medallion.feed AS f;
COMMENT ON VIEW medallion.feeds IS 'Feeds with their first version';
GRANT SELECT ON medallion.feeds TO PUBLIC;

CREATE VIEW medallion.consumers AS
SELECT c.consumer, c.owner, f.source AS feed, cf.watermark, cf.watermark + 1 AS next_version,
	   t.newest AS newest_version, greatest(t.newest - cf.watermark, 0) AS lag_versions,
	   cf.updated_at, cf.last_run_id
FROM medallion.consumer c
JOIN medallion.consumer_feed cf USING (consumer)
JOIN medallion.feed f USING (feed_id)
CROSS JOIN (SELECT max(version) AS newest FROM medallion.tick) t;
COMMENT ON VIEW medallion.consumers IS 'Consumers with their watermark and lag per feed';
GRANT SELECT ON medallion.consumers TO PUBLIC;

-- How far behind the logical feeds are: WAL not yet pulled, and whether the slot still holds it.
-- The status view everyone reads takes no slot: its oldest_unpulled_commit is NULL for roles
-- that may not execute medallion.oldest_unpulled_commit().
CREATE VIEW medallion.logical_status AS
SELECT l.slot_name, s.active, s.wal_status,
	   pg_catalog.pg_wal_lsn_diff(pg_catalog.pg_current_wal_lsn(), l.stored_lsn)::bigint AS lag_bytes,
	   CASE WHEN s.wal_status IS DISTINCT FROM 'lost' AND s.slot_name IS NOT NULL
			THEN medallion._oldest_unpulled_for_status() END AS oldest_unpulled_commit,
	   l.stored_lsn, s.confirmed_flush_lsn, l.pulled_at,
	   (SELECT pg_catalog.array_agg(f.source ORDER BY f.feed_id) FROM medallion.feed f WHERE f.mode = 'logical') AS feeds
FROM medallion.logical_slot l
LEFT JOIN pg_catalog.pg_replication_slots s USING (slot_name)
UNION ALL
-- Logical feeds without a registered slot (restored from a dump): broken until resume_logical_feeds().
SELECT NULL, NULL, 'missing', NULL, NULL, NULL, NULL, NULL,
	   (SELECT pg_catalog.array_agg(f.source ORDER BY f.feed_id) FROM medallion.feed f WHERE f.mode = 'logical')
WHERE EXISTS (SELECT 1 FROM medallion.feed WHERE mode = 'logical')
  AND NOT EXISTS (SELECT 1 FROM medallion.logical_slot);
COMMENT ON VIEW medallion.logical_status IS
	'The logical feeds'' slot: bytes of WAL not yet pulled, oldest unpulled commit, last pull, and wal_status (lost or missing = feeds broken)';
GRANT SELECT ON medallion.logical_status TO PUBLIC;
