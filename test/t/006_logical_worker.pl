# The background puller (pg_medallion.logical_worker = on, needs shared_preload_libraries): logical
# feeds fill without anyone calling pull, while a writer commits; a manual pull beside it is refused
# (the puller holds the slot); immediate stops while it stores lose and duplicate nothing; turned
# off by a reload, it stops; the last disable_feed leaves the slot to the puller, which drops it.
use strict;
use warnings;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;

my $node = PostgreSQL::Test::Cluster->new('logical_worker');
$node->init;
$node->append_conf('postgresql.conf', scalar `$ENV{TESTDIR}/test/pg_conf`);    # test/pg.conf for this server
$? == 0 or die "test/pg_conf failed";
$node->append_conf('postgresql.conf', "pg_medallion.logical_worker = on\npg_medallion.pull_interval = 50ms\n");
$node->start;

$node->safe_psql('postgres', q{
	CREATE EXTENSION pg_medallion;
	CREATE TABLE src (id int PRIMARY KEY, v text);
	ALTER TABLE src REPLICA IDENTITY FULL;
});
$node->safe_psql('postgres', q{SELECT medallion.enable_feed('src', mode => 'logical')});
$node->safe_psql('postgres', q{INSERT INTO src SELECT g, 'bulk' FROM generate_series(1, 500) g});
for my $i (1 .. 50)
{
	$node->safe_psql('postgres', qq{INSERT INTO src VALUES (1000 + $i, 'single'); UPDATE src SET v = 'touched' WHERE id = $i});
}

my $stored = q{SELECT count(*) FROM medallion_changes.src(medallion.first_version('src'))};
ok($node->poll_query_until('postgres', "SELECT ($stored) = 500 + 50 * 3"),
	'the puller stored every change without a manual pull');
is($node->safe_psql('postgres', q{
	SELECT count(*) FROM (SELECT id, v FROM src EXCEPT
	(SELECT DISTINCT ON (id) id, v FROM medallion_changes.src(medallion.first_version('src'))
	 WHERE _change_type IN ('insert', 'update_postimage') ORDER BY id, _commit_version DESC, _change_seq DESC)) d}),
	'0', 'the newest image of every row equals the table');
my ($rc, $out, $err) = $node->psql('postgres', q{SELECT changes FROM medallion.pull()});
like($err, qr/is in use by process/, 'a manual pull beside the puller is refused, not left waiting');

# Immediate stops while the puller stores a stream of small transactions: after each restart every
# committed change is in the feed exactly once.
for my $round (1 .. 3)
{
	my $base = 10000 * $round;
	$node->safe_psql('postgres', qq{
		CREATE OR REPLACE PROCEDURE burst() LANGUAGE plpgsql AS \$\$
		BEGIN
			FOR i IN 1 .. 300 LOOP
				INSERT INTO src VALUES ($base + i, 'burst'); COMMIT;
			END LOOP;
		END \$\$});
	$node->safe_psql('postgres', q{CALL burst()});
	$node->stop('immediate');
	$node->start;
	my $want = q{SELECT count(*) FROM src};
	ok($node->poll_query_until('postgres', qq{SELECT count(*) = 0 FROM (
		SELECT id FROM src EXCEPT SELECT id FROM medallion_changes.src(medallion.first_version('src'))
		WHERE _change_type = 'insert') d}), "round $round: every committed insert was stored after the restart");
	is($node->safe_psql('postgres', q{SELECT count(*) FROM (SELECT id FROM medallion_changes.src(medallion.first_version('src'))
		WHERE _change_type = 'insert' GROUP BY id HAVING count(*) > 1) d}), '0', "round $round: none twice");
}
$stored = q{SELECT count(*) FROM medallion_changes.src(medallion.first_version('src'))};
my $before_off = $node->safe_psql('postgres', $stored);

# Off by a reload: changes stay in the slot until a pull.
$node->append_conf('postgresql.conf', "pg_medallion.logical_worker = off\n");
$node->reload;
sleep(1);
$node->safe_psql('postgres', q{INSERT INTO src VALUES (9999, 'after off')});
sleep(1);
is($node->safe_psql('postgres', qq{SELECT ($stored)}), $before_off, 'with the worker off nothing is pulled');
is($node->safe_psql('postgres', q{SELECT changes FROM medallion.pull()}), '1', 'a manual pull gets it');

# On again; the last logical feed goes while the puller holds the slot: the puller drops the slot.
$node->append_conf('postgresql.conf', "pg_medallion.logical_worker = on\n");
$node->reload;
ok($node->poll_query_until('postgres', q{SELECT active FROM pg_replication_slots WHERE slot_name LIKE 'medallion_%'}),
	'the puller holds the slot again');
$node->safe_psql('postgres', q{SELECT medallion.disable_feed('src')});
ok($node->poll_query_until('postgres', q{SELECT count(*) = 0 FROM pg_replication_slots}),
	'the puller dropped the slot of the last logical feed');

# The extension goes while the puller holds the slot: the puller lets go and drops it.
$node->safe_psql('postgres', q{SELECT medallion.enable_feed('src', mode => 'logical')});
ok($node->poll_query_until('postgres', q{SELECT active FROM pg_replication_slots WHERE slot_name LIKE 'medallion_%'}),
	'the puller holds the slot of the new feed');
($rc, $out, $err) = $node->psql('postgres', q{DROP EXTENSION pg_medallion CASCADE});
is($rc, 0, 'DROP EXTENSION succeeds while the puller holds the slot');
unlike($err, qr/WARNING/, 'without a warning: the puller is expected to drop the slot');
ok($node->poll_query_until('postgres', q{SELECT count(*) = 0 FROM pg_replication_slots}),
	'the puller dropped the slot of the dropped extension');
$node->stop;
done_testing();
