# Gregor build. Plain GNU make; see docs/build.md.
#   make              release build: $(O)/gregor
#   make SAN=1        AddressSanitizer + UBSan build in build-san/
#   make unit         build and run the unit tests
#   make sim          the Raft simulator: $(O)/sim (tests/sim/README.md)
#   make soak         the simulator on tests/sim/seeds.txt and SOAK_SEEDS seeds, -j2
#   make fuzz         libFuzzer targets (clang) in build-fuzz/
#   make check-schema compare src/proto/kafka.schema with Kafka's JSON
#                     definitions in $(KAFKA_PROTOCOL) (skipped if absent)
# Generated code (the protocol codecs) goes to $(O)/gen/.

SAN ?= 0
ifeq ($(SAN),1)
O ?= build-san
SANFLAGS := -fsanitize=address,undefined -fno-sanitize-recover=undefined -fno-omit-frame-pointer
OPT ?= -O1
else
O ?= build
SANFLAGS :=
OPT ?= -O2
endif

CC ?= cc
PYTHON ?= python3
CFLAGS := -std=c11 -D_GNU_SOURCE $(OPT) -g -Wall -Wextra -Werror -Wno-unused-parameter \
          -Wshadow -Wstrict-prototypes -pthread -Isrc -I$(O)/gen $(SANFLAGS) $(EXTRA_CFLAGS)
LDFLAGS := -pthread $(SANFLAGS)
# The codecs: the broker decompresses produced batches to validate them.
LDLIBS := -lz -llz4 -lzstd -lsnappy -lxxhash

GEN_H := $(O)/gen/kafka_msgs.h
GEN_C := $(O)/gen/kafka_msgs.c
GEN_TEST_C := $(O)/gen/kafka_msgs_test.c

TOOLS_SRC := $(wildcard src/tools/*.c)
LIB_SRC := $(filter-out src/server/main.c $(TOOLS_SRC),$(wildcard src/*/*.c))
TOOLS_OBJ := $(patsubst src/%.c,$(O)/obj/%.o,$(TOOLS_SRC))
LIB_OBJ := $(patsubst src/%.c,$(O)/obj/%.o,$(LIB_SRC)) $(O)/obj/gen/kafka_msgs.o
UNIT_SRC := $(wildcard tests/unit/test_*.c)
UNIT_BIN := $(patsubst tests/unit/%.c,$(O)/tests/%,$(UNIT_SRC))

all: $(O)/gregor

$(GEN_H) $(GEN_C) $(GEN_TEST_C) &: src/proto/kafka.schema src/proto/gen.py
	@mkdir -p $(O)/gen
	$(PYTHON) src/proto/gen.py src/proto/kafka.schema $(O)/gen

$(O)/obj/%.o: src/%.c $(GEN_H)
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) -MMD -MP -c $< -o $@

$(O)/obj/gen/kafka_msgs.o: $(GEN_C) $(GEN_H)
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) -c $< -o $@

# Test-only sample fillers, linked into the unit tests, not into the library.
$(O)/obj/gen/kafka_msgs_test.o: $(GEN_TEST_C) $(GEN_H)
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) -c $< -o $@

$(O)/libgregor.a: $(LIB_OBJ)
	rm -f $@
	ar rcs $@ $^

# The tools are clients on Debian's librdkafka; only the binary links it.
$(O)/gregor: $(O)/obj/server/main.o $(TOOLS_OBJ) $(O)/libgregor.a
	$(CC) $(LDFLAGS) -o $@ $^ -lrdkafka $(LDLIBS)

$(O)/tests/%: tests/unit/%.c tests/unit/check.h $(O)/libgregor.a $(O)/obj/gen/kafka_msgs_test.o
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) -Itests/unit -o $@ $< $(O)/obj/gen/kafka_msgs_test.o $(O)/libgregor.a $(LDFLAGS) $(LDLIBS)

# test_client starts a real server: the binary beside its directory.
$(O)/tests/test_client: $(O)/gregor

# The protocol version sweep, run by tests/integration/test_version_sweep.py
# (built with the unit tests, not run by them: it needs a broker).
$(O)/tests/sweep: tests/integration/sweep.c $(O)/libgregor.a
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) -o $@ $< $(O)/libgregor.a $(LDFLAGS) $(LDLIBS)

unit: $(UNIT_BIN) $(O)/tests/sweep
	@set -e; for t in $(UNIT_BIN); do echo "== $$t"; $$t; done

# The simulator: the Raft core (src/raft) with the controller and the
# metadata image (src/controller) as each node's state machine, from the
# library (the linker takes only what they need; --as-needed drops the
# codecs, whose loading would cost more than a whole run).
SOAK_SEEDS ?= 1000
$(O)/sim: tests/sim/sim.c $(O)/libgregor.a
	@mkdir -p $(O)
	$(CC) $(CFLAGS) -o $@ tests/sim/sim.c $(O)/libgregor.a $(LDFLAGS) -Wl,--as-needed $(LDLIBS)

$(O)/simrepl: tests/sim/repl.c $(O)/libgregor.a
	@mkdir -p $(O)
	$(CC) $(CFLAGS) -o $@ tests/sim/repl.c $(O)/libgregor.a $(LDFLAGS) -Wl,--as-needed $(LDLIBS)

sim: $(O)/sim $(O)/simrepl

soak: $(O)/sim $(O)/simrepl
	SIM=$(O)/sim tests/sim/soak $(SOAK_SEEDS) 2
	SIM=$(O)/simrepl SEEDS=tests/sim/seeds-repl.txt tests/sim/soak $(SOAK_SEEDS) 2

# libFuzzer targets: clang only.
FUZZ_SRC := $(wildcard tests/fuzz/fuzz_*.c)
fuzz:
	$(MAKE) O=build-fuzz CC=clang EXTRA_CFLAGS="-fsanitize=fuzzer-no-link,address,undefined" build-fuzz/libgregor.a
	@mkdir -p build-fuzz/fuzz
	@for f in $(FUZZ_SRC); do n=$$(basename $$f .c); \
	  echo "clang $$f -> build-fuzz/fuzz/$$n"; \
	  clang -std=c11 -D_GNU_SOURCE -g -O1 -Isrc -Ibuild-fuzz/gen -fsanitize=fuzzer,address,undefined \
	    -o build-fuzz/fuzz/$$n $$f build-fuzz/libgregor.a -pthread $(LDLIBS) || exit 1; done

# Kafka's message definitions: clients/ for the APIs, metadata/ and
# group-coordinator/ for the log records. shared/ sits beside the checkout.
KAFKA_PROTOCOL ?= ../shared/kafka-protocol
CHECK_SCHEMA := $(PYTHON) src/proto/gen.py --check-against $(KAFKA_PROTOCOL)/clients \
  $(KAFKA_PROTOCOL)/metadata $(KAFKA_PROTOCOL)/group-coordinator \
  $(KAFKA_PROTOCOL)/transaction-coordinator src/proto/kafka.schema
check-schema:
	@if [ -d $(KAFKA_PROTOCOL)/clients ]; then \
	  echo '$(CHECK_SCHEMA)'; $(CHECK_SCHEMA); \
	else \
	  echo "check-schema: $(KAFKA_PROTOCOL)/clients not found, skipped"; \
	fi

# docs/configuration.md is generated from the config tables.
docs: $(O)/gregor
	$(O)/gregor server --help-config=markdown > docs/configuration.md

check-docs: $(O)/gregor
	@$(O)/gregor server --help-config=markdown | diff -u docs/configuration.md - \
	  || { echo "docs/configuration.md is stale: run 'make docs'"; exit 1; }

clean:
	rm -rf build build-san build-fuzz

.PHONY: all unit sim soak fuzz check-schema clean docs check-docs
-include $(shell find $(O)/obj -name '*.d' 2>/dev/null)
