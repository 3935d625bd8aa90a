#!/usr/bin/perl
# Deterministic generator of hostile calls of pg_medallion's functions, one statement (or one
# transaction) per line, for the database test/fuzz/setup.sql builds, run as role fuzzer.
# usage: gen_calls.pl SEED COUNT
# The same seed gives the same lines (perl's srand/rand are deterministic for a given perl build).
use strict;
use warnings;

my ($seed, $count) = @ARGV;
$seed //= 1;
$count //= 2000;
srand($seed);

sub pick { return $_[int(rand(@_))]; }
sub chance { return rand() < $_[0]; }

# --- argument pools ---------------------------------------------------------------------------
my @regclass = (
	"'fz.orders'", "'fz.events'", "'fz.parts'", "'fz.parts_1'", "'fz.events_eu'",
	q{'"Sales ""EU"""."we""ird; name"'}, "'fz.plain'", "'fz.orders_view'", "'fz.seq'",
	"'fz.silver_orders'", "'fz.cust_history'", "'fz.silver_cdc'", "'fz.cdc'", "'fz.t_tmp'",
	"'medallion.feed'", "'medallion.tick'", "'medallion_changes.orders'", "'medallion_changes._feed1_p0'",
	"'pg_class'", "'pg_catalog.pg_proc'", "'information_schema.tables'",
	"NULL", "0", "1", "(SELECT oid FROM fz.dropped_oids)", "4294967295", "2147483648",
	"(SELECT 'fz.orders_pkey'::regclass)", "(SELECT max(source) FROM medallion.feed)",
	"(SELECT min(change_table) FROM medallion.feed)", "(SELECT state_table FROM medallion.apply_target LIMIT 1)",
	"'pg_temp.tmp1'",
);
my @bigint = ("NULL", "0", "1", "2", "3", "5", "-1", "-2", "9223372036854775807", "-9223372036854775808",
	"4294967296", "2147483648", "(SELECT max(version) FROM medallion.tick)",
	"(SELECT max(version) - 1 FROM medallion.tick)", "(SELECT max(version) + 1 FROM medallion.tick)");
my @int = ("NULL", "0", "1", "2", "-1", "2147483647", "-2147483648", "3", "32", "33", "100000");
my @bool = ("NULL", "true", "false");
my @text = ("NULL", "''", "'x'", "'orders_silver'", "'fuzzer_orders'", "'events_gold'", "'fuzzer_weird'",
	"repeat('x', 200)", "repeat('x', 201)", "repeat('é', 100)", "'a''b'", q{'a"b'}, "'x; DROP TABLE fz.orders; --'",
	"E'tab\\there'", "'ünï😀'", "repeat('y', 10000)", "'\\\\'", "'%s%n%x'", "'  '", "'fz_pipe'");
my @interval = ("NULL", "'0'", "'-1 day'", "'1 second'", "'1 hour'", "'7 days'", "'100 years'",
	"'-178000000 years'", "'178000000 years'", "'1 microsecond'", "'2147483647 days'", "'-1 microsecond'",
	"'59 minutes'", "'1 mon'");
my @timestamptz = ("NULL", "'infinity'", "'-infinity'", "now()", "'4713-01-01 00:00+00 BC'",
	"'294276-12-31 00:00+00'", "'2000-01-01'", "now() - interval '1 hour'", "now() + interval '1 day'",
	"(SELECT committed_at FROM medallion.tick ORDER BY version DESC LIMIT 1)",
	"(SELECT committed_at FROM medallion.tick WHERE version = 1)");
my @textarr = ("NULL", "'{}'", "'{NULL}'", "'{order_id}'", "'{id}'", "'{order_id,order_id}'", "'{_commit_version,_change_seq}'",
	"'{_commit_version}'", "'{customer_id}'", "'{event_ts}'", "'{seq}'", q{'{"a;b","x\"y"}'}, "'{{id},{seq}}'",
	"'[3:4]={id,seq}'", "ARRAY(SELECT 'c' || i FROM generate_series(1, 40) i)", "'{\"\"}'", "'{nope}'",
	"'{order_id,_change_seq}'", "'{customer,status}'", "'{amount}'", "'{attrs}'", "'{mood}'", "'{ctid}'",
	"'{xmin}'", "'{tableoid}'", "'{name,city}'", "'{phone}'");
my @regclassarr = ("NULL", "'{}'", "'{NULL}'", "'{fz.orders}'", "'{fz.events,fz.orders}'", "'{fz.orders,fz.orders}'",
	"'{fz.parts}'", "'{fz.parts_1}'", "'{fz.plain}'", "'{fz.orders_view}'", "'{{fz.orders},{fz.events}}'",
	"'[0:0]={fz.orders}'", "ARRAY[(SELECT oid FROM fz.dropped_oids)]::regclass[]", "'{0}'", "'{pg_class}'",
	q{ARRAY['"Sales ""EU"""."we""ird; name"']::regclass[]}, "ARRAY(SELECT source FROM medallion.feed)");
my @start = ("NULL", "'latest'", "'earliest'", "'snapshot'", "'0'", "'1'", "'-1'", "'9223372036854775807'",
	"'99999999999999999999'", "'abc'", "'1e3'", "' 1'", "'LATEST'", "''", "'3.5'", "'0x10'");
my @mode = ("NULL", "'trigger'", "'logical'", "''", "'TRIGGER'", "'x'");
my @consumer = ("'orders_silver'", "'fuzzer_orders'", "'events_gold'", "'fuzzer_weird'", "'fz_c1'", "'fz_c2'",
	"'nope'", "NULL", "''", "repeat('x', 201)", "'x'' OR ''1''=''1'");
my @kind = ("NULL", "'bigint'", "'timestamptz'", "'lsn'", "'text'", "'int'", "''");
my @markval = ("NULL", "'1'", "'-1'", "'99999999999999999999'", "'2026-01-01'", "'infinity'", "'0/0'",
	"'FFFFFFFF/FFFFFFFF'", "'abc'", "''", "repeat('z', 5000)");
my @source = (
	"'fz.cdc'", "'fz.orders'", "'fz.orders_view'", "'fz.seq'", "'fz.nope'", "''", "NULL", "'   '",
	"\$\$SELECT * FROM medallion_changes.orders('fuzzer_orders')\$\$",
	"\$\$SELECT * FROM medallion_changes.orders(1)\$\$",
	"\$\$SELECT * FROM medallion.table_changes('fz.orders', 1)\$\$",
	"\$\$VALUES (1, 'a', 1)\$\$", "\$\$SELECT 1 AS id, NULL::int AS seq\$\$", "\$\$SELECT 1; SELECT 2\$\$",
	"\$\$DELETE FROM fz.plain RETURNING *\$\$", "\$\$TABLE fz.cdc\$\$", "\$\$WITH x AS (SELECT * FROM fz.cdc) SELECT * FROM x\$\$",
	"\$\$SELECT * FROM fz.cdc WHERE 1/0 = 1\$\$", "\$\$SELECT id, name, op, seq FROM fz.cdc UNION ALL SELECT NULL, NULL, 'T', 99\$\$",
	"\$\$SELECT *, 'x' AS _change_type FROM fz.cdc\$\$", "\$\$SELECT * FROM fz.cdc FOR UPDATE\$\$",
	"\$\$SELECT pg_sleep(0), * FROM fz.cdc\$\$", "'fz.cdc; DROP TABLE fz.cdc'", "'fz.cdc)'",
	"\$\$SELECT customer_id, name, city, phone, event_ts FROM (VALUES (1, 'ada', 'x', '1', 50), (3, NULL, NULL, NULL, NULL)) v(customer_id, name, city, phone, event_ts)\$\$",
	"\$\$SELECT g AS id, 'n' || g AS name, g AS seq FROM generate_series(1, 50) g\$\$",
	"\$\$SELECT 1 AS id, 'a' AS name, s AS seq FROM generate_series(1, 3) s\$\$",
	"\$\$SELECT 1 AS id, 'a' AS name, 1 AS seq UNION ALL SELECT 1, 'b', 1\$\$",
);
my @rule = ("NULL", "\$\$op = 'D'\$\$", "\$\$op = 'T'\$\$", "''", "'true'", "'false'", "'NULL'", "'1/0 = 1'",
	"'true) OR (true'", "'(SELECT true)'", "'nope = 1'", "'op'", "'1'", "'sum(seq) > 0'", "'random() > 0.5'",
	"\$\$_change_type = 'delete'\$\$", "'true; DROP TABLE fz.cdc'", "'pg_sleep(0) IS NULL'", "'row_number() over () > 1'");
my @scd = ("NULL", "1", "2", "0", "3", "-1", "2147483647");
my @targets = ("'fz.silver_orders'", "'fz.cust_history'", "'fz.silver_cdc'", "'fz.fz_target'", "'fz.orders'",
	"'fz.orders_view'", "'fz.events'", "'fz.parts'", "'fz.parts_1'", "'fz.seq'", "'medallion.tick'", "NULL", "0",
	"'fz.t_tmp'", "(SELECT oid FROM fz.dropped_oids)", "'fz.plain'");
my @readers = ("medallion_changes.orders", "medallion_changes.events", "medallion_changes.parts",
	q{medallion_changes."we""ird; name"}, "medallion_changes.plain", "medallion_changes.gone");
my @types = ("int", "bigint", "text", "jsonb", "numeric", "medallion.change_type", "timestamptz", "oid",
	"int[]", "record", "fz.mood", "fz.positive_amount", "bool", "bytea", "point", "xml");

sub args { return join(', ', @_); }

# A column definition list: right-ish, wrong type, wrong count.
sub coldefs {
	my $n = pick(0, 1, 2, 4, 6, 7, 8, 9, 10, 11, 12, 13, 20);
	$n = 1 if $n == 0;
	my @c;
	my @good = ("int", "text", "text", "numeric", "jsonb", "fz.mood", "timestamptz", "medallion.change_type",
		"bigint", "timestamptz", "bigint");
	for my $i (0 .. $n - 1) {
		my $t = (chance(0.7) && $i < @good) ? $good[$i] : pick(@types);
		push @c, "c$i $t";
	}
	return join(', ', @c);
}

my @dml = (
	"INSERT INTO fz.orders (order_id, customer, amount, attrs) SELECT 2000 + (random() * 1000)::int, 'r', 1, '{\"k\": 1}' ON CONFLICT DO NOTHING",
	"UPDATE fz.orders SET status = md5(status) WHERE order_id % 9 = 2",
	"UPDATE fz.orders SET order_id = order_id + 100000 WHERE order_id = 3",
	"DELETE FROM fz.orders WHERE order_id IN (SELECT order_id FROM fz.orders ORDER BY order_id DESC LIMIT 2)",
	"INSERT INTO fz.parts VALUES ((random() * 100000)::int, 5, 'q') ON CONFLICT DO NOTHING",
	"UPDATE fz.parts SET k = 15 WHERE k = 5",
	"UPDATE fz.parts_1 SET v = NULL",
	"TRUNCATE fz.parts_1", "TRUNCATE fz.parts", "DELETE FROM fz.parts_2",
	q{INSERT INTO "Sales ""EU"""."we""ird; name" VALUES (1, 'x', 1, 1), (NULL, NULL, NULL, NULL)},
	q{UPDATE "Sales ""EU"""."we""ird; name" SET "Value ""x""" = 'y'},
	q{TRUNCATE "Sales ""EU"""."we""ird; name"},
	"SELECT medallion.current_version()",
	"CREATE TEMP TABLE IF NOT EXISTS tmp1 (id int primary key, v text)",
	"CREATE TABLE IF NOT EXISTS fz.t_tmp (id int primary key, seq int, name text)",
	"DROP TABLE IF EXISTS fz.t_tmp",
	"CREATE TABLE IF NOT EXISTS fz.fz_target (id int primary key, name text, seq int, _valid_from int, _valid_to int)",
	"DROP TABLE IF EXISTS fz.fz_target",
	"ALTER TABLE fz.orders ADD COLUMN IF NOT EXISTS extra text",
	"ALTER TABLE fz.orders DROP COLUMN IF EXISTS extra",
	"ALTER TABLE fz.orders ALTER COLUMN status TYPE varchar(20)",
	"ALTER TABLE fz.orders ALTER COLUMN status TYPE text",
	"ALTER TABLE fz.orders RENAME COLUMN customer TO client",
	"ALTER TABLE fz.orders RENAME COLUMN client TO customer",
	"ALTER TABLE fz.parts DETACH PARTITION fz.parts_2",
	"ALTER TABLE fz.parts ATTACH PARTITION fz.parts_2 FOR VALUES FROM (10) TO (20)",
	"CREATE TABLE IF NOT EXISTS fz.parts_3 PARTITION OF fz.parts FOR VALUES FROM (20) TO (30)",
	"DROP TABLE IF EXISTS fz.parts_3",
	"SELECT medallion.disable_feed('fz.parts')",
	"SELECT medallion.enable_feed('fz.parts')",
	"SELECT medallion.enable_feed('fz.t_tmp')",
	"SELECT medallion.disable_feed('fz.t_tmp', true)",
	"INSERT INTO fz.t_tmp SELECT g, g, 'n' FROM generate_series(1, 5) g ON CONFLICT DO NOTHING",
	"SELECT medallion.enable_feed('tmp1')",
	"ALTER TABLE fz.silver_orders DROP COLUMN IF EXISTS mood",
	"ALTER TABLE fz.silver_orders ADD COLUMN IF NOT EXISTS mood fz.mood",
	"ALTER TABLE fz.cust_history ALTER COLUMN _valid_to TYPE bigint",
	"ALTER TABLE fz.cust_history ALTER COLUMN _valid_to TYPE int",
	"CREATE OR REPLACE VIEW fz.orders_view AS SELECT * FROM fz.orders",
	"DROP TABLE IF EXISTS medallion_state.silver_orders_tombstones",
	"DELETE FROM medallion_state.silver_orders_tombstones",
	"INSERT INTO medallion_state.silver_orders_tombstones SELECT * FROM medallion_state.silver_orders_tombstones",
);

# Trigger forgery: _capture / _truncate_guard attached by hand with random timing and transition tables.
sub forge {
	my $ev = pick("INSERT", "UPDATE", "DELETE", "TRUNCATE", "INSERT OR UPDATE", "UPDATE OR DELETE");
	my $when = pick("AFTER", "AFTER", "BEFORE");
	my $level = pick("FOR EACH STATEMENT", "FOR EACH STATEMENT", "FOR EACH ROW");
	my $ref = "";
	if ($ev !~ /OR|TRUNCATE/ && $when eq "AFTER" && chance(0.8)) {
		my @r;
		push @r, "OLD TABLE AS o" if $ev ne "INSERT" && chance(0.7);
		push @r, "NEW TABLE AS n" if $ev ne "DELETE" && chance(0.7);
		$ref = "REFERENCING " . join(' ', @r) if @r;
	}
	my $fn = chance(0.85) ? "medallion._capture(" . pick("'1'", "'2'", "'3'", "'4'", "", "'0'", "'-1'", "'1', '2'", "'x'", "'99999'") . ")"
		: "medallion._truncate_guard()";
	my $tbl = pick("fz.t_forge", "fz.t_forge2");
	my $dml = pick("INSERT INTO $tbl SELECT g, 'f' || g FROM generate_series(1, 3) g",
		"UPDATE $tbl SET v = v || '!'", "DELETE FROM $tbl WHERE id % 2 = 0", "TRUNCATE $tbl",
		"INSERT INTO $tbl VALUES (100, NULL)");
	return "BEGIN; CREATE TABLE IF NOT EXISTS fz.t_forge (id int, v text); CREATE TABLE IF NOT EXISTS fz.t_forge2 (v text, id bigint, w jsonb, x int[]);"
		. " INSERT INTO $tbl (id, v) VALUES (1, 'a'), (2, 'b');"
		. " CREATE TRIGGER fz_forge $when $ev ON $tbl $ref $level EXECUTE FUNCTION $fn; $dml; ROLLBACK;";
}

sub api_call {
	my $f = int(rand(38));
	my $r;
	if ($f == 0) { $r = "SELECT medallion.enable_feed(" . args(pick(@regclass), pick(@mode)) . ")"; }
	elsif ($f == 1) { $r = "SELECT medallion.disable_feed(" . args(pick(@regclass), pick(@bool)) . ")"; }
	elsif ($f == 2) { $r = "SELECT medallion.current_version()"; }
	elsif ($f == 3) { $r = "SELECT medallion.version_at(" . pick(@timestamptz) . ")"; }
	elsif ($f == 4) { $r = "SELECT * FROM medallion.table_changes(" . args(pick(@regclass), pick(@bigint), pick(@bigint)) . ") LIMIT 5"; }
	elsif ($f == 5) { $r = "SELECT * FROM medallion.table_changes(" . args(pick(@regclass), "(" . pick(@timestamptz) . ")::timestamptz", "(" . pick(@timestamptz) . ")::timestamptz") . ") LIMIT 5"; }
	elsif ($f == 6) { $r = "SELECT medallion.first_version(" . pick(@regclass) . ")"; }
	elsif ($f == 7) { $r = "SELECT * FROM medallion.history(" . pick(@regclass) . ")"; }
	elsif ($f == 8) { $r = "SELECT * FROM medallion.create_consumer(" . args(pick(@consumer), pick(@regclassarr), pick(@start)) . ")"; }
	elsif ($f == 9) { $r = "SELECT medallion.drop_consumer(" . pick(@consumer) . ")"; }
	elsif ($f == 10) { $r = "SELECT * FROM medallion.reset_consumer(" . args(pick(@consumer), pick(@bigint), pick(@regclass)) . ")"; }
	elsif ($f == 11) { $r = "SELECT * FROM medallion.consume(" . args(pick(@consumer), pick(@regclass), pick(@int), pick(@bool), pick(@bool)) . ") LIMIT 5"; }
	elsif ($f == 12) { $r = "SELECT * FROM medallion.peek(" . args(pick(@consumer), pick(@regclass), pick(@int), pick(@bool)) . ") LIMIT 5"; }
	elsif ($f == 13) { $r = "SELECT medallion.create_watermark(" . args(pick(@text), pick(@text), pick(@kind), pick(@interval)) . ")"; }
	elsif ($f == 14) { $r = "SELECT medallion.watermark(" . args(pick(@text), pick(@text)) . ")"; }
	elsif ($f == 15) { $r = "SELECT medallion.advance_watermark(" . args(pick(@text), pick(@text), pick(@markval), pick(@text), pick(@bool)) . ")"; }
	elsif ($f == 16) { $r = "SELECT medallion.is_late(" . args(pick(@text), pick(@text), pick(@timestamptz)) . ")"; }
	elsif ($f == 17 || $f == 18 || $f == 19) {
		my @a = (pick(@targets), pick(@source), pick(@textarr), pick(@textarr));
		push @a, "delete_when => " . pick(@rule) if chance(0.5);
		push @a, "truncate_when => " . pick(@rule) if chance(0.3);
		push @a, "columns => " . pick(@textarr) if chance(0.2);
		push @a, "except_columns => " . pick(@textarr) if chance(0.3);
		push @a, "ignore_null_updates => " . pick(@bool) if chance(0.3);
		push @a, "scd_type => " . pick(@scd) if chance(0.5);
		push @a, "track_history_columns => " . pick(@textarr) if chance(0.3);
		$r = "SELECT * FROM medallion.apply_changes(" . args(@a) . ")";
		$r = "SET LOCAL pg_medallion.merge_streaming = off; $r" if chance(0.3);
		$r = "BEGIN; $r; " . pick("COMMIT", "ROLLBACK") . ";" if $r =~ /SET LOCAL/ || chance(0.3);
	}
	elsif ($f == 20) { $r = "SELECT medallion.drop_merge_state(" . pick(@targets) . ")"; }
	elsif ($f == 21) { $r = "SELECT * FROM medallion.vacuum(" . args(pick(@regclass), pick(@interval), pick(@bool), pick(@bool)) . ")"; }
	elsif ($f == 22) { $r = "SELECT medallion.set_retention(" . args(pick(@regclass, @targets), pick(@interval)) . ")"; }
	elsif ($f == 23) {
		my $row = pick("NULL::fz.orders", "NULL::fz.events", "NULL::fz.parts", "NULL::fz.parts_1", "NULL::fz.orders_view",
			q{NULL::"Sales ""EU"""."we""ird; name"}, "NULL::medallion.tick", "NULL::medallion_changes.orders", "NULL::int",
			"(SELECT o FROM fz.orders o LIMIT 1)", "NULL::fz.plain", "NULL::fz.silver_orders", "NULL::tmp1", "NULL::fz.t_tmp");
		my $v = chance(0.7) ? pick(@bigint) : "(" . pick(@timestamptz) . ")::timestamptz";
		$r = "SELECT * FROM medallion.as_of($row, $v) LIMIT 5";
	}
	elsif ($f == 24) { $r = "SELECT * FROM medallion.restore(" . args(pick(@regclass), pick(@bigint)) . ")";
		$r = "BEGIN; $r; ROLLBACK;" if chance(0.7); }
	elsif ($f == 25) { $r = "SELECT * FROM medallion.pull(" . pick(@bigint) . ")"; }
	elsif ($f == 26) { $r = "SELECT medallion.oldest_unpulled_commit()"; }
	elsif ($f == 27) {
		my $rd = pick(@readers);
		my $k = int(rand(4));
		if ($k == 0) { $r = "SELECT * FROM $rd(" . args(pick(@bigint), pick(@bigint)) . ") LIMIT 5"; }
		elsif ($k == 1) { $r = "SELECT * FROM $rd(" . args("(" . pick(@timestamptz) . ")::timestamptz", "(" . pick(@timestamptz) . ")::timestamptz") . ") LIMIT 5"; }
		else { $r = "SELECT * FROM $rd(" . args(pick(@consumer) . "::text", pick(@int), pick(@bool), pick(@bool), pick(@bool)) . ") LIMIT 5"; }
	}
	elsif ($f == 28) { $r = "SELECT * FROM medallion._changes(" . args(pick(@int, "(SELECT max(feed_id) FROM medallion.feed)"), pick(@bigint), pick(@bigint)) . ") AS c(" . coldefs() . ") LIMIT 5"; }
	elsif ($f == 29) { $r = "SELECT * FROM medallion._consume(" . args(pick(@int, "1", "1"), pick(@consumer), pick(@int), pick(@bool), pick(@bool), pick(@bool)) . ") AS c(" . coldefs() . ") LIMIT 5"; }
	elsif ($f == 30) {
		my $k = int(rand(7));
		if ($k == 0) { $r = "SELECT medallion._merge_tally(" . args(pick(@int), pick(@bigint)) . ")"; }
		elsif ($k == 1) { $r = "SELECT medallion._merge_stash(" . args(pick(@int), pick("NULL::record", "row(1)", "(SELECT o FROM fz.orders o LIMIT 1)")) . ")"; }
		elsif ($k == 2) { $r = "SELECT * FROM medallion._merge_stashed(" . pick(@int) . ") AS s(" . coldefs() . ")"; }
		elsif ($k == 3) { $r = "SELECT medallion._merge_ordinal()"; }
		else {
			my $wf = pick("_merge_place", "_merge_rank");
			my $a = pick("g", "g, NULL::int", "g::text, g", "NULL", "VARIADIC ARRAY[g, g]", "VARIADIC NULL::int[]",
				"VARIADIC '{}'::int[]", "g::numeric, 'a'::text COLLATE \"C\"", "row(g)", "ARRAY[g]", "g::jsonb::json", "point(g, g)",
				"(g % 2)::bool, g::float8 / 0.0", "'NaN'::float8, g");
			$r = "SELECT medallion.$wf($a) OVER (" . pick("", "ORDER BY g DESC", "PARTITION BY g % 2 ORDER BY g", "ROWS BETWEEN CURRENT ROW AND CURRENT ROW", "PARTITION BY g % 3 ORDER BY g % 2 DESC") . ") FROM generate_series(1, " . pick(1, 3, 10, 100) . ") g";
		}
	}
	elsif ($f == 31) { $r = pick("SELECT medallion._version_from_timestamp(", "SELECT medallion._version_to_timestamp(") . pick(@timestamptz) . ")"; }
	elsif ($f == 32) { $r = pick("SELECT medallion._feed_id(" . pick(@regclass) . ")", "SELECT medallion._external_mark(" . args(pick(@text), pick(@text)) . ")",
		"SELECT medallion._mark_less(" . args(pick(@kind), pick(@markval), pick(@markval)) . ")",
		"SELECT medallion._sync_partition_triggers()", "SELECT medallion._detach_dropped_feeds()",
		"SELECT * FROM medallion.logical_status", "SELECT * FROM medallion.consumers", "SELECT * FROM medallion.feeds",
		"SELECT medallion.resume_logical_feeds()", "SELECT medallion._tick()"); }
	elsif ($f == 33 || $f == 34) {
		my @flow = ("'fz_flow'", "'fz_flow2'", "NULL", "''", "repeat('f', 49)", "'x'' OR ''1''=''1'", "'flow:x'");
		my @a = (pick(@flow), pick(@regclass), pick(@targets, @regclass), pick(@textarr));
		push @a, "sequence_by => " . pick(@textarr) if chance(0.3);
		push @a, "transform => " . pick("NULL", "'SELECT * FROM batch'", "'SELECT order_id, status, _change_type, _commit_version, _change_seq FROM batch'",
			"'SELECT 1'", "'DELETE FROM fz.orders'", "'SELECT * FROM batch; DROP TABLE fz.orders'", "'SELECT amount::int FROM batch'",
			"'SELECT * FROM nope'", "'WITH x AS (SELECT * FROM batch) SELECT * FROM x'", "''") if chance(0.7);
		push @a, "scd_type => " . pick(@scd) if chance(0.3);
		push @a, "max_versions_per_run => " . pick(@int) if chance(0.3);
		push @a, "start => " . pick(@start) if chance(0.3);
		push @a, "on_schema_change => " . pick("NULL", "'fail'", "'ignore'", "''") if chance(0.2);
		$r = "SELECT medallion.create_flow(" . args(@a) . ")";
	}
	elsif ($f == 35) {
		my $fl = pick("'fz_flow'", "'fz_flow2'", "NULL", "'nope'");
		my $k = int(rand(8));
		if ($k == 0) { $r = "SELECT medallion.add_expectation(" . args($fl, pick(@text), pick("'amount > 0'", "'true'", "'1'", "NULL", "'x; DROP TABLE fz.orders'", "'status = ''new'''", "'nope > 1'"), pick("'warn'", "'drop'", "'quarantine'", "'fail'", "NULL", "'x'")) . ")"; }
		elsif ($k == 1) { $r = "SELECT medallion.drop_expectation(" . args($fl, pick(@text)) . ")"; }
		elsif ($k == 2) { $r = "SELECT * FROM medallion.replay_quarantine(" . args($fl, pick("NULL", "'true'", "'rule = ''x'''", "'1/0 = 1'", "''")) . ")"; }
		elsif ($k == 3) { $r = "SELECT * FROM medallion.flow_quarantine($fl)"; }
		elsif ($k == 4) { $r = "SELECT medallion.pause_flow(" . args($fl, pick(@bool)) . ")"; }
		elsif ($k == 5) { $r = "SELECT medallion.schedule_flow(" . args($fl, pick("'* * * * *'", "'continuous'", "NULL", "''")) . ")"; }
		elsif ($k == 6) { $r = "SELECT medallion.drop_flow($fl)"; }
		else { $r = "SELECT * FROM medallion.flows, medallion.runs, medallion.expectations LIMIT 3"; }
	}
	elsif ($f == 36) {
		$r = "SELECT * FROM medallion.run_flow(" . args(pick("'fz_flow'", "'fz_flow2'", "NULL", "'nope'"), pick(@bool)) . ")";
		$r = "BEGIN; $r; " . pick("COMMIT", "ROLLBACK") . ";" if chance(0.3);
	}
	else { $r = forge(); }
	return $r;
}

for my $i (1 .. $count) {
	my $s;
	my $p = rand();
	if ($p < 0.70) { $s = api_call(); }
	elsif ($p < 0.92) { $s = pick(@dml); }
	else { $s = forge(); }
	# Some calls inside a transaction with a savepoint, so errors meet subtransaction cleanup.
	if ($s !~ /^BEGIN/ && chance(0.1)) {
		$s = "BEGIN; SAVEPOINT a; $s; ROLLBACK TO a; " . api_call() . "; COMMIT;";
	}
	$s .= ";" unless $s =~ /;$/;
	$s =~ s/\n/ /g;
	print "$s\n";
}
