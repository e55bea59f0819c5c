# Makefile for phantom (PGXS).
#
# Every .c file under src/ is part of the extension library; adding a file
# needs no change here.  Unit tests of the PostgreSQL-free parts (the Raft
# core and its simulator, the Raft log) build from regress/unit/Makefile.

EXTENSION = phantom
MODULE_big = phantom
DATA = $(wildcard sql/phantom--*.sql)
PGFILEDESC = "phantom - LSM table access method, Raft replication, sharding"

SRCS = $(sort $(wildcard src/*.c src/*/*.c))
OBJS = $(SRCS:.c=.o)

PG_CPPFLAGS = -I$(srcdir)/include -I$(libpq_srcdir)
# PGXS already passes PostgreSQL's warning flags; CI adds -Werror (make
# PROFILE=-Werror) so that a warning fails the build.
# libpq: table snapshots copy a leader's tables (src/replication/snapshot.c)
SHLIB_LINK = -lzstd -lpthread -lpq

PG_CONFIG ?= pg_config
PGXS := $(shell $(PG_CONFIG) --pgxs)
include $(PGXS)

# Header dependencies: PGXS tracks them only in servers configured with
# --enable-depend (Debian's is not), so a change to a struct in include/
# would leave stale objects with the old layout behind.  Each object also
# writes a .d file listing the headers it read; the bitcode (.bc) files
# PGXS builds for JIT follow their object.
%.o: %.c
	$(COMPILE.c) -MMD -MP -MF $(@:.o=.d) -o $@ $<
-include $(OBJS:.o=.d)
$(OBJS:.o=.bc): %.bc: %.o
EXTRA_CLEAN += $(OBJS:.o=.d)

# Unit tests that need no server (Raft core, simulator, log storage).
.PHONY: unit
unit:
	$(MAKE) -C regress/unit
