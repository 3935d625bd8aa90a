# pg_medallion: build with PGXS.  Tests: test/run (see README.md).
EXTENSION = pg_medallion
MODULE_big = pg_medallion
OBJS = src/init.o src/catalog.o src/feed.o src/capture.o src/partition.o \
       src/version.o src/ticker.o src/read.o src/consumer.o src/net.o \
       src/merge.o src/merge_sql.o src/merge_place.o src/retention.o src/timetravel.o src/schema.o src/application.o src/decoder.o src/logical.o \
       src/pull.o src/puller.o src/slot.o src/order_key.o
# Shipped scripts never change; the current version's install script is built from extension/topics.
DATA = extension/pg_medallion--0.1.0.sql extension/pg_medallion--0.1.0--0.2.0.sql \
       extension/pg_medallion--0.2.0--0.3.0.sql
DATA_built = extension/pg_medallion--0.3.0.sql
# Server headers as system headers: -Wextra then checks our code, not PostgreSQL's.  Unused
# parameters stay allowed: every SQL-callable function takes fcinfo whether it needs it or not.
PG_CPPFLAGS = -I$(srcdir)/include -isystem $(includedir_server) -Wall -Wextra -Werror -Wno-unused-parameter

include test/schedule.mk
REGRESS = $(REGRESS_TESTS)
REGRESS_OPTS = --temp-instance=tmp_check --temp-config=test/pg.conf
ISOLATION = $(ISOLATION_TESTS)
ISOLATION_OPTS = --inputdir=test/isolation --temp-instance=tmp_check_iso --temp-config=test/pg.conf

# JIT bitcode would need clang on every machine that builds us.
override with_llvm = no

PG_CONFIG ?= pg_config
PGXS := $(shell $(PG_CONFIG) --pgxs)
include $(PGXS)

# The install script of 0.3.0: the topic files in name order, behind the guard against psql \i.
SQL_TOPICS = $(sort $(wildcard $(srcdir)/extension/topics/*.sql))
extension/pg_medallion--0.3.0.sql: $(SQL_TOPICS)
	{ printf '%s\n' '-- pg_medallion 0.3.0, built by make from extension/topics/*.sql: edit those, not this file.' \
		'\echo Use "CREATE EXTENSION pg_medallion" to load this file. \quit'; \
	  for f in $(SQL_TOPICS); do printf '\n-- %s\n' "$${f##*/}"; cat "$$f"; done; } > $@
