# Flows scheduled by pg_cron, end to end (issue 17): a real pg_cron schedule runs a flow of a
# non-superuser as that owner; the run log shows the runs; the target follows the source; a failing
# run shows in pg_cron's own job log as failed too, and in medallion.runs; unschedule stops it.
# pg_cron runs its jobs in background workers here (cron.use_background_workers), every minute.
use strict;
use warnings;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;

my $node = PostgreSQL::Test::Cluster->new('flow_cron');
$node->init;
$node->append_conf('postgresql.conf', scalar `$ENV{TESTDIR}/test/pg_conf`);
$? == 0 or die "test/pg_conf failed";
$node->append_conf('postgresql.conf', qq{
shared_preload_libraries = 'pg_medallion, pg_cron'
cron.database_name = 'postgres'
cron.use_background_workers = on
max_worker_processes = 24
});
$node->start;

$node->safe_psql('postgres', q{
	CREATE EXTENSION pg_cron;
	CREATE EXTENSION pg_medallion;
	CREATE ROLE etl LOGIN;
	GRANT USAGE ON SCHEMA cron TO etl;
	CREATE TABLE bronze (id int PRIMARY KEY, amount text);
	SELECT medallion.enable_feed('bronze');
	CREATE TABLE silver (id int PRIMARY KEY, amount numeric, _commit_version bigint, _change_seq bigint);
	ALTER TABLE bronze OWNER TO etl;
	ALTER TABLE silver OWNER TO etl;
	INSERT INTO bronze SELECT g, (g * 10)::text FROM generate_series(1, 5) g;
});
# The flow belongs to etl; the schedule is made by etl too (pg_cron runs the job as its user).
$node->safe_psql('postgres', q{
	SET ROLE etl;
	SELECT medallion.create_flow('silver', 'bronze', 'silver', '{id}', start => 'earliest',
		transform => $$SELECT id, amount::numeric AS amount, _change_type, _commit_version, _change_seq FROM batch$$);
	SELECT medallion.add_expectation('silver', 'small', 'amount < 1000', 'fail');
	SELECT medallion.schedule_flow('silver', '* * * * *') > 0;
});
is($node->safe_psql('postgres', q{SELECT username || ' ' || command FROM cron.job}),
	"etl SELECT * FROM medallion.run_flow('silver')", 'one cron job, of etl, running the flow');

# pg_cron fires at the top of the minute.
sub wait_for {
	my ($query, $expected, $what) = @_;
	for (my $i = 0; $i < 150; $i++) {
		my $got = $node->safe_psql('postgres', $query);
		return is($got, $expected, $what) if $got eq $expected;
		sleep 1;
	}
	is($node->safe_psql('postgres', $query), $expected, $what);
}
wait_for(q{SELECT count(*) FROM silver}, '5', 'the scheduled run merged the source');
is($node->safe_psql('postgres', q{SELECT run_by || ' ' || status || ' ' || rows_in FROM medallion.runs ORDER BY run_id LIMIT 1}),
	'etl succeeded 5', 'the run log shows the run, run by etl');

# A row the fail rule refuses: the next scheduled run fails, in our log and in pg_cron's.
$node->safe_psql('postgres', q{INSERT INTO bronze VALUES (6, '5000')});
wait_for(q{SELECT count(*) > 0 FROM medallion.runs WHERE status = 'failed'}, 't', 'a failed run is recorded');
wait_for(q{SELECT count(*) > 0 FROM cron.job_run_details WHERE status = 'failed' AND return_message LIKE '%expectation "small"%'},
	't', 'pg_cron shows the job failed, with the expectation named');
is($node->safe_psql('postgres', q{SELECT count(*) FROM silver}), '5', 'the failed run merged nothing');

# Fixed: the next run takes the row; then unschedule.
$node->safe_psql('postgres', q{SET ROLE etl; SELECT medallion.drop_expectation('silver', 'small')});
wait_for(q{SELECT count(*) FROM silver}, '6', 'after the fix the next scheduled run merged the row');
is($node->safe_psql('postgres', q{SET ROLE etl; SELECT medallion.unschedule_flow('silver')}), 't', 'unscheduled');
is($node->safe_psql('postgres', q{SELECT count(*) FROM cron.job}), '0', 'no job left');
is($node->safe_psql('postgres', q{SET ROLE etl; SELECT medallion.unschedule_flow('silver')}), 'f', 'nothing left to unschedule');

$node->stop;
done_testing();
