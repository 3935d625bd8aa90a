# Crash (kill -9 style immediate stop) with transactions in flight: after recovery every committed
# change is in the feed once, nothing of the interrupted transactions is, and versions read before the
# crash read the same.  Then the optional background ticker closes versions with nobody reading.
use strict;
use warnings;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use Time::HiRes qw(usleep);

my $node = PostgreSQL::Test::Cluster->new('crash');
$node->init;
$node->append_conf('postgresql.conf', scalar `$ENV{TESTDIR}/test/pg_conf`);    # test/pg.conf for this server
$? == 0 or die "test/pg_conf failed";
$node->start;

$node->safe_psql('postgres', q{
	CREATE EXTENSION pg_medallion;
	CREATE TABLE ledger (id bigint PRIMARY KEY, amount int);
	SELECT medallion.enable_feed('ledger');
});
$node->safe_psql('postgres', q{INSERT INTO ledger SELECT g, g FROM generate_series(1, 1000) g});
my $v1 = $node->safe_psql('postgres', q{SELECT medallion.current_version()});
my $first = $node->safe_psql('postgres', q{SELECT medallion.first_version('ledger')});
my $before = $node->safe_psql('postgres',
	qq{SELECT md5(string_agg(c::text, '|' ORDER BY _commit_version, _change_seq)) FROM medallion_changes.ledger($first, $v1) c});

# Committed after the last tick, then in flight at the crash: one big open transaction, and a
# session in the middle of a multi-statement transaction.
$node->safe_psql('postgres', q{UPDATE ledger SET amount = amount + 1 WHERE id <= 100});
my $open = $node->background_psql('postgres');
$open->query_safe('BEGIN');
$open->query_safe('INSERT INTO ledger SELECT g, 0 FROM generate_series(2001, 50000) g');
$open->query_safe('DELETE FROM ledger WHERE id BETWEEN 500 AND 600');

$node->stop('immediate');
$open->{run}->kill_kill;
$node->start;

my $v2 = $node->safe_psql('postgres', q{SELECT medallion.current_version()});
ok($v2 > $v1, "a new version after recovery ($v2 > $v1)");
is($node->safe_psql('postgres',
	qq{SELECT md5(string_agg(c::text, '|' ORDER BY _commit_version, _change_seq)) FROM medallion_changes.ledger($first, $v1) c}),
	$before, 'versions closed before the crash read the same after it');
is($node->safe_psql('postgres', qq{SELECT count(*) FROM medallion_changes.ledger($v1 + 1) WHERE _change_type = 'update_postimage'}),
	'100', 'the update committed before the crash is in the feed once');
is($node->safe_psql('postgres', qq{SELECT count(*) FROM medallion_changes.ledger($first) WHERE id > 2000 OR _change_type = 'delete'}),
	'0', 'nothing of the interrupted transaction is in the feed');
is($node->safe_psql('postgres', q{SELECT count(*) FROM ledger}), '1000', 'source lost nothing committed');

# Writes keep working after recovery, into the same or a new partition.
$node->safe_psql('postgres', q{INSERT INTO ledger VALUES (5000, 5)});
is($node->safe_psql('postgres', qq{SELECT count(*) FROM medallion_changes.ledger($v2 + 1) WHERE id = 5000}),
	'1', 'capture works after recovery');

# Statement numbers (preloaded: handed out from shared memory) start above every one used before
# the crash, so a row's next change still sorts after its last one; each statement has its own.
$node->safe_psql('postgres', q{UPDATE ledger SET amount = amount + 1 WHERE id = 1});
$node->safe_psql('postgres', q{UPDATE ledger SET amount = amount + 1 WHERE id = 1});
my $v3 = $node->safe_psql('postgres', q{SELECT medallion.current_version()});
is($node->safe_psql('postgres', qq{SELECT bool_and(_change_seq > (SELECT max(_change_seq) FROM medallion_changes.ledger($first, $v2)))
	FROM medallion_changes.ledger($v2 + 1, $v3)}), 't', 'order keys after the crash are above those before it');
is($node->safe_psql('postgres', qq{SELECT count(DISTINCT _change_seq >> 20) FROM medallion_changes.ledger($v2 + 1, $v3)
	WHERE id = 1}), '2', 'two statements, two statement numbers');

# The background ticker closes versions without any reader.
$node->append_conf('postgresql.conf', "pg_medallion.tick_interval = '200ms'\n");
$node->reload;
my $start = $node->safe_psql('postgres', q{SELECT max(version) FROM medallion.tick});
$node->safe_psql('postgres', q{INSERT INTO ledger VALUES (5001, 5)});
my $advanced = 0;
for (1 .. 100)
{
	my $now = $node->safe_psql('postgres', q{SELECT max(version) FROM medallion.tick});
	if ($now > $start) { $advanced = 1; last; }
	usleep(100_000);
}
ok($advanced, 'the background ticker closed a version');
my $newest = $node->safe_psql('postgres', q{SELECT max(version) FROM medallion.tick});
is($node->safe_psql('postgres', qq{
	SELECT count(*) FROM medallion.table_changes('ledger', $v2 + 1, $newest) WHERE (data->>'id')::int = 5001}),
	'1', 'the ticker closed the version holding the write');

# Partitions: a tiny span makes writers cross partition boundaries; reads stay exact.
$node->safe_psql('postgres', q{
	SET pg_medallion.partition_xids = 1024;
	CREATE TABLE spans (id int PRIMARY KEY);
	SELECT medallion.enable_feed('spans');
});
$node->safe_psql('postgres', q{
	DO $$ BEGIN FOR i IN 1..3000 LOOP INSERT INTO spans VALUES (i); COMMIT; END LOOP; END $$;
});
my $parts = $node->safe_psql('postgres', q{
	SELECT count(*) FROM pg_inherits WHERE inhparent = 'medallion_changes.spans'::regclass});
ok($parts >= 3, "writes spread over $parts partitions");
is($node->safe_psql('postgres', q{SELECT count(*) FROM medallion_changes.spans(medallion.first_version('spans'))}),
	'3000', 'every change read back across partitions');

$node->stop;
done_testing();
