# The background puller (pg_medallion.logical_worker = on, needs shared_preload_libraries): logical
# feeds fill without anyone calling pull, while a writer commits; turned off by a reload, it stops.
use strict;
use warnings;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;

my $node = PostgreSQL::Test::Cluster->new('logical_worker');
$node->init;
$node->append_conf('postgresql.conf', slurp_file("$ENV{TESTDIR}/test/pg.conf"));
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
is($node->safe_psql('postgres', q{SELECT changes FROM medallion.pull()}), '0',
	'a manual pull beside the worker finds nothing left');

# Off by a reload: changes stay in the slot until a pull.
$node->append_conf('postgresql.conf', "pg_medallion.logical_worker = off\n");
$node->reload;
sleep(1);
$node->safe_psql('postgres', q{INSERT INTO src VALUES (9999, 'after off')});
sleep(1);
is($node->safe_psql('postgres', qq{SELECT ($stored)}), 500 + 150, 'with the worker off nothing is pulled');
is($node->safe_psql('postgres', q{SELECT changes FROM medallion.pull()}), '1', 'a manual pull gets it');

$node->safe_psql('postgres', q{SELECT medallion.disable_feed('src')});
$node->stop;
done_testing();
