# Exactly-once pull across crashes: a logical feed is pulled in transactions that the server is
# killed in the middle of (immediate stop, like kill -9), 15 times, while a writer keeps committing.
# After each restart pulls catch up; in the end the feed holds every insert exactly once, in commit
# order, and the slot and the stored watermark agree.
use strict;
use warnings;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use Time::HiRes qw(usleep);

my $node = PostgreSQL::Test::Cluster->new('pull_crash');
$node->init;
$node->append_conf('postgresql.conf', scalar `$ENV{TESTDIR}/test/pg_conf`);    # test/pg.conf for this server
$? == 0 or die "test/pg_conf failed";
$node->append_conf('postgresql.conf', "restart_after_crash = on\n");
$node->start;

$node->safe_psql('postgres', q{
	CREATE EXTENSION pg_medallion;
	CREATE TABLE src (id bigint PRIMARY KEY, round int NOT NULL);
	ALTER TABLE src REPLICA IDENTITY FULL;
});
$node->safe_psql('postgres', q{SELECT medallion.enable_feed('src', mode => 'logical')});
$node->safe_psql('postgres', q{CREATE TABLE pulls (n bigint)});

# One pull, kept open a little so the crash lands inside it.
my $pull = q{
BEGIN;
INSERT INTO pulls SELECT changes FROM medallion.pull(max_changes => 200);
SELECT pg_sleep(0.05);
COMMIT;
};

my $next = 1;
for my $round (1 .. 15)
{
	$node->safe_psql('postgres', qq{INSERT INTO src SELECT g, $round FROM generate_series($next, $next + 99) g});
	$next += 100;
	my $writer = $node->background_psql('postgres', on_error_stop => 0);
	$writer->query_until(qr/^$/, qq{
		DO \$\$ BEGIN FOR i IN 1..100000 LOOP
			INSERT INTO src VALUES (1000000 * $round + i, $round);
			COMMIT;
		END LOOP; END \$\$;
	});
	my $bg = $node->background_psql('postgres', on_error_stop => 0);
	$bg->query_until(qr/^$/, $pull . "\n");
	usleep(20_000 + int(rand(60_000)));
	$node->stop('immediate');
	$bg->{run}->kill_kill;
	$writer->{run}->kill_kill;
	$node->start;
	$node->safe_psql('postgres', $pull) if $round % 4 == 0;
}

# Catch up until a pull finds nothing.
for (1 .. 50)
{
	last if $node->safe_psql('postgres', q{SELECT changes FROM medallion.pull()}) eq '0';
}

my $rows = $node->safe_psql('postgres', q{SELECT count(*) FROM src});
ok($rows > 1500, "the source holds $rows rows");
is($node->safe_psql('postgres', q{
	SELECT count(*) FROM medallion_changes.src(medallion.first_version('src')) WHERE _change_type = 'insert'}),
	$rows, 'every insert was stored');
is($node->safe_psql('postgres', q{
	SELECT count(*) FROM (SELECT id FROM medallion_changes.src(medallion.first_version('src'))
	GROUP BY id HAVING count(*) > 1) d}),
	'0', 'no insert was stored twice');
is($node->safe_psql('postgres', q{
	SELECT count(*) FROM (SELECT id, round FROM src EXCEPT
	SELECT id, round FROM medallion_changes.src(medallion.first_version('src'))) d}),
	'0', 'the stored images equal the source');
is($node->safe_psql('postgres', q{
	SELECT count(*) FROM (SELECT id, lag(id) OVER (PARTITION BY round ORDER BY _commit_version, _change_seq) AS prev
	FROM medallion_changes.src(medallion.first_version('src')) WHERE id > 1000000) x WHERE prev > id}),
	'0', 'each writer\'s inserts are stored in commit order');
# One more pull acknowledges the last watermark to the slot.
$node->safe_psql('postgres', q{SELECT * FROM medallion.pull()});
is($node->safe_psql('postgres', q{
	SELECT s.confirmed_flush_lsn = l.stored_lsn FROM pg_replication_slots s JOIN medallion.logical_slot l USING (slot_name)}),
	't', 'the slot and the stored watermark agree');
my $committed = $node->safe_psql('postgres', q{SELECT count(*) FROM pulls});
ok($committed < 15 + 4, "crashes cut off pulls ($committed of 18 committed)");

$node->safe_psql('postgres', q{SELECT medallion.disable_feed('src')});
is($node->safe_psql('postgres', q{SELECT count(*) FROM pg_replication_slots}), '0',
	'disabling the last logical feed dropped the slot');
$node->stop;
done_testing();
