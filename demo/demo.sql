-- pg_medallion demo: an orders table in the bronze layer, captured as a change feed, read
-- by version, merged into silver by a flow (transform, expectation, quarantine, run log) and by
-- apply_changes (late CDC, SCD2), a gold aggregate,
-- time travel, retention, schema evolution and a logical (WAL) feed.
\pset footer off
CREATE EXTENSION pg_medallion;

CREATE SCHEMA bronze;
CREATE TABLE bronze.orders (
	order_id    bigint PRIMARY KEY,
	customer    text NOT NULL,
	status      text NOT NULL,
	amount      numeric(12,2) NOT NULL,
	updated_at  timestamptz NOT NULL DEFAULT now()
);

-- 1. Start capturing.  The change table is typed like the source; read it through its reader.
SELECT medallion.enable_feed('bronze.orders') AS change_table;

-- 2. A day of orders: a batch load, payments, a cancellation, a correction.
INSERT INTO bronze.orders (order_id, customer, status, amount)
SELECT g, (ARRAY['acme','globex','initech','umbrella'])[1 + g % 4], 'placed', 10 * g
FROM generate_series(1, 8) g;
SELECT medallion.current_version() AS after_load \gset

UPDATE bronze.orders SET status = 'paid' WHERE order_id IN (1, 2, 5);
DELETE FROM bronze.orders WHERE order_id = 3;                    -- cancelled
SELECT medallion.current_version() AS after_payments \gset

BEGIN;
UPDATE bronze.orders SET amount = 55.00 WHERE order_id = 5;     -- price correction
SAVEPOINT oops;
DELETE FROM bronze.orders;                                       -- a mistake, rolled back:
ROLLBACK TO SAVEPOINT oops;                                      -- never appears in the feed
COMMIT;

-- 3. The whole feed, by version (both bounds inclusive; NULL = close the open version and read to it).
SELECT order_id, customer, status, amount, _change_type, _commit_version
FROM medallion_changes.orders(medallion.first_version('bronze.orders'));

-- 4. Just one version: the payments and the cancellation.
SELECT order_id, status, _change_type
FROM medallion_changes.orders(:after_payments, :after_payments);

-- 5. Generic reader: row images as jsonb, for tools that handle any feed.
SELECT _commit_version, _change_type, data
FROM medallion.table_changes('bronze.orders', :after_payments)
LIMIT 4;

-- 6. History: what happened in each version.
SELECT version, inserts, updates, deletes, truncates FROM medallion.history('bronze.orders');

-- 7. Replaying the feed onto an empty copy reproduces the table exactly.
CREATE TABLE bronze.orders_replica (LIKE bronze.orders);
INSERT INTO bronze.orders_replica
SELECT order_id, customer, status, amount, updated_at
FROM (SELECT DISTINCT ON (order_id) *
      FROM medallion_changes.orders(medallion.first_version('bronze.orders'))
      ORDER BY order_id, _commit_version DESC, _change_seq DESC) last_change
WHERE _change_type IN ('insert', 'update_postimage');
SELECT (SELECT count(*) FROM (TABLE bronze.orders EXCEPT TABLE bronze.orders_replica) a)
     + (SELECT count(*) FROM (TABLE bronze.orders_replica EXCEPT TABLE bronze.orders) b) AS differences;

-- 8. Silver: a flow.  One declaration (its consumer, a transform, an expectation, the merge keys) and
--    one call that a scheduler repeats (medallion.schedule_flow puts it in pg_cron): each run consumes
--    only what is new, transforms it, checks it, merges it (newest change per key wins, deletes leave
--    tombstones) and records itself -- in one transaction.  Re-runs change nothing.
CREATE SCHEMA silver;
CREATE TABLE silver.orders (LIKE bronze.orders INCLUDING ALL);
ALTER TABLE silver.orders ADD COLUMN _commit_version bigint, ADD COLUMN _change_seq bigint;
SELECT medallion.create_flow('silver_orders', 'bronze.orders', 'silver.orders', keys => '{order_id}',
	start => 'earliest',
	transform => $$SELECT order_id, upper(customer) AS customer, status, amount, updated_at,
	                      _change_type, _commit_version, _change_seq FROM batch$$) AS flow_id;
SELECT medallion.add_expectation('silver_orders', 'amount_positive', 'amount > 0', 'quarantine');

SELECT run_id, from_version, to_version, rows_in, inserted, updated, deleted, quarantined, status
FROM medallion.run_flow('silver_orders');                      -- the first run reads everything

INSERT INTO bronze.orders (order_id, customer, status, amount) VALUES (9, 'acme', 'placed', 90);
INSERT INTO bronze.orders (order_id, customer, status, amount) VALUES (10, 'acme', 'placed', -1);
UPDATE bronze.orders SET status = 'shipped' WHERE order_id IN (1, 2);
DELETE FROM bronze.orders WHERE order_id = 8;
SELECT run_id, rows_in, inserted, updated, deleted, quarantined, status
FROM medallion.run_flow('silver_orders');                      -- only what is new; order 10 quarantined
SELECT run_id, rows_in, status FROM medallion.run_flow('silver_orders');   -- nothing new
SELECT rule, record->>'order_id' AS order_id, record->>'amount' AS amount
FROM medallion.flow_quarantine('silver_orders');
SELECT run_id, status, rows_in, inserted, updated, deleted, quarantined, expectations FROM medallion.runs;
DELETE FROM bronze.orders WHERE order_id = 10;                 -- the bad order, removed at the source

SELECT count(*) FROM medallion.run_flow('silver_orders');
SELECT (SELECT count(*) FROM (SELECT order_id, upper(customer), status, amount, updated_at FROM bronze.orders EXCEPT SELECT order_id, customer, status, amount, updated_at FROM silver.orders) a)
     + (SELECT count(*) FROM (SELECT order_id, customer, status, amount, updated_at FROM silver.orders EXCEPT SELECT order_id, upper(customer), status, amount, updated_at FROM bronze.orders) b) AS silver_differences;

-- 9. Late and duplicated CDC from an external system: the hand-written MERGE resurrects a deleted
--    customer and loses an update for a row it never saw; apply_changes does neither.
CREATE SCHEMA staging;
CREATE TABLE staging.customer_cdc (customer_id int, op text, event_ts timestamptz, name text, tier text);
INSERT INTO staging.customer_cdc VALUES
	(1, 'C', '2026-03-01 09:00+00', 'acme', 'gold'),
	(1, 'D', '2026-03-01 12:00+00', 'acme', 'gold'),
	(2, 'U', '2026-03-01 10:00+00', 'globex', 'silver'),          -- update of a row we never saw
	(2, 'U', '2026-03-01 10:00+00', 'globex', 'silver');          -- delivered twice
CREATE TABLE silver.customer (customer_id int PRIMARY KEY, name text, tier text, event_ts timestamptz);
CREATE TABLE silver.customer_by_merge (LIKE silver.customer INCLUDING ALL);
MERGE INTO silver.customer_by_merge t
USING (SELECT DISTINCT ON (customer_id) * FROM staging.customer_cdc ORDER BY customer_id, event_ts DESC) s
ON t.customer_id = s.customer_id
WHEN MATCHED AND s.op = 'D' THEN DELETE
WHEN MATCHED AND s.op IN ('U', 'C') AND s.event_ts >= t.event_ts THEN UPDATE SET name = s.name, tier = s.tier, event_ts = s.event_ts
WHEN NOT MATCHED AND s.op IN ('C') THEN INSERT VALUES (s.customer_id, s.name, s.tier, s.event_ts);
SELECT * FROM medallion.apply_changes('silver.customer', 'staging.customer_cdc', '{customer_id}', '{event_ts}',
	delete_when => $$op = 'D'$$, except_columns => '{op}');
-- A retry upstream re-sends the old create of customer 1.
TRUNCATE staging.customer_cdc;
INSERT INTO staging.customer_cdc VALUES (1, 'C', '2026-03-01 09:00+00', 'acme', 'gold');
MERGE INTO silver.customer_by_merge t
USING (SELECT DISTINCT ON (customer_id) * FROM staging.customer_cdc ORDER BY customer_id, event_ts DESC) s
ON t.customer_id = s.customer_id
WHEN MATCHED AND s.op = 'D' THEN DELETE
WHEN MATCHED AND s.op IN ('U', 'C') AND s.event_ts >= t.event_ts THEN UPDATE SET name = s.name, tier = s.tier, event_ts = s.event_ts
WHEN NOT MATCHED AND s.op IN ('C') THEN INSERT VALUES (s.customer_id, s.name, s.tier, s.event_ts);
SELECT * FROM medallion.apply_changes('silver.customer', 'staging.customer_cdc', '{customer_id}', '{event_ts}',
	delete_when => $$op = 'D'$$, except_columns => '{op}');
SELECT 'hand-written MERGE' AS how, customer_id, name FROM silver.customer_by_merge
UNION ALL SELECT 'apply_changes', customer_id, name FROM silver.customer ORDER BY 1, 2;

-- 10. SCD type 2: the history of each order's status, with a late event landing in the middle.
CREATE TABLE silver.order_status_history (order_id bigint, status text, event_ts timestamptz,
	_valid_from timestamptz, _valid_to timestamptz, UNIQUE (order_id, event_ts));
SELECT * FROM medallion.apply_changes('silver.order_status_history', $$
	SELECT * FROM (VALUES (1, 'placed', timestamptz '2026-03-01 09:00+00'), (1, 'shipped', '2026-03-03 09:00+00'))
	v(order_id, status, event_ts)$$, '{order_id}', '{event_ts}', scd_type => 2);
SELECT * FROM medallion.apply_changes('silver.order_status_history', $$
	SELECT 1 AS order_id, 'paid' AS status, timestamptz '2026-03-02 09:00+00' AS event_ts$$,
	'{order_id}', '{event_ts}', scd_type => 2);                 -- arrives late
SELECT order_id, status, _valid_from, _valid_to FROM silver.order_status_history ORDER BY _valid_from;

-- 11. Gold: revenue per customer from silver.
CREATE SCHEMA gold;
CREATE TABLE gold.revenue_by_customer AS
SELECT customer, count(*) AS orders, sum(amount) AS revenue FROM silver.orders GROUP BY customer ORDER BY customer;
TABLE gold.revenue_by_customer;

-- 12. Time travel: bronze.orders as it was at the first version, rebuilt from the table and its feed.
SELECT order_id, status, amount FROM medallion.as_of(NULL::bronze.orders, :after_load) ORDER BY order_id;

-- 13. Retention: what a vacuum keeping one day would remove now (nothing is a day old yet), and who pins.
SELECT * FROM medallion.vacuum('bronze.orders', retain => interval '1 day', dry_run => true);

-- 14. Schema evolution: a new column reaches the change table and the typed reader.
ALTER TABLE bronze.orders ADD COLUMN channel text;
UPDATE bronze.orders SET channel = 'web' WHERE order_id = 9;
SELECT order_id, status, channel, _change_type FROM medallion_changes.orders(medallion.current_version());
SELECT command, summary FROM medallion.schema_change;

-- 15. A logical feed: changes read from the WAL (no trigger on the table), stored by pull exactly once.
CREATE TABLE bronze.payments (payment_id bigint PRIMARY KEY, order_id bigint, amount numeric(12,2));
ALTER TABLE bronze.payments REPLICA IDENTITY FULL;
SELECT medallion.enable_feed('bronze.payments', mode => 'logical') AS change_table;
INSERT INTO bronze.payments VALUES (1, 1, 10.00), (2, 2, 20.00);
UPDATE bronze.payments SET amount = 25.00 WHERE payment_id = 2;
SELECT * FROM medallion.pull();                                  -- from pg_cron, or the background puller
SELECT payment_id, amount, _change_type FROM medallion_changes.payments(medallion.first_version('bronze.payments'));
SELECT slot_name IS NOT NULL AS has_slot, lag_bytes >= 0 AS lag_known FROM medallion.logical_status;
SELECT medallion.disable_feed('bronze.payments');                -- the last logical feed drops the slot
