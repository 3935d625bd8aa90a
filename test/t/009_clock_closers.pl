# Many sessions closing versions at once (issue 22's clock paths: the caller's "nothing new" answer,
# the resident ticker serving shared requests, and the worker fallback in a database the ticker does
# not serve).  Each client commits a row, then asks current_version(): commit order says the row's
# version is at most the answer.  Afterwards every row is in its feed exactly once, and no answer was
# below the version of a row committed before it was asked.
use strict;
use warnings;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;

my $node = PostgreSQL::Test::Cluster->new('closers');
$node->init;
$node->append_conf('postgresql.conf', scalar `$ENV{TESTDIR}/test/pg_conf`);    # test/pg.conf for this server
$? == 0 or die "test/pg_conf failed";
$node->append_conf('postgresql.conf', "max_connections = 40\n");
$node->start;

# postgres is pg_medallion.database (the ticker's); other is served by a worker per version closed.
$node->safe_psql('postgres', 'CREATE DATABASE other');
for my $db ('postgres', 'other')
{
	$node->safe_psql($db, q{
		CREATE EXTENSION pg_medallion;
		CREATE TABLE w (id bigserial PRIMARY KEY, who int NOT NULL);
		SELECT medallion.enable_feed('w');
		CREATE TABLE obs (row_id bigint NOT NULL, seen bigint NOT NULL);
	});
	$node->safe_psql($db, 'SELECT medallion.current_version()');
}

my $write = q{
INSERT INTO w (who) VALUES (:client_id) RETURNING id AS row_id \gset
SELECT medallion.current_version() AS seen \gset
INSERT INTO obs VALUES (:row_id, :seen);
};
my $read = q{
SELECT medallion.current_version();
};

for my $db ('postgres', 'other')
{
	my $secs = $db eq 'postgres' ? 8 : 4;
	$node->command_ok(
		[ 'pgbench', '--no-vacuum', '--client=8', '--jobs=2', "--time=$secs",
		  '-f', write_script('write.sql', $write) . '@4', '-f', write_script('read.sql', $read) . '@1',
		  '-h', $node->host, '-p', $node->port, $db ],
		"$db: 8 clients commit rows and close versions at once");

	my $final = $node->safe_psql($db, 'SELECT medallion.current_version()');
	my $first = $node->safe_psql($db, q{SELECT medallion.first_version('w')});
	my $rows = $node->safe_psql($db, 'SELECT count(*) FROM w');
	ok($rows > 100, "$db: the clients committed rows ($rows)");
	is($node->safe_psql($db, qq{
		SELECT count(*) = (SELECT count(*) FROM w) AND count(DISTINCT id) = count(*)
		FROM medallion_changes.w($first, $final)}), 't', "$db: every row is in the feed exactly once");
	is($node->safe_psql($db, qq{
		SELECT count(*) FROM obs o JOIN medallion_changes.w($first, $final) c ON c.id = o.row_id
		WHERE c._commit_version > o.seen}), '0',
		"$db: no answer was below the version of a row committed before it was asked");
	cmp_ok($node->safe_psql($db, 'SELECT count(DISTINCT seen) FROM obs'), '>', 1, "$db: versions advanced");
}

# The ticker served the ticker's database: no worker per version there.
is($node->safe_psql('postgres', q{
	SELECT count(*) FROM pg_stat_activity WHERE backend_type = 'pg_medallion ticker'}), '1', 'the ticker runs');

done_testing();

# write_script writes a pgbench script into the test's directory and returns its path.
sub write_script
{
	my ($name, $text) = @_;
	my $path = "${PostgreSQL::Test::Utils::tmp_check}/$name";
	open(my $fh, '>', $path) or die "cannot write $path: $!";
	print $fh $text;
	close($fh);
	return $path;
}
