#!/bin/bash
# Fuzz pg_medallion as a non-superuser against a running server; fails on any backend crash.
#
#   test/fuzz/sqlsmith.sh [--host DIR] [--port N] [--bindir DIR] [--log FILE] [--queries N] [--seed N]
#
# Defaults come from the environment: PGHOST, PGPORT, PG_BINDIR (else pg_config --bindir, else PATH),
# FUZZ_LOG (the server log; else pg_current_logfile() when logging_collector is on), FUZZ_QUERIES
# (sqlsmith queries, default 6000: about a minute with phase 2 on 2 cores), FUZZ_CALLS (phase 2
# calls, default FUZZ_QUERIES), FUZZ_SEED (default 1), FUZZ_DB (default fuzz, dropped and recreated).
# Longer run:  FUZZ_QUERIES=100000 FUZZ_SEED=$RANDOM test/fuzz/sqlsmith.sh --log /path/to/server.log
#
# What it does:
#   setup    database $FUZZ_DB built by setup.sql as the superuser: fed tables (trigger feeds, one
#            partitioned, NULLs, text, jsonb, numeric, a domain, an enum, a hostile name), consumers,
#            SCD1 and SCD2 merge targets applied (tombstones, history), closed versions, a dropped
#            fed table, a disabled feed; role fuzzer (LOGIN, owns some of it, nothing special).
#   phase 1  sqlsmith --seed --max-queries as fuzzer, limited to $FUZZ_DB. sqlsmith only calls
#            functions that return one value (no set-returning ones), so it reaches few medallion
#            functions; it mostly exercises the catalog, views and event triggers around them.
#   phase 2  gen_calls.pl: a seeded generator calling every medallion function (public and
#            internal) with NULLs, huge and negative values, dropped, renamed and wrong-kind
#            objects, hostile identifiers, forged capture triggers, DDL and DML on fed tables.
#   check    the server log written during the run: "terminated by signal", "server process ...
#            was terminated", PANIC. Prints one summary line; exits 1 on a crash, 2 on a setup error.
set -u

host=${PGHOST:-/tmp}
port=${PGPORT:-5432}
bindir=${PG_BINDIR:-}
logfile=${FUZZ_LOG:-}
queries=${FUZZ_QUERIES:-6000}
calls=${FUZZ_CALLS:-}
seed=${FUZZ_SEED:-1}
db=${FUZZ_DB:-fuzz}
superuser=${PGUSER:-postgres}
while [ $# -gt 0 ]; do
	case "$1" in
		--host) host=$2; shift 2 ;;
		--port) port=$2; shift 2 ;;
		--bindir) bindir=$2; shift 2 ;;
		--log) logfile=$2; shift 2 ;;
		--queries) queries=$2; shift 2 ;;
		--calls) calls=$2; shift 2 ;;
		--seed) seed=$2; shift 2 ;;
		--db) db=$2; shift 2 ;;
		--user) superuser=$2; shift 2 ;;
		-h|--help) sed -n '2,25p' "$0"; exit 0 ;;
		*) echo "sqlsmith.sh: unknown argument $1" >&2; exit 2 ;;
	esac
done
calls=${calls:-$queries}
here=$(cd "$(dirname "$0")" && pwd)
if [ -z "$bindir" ]; then
	bindir=$(pg_config --bindir 2>/dev/null || dirname "$(command -v psql)")
fi
psql="$bindir/psql"
sqlsmith=${SQLSMITH:-$(command -v sqlsmith || echo /usr/bin/sqlsmith)}
work=${FUZZ_WORKDIR:-$(mktemp -d /tmp/medallion_fuzz.XXXXXX)}
mkdir -p "$work"
su_conn=(-h "$host" -p "$port" -U "$superuser" -X -q)

die() { echo "sqlsmith.sh: $*" >&2; exit 2; }
[ -x "$psql" ] || die "no psql in $bindir"
[ -x "$sqlsmith" ] || die "sqlsmith is not installed (apt-get install sqlsmith)"

wait_ready() {
	local i
	for i in $(seq 1 120); do
		"$bindir/pg_isready" -q -h "$host" -p "$port" && "$psql" "${su_conn[@]}" -d postgres -c 'SELECT 1' >/dev/null 2>&1 && return 0
		sleep 1
	done
	die "server at $host:$port is not ready"
}
wait_ready

if [ -z "$logfile" ]; then
	logfile=$("$psql" "${su_conn[@]}" -d postgres -Atc "SELECT CASE WHEN pg_current_logfile() IS NOT NULL THEN current_setting('data_directory') || '/' || pg_current_logfile() END")
fi
[ -n "$logfile" ] && [ -r "$logfile" ] || die "cannot read the server log; pass --log FILE or set FUZZ_LOG"
log_start=$(($(stat -c %s "$logfile") + 1))

# --- setup ---------------------------------------------------------------------------------
"$psql" "${su_conn[@]}" -d postgres -c "DROP DATABASE IF EXISTS $db" -c "CREATE DATABASE $db" >/dev/null 2>"$work/setup.err" \
	|| { cat "$work/setup.err" >&2; die "could not create database $db"; }
"$psql" "${su_conn[@]}" -d "$db" -v ON_ERROR_STOP=1 -f "$here/setup.sql" >"$work/setup.out" 2>"$work/setup.err" \
	|| { cat "$work/setup.err" >&2; die "setup.sql failed"; }
# fuzzer sees only this database: no CONNECT elsewhere through PUBLIC is needed for sqlsmith's
# --target, which names the database; it cannot change databases within a connection anyway.
start=$(date +%s)

# Statements hang neither phase: sqlsmith sets its own statement_timeout; phase 2 gets one here.
export PGOPTIONS="-c statement_timeout=5s -c lock_timeout=2s -c idle_in_transaction_session_timeout=10s"

# --- phase 1: sqlsmith ---------------------------------------------------------------------
target="host=$host port=$port dbname=$db user=fuzzer application_name=sqlsmith"
smith_rc=0
if [ "$queries" -gt 0 ]; then	# 0: generated calls only
	"$sqlsmith" --target="$target" --seed="$seed" --max-queries="$queries" --verbose \
		>"$work/sqlsmith.out" 2>"$work/sqlsmith.err"
	smith_rc=$?
fi
if [ $smith_rc -ne 0 ]; then
	# sqlsmith stops when the server goes away; wait for the restart and go on to phase 2.
	wait_ready
fi
t1=$(date +%s)
log_mid=$(($(stat -c %s "$logfile") + 1))

# --- phase 2: generated calls of every medallion function ----------------------------------
perl "$here/gen_calls.pl" "$seed" "$calls" >"$work/calls.sql"
split -l 200 -d -a 4 "$work/calls.sql" "$work/calls_chunk_"
lost=0
for chunk in "$work"/calls_chunk_*; do
	PGAPPNAME=medallion_fuzz "$psql" -h "$host" -p "$port" -U fuzzer -d "$db" -X -q -v VERBOSITY=verbose -f "$chunk" \
		>>"$work/calls.out" 2>>"$work/calls.err"
	rc=$?
	if [ $rc -eq 2 ]; then
		lost=$((lost + 1))
		sleep 2
		wait_ready
	fi
done
t2=$(date +%s)

# --- check -----------------------------------------------------------------------------------
tail -c +"$log_start" "$logfile" >"$work/server.log"
crashes=$(grep -cE 'terminated by signal|server process .* was terminated|PANIC' "$work/server.log")
smith_errors=$(head -c $((log_mid - log_start)) "$work/server.log" | grep -c 'ERROR:')
calls_errors=$(grep -c '^psql:.*ERROR:' "$work/calls.err")
internal=$(grep -c 'ERROR:  XX000' "$work/calls.err")
if [ "$crashes" -gt 0 ]; then
	echo "--- crashes (server log; the statement follows each) ---"
	grep -E -A1 'terminated by signal|server process .* was terminated|PANIC' "$work/server.log" | head -60
fi
if [ "$internal" -gt 0 ]; then
	echo "--- internal errors (XX000) of generated calls ---"
	grep 'ERROR:  XX000' "$work/calls.err" | sed 's/^psql:[^ ]* //' | sort | uniq -c | sort -rn | head -20
fi
echo "fuzz: seed $seed; sqlsmith: $queries queries, $smith_errors errors, $((t1 - start)) s (exit $smith_rc);" \
	"generated calls: $calls, $calls_errors errors ($internal XX000), $((t2 - t1)) s, $lost lost connections;" \
	"crashes: $crashes; details in $work"
[ "$crashes" -eq 0 ] || exit 1
exit 0
