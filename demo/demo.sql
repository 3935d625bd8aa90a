-- pg_medallion demo: an orders table in the bronze layer, captured as a change feed, read
-- by version, and kept in silver by a consumer.  Merges and gold aggregates come next.
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

-- 8. Silver: a consumer reads only what it has not read yet, collapsed to the net change per key,
--    and its watermark moves in the same transaction as the silver table (commit = acknowledged).
CREATE SCHEMA silver;
CREATE TABLE silver.orders (LIKE bronze.orders INCLUDING ALL);
SELECT * FROM medallion.create_consumer('silver_orders', ARRAY['bronze.orders']::regclass[], 'earliest');

CREATE PROCEDURE silver.refresh_orders() LANGUAGE plpgsql AS $$
BEGIN
	SET LOCAL pg_medallion.run_id = 'silver_orders';
	CREATE TEMP TABLE batch ON COMMIT DROP AS
		SELECT * FROM medallion_changes.orders('silver_orders', net => true);
	DELETE FROM silver.orders s USING batch b
	WHERE b._change_type IN ('delete', 'update_preimage') AND s.order_id = b.order_id;
	INSERT INTO silver.orders
	SELECT order_id, customer, status, amount, updated_at FROM batch
	WHERE _change_type IN ('insert', 'update_postimage');
	RAISE NOTICE 'silver.orders: % net changes applied', (SELECT count(*) FROM batch);
END $$;

CALL silver.refresh_orders();                                   -- the first run reads everything
SELECT consumer, feed, watermark, lag_versions, last_run_id FROM medallion.consumers;

INSERT INTO bronze.orders (order_id, customer, status, amount) VALUES (9, 'acme', 'placed', 90);
UPDATE bronze.orders SET status = 'shipped' WHERE order_id IN (1, 2);
DELETE FROM bronze.orders WHERE order_id = 8;
CALL silver.refresh_orders();                                   -- the next run reads only what is new
CALL silver.refresh_orders();                                   -- nothing new: nothing applied

SELECT (SELECT count(*) FROM (TABLE bronze.orders EXCEPT TABLE silver.orders) a)
     + (SELECT count(*) FROM (TABLE silver.orders EXCEPT TABLE bronze.orders) b) AS silver_differences;
