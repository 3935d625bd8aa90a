# Without shared_preload_libraries: every feature but the background workers works, loaded on first
# use by an ordinary backend (and by decoding, as an output plugin).  The rest of the suite runs
# preloaded, so this is the only place the library is loaded late, and the only place order keys
# come from nextval per statement instead of the shared range.
use strict;
use warnings;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;

my $node = PostgreSQL::Test::Cluster->new('not_preloaded');
$node->init;
$node->append_conf('postgresql.conf', scalar `$ENV{TESTDIR}/test/pg_conf`);    # test/pg.conf for this server
$? == 0 or die "test/pg_conf failed";
$node->append_conf('postgresql.conf', "shared_preload_libraries = ''\n");
$node->start;
is($node->safe_psql('postgres', q{SHOW shared_preload_libraries}), '', 'not preloaded');

$node->safe_psql('postgres', q{
	CREATE EXTENSION pg_medallion;
	CREATE TABLE orders (id int PRIMARY KEY, status text);
	SELECT medallion.enable_feed('orders');
	CREATE TABLE events (id int PRIMARY KEY, kind text);
	ALTER TABLE events REPLICA IDENTITY FULL;
	CREATE TABLE silver (id int PRIMARY KEY, status text, _commit_version bigint, _change_seq bigint);
});
$node->safe_psql('postgres', q{SELECT medallion.enable_feed('events', mode => 'logical')});

# Trigger feed: three statements, three statement numbers, in order.
$node->safe_psql('postgres', q{INSERT INTO orders VALUES (1, 'new'), (2, 'new')});
$node->safe_psql('postgres', q{UPDATE orders SET status = 'paid' WHERE id = 1});
$node->safe_psql('postgres', q{DELETE FROM orders WHERE id = 2});
my $v = $node->safe_psql('postgres', q{SELECT medallion.current_version()});
is($node->safe_psql('postgres', qq{
	SELECT string_agg(id || ':' || _change_type, ',' ORDER BY _commit_version, _change_seq)
	FROM medallion_changes.orders(medallion.first_version('orders'), $v)}),
	'1:insert,2:insert,1:update_preimage,1:update_postimage,2:delete', 'trigger feed in order');
is($node->safe_psql('postgres', qq{
	SELECT count(DISTINCT _change_seq >> 20) FROM medallion_changes.orders(medallion.first_version('orders'), $v)}),
	'3', 'one statement number per statement');

# Consume and merge in one transaction.
$node->safe_psql('postgres', q{SELECT * FROM medallion.create_consumer('silver', ARRAY['orders']::regclass[], 'earliest')});
is($node->safe_psql('postgres', q{
	SELECT inserted || '/' || deleted FROM medallion.apply_changes('silver',
		$$SELECT * FROM medallion_changes.orders('silver')$$,
		keys => '{id}', sequence_by => '{_commit_version,_change_seq}')}), '1/0', 'consume and merge');
is($node->safe_psql('postgres', q{SELECT string_agg(id || ':' || status, ',') FROM silver}), '1:paid',
	'silver holds the newest state');

# Logical feed: decoded in-process by pull; the plugin also serves SQL decoding functions.
$node->safe_psql('postgres', q{INSERT INTO events VALUES (10, 'click')});
is($node->safe_psql('postgres', q{SELECT changes FROM medallion.pull()}), '1', 'pull stores the logical change');
is($node->safe_psql('postgres', q{
	SELECT id || ':' || _change_type FROM medallion_changes.events(medallion.first_version('events'))}),
	'10:insert', 'logical feed readable');
$node->safe_psql('postgres', q{SELECT pg_create_logical_replication_slot('outside', 'pg_medallion')});
$node->safe_psql('postgres', q{INSERT INTO events VALUES (11, 'view')});
like($node->safe_psql('postgres', q{SELECT string_agg(data, ' ') FROM pg_logical_slot_get_changes('outside', NULL, NULL)}),
	qr/"change":"insert","new":\{"id":11/ , 'the output plugin works for other slots');
$node->safe_psql('postgres', q{SELECT pg_drop_replication_slot('outside')});

# The extension's slot goes with the extension (the commit-time check is registered on load).
$node->safe_psql('postgres', q{DROP EXTENSION pg_medallion CASCADE});
is($node->safe_psql('postgres', q{SELECT count(*) FROM pg_replication_slots}), '0', 'DROP EXTENSION dropped the slot');

# No background worker was registered.
is($node->safe_psql('postgres', q{SELECT count(*) FROM pg_stat_activity WHERE backend_type LIKE 'pg_medallion%'}),
	'0', 'no background workers');
unlike(slurp_file($node->logfile), qr/FATAL/, 'no FATAL in the log');
$node->stop;
done_testing();
