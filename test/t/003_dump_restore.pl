# pg_dump / pg_restore keeps feeds: the catalog (marked with pg_extension_config_dump), the change
# tables and readers, the triggers and the versions.  Restored into another database of the same
# cluster (same xid space) every version reads the same and capture goes on; a restore whose xids are
# behind its versions refuses to close new versions instead of mixing them up.
use strict;
use warnings;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;

my $node = PostgreSQL::Test::Cluster->new('dump');
$node->init;
$node->append_conf('postgresql.conf', scalar `$ENV{TESTDIR}/test/pg_conf`);    # test/pg.conf for this server
$? == 0 or die "test/pg_conf failed";
$node->start;

$node->safe_psql('postgres', 'CREATE DATABASE src');
$node->safe_psql('src', q{
	CREATE EXTENSION pg_medallion;
	CREATE TABLE orders (id int PRIMARY KEY, status text);
	CREATE TABLE events (id int, region text) PARTITION BY LIST (region);
	CREATE TABLE events_eu PARTITION OF events FOR VALUES IN ('eu');
	SELECT medallion.enable_feed('orders');
	SELECT medallion.enable_feed('events');
	CREATE TABLE clicks (id int PRIMARY KEY);
	ALTER TABLE clicks REPLICA IDENTITY FULL;
});
$node->safe_psql('src', q{SELECT medallion.enable_feed('clicks', mode => 'logical')});
$node->safe_psql('src', q{INSERT INTO clicks VALUES (1)});
$node->safe_psql('src', q{SELECT * FROM medallion.pull()});
$node->safe_psql('src', q{INSERT INTO orders SELECT g, 'new' FROM generate_series(1, 100) g});
$node->safe_psql('src', q{SELECT medallion.current_version()});
$node->safe_psql('src', q{UPDATE orders SET status = 'paid' WHERE id <= 10; DELETE FROM orders WHERE id > 90;
	INSERT INTO events_eu VALUES (1, 'eu')});
my $v = $node->safe_psql('src', q{SELECT medallion.current_version()});
my $digest_sql = qq{SELECT md5(string_agg(c::text, '|' ORDER BY _commit_version, _change_seq))
	FROM medallion_changes.orders(medallion.first_version('orders'), $v) c};
my $before = $node->safe_psql('src', $digest_sql);

my $dump = "$ENV{TESTDIR}/tmp_check/medallion.dump";
my ($ret, $out, $err);
$node->command_ok(['pg_dump', '-Fc', '-d', $node->connstr('src'), '-f', $dump], 'pg_dump');
$node->safe_psql('postgres', 'CREATE DATABASE dst');
$node->command_ok(['pg_restore', '--exit-on-error', '-d', $node->connstr('dst'), $dump], 'pg_restore');

is($node->safe_psql('dst', q{SELECT string_agg(source::text, ',' ORDER BY source::text) FROM medallion.feed}),
	'clicks,events,orders', 'feeds restored');
is($node->safe_psql('dst', $digest_sql), $before, 'restored versions read the same');
is($node->safe_psql('dst', q{SELECT count(*) FROM pg_trigger WHERE tgrelid = 'events_eu'::regclass AND tgname LIKE 'medallion_%'}),
	'4', 'partition triggers restored once');

$node->safe_psql('dst', q{INSERT INTO orders VALUES (1000, 'after restore'); INSERT INTO events_eu VALUES (2, 'eu')});
is($node->safe_psql('dst', qq{SELECT count(*) FROM medallion_changes.orders($v + 1) WHERE id = 1000}),
	'1', 'capture goes on after restore');
is($node->safe_psql('dst', qq{SELECT count(*) FROM medallion_changes.events($v + 1) WHERE id = 2}),
	'1', 'capture of a restored partition goes on');

# A logical feed comes back without its slot (slots are not dumped): pull says so instead of
# capturing nothing; resume_logical_feeds() makes a slot and capture goes on from there.
$node->safe_psql('dst', q{INSERT INTO clicks VALUES (2)});
($ret, $out, $err) = $node->psql('dst', q{SELECT * FROM medallion.pull()});
isnt($ret, 0, 'pull of a restored logical feed fails');
like($err, qr/have no replication slot/, 'and says the slot is missing');
$node->safe_psql('dst', q{SELECT medallion.resume_logical_feeds()});
$node->safe_psql('dst', q{INSERT INTO clicks VALUES (3)});
is($node->safe_psql('dst', q{SELECT changes FROM medallion.pull()}), '1', 'resumed: the next change is pulled');
is($node->safe_psql('dst', q{SELECT string_agg(id::text, ',' ORDER BY _commit_version, _change_seq)
	FROM medallion_changes.clicks(medallion.first_version('clicks'))}), '1,3',
	'restored history and the change after resuming; the one in between is the reported gap');
is($node->safe_psql('src', q{SELECT count(*) FROM pg_replication_slots WHERE database = 'src'}), '1',
	'the source database keeps its own slot');

# A tick whose snapshot is behind the newest version (as after a restore into a younger cluster).
$node->safe_psql('dst', q{UPDATE medallion.tick SET snapshot_xmax = snapshot_xmax + 1000000000,
	snapshot_xmin = snapshot_xmin + 1000000000 WHERE version = (SELECT max(version) FROM medallion.tick)});
($ret, $out, $err) = $node->psql('dst', q{SELECT medallion.current_version()});
isnt($ret, 0, 'closing a version behind the newest one fails');
like($err, qr/transaction ids are behind the newest version/, 'and says why');

$node->stop;
done_testing();
