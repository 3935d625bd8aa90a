# run_flow under crashes (issue 17): a flow with a transform that refuses some rows (so runs take the
# page-by-page isolation path too), an expectation and a merge, run while a writer keeps committing;
# the server is killed (immediate stop) 20 times with a run in flight.  After each recovery the flow
# catches up, and in the end: the target equals the oracle (the source's good rows), every change of
# the feed was read by exactly one committed run, every refused change is in the quarantine once,
# every recorded run succeeded and its counts reconcile.
use strict;
use warnings;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use Time::HiRes qw(usleep);

my $node = PostgreSQL::Test::Cluster->new('flow_crash');
$node->init;
$node->append_conf('postgresql.conf', scalar `$ENV{TESTDIR}/test/pg_conf`);    # test/pg.conf for this server
$? == 0 or die "test/pg_conf failed";
$node->append_conf('postgresql.conf', "restart_after_crash = on\n");
$node->start;

# Rows whose id is a multiple of 13 carry an amount that does not cast: every change of them is
# refused by the transform, so the target never holds them.  The others always cast.
$node->safe_psql('postgres', q{
	CREATE EXTENSION pg_medallion;
	CREATE TABLE src (id int PRIMARY KEY, amount text NOT NULL);
	CREATE TABLE tgt (id int PRIMARY KEY, amount numeric NOT NULL, _commit_version bigint, _change_seq bigint);
	SELECT medallion.enable_feed('src');
	SELECT medallion.create_flow('f', 'src', 'tgt', '{id}', start => 'earliest',
		transform => 'SELECT id, amount::numeric AS amount, _change_type, _commit_version, _change_seq FROM batch');
	SELECT medallion.add_expectation('f', 'not_negative', 'amount >= 0', 'warn');
	CREATE FUNCTION amount_for(id int, v int) RETURNS text LANGUAGE sql IMMUTABLE
		AS $$SELECT CASE WHEN id % 13 = 0 THEN 'bad' || v ELSE v::text END$$;
});

# A run held open after its work, so that the crash lands inside it or inside the run itself.
my $run = q{
BEGIN;
SELECT rows_in, status FROM medallion.run_flow('f');
SELECT pg_sleep(0.05);
COMMIT;
};

for my $round (1 .. 20)
{
	$node->safe_psql('postgres', qq{
		INSERT INTO src SELECT g, amount_for(g, $round) FROM generate_series($round * 100, $round * 100 + 49) g;
		UPDATE src SET amount = amount_for(id, $round + 1000) WHERE id % 7 = $round % 7;
		DELETE FROM src WHERE id % 11 = $round % 11 AND id < $round * 100;
	});
	my $writer = $node->background_psql('postgres', on_error_stop => 0);
	$writer->query_until(qr/^$/, qq{
		DO \$\$ BEGIN FOR i IN 1..100000 LOOP
			INSERT INTO src VALUES (100000 * $round + i, amount_for(100000 * $round + i, i))
				ON CONFLICT (id) DO UPDATE SET amount = amount_for(src.id, i);
			UPDATE src SET amount = amount_for(id, i) WHERE id = $round * 100 + i % 50;
			COMMIT;
		END LOOP; END \$\$;
	});
	my $bg = $node->background_psql('postgres', on_error_stop => 0);
	$bg->query_until(qr/^$/, $run . "\n");
	usleep(10_000 + int(rand(60_000)));
	$node->stop('immediate');
	$bg->{run}->kill_kill;
	$writer->{run}->kill_kill;
	$node->start;
	# Sometimes a complete run between crashes.
	$node->safe_psql('postgres', q{SELECT * FROM medallion.run_flow('f')}) if $round % 3 == 0;
}

# Catch up: runs until one reads nothing.
my $caught_up = 0;
for (1 .. 10)
{
	if ($node->safe_psql('postgres', q{SELECT status FROM medallion.run_flow('f')}) eq 'up_to_date')
	{
		$caught_up = 1;
		last;
	}
}
ok($caught_up, 'the flow caught up: a run found nothing new');

is($node->safe_psql('postgres', q{SELECT count(*) FROM (
		SELECT id, amount::numeric FROM src WHERE id % 13 <> 0 EXCEPT SELECT id, amount FROM tgt) x}),
	'0', 'every good source row is in the target, with its value');
is($node->safe_psql('postgres', q{SELECT count(*) FROM (
		SELECT id, amount FROM tgt EXCEPT SELECT id, amount::numeric FROM src WHERE id % 13 <> 0) x}),
	'0', 'the target has nothing extra (no refused row, no deleted row)');
is($node->safe_psql('postgres', q{SELECT sum(rows_in) FROM medallion.runs WHERE flow = 'f'}),
	$node->safe_psql('postgres', q{SELECT count(*) FROM medallion.table_changes('src', medallion.first_version('src'))}),
	'every change was read by exactly one committed run');
is($node->safe_psql('postgres', q{SELECT count(*) FROM medallion.flow_quarantine('f') WHERE rule = 'transform'}),
	$node->safe_psql('postgres', q{SELECT count(*) FROM medallion_changes.src(medallion.first_version('src')) WHERE id % 13 = 0}),
	'every refused change is in the quarantine once');
is($node->safe_psql('postgres', q{SELECT count(*) FROM medallion.flow_quarantine('f') q
		WHERE (q.record->>'id')::int % 13 <> 0}), '0', 'no good change was quarantined');
is($node->safe_psql('postgres', q{SELECT count(*) FILTER (WHERE status <> 'succeeded') FROM medallion.runs}),
	'0', 'every recorded run succeeded');
is($node->safe_psql('postgres', q{SELECT count(*) FROM medallion.runs
		WHERE rows_out <> dropped + quarantined + inserted + updated + deleted + unchanged + stale + rejected
		  AND rows_out - (dropped + quarantined + inserted + updated + deleted + unchanged + stale + rejected) > rows_in}),
	'0', 'no recorded run has more outcomes than rows');
is($node->safe_psql('postgres', q{SELECT count(*) FROM (
		SELECT from_version, lag(to_version) OVER (ORDER BY run_id) AS previous_to FROM medallion.runs WHERE flow = 'f') r
		WHERE from_version <> previous_to}),
	'0', 'each committed run starts where the previous one ended: no version range read twice, none skipped');

my $concurrent = $node->safe_psql('postgres', q{SELECT count(*) FROM src WHERE id >= 100000});
ok($concurrent > 0, "the concurrent writer committed $concurrent rows between crashes");
my $runs = $node->safe_psql('postgres', q{SELECT count(*) FROM medallion.runs WHERE rows_in > 0});
ok($runs < 20 + 6 + 10, "crashes cut off flow runs ($runs runs with work committed)");
ok($node->safe_psql('postgres', q{SELECT count(*) FROM medallion.runs WHERE quarantined > 0}) > 0,
	'some runs quarantined refused rows (the isolation path ran)');

$node->stop;
done_testing();
