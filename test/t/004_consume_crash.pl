# Atomic progress under crashes: a flow consumes a feed and applies the changes to a target table in
# one transaction.  The server is killed (immediate stop, like kill -9) in the middle of such
# transactions 20 times while a writer keeps committing; after each recovery the flow catches up, and
# in the end the target equals the source: nothing lost, nothing applied twice.
use strict;
use warnings;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use Time::HiRes qw(usleep);

my $node = PostgreSQL::Test::Cluster->new('consume_crash');
$node->init;
$node->append_conf('postgresql.conf', scalar `$ENV{TESTDIR}/test/pg_conf`);    # test/pg.conf for this server
$? == 0 or die "test/pg_conf failed";
$node->append_conf('postgresql.conf', "restart_after_crash = on\n");
$node->start;

$node->safe_psql('postgres', q{
	CREATE EXTENSION pg_medallion;
	CREATE TABLE src (id int PRIMARY KEY, v int NOT NULL);
	CREATE TABLE target (id int PRIMARY KEY, v int NOT NULL);
	CREATE TABLE applied (run int, changes int);
	SELECT medallion.enable_feed('src');
});
$node->safe_psql('postgres', q{SELECT * FROM medallion.create_consumer('flow', ARRAY['src']::regclass[], 'earliest')});

# One flow run: consume, apply in order (the last change per key wins), count, commit.  pg_sleep
# keeps the transaction open so the crash lands inside it.
my $flow = q{
BEGIN;
CREATE TEMP TABLE batch ON COMMIT DROP AS SELECT * FROM medallion_changes.src('flow');
DELETE FROM target t USING batch b WHERE b.id = t.id AND b._change_type IN ('delete', 'update_preimage');
DELETE FROM target WHERE EXISTS (SELECT 1 FROM batch WHERE _change_type = 'truncate');
INSERT INTO target SELECT DISTINCT ON (id) id, v FROM batch
	WHERE _change_type IN ('insert', 'update_postimage')
	AND NOT EXISTS (SELECT 1 FROM batch later WHERE later.id = batch.id AND later._change_type IN ('delete', 'update_preimage')
					AND (later._commit_version, later._change_seq) > (batch._commit_version, batch._change_seq))
	ORDER BY id, _commit_version DESC, _change_seq DESC;
INSERT INTO applied SELECT 1, count(*) FROM batch;
SELECT pg_sleep(0.05);
COMMIT;
};

my $writes = 0;
for my $round (1 .. 20)
{
	# A burst of writes, then a flow run that the crash interrupts.
	$node->safe_psql('postgres', qq{
		INSERT INTO src SELECT g, $round FROM generate_series($round * 100, $round * 100 + 49) g;
		UPDATE src SET v = v + 1 WHERE id % 7 = $round % 7;
		DELETE FROM src WHERE id % 11 = $round % 11 AND id < $round * 100;
	});
	$writes++;
	# A writer that keeps committing single-row changes while the flow runs and the server dies.
	my $writer = $node->background_psql('postgres', on_error_stop => 0);
	$writer->query_until(qr/^$/, qq{
		DO \$\$ BEGIN FOR i IN 1..100000 LOOP
			INSERT INTO src VALUES (100000 * $round + i, i) ON CONFLICT (id) DO UPDATE SET v = src.v + 1;
			UPDATE src SET v = v + 1 WHERE id = $round * 100 + i % 50;
			COMMIT;
		END LOOP; END \$\$;
	});
	my $bg = $node->background_psql('postgres', on_error_stop => 0);
	$bg->query_until(qr/^$/, $flow . "\n");
	usleep(20_000 + int(rand(40_000)));
	$node->stop('immediate');
	$bg->{run}->kill_kill;
	$writer->{run}->kill_kill;
	$node->start;
	# Sometimes a complete run between crashes.
	$node->safe_psql('postgres', $flow) if $round % 3 == 0;
}

# Catch up: runs until nothing is left.
for (1 .. 5) { $node->safe_psql('postgres', $flow); }

is($node->safe_psql('postgres', q{SELECT count(*) FROM (SELECT * FROM src EXCEPT SELECT * FROM target) x}),
	'0', 'every source row is in the target');
is($node->safe_psql('postgres', q{SELECT count(*) FROM (SELECT * FROM target EXCEPT SELECT * FROM src) x}),
	'0', 'the target has nothing extra');
is($node->safe_psql('postgres', q{SELECT sum(changes) FROM applied}),
	$node->safe_psql('postgres', q{SELECT count(*) FROM medallion.table_changes('src', medallion.first_version('src'))}),
	'every change was applied exactly once across all runs');
is($node->safe_psql('postgres', q{SELECT watermark = (SELECT max(version) FROM medallion.tick) - 1
	OR watermark = (SELECT max(version) FROM medallion.tick) FROM medallion.consumers}),
	't', 'the watermark is at the newest version after catching up');

my $concurrent = $node->safe_psql('postgres', q{SELECT count(*) FROM src WHERE id >= 100000});
ok($concurrent > 0, "the concurrent writer committed $concurrent rows between crashes");
my $committed_runs = $node->safe_psql('postgres', q{SELECT count(*) FROM applied});
ok($committed_runs < 20 + 6 + 5, "crashes cut off flow runs ($committed_runs of 31 committed)");

$node->stop;
done_testing();
