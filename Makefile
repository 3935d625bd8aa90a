# pg_medallion: build with PGXS.  Tests: make installcheck, or test/run (see README.md).
EXTENSION = pg_medallion
MODULE_big = pg_medallion
OBJS = src/init.o src/catalog.o src/feed.o src/capture.o src/partition.o \
       src/version.o src/ticker.o src/read.o src/consumer.o src/net.o \
       src/merge.o src/merge_sql.o src/merge_place.o src/retention.o src/timetravel.o src/schema.o src/application.o src/decoder.o src/logical.o \
       src/pull.o src/puller.o src/slot.o src/order_key.o
DATA = extension/pg_medallion--0.1.0.sql extension/pg_medallion--0.1.0--0.2.0.sql
# Server headers as system headers: -Wextra then checks our code, not PostgreSQL's.  Unused
# parameters stay allowed: every SQL-callable function takes fcinfo whether it needs it or not.
PG_CPPFLAGS = -I$(srcdir)/include -isystem $(includedir_server) -Wall -Wextra -Werror -Wno-unused-parameter

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

# Written anew for every run: the server in $(bindir) decides what it holds.
.PHONY: tmp_pg.conf
installcheck: tmp_pg.conf
tmp_pg.conf:
	test/pg_conf '$(bindir)' > $@
