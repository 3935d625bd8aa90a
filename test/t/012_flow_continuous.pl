# Continuous flows (issue 17): schedule_flow(name, 'continuous') hands flows to the flow runner, a
# background worker woken by commits that captured changes and by version closes.  A chain of two
# flows (source -> silver -> gold) scheduled downstream first runs upstream first and keeps gold
# equal to the oracle; the runner does not poll while idle; a failing flow is recorded, backed off
# and recovers after the fix while the others keep running; pause, resume, unschedule; the runner
# carries on after a restart.
use strict;
use warnings;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use Time::HiRes qw(usleep);

my $node = PostgreSQL::Test::Cluster->new('flow_continuous');
$node->init;
$node->append_conf('postgresql.conf', scalar `$ENV{TESTDIR}/test/pg_conf`);    # test/pg.conf for this server
$? == 0 or die "test/pg_conf failed";
$node->start;

sub wait_for
{
	my ($query, $expected, $name) = @_;
	my $got;
	for (1 .. 300)
	{
		$got = $node->safe_psql('postgres', $query);
		last if $got eq $expected;
		usleep(100_000);
	}
	is($got, $expected, $name);
}

$node->safe_psql('postgres', q{
	CREATE EXTENSION pg_medallion;
	CREATE TABLE src (id int PRIMARY KEY, v text NOT NULL);
	CREATE TABLE silver (id int PRIMARY KEY, v text NOT NULL, sver bigint, sseq bigint);
	CREATE TABLE gold (id int PRIMARY KEY, v text NOT NULL, sver bigint, sseq bigint,
					   _commit_version bigint, _change_seq bigint);
	CREATE TABLE strict_tgt (id int PRIMARY KEY, v text NOT NULL, _commit_version bigint, _change_seq bigint);
	CREATE ROLE flow_owner;
	ALTER TABLE src OWNER TO flow_owner;
	ALTER TABLE silver OWNER TO flow_owner;
	ALTER TABLE gold OWNER TO flow_owner;
	ALTER TABLE strict_tgt OWNER TO flow_owner;
	SET ROLE flow_owner;
	SELECT medallion.enable_feed('src');
	SELECT medallion.enable_feed('silver');
	SELECT medallion.create_flow('to_gold', 'silver', 'gold', '{id}');
	SELECT medallion.create_flow('to_silver', 'src', 'silver', '{id}', sequence_by => '{sver,sseq}',
		transform => 'SELECT id, upper(v) AS v, _commit_version AS sver, _change_seq AS sseq, _change_type FROM batch');
	SELECT medallion.create_flow('strict', 'src', 'strict_tgt', '{id}');
	SELECT medallion.add_expectation('strict', 'no_bad', 'v <> ''bad''', 'fail');
	SELECT medallion.schedule_flow('to_gold', 'continuous');
	SELECT medallion.schedule_flow('to_silver', 'continuous');
	SELECT medallion.schedule_flow('strict', 'continuous');
});
is($node->safe_psql('postgres', q{SELECT string_agg(name || ':' || continuous || ':' || upstream::text, ' ' ORDER BY name) FROM medallion.flows}),
	'strict:true:{} to_gold:true:{to_silver} to_silver:true:{}', 'flows are continuous, the graph is known');

my $oracle = q{SELECT coalesce(string_agg(id || '=' || upper(v), ',' ORDER BY id), '') FROM src};
my $gold = q{SELECT coalesce(string_agg(id || '=' || v, ',' ORDER BY id), '') FROM gold};

# Writes in several transactions: inserts, updates, deletes; gold follows through silver.
$node->safe_psql('postgres', q{INSERT INTO src SELECT g, 'v' || g FROM generate_series(1, 50) g});
$node->safe_psql('postgres', q{UPDATE src SET v = 'u' || id WHERE id % 3 = 0});
$node->safe_psql('postgres', q{DELETE FROM src WHERE id % 10 = 0});
my $expected = $node->safe_psql('postgres', $oracle);
wait_for($gold, $expected, 'gold follows the source through silver, with nobody calling run_flow');
is($node->safe_psql('postgres', q{SELECT count(*) FROM medallion.runs WHERE status <> 'succeeded'}), '0',
	'every run succeeded');
is($node->safe_psql('postgres', q{SELECT count(DISTINCT application_name) FROM medallion.runs}), '1',
	'the runs are the flow runner\'s');

# Upstream first: to_gold never ran a version range of silver before to_silver's run that wrote it
# committed: in every pass to_silver runs before to_gold, so no run of to_gold found nothing new
# after to_silver merged (each to_silver run with output is followed by a to_gold run with input).
is($node->safe_psql('postgres', q{
	SELECT count(*) FROM medallion.runs s
	WHERE s.flow = 'to_silver' AND s.inserted + s.updated + s.deleted > 0
	  AND NOT EXISTS (SELECT 1 FROM medallion.runs g WHERE g.flow = 'to_gold' AND g.run_id > s.run_id AND g.rows_in > 0)}),
	'0', 'every to_silver run that wrote is followed by a to_gold run that read it');

# Idle: no polling.  The runner's CPU time does not move over two quiet seconds.
my $pid = $node->safe_psql('postgres', q{SELECT pid FROM pg_stat_activity WHERE backend_type = 'pg_medallion flow runner'});
ok($pid =~ /^\d+$/, 'the flow runner is running');
sub cpu_ticks { open(my $fh, '<', "/proc/$_[0]/stat") or return -1; my @f = split / /, <$fh>; return $f[13] + $f[14]; }
my $before = cpu_ticks($pid);
my $runs_before = $node->safe_psql('postgres', q{SELECT count(*) FROM medallion.runs});
sleep 2;
ok(cpu_ticks($pid) - $before <= 2, 'the idle runner uses no CPU (woken by commits, not polling)');
is($node->safe_psql('postgres', q{SELECT count(*) FROM medallion.runs}), $runs_before, 'an idle runner records no runs');

# A failing flow: recorded, logged, backed off; the other flows keep running; after the fix it recovers.
$node->safe_psql('postgres', q{INSERT INTO src VALUES (1000, 'bad')});
wait_for(q{SELECT count(*) > 0 FROM medallion.runs WHERE flow = 'strict' AND status = 'failed' AND message LIKE '%no_bad%'},
	't', 'the failing continuous run is recorded');
$node->safe_psql('postgres', q{INSERT INTO src VALUES (1001, 'fine')});
wait_for(q{SELECT count(*) FROM gold WHERE id IN (1000, 1001)}, '2', 'the other flows keep running');
ok($node->wait_for_log(qr/continuous flow "strict" failed \(1 in a row\)/), 'the runner logs the failure');
my $failed = $node->safe_psql('postgres', q{SELECT count(*) FROM medallion.runs WHERE flow = 'strict' AND status = 'failed'});
ok($failed <= 3, "backed off: $failed failed runs, not one per pass");
# The batch holds the bad row whatever comes after it: the fix is to the flow, which ends the backoff.
$node->safe_psql('postgres', q{UPDATE src SET v = 'good' WHERE id = 1000});
sleep 3;
$node->safe_psql('postgres', q{SET ROLE flow_owner; BEGIN; SELECT medallion.drop_expectation('strict', 'no_bad');
	SELECT medallion.add_expectation('strict', 'no_bad', 'v <> ''bad''', 'quarantine'); COMMIT;});
wait_for(q{SELECT v FROM strict_tgt WHERE id = 1000}, 'good', 'after the fix the flow recovers at once, not after its backoff');
is($node->safe_psql('postgres', q{SET ROLE flow_owner; SELECT count(*) FROM medallion.flow_quarantine('strict') WHERE rule = 'no_bad'}), '1',
	'the bad row went to the quarantine');

# Paused: not run; resumed: runs at once.
$node->safe_psql('postgres', q{SET ROLE flow_owner; SELECT medallion.pause_flow('to_silver')});
$node->safe_psql('postgres', q{INSERT INTO src VALUES (2000, 'paused')});
wait_for(q{SELECT count(*) FROM strict_tgt WHERE id = 2000}, '1', 'a write after the pause reaches the flows still running');
is($node->safe_psql('postgres', q{SELECT count(*) FROM silver WHERE id = 2000}), '0', 'the paused flow did not run');
$node->safe_psql('postgres', q{SET ROLE flow_owner; SELECT medallion.resume_flow('to_silver')});
wait_for(q{SELECT count(*) FROM gold WHERE id = 2000}, '1', 'resumed, the flow and its downstream run at once');

# Unscheduled: runs no more; run_flow still works.
is($node->safe_psql('postgres', q{SET ROLE flow_owner; SELECT medallion.unschedule_flow('to_silver')}), 't',
	'unschedule_flow of a continuous flow');
$node->safe_psql('postgres', q{INSERT INTO src VALUES (3000, 'manual')});
wait_for(q{SELECT count(*) FROM strict_tgt WHERE id = 3000}, '1', 'the still continuous flow ran');
is($node->safe_psql('postgres', q{SELECT count(*) FROM silver WHERE id = 3000}), '0', 'the unscheduled flow did not');
$node->safe_psql('postgres', q{SET ROLE flow_owner; SELECT medallion.run_flow('to_silver')});
wait_for(q{SELECT count(*) FROM gold WHERE id = 3000}, '1', 'a manual run of the upstream wakes the continuous downstream');
$node->safe_psql('postgres', q{SET ROLE flow_owner; SELECT medallion.schedule_flow('to_silver', 'continuous')});

# After a restart the runner carries on (changes committed while it was down included).
$node->restart;
$node->safe_psql('postgres', q{INSERT INTO src SELECT g, 'r' || g FROM generate_series(4000, 4010) g});
$expected = $node->safe_psql('postgres', $oracle);
wait_for($gold, $expected, 'after a restart gold follows the source again');
is($node->safe_psql('postgres', q{SELECT count(*) FROM medallion.runs WHERE status = 'failed' AND flow <> 'strict'}), '0',
	'no run of the chain failed');

# A flow whose run takes too long is cancelled at pg_medallion.flow_run_timeout and recorded as
# failed; it cannot hold the other flows back.
$node->safe_psql('postgres', q{ALTER SYSTEM SET pg_medallion.flow_run_timeout = '1s'; SELECT pg_reload_conf();});
$node->safe_psql('postgres', q{
	CREATE TABLE slow_tgt (id int PRIMARY KEY, v text NOT NULL, _commit_version bigint, _change_seq bigint);
	ALTER TABLE slow_tgt OWNER TO flow_owner;
	SET ROLE flow_owner;
	SELECT medallion.create_flow('slow', 'src', 'slow_tgt', '{id}', start => 'latest',
		transform => 'SELECT b.* FROM batch b, pg_catalog.pg_sleep(30)');
	SELECT medallion.schedule_flow('slow', 'continuous');
});
$node->safe_psql('postgres', q{INSERT INTO src VALUES (5000, 'slow')});
ok($node->wait_for_log(qr/continuous flow "slow" failed \(1 in a row\).*statement timeout/),
	'the run past flow_run_timeout is cancelled, and the runner logs it');
is($node->safe_psql('postgres', q{SELECT count(*) FROM slow_tgt}), '0', 'the cancelled run merged nothing');
wait_for(q{SELECT count(*) FROM gold WHERE id = 5000}, '1', 'the other flows ran meanwhile');
$node->safe_psql('postgres', q{SET ROLE flow_owner; SELECT medallion.unschedule_flow('slow'); SELECT medallion.drop_flow('slow');});

$node->stop;
done_testing();
