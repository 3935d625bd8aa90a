# pg_medallion: build with PGXS.  Tests: make installcheck, or test/run (see README.md).
EXTENSION = pg_medallion
MODULE_big = pg_medallion
# One folder per subsystem (src/*/README.md), layered without cycles: base <- capture <- clock <-
# logical <- feed; read, merge and retention sit on base and clock; init.c registers everything.
OBJS = src/settings.o src/init.o src/retention.o \
       src/base/objects.o src/base/result.o src/base/privilege.o src/base/spi.o src/base/catalog.o src/base/change_bell.o \
       src/clock/tick.o src/clock/ticker.o src/clock/version.o \
       src/capture/application.o src/capture/order_key.o src/capture/partition.o src/capture/capture.o \
       src/logical/decoder.o src/logical/slot.o src/logical/pull.o src/logical/puller.o src/logical/logical.o \
       src/feed/readers.o src/feed/schema_evolution.o src/feed/feed.o src/feed/event_trigger.o \
       src/read/net.o src/read/read.o src/read/consumer.o src/read/timetravel.o \
       src/merge/merge_spec.o src/merge/merge_exec.o src/merge/merge_sql.o src/merge/merge_place.o \
       src/flow/run_log.o src/flow/isolate.o src/flow/graph.o src/flow/flow.o src/flow/runner.o
# Shipped scripts never change; the current version's install script is built from extension/topics.
DATA = extension/pg_medallion--0.1.0.sql extension/pg_medallion--0.1.0--0.2.0.sql \
       extension/pg_medallion--0.2.0--0.3.0.sql extension/pg_medallion--0.3.0.sql \
       extension/pg_medallion--0.3.0--0.4.0.sql
DATA_built = extension/pg_medallion--0.4.0.sql
# Server headers as system headers: -Wextra then checks our code, not PostgreSQL's.  Unused
# parameters stay allowed: every SQL-callable function takes fcinfo whether it needs it or not.
PG_CPPFLAGS = -I$(srcdir)/src -isystem $(includedir_server) -Wall -Wextra -Werror -Wno-unused-parameter
# Only the SQL-callable functions, _PG_init, the output plugin and the background workers' entry points
# are exported (PostgreSQL 16 builds extensions this way): PGDLLEXPORT marks them, everything else is hidden.
PG_CPPFLAGS += -fvisibility=hidden -D'PGDLLEXPORT=__attribute__((visibility("default")))'

# Tests: make installcheck runs regress, isolation and TAP, each on temporary instances set up by
# tmp_pg.conf (test/pg_conf writes it).  A part: make installcheck REGRESS=merge ISOLATION= TAP_TESTS=
include test/schedule.mk
REGRESS = $(REGRESS_TESTS)
REGRESS_OPTS = --temp-instance=tmp_check --temp-config=tmp_pg.conf
ISOLATION = $(ISOLATION_TESTS)
ISOLATION_OPTS = --inputdir=test/isolation --temp-instance=tmp_check_iso --temp-config=tmp_pg.conf
TAP_TESTS = 1
PROVE_TESTS = test/t/*.pl
EXTRA_CLEAN = tmp_pg.conf

# JIT bitcode would need clang on every machine that builds us.
override with_llvm = no

PG_CONFIG ?= pg_config
PGXS := $(shell $(PG_CONFIG) --pgxs)
include $(PGXS)

# The install script of 0.4.0: the topic files in name order, behind the guard against psql \i.
SQL_TOPICS = $(sort $(wildcard $(srcdir)/extension/topics/*.sql))
extension/pg_medallion--0.4.0.sql: $(SQL_TOPICS)
	{ printf '%s\n' '-- pg_medallion 0.4.0, built by make from extension/topics/*.sql: edit those, not this file.' \
		'\echo Use "CREATE EXTENSION pg_medallion" to load this file. \quit'; \
	  for f in $(SQL_TOPICS); do printf '\n-- %s\n' "$${f##*/}"; cat "$$f"; done; } > $@

# Written anew for every run: the server in $(bindir) decides what it holds.
.PHONY: tmp_pg.conf
installcheck: tmp_pg.conf
tmp_pg.conf:
	test/pg_conf '$(bindir)' > $@
