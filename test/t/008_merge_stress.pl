# Merges into shared targets under load (issue 21): three sessions merge into a fresh target each
# round, all starting at once, while a writer keeps changing the source.  Session a is a flow (a
# consumer's feed reader), session b a backfill (a temporary chunk of the source stamped with
# current_version() in its transaction), session c another flow (its own consumer).  Each merges
# three times per round, so a target's first merges (the registration, the plan rebuilt after it,
# every session's first plan) meet each other; in even rounds an ANALYZE of the target after the
# first merges makes every session rebuild its plan again (a warm target's kept plans are rebuilt
# whenever its statistics or definition change).  No merge may fail another: zero deadlocks, zero
# errors; and after a final catch-up merge every target equals the source.
use strict;
use warnings;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;

my $rounds = 30;
my $calls = 3;    # merges per session and round

my $node = PostgreSQL::Test::Cluster->new('merge_stress');
$node->init;
$node->append_conf('postgresql.conf', scalar `$ENV{TESTDIR}/test/pg_conf`);    # test/pg.conf for this server
$? == 0 or die "test/pg_conf failed";
# A deadlock is found (and ends a merge) after 50 ms instead of 1 s: rounds stay short.
$node->append_conf('postgresql.conf', "max_connections = 40\ndeadlock_timeout = 50ms\n");
$node->start;

$node->safe_psql('postgres', q{
	CREATE EXTENSION pg_medallion;
	CREATE TABLE src (id int PRIMARY KEY, val int NOT NULL);
	SELECT medallion.enable_feed('src');
	INSERT INTO src SELECT g, g FROM generate_series(1, 300) g;
	CREATE TABLE errs (round int, who text, state text, message text);
	CREATE TABLE progress (round int, who text);
	CREATE TABLE stop_writer (at timestamptz);
	CREATE TABLE wrote (n int);
});
$node->safe_psql('postgres', qq{
	DO \$\$ BEGIN FOR r IN 1..$rounds LOOP
		EXECUTE format('CREATE TABLE tgt_%s (id int PRIMARY KEY, val int, _commit_version bigint, _change_seq bigint)', r);
		PERFORM medallion.create_consumer('a_' || r, ARRAY['src']::regclass[], 'earliest');
		PERFORM medallion.create_consumer('c_' || r, ARRAY['src']::regclass[], 'earliest');
	END LOOP; END \$\$;
});

# The barrier: round r starts when the coordinator releases advisory lock r, which every merging
# session waits for (shared), so all three reach the new target at the same moment.
my $coord = $node->background_psql('postgres');
$coord->query_safe("SELECT count(pg_advisory_lock(r)) FROM generate_series(1, $rounds) r");

# The writer: upserts, updates and deletes, one small transaction after the other, until told to stop.
my $writer = $node->background_psql('postgres', on_error_stop => 0);
$writer->query_until(qr/writing/, q{
\echo writing
DO $$
DECLARE n int := 0; k int;
BEGIN
	WHILE NOT EXISTS (SELECT 1 FROM stop_writer) LOOP
		k := 1 + (random() * 499)::int;
		INSERT INTO src VALUES (k, n) ON CONFLICT (id) DO UPDATE SET val = src.val + 1;
		UPDATE src SET val = val - 1 WHERE id = (k * 7) % 500;
		DELETE FROM src WHERE id = (k * 13) % 500 AND n % 3 = 0;
		n := n + 1;
		COMMIT;
		PERFORM pg_sleep(0.005);
	END LOOP;
	INSERT INTO wrote VALUES (n);
END $$;
});

# A merging session: each round, wait at the barrier, then merge $calls times into tgt_<round>, each
# merge in its own transaction; an error is recorded (and the merge's transaction rolled back, so a
# consumer's read goes back too), never raised.
sub merger
{
	my ($who, $merge) = @_;
	my $bg = $node->background_psql('postgres', on_error_stop => 0);
	$bg->query_until(qr/merging/, qq{
\\echo merging
DO \$\$
DECLARE r int; k int; v bigint; target regclass; detail text;
BEGIN
	FOR r IN 1..$rounds LOOP
		PERFORM pg_advisory_lock_shared(r);
		PERFORM pg_advisory_unlock_shared(r);
		target := format('tgt_%s', r)::regclass;
		FOR k IN 1..$calls LOOP
			BEGIN
				$merge
			EXCEPTION WHEN OTHERS THEN
				GET STACKED DIAGNOSTICS detail = PG_EXCEPTION_DETAIL;
				INSERT INTO errs VALUES (r, '$who', SQLSTATE, SQLERRM || ' ' || coalesce(detail, ''));
			END;
			COMMIT;
			-- Even rounds: new statistics, as autovacuum would take after a first load, make every
			-- session rebuild its kept plan of the target at its next merge.
			IF k = 1 AND '$who' = 'c' AND r % 2 = 0 THEN
				EXECUTE format('ANALYZE %s', target);
				COMMIT;
			END IF;
		END LOOP;
		INSERT INTO progress VALUES (r, '$who');
		COMMIT;
	END LOOP;
END \$\$;
});
	return $bg;
}

my $feed = q{PERFORM * FROM medallion.apply_changes(target,
					format('SELECT * FROM medallion_changes.src(%L)', 'CONSUMER_' || r),
					'{id}', '{_commit_version,_change_seq}');};
my @sessions = (
	merger('a', $feed =~ s/CONSUMER/a/r),
	merger('b', q{v := medallion.current_version();
				CREATE TEMP TABLE chunk ON COMMIT DROP AS
					SELECT id, val, v AS _commit_version, 0::bigint AS _change_seq FROM src WHERE id % 3 = k % 3;
				PERFORM * FROM medallion.apply_changes(target, 'pg_temp.chunk', '{id}', '{_commit_version,_change_seq}');}),
	merger('c', $feed =~ s/CONSUMER/c/r));

for my $r (1 .. $rounds)
{
	$coord->query_safe("SELECT pg_advisory_unlock($r)");
	$node->poll_query_until('postgres', "SELECT count(*) = 3 FROM progress WHERE round = $r")
	  or die "round $r did not finish";
}

$node->safe_psql('postgres', 'INSERT INTO stop_writer VALUES (now())');
$_->query('SELECT 1') for ($writer, @sessions);
$_->quit for ($coord, $writer, @sessions);

my $wrote = $node->safe_psql('postgres', 'SELECT n FROM wrote');
ok($wrote > 100, "the writer committed $wrote transactions during the merges");
is($node->safe_psql('postgres', 'SELECT count(*) FROM progress'), 3 * $rounds, "$rounds rounds of three sessions");

my $errors = $node->safe_psql('postgres',
	q{SELECT coalesce(string_agg(format('round %s %s: %s %s', round, who, state, message), E'\n' ORDER BY round, who), '') FROM errs});
is($node->safe_psql('postgres', q{SELECT count(*) FROM errs WHERE state = '40P01'}), '0',
	'no merge deadlocked with another');
is($node->safe_psql('postgres', 'SELECT count(*) FROM errs'), '0', 'no merge failed')
  or diag(substr($errors, 0, 3000));

# Catch up every target from its flow's consumer (the writer has stopped), then compare with the source.
$node->safe_psql('postgres', qq{
	DO \$\$ BEGIN FOR r IN 1..$rounds LOOP
		PERFORM * FROM medallion.apply_changes(format('tgt_%s', r)::regclass,
			format('SELECT * FROM medallion_changes.src(%L)', 'a_' || r), '{id}', '{_commit_version,_change_seq}');
	END LOOP; END \$\$;
});
my $differ = join("\n\tUNION ALL ", map {
	"SELECT $_ AS r, count(*) AS n FROM ((SELECT id, val FROM tgt_$_ EXCEPT SELECT id, val FROM src)"
	  . " UNION ALL (SELECT id, val FROM src EXCEPT SELECT id, val FROM tgt_$_)) d"
} 1 .. $rounds);
is($node->safe_psql('postgres', "SELECT coalesce(string_agg(r::text, ','), '') FROM ($differ) x WHERE n > 0"),
	'', 'every target equals the source');
is($node->safe_psql('postgres', "SELECT count(*) FROM medallion.apply_target WHERE target::text LIKE 'tgt\\_%'"),
	$rounds, 'each target registered once');

$node->stop;
done_testing();
