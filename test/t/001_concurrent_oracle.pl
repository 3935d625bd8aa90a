# Concurrent writers and readers (pgbench), then the oracle: replaying the feed onto an empty copy
# reproduces the source exactly, and every range read during the workload reads the same afterwards.
use strict;
use warnings;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;

my $node = PostgreSQL::Test::Cluster->new('oracle');
$node->init;
$node->append_conf('postgresql.conf', scalar `$ENV{TESTDIR}/test/pg_conf`);    # test/pg.conf for this server
$? == 0 or die "test/pg_conf failed";
$node->append_conf('postgresql.conf', "max_connections = 40\ndeadlock_timeout = 20ms\n");
$node->start;

$node->safe_psql('postgres', q{
	CREATE EXTENSION pg_medallion;
	CREATE TABLE stock (id int PRIMARY KEY, sku text, qty int NOT NULL, note text);
	SELECT medallion.enable_feed('stock');
});
$node->safe_psql('postgres', q{
	SELECT medallion.current_version();
	CREATE TABLE reads (version bigint, changes bigint, digest text);
	CREATE TABLE replica (LIKE stock);
});
my $first = $node->safe_psql('postgres', q{SELECT medallion.first_version('stock')});
ok($first > 0, "feed has a first version ($first)");

# Writers: upserts, updates, deletes, multi-row statements, explicit transactions with rollbacks.
my $ops = q{
\set k random(1, 300)
\set r random(1, 100)
BEGIN;
INSERT INTO stock VALUES (:k, 'sku' || :k, :r, NULL) ON CONFLICT (id) DO UPDATE SET qty = stock.qty + 1;
UPDATE stock SET qty = qty - 1, note = 'n' || :r WHERE id = (:k + 7) % 300;
DELETE FROM stock WHERE id = (:k * 13) % 300 AND :r < 40;
SAVEPOINT s;
UPDATE stock SET qty = -999 WHERE id BETWEEN :k AND :k + 10;
ROLLBACK TO SAVEPOINT s;
UPDATE stock SET sku = sku || '+' WHERE id BETWEEN :k AND :k + 3 AND :r > 90;
END;
};
# Readers: close a version and remember what the range [first, v] holds right then.
my $tick = qq{
INSERT INTO reads SELECT v, count(*), md5(string_agg(c::text, '|' ORDER BY c._commit_version, c._change_seq))
FROM medallion.current_version() AS v, LATERAL medallion_changes.stock($first, v) AS c GROUP BY v;
};
$node->pgbench('--no-vacuum --client=6 --jobs=2 --time=8 --max-tries=100', 0, [qr{processed: [1-9]}], [],
	'concurrent writers and readers',
	{ 'ops.sql@20' => $ops, 'tick.sql@1' => $tick });

my $final = $node->safe_psql('postgres', q{SELECT medallion.current_version()});
ok($final >= $first, "versions advanced to $final");

# Replay statement by statement: what leaves first, then what arrives.
my $replay = $node->safe_psql('postgres', qq{
	CREATE TEMP TABLE ch AS SELECT *, _change_seq >> 20 AS stmt FROM medallion_changes.stock($first, $final);
	DO \$\$
	DECLARE st record; hit bigint;
	BEGIN
		FOR st IN SELECT DISTINCT _commit_version, stmt FROM ch ORDER BY 1, 2 LOOP
			DELETE FROM replica r USING ch c
			WHERE c.stmt = st.stmt AND c._change_type IN ('delete', 'update_preimage') AND r.id = c.id
			  AND (r.sku, r.qty, r.note) IS NOT DISTINCT FROM (c.sku, c.qty, c.note);
			GET DIAGNOSTICS hit = ROW_COUNT;
			IF hit <> (SELECT count(*) FROM ch c WHERE c.stmt = st.stmt AND c._change_type IN ('delete', 'update_preimage')) THEN
				RAISE EXCEPTION 'pre-images of statement % do not match the replica', st.stmt;
			END IF;
			INSERT INTO replica SELECT c.id, c.sku, c.qty, c.note FROM ch c
			WHERE c.stmt = st.stmt AND c._change_type IN ('insert', 'update_postimage');
		END LOOP;
	END \$\$;
	SELECT count(*) FROM ch;
});
ok($replay > 1000, "replayed $replay changes");
is($node->safe_psql('postgres', q{SELECT count(*) FROM (SELECT * FROM stock EXCEPT SELECT * FROM replica) x}),
	'0', 'every source row is in the replica');
is($node->safe_psql('postgres', q{SELECT count(*) FROM (SELECT * FROM replica EXCEPT SELECT * FROM stock) x}),
	'0', 'the replica has no extra row');
is($node->safe_psql('postgres', q{SELECT count(*) FROM medallion_changes.stock WHERE qty = -999}),
	'0', 'rolled-back subtransactions left no change');

# Every range read during the workload reads the same now (versions are immutable).
my $nreads = $node->safe_psql('postgres', q{SELECT count(*) FROM reads});
ok($nreads > 3, "$nreads reads were taken during the workload");
is($node->safe_psql('postgres', qq{
	SELECT count(*) FROM reads r,
	LATERAL (SELECT count(*) AS n, md5(string_agg(c::text, '|' ORDER BY c._commit_version, c._change_seq)) AS d
			 FROM medallion_changes.stock($first, r.version) AS c) now
	WHERE now.n <> r.changes OR now.d IS DISTINCT FROM r.digest}),
	'0', 'ranges read during the workload are unchanged');

# Each change is in exactly one version: the sum over single versions equals one read.
is($node->safe_psql('postgres', qq{
	SELECT (SELECT count(*) FROM medallion_changes.stock($first, $final))
	     = (SELECT sum((SELECT count(*) FROM medallion_changes.stock(v, v))) FROM generate_series($first, $final) v)}),
	't', 'versions partition the changes');

$node->stop;
done_testing();
