# taskexecutord — GNU Makefile.
#   make            build daemon, tectl, library, tests
#   make test       unit (Check) + integration tests
#   make demo       start a daemon, run a word count through it, show the result
#   make bench      benchmarks (JSON lines)
#   make bench-instructions  instructions per record under callgrind (load-independent)
#   make sanitize   the test suite under ASan+UBSan, then TSan
#   make install    PREFIX=/usr/local DESTDIR=
#   make test-install  each package set of scripts/packages.txt on a fresh debootstrap

BUILD    ?= build
PREFIX   ?= /usr/local
PKGS     := libevent_core libevent_pthreads libevent_extra libevent_openssl libprotobuf-c jansson yaml-0.1 openssl \
            rocksdb
# The connectors' client libraries: only the te_connectors module links them (builtins.def).
CONNECTOR_PKGS := rdkafka libpq libmosquitto
VERSION  := 0.1.0

CC       ?= cc
CXX      ?= c++
OPT      ?= -O2 -g
WERROR   ?=
CFLAGS_ALL = -std=gnu11 $(OPT) -Wall -Wextra $(WERROR) -pthread -fno-strict-aliasing \
             -Ilib -Ilib/include -I$(BUILD)/gen -DTE_VERSION='"$(VERSION)"' $(SAN) $(EXTRA_CFLAGS)
PKG_CFLAGS = $(shell pkg-config --cflags $(PKGS) $(CONNECTOR_PKGS) 2>/dev/null)
PKG_LIBS   = $(shell pkg-config --libs $(PKGS) 2>/dev/null)
CONNECTOR_LIBS = $(shell pkg-config --libs $(CONNECTOR_PKGS) 2>/dev/null)
CHECK_CFLAGS = $(shell pkg-config --cflags check 2>/dev/null)
CHECK_LIBS   = $(shell pkg-config --libs check 2>/dev/null)
LDLIBS_BASE = $(PKG_LIBS) -lstdc++ -ldl -lm -pthread
LDLIBS_ALL = $(LDLIBS_BASE) $(SAN)

PROTOS    := proto/tdd.proto proto/rpc.proto
GEN_SRCS  := $(patsubst proto/%.proto,$(BUILD)/gen/%.pb-c.c,$(PROTOS))
GEN_HDRS  := $(GEN_SRCS:.c=.h)
# The connectors (and the stamp every module carries) are built into the te_connectors
# module, loaded on first use (lib/operators/builtin_module.c), not into libte.a: their
# client libraries doubled every program's start-up.
CONNECTOR_SRCS := $(addprefix lib/operators/,source_kafka.c sink_kafka.c source_postgres.c sink_postgres.c \
                    source_mqtt.c sink_mqtt.c connector_util.c)
MODULE_STAMP   := lib/operators/builtin_module_stamp.c
CONNECTORS_SO  := $(BUILD)/te_connectors.so
CONNECTORS_SO_OBJS := $(patsubst %.c,$(BUILD)/pic/%.o,$(CONNECTOR_SRCS) $(MODULE_STAMP) \
                        lib/operators/op_util.c lib/operators/op_keyed.c)
CONNECTOR_OBJS := $(patsubst %.c,$(BUILD)/obj/%.o,$(CONNECTOR_SRCS))
LIB_SRCS  ?= $(sort $(filter-out $(CONNECTOR_SRCS) $(MODULE_STAMP),$(shell find lib -name '*.c')))
# The C++ files: what RocksDB's C API lacks — its WriteBufferManager (lib/state/rocksdb_memory.cc),
# a FileSystem (lib/state/rocksdb_scratch_fs.cc), a flush that does not wait and the sequence
# numbers of live files (lib/state/rocksdb_capture.cc).
LIB_CXX_SRCS ?= $(sort $(shell find lib -name '*.cc'))
LIB_OBJS  := $(patsubst %.c,$(BUILD)/obj/%.o,$(LIB_SRCS)) $(patsubst %.cc,$(BUILD)/obj/%.o,$(LIB_CXX_SRCS)) \
             $(patsubst $(BUILD)/gen/%.c,$(BUILD)/obj/gen/%.o,$(GEN_SRCS))
UNIT_SRCS ?= $(sort $(wildcard test/unit/check_*.c))
UNIT_OBJS := $(patsubst %.c,$(BUILD)/obj/%.o,$(UNIT_SRCS))
PLUGIN_SRCS := $(wildcard test/plugins/*.c)
PLUGINS     := $(patsubst test/plugins/%.c,$(BUILD)/plugins/%.so,$(PLUGIN_SRCS))
# Test tools (test/tools/<name>.c -> $(BUILD)/<name>), e.g. kafka_mock_cluster.
TOOL_SRCS   := $(wildcard test/tools/*.c)
TOOLS       := $(patsubst test/tools/%.c,$(BUILD)/%,$(TOOL_SRCS))
TOOL_OBJS   := $(patsubst test/tools/%.c,$(BUILD)/obj/test/tools/%.o,$(TOOL_SRCS))
# Tools are test infrastructure (they stand in for external systems), not code under
# test: never built with sanitizers (librdkafka's mock cluster crashes under TSan).
$(TOOLS) $(TOOL_OBJS): override SAN =

DAEMON := $(BUILD)/taskexecutord
TECTL  := $(BUILD)/tectl
JOBMGR := $(BUILD)/tejobmanager
UNIT   := $(BUILD)/check_unit
LIBTE  := $(BUILD)/libte.a

.SECONDARY: $(GEN_SRCS) $(GEN_HDRS) $(BUILD)/gen/unit_suites.h $(TOOL_OBJS)
.PHONY: all deps print-libs print-cflags check-layers readme-keys test unit integration demo bench bench-instructions sanitize tsan asan clean install fuzz valgrind test-install
MAN_PAGES := $(BUILD)/man/taskexecutord.8 $(BUILD)/man/tectl.1 $(BUILD)/man/taskexecutor.yaml.5

# Debian packages: while the Makefile is read, before any rule runs (so `make -j` never
# starts protoc-c or cc before they are installed), scripts/install-deps.sh installs
# what is missing of the package sets (scripts/packages.txt) that the goals need:
# DEPS_<goal>, `build unit` for a goal not listed, `none` for none. Silent when nothing
# is missing. TE_NO_DEPS=1 skips it (a machine that is not Debian).
DEPS_all          := build unit
DEPS_demo         := build
DEPS_unit         := build unit
DEPS_integration  := build unit test
DEPS_test         := build unit test
DEPS_bench        := build unit bench
DEPS_bench-instructions := build unit bench valgrind
DEPS_asan         := build unit test sanitize
DEPS_tsan         := build unit test sanitize
DEPS_sanitize     := build unit test sanitize
DEPS_valgrind     := build unit test valgrind
DEPS_fuzz         := build fuzz
DEPS_test-install := install
DEPS_deps         := none
DEPS_check-layers := none
DEPS_clean        := none
DEPS_print-libs   := none
DEPS_print-cflags := none
DEPS_readme-keys  := build
DEPS_SETS := $(filter-out none,$(sort $(foreach g,$(or $(MAKECMDGOALS),all),$(or $(DEPS_$(g)),build unit))))
ifneq ($(DEPS_SETS),)
ifeq ($(findstring n,$(firstword -$(MAKEFLAGS)))$(TE_NO_DEPS),)
$(shell bash scripts/install-deps.sh $(DEPS_SETS) >&2)
ifneq ($(.SHELLSTATUS),0)
$(error scripts/install-deps.sh $(DEPS_SETS) failed (see above))
endif
endif
endif

all: $(DAEMON) $(JOBMGR) $(TECTL) $(CONNECTORS_SO) $(UNIT) $(PLUGINS) $(MAN_PAGES) $(TOOLS)

# Every package set at once (what `make` would install piecewise).
deps:
	bash scripts/install-deps.sh

$(BUILD)/gen/%.pb-c.c $(BUILD)/gen/%.pb-c.h: proto/%.proto
	@mkdir -p $(BUILD)/gen
	protoc-c --c_out=$(BUILD)/gen -Iproto $<

# Every object depends on the generated headers (they are small; keeps order simple).
$(BUILD)/obj/gen/%.o: $(BUILD)/gen/%.c $(GEN_HDRS)
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS_ALL) $(PKG_CFLAGS) -w -c $< -o $@

$(BUILD)/obj/%.o: %.c $(GEN_HDRS)
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS_ALL) $(PKG_CFLAGS) $(CHECK_CFLAGS) -MMD -MP -c $< -o $@

# UBSan's vptr check needs the C++ sanitizer runtime, which C programs do not link.
$(BUILD)/obj/%.o: %.cc
	@mkdir -p $(dir $@)
	$(CXX) -std=c++17 $(OPT) -Wall -Wextra $(WERROR) -pthread -Ilib -Ilib/include $(SAN) $(if $(findstring undefined,$(SAN)),-fno-sanitize=vptr) $(EXTRA_CFLAGS) -MMD -MP -c $< -o $@

# Position-independent objects for the modules.
$(BUILD)/pic/%.o: %.c $(GEN_HDRS)
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS_ALL) $(PKG_CFLAGS) -fPIC -MMD -MP -c $< -o $@

# Only the public operator ABI and libc inside: every symbol is resolved at link time
# (the sanitizers' runtime is the program's, so not under a sanitizer).
$(CONNECTORS_SO): $(CONNECTORS_SO_OBJS)
	$(CC) -shared $(if $(SAN),,-Wl,-z,defs) $^ -o $@ $(CONNECTOR_LIBS) -pthread $(SAN)

$(LIBTE): $(LIB_OBJS)
	@rm -f $@
	ar rcs $@ $^

$(DAEMON): $(BUILD)/obj/daemon/taskexecutord.o $(BUILD)/obj/daemon/daemon_cli.o $(LIBTE)
	$(CC) $^ -o $@ $(LDLIBS_ALL)

$(JOBMGR): $(BUILD)/obj/daemon/tejobmanager.o $(BUILD)/obj/daemon/daemon_cli.o $(LIBTE)
	$(CC) $^ -o $@ $(LDLIBS_ALL)

TECTL_OBJS := $(patsubst %.c,$(BUILD)/obj/%.o,$(wildcard daemon/tectl*.c))
$(TECTL): $(TECTL_OBJS) $(LIBTE)
	$(CC) $^ -o $@ $(LDLIBS_ALL)

# The unit runner: suites are discovered from file names (check_<name>.c exports
# Suite *<name>_suite(void)).
$(BUILD)/gen/unit_suites.h: $(UNIT_SRCS)
	@mkdir -p $(BUILD)/gen
	@{ for f in $(UNIT_SRCS); do n=$$(basename $$f .c); n=$${n#check_}; echo "SUITE($$n)"; done; } > $@.tmp
	@cmp -s $@.tmp $@ || mv $@.tmp $@; rm -f $@.tmp

$(BUILD)/obj/test/unit_main.o: test/unit_main.c $(BUILD)/gen/unit_suites.h
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS_ALL) $(CHECK_CFLAGS) -c $< -o $@

# Passing assertions cost no write to Check's runner (test/unit/unit_assert.h).
$(UNIT_OBJS): CHECK_CFLAGS += -include test/unit/unit_assert.h
$(UNIT_OBJS): test/unit/unit_assert.h

# check_connectors calls the connectors' helpers directly: their objects are linked in
# (the registry still loads the module, as the daemons do).
$(UNIT): $(BUILD)/obj/test/unit_main.o $(UNIT_OBJS) $(CONNECTOR_OBJS) $(LIBTE) | $(CONNECTORS_SO)
	$(CC) $(filter-out $(CONNECTORS_SO),$^) -o $@ $(CHECK_LIBS) $(LDLIBS_ALL) $(CONNECTOR_LIBS)

# Man pages: the key reference of taskexecutor.yaml(5) comes from the parser's table.
$(BUILD)/man/%: daemon/man/%.in daemon/man/gen-man.sh $(DAEMON)
	@mkdir -p $(BUILD)/man
	sh daemon/man/gen-man.sh $(DAEMON) $(VERSION) $< $@

$(BUILD)/bench_local_channel: $(BUILD)/obj/test/bench/bench_local_channel.o $(LIBTE)
	$(CC) $^ -o $@ $(LDLIBS_ALL)

$(BUILD)/bench_network: $(BUILD)/obj/test/bench/bench_network.o $(LIBTE)
	$(CC) $^ -o $@ $(LDLIBS_ALL)

$(BUILD)/bench_job_graph: $(BUILD)/obj/test/bench/bench_job_graph.o $(LIBTE)
	$(CC) $^ -o $@ $(LDLIBS_ALL)

$(BUILD)/bench_state: $(BUILD)/obj/test/bench/bench_state.o $(LIBTE)
	$(CC) $^ -o $@ $(LDLIBS_ALL)

$(TOOLS): $(BUILD)/%: $(BUILD)/obj/test/tools/%.o
	$(CC) $^ -o $@ $(LDLIBS_ALL) $(CONNECTOR_LIBS)

$(BUILD)/plugins/%.so: test/plugins/%.c lib/include/te/operator.h
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS_ALL) -fPIC -shared $< -o $@

unit: all
	$(UNIT)

integration: all
	bash test/integration/run.sh $(BUILD)

# README.md's configuration key table, regenerated from the parser's key table.
readme-keys: $(DAEMON)
	bash scripts/readme-keys.sh $(BUILD)

# The include graph stays inside DESIGN.md's layers (the allowed edges are listed in the script).
check-layers:
	bash scripts/check-layers.sh

test: all check-layers
	$(UNIT)
	bash test/integration/run.sh $(BUILD)

demo: $(DAEMON) $(JOBMGR) $(TECTL) $(CONNECTORS_SO)
	bash scripts/demo.sh $(BUILD)

bench: all $(BUILD)/bench_local_channel $(BUILD)/bench_network $(BUILD)/bench_job_graph $(BUILD)/bench_state
	bash scripts/bench.sh $(BUILD)

# Instructions per record counted by callgrind (repeatable on a loaded machine).
bench-instructions: all $(BUILD)/bench_local_channel $(BUILD)/bench_network
	bash scripts/bench_instructions.sh $(BUILD)

# ASan+UBSan build of everything, then the whole suite; then the same under TSan (one
# after the other even under `make -j`: each suite already runs two tests at a time).
# Check's per-test timeouts and the integration tests' (hang guards) scaled for the
# sanitizers' slowdown.
asan:
	CK_TIMEOUT_MULTIPLIER=3 TE_TEST_TIMEOUT=600 $(MAKE) BUILD=build-asan OPT="-O1 -g -fno-omit-frame-pointer" SAN="-fsanitize=address,undefined -fno-sanitize-recover=undefined" test
tsan:
	CK_TIMEOUT_MULTIPLIER=4 TE_TEST_TIMEOUT=600 $(MAKE) BUILD=build-tsan OPT="-O1 -g" SAN="-fsanitize=thread" test
sanitize:
	$(MAKE) asan
	$(MAKE) tsan

# The unit suites under valgrind (fork mode: children traced), then the integration
# tests in VALGRIND_TESTS with every daemon under valgrind (reports fail the test).
VALGRIND_TESTS ?= wordcount bad_rpc unknown_operator cancel plugin side_output
VG := valgrind --leak-check=full --errors-for-leak-kinds=definite,indirect --error-exitcode=9 --trace-children=yes --trace-children-skip=/bin/*,/usr/bin/* -q
valgrind: all
	$(VG) $(UNIT)
	for t in $(VALGRIND_TESTS); do TE_READY_TRIES=400 TE_DAEMON_WRAPPER="valgrind --leak-check=full --errors-for-leak-kinds=definite,indirect -q" ONLY=$$t bash test/integration/run.sh $(BUILD) || exit 1; done

# libFuzzer harnesses (clang), each run FUZZ_SECONDS (default 20) from test/fuzz/corpus.
fuzz:
	bash scripts/fuzz.sh

# The flags and libraries of the packages every program builds with (scripts/fuzz.sh
# builds its harnesses with them).
print-libs:
	@echo $(LDLIBS_BASE)
print-cflags:
	@echo $(PKG_CFLAGS)

# Each package set of scripts/packages.txt installed by scripts/install-deps.sh into a
# fresh debootstrap minbase chroot, as a user with sudo, with a terminal that never
# answers: fails on a prompt, a started or enabled service, or a missing package.
test-install:
	bash test/install/test_install_sets.sh

clean:
	rm -rf build build-asan build-tsan build-fuzz

install: all
	install -d $(DESTDIR)$(PREFIX)/bin $(DESTDIR)$(PREFIX)/sbin $(DESTDIR)$(PREFIX)/etc/taskexecutor
	install -m 0755 $(DAEMON) $(DESTDIR)$(PREFIX)/sbin/taskexecutord
	install -m 0755 $(JOBMGR) $(DESTDIR)$(PREFIX)/sbin/tejobmanager
	install -m 0755 $(TECTL) $(DESTDIR)$(PREFIX)/bin/tectl
	install -d $(DESTDIR)$(PREFIX)/lib/taskexecutord
	install -m 0644 $(CONNECTORS_SO) $(DESTDIR)$(PREFIX)/lib/taskexecutord/
	install -m 0644 conf/taskexecutor.yaml $(DESTDIR)$(PREFIX)/etc/taskexecutor/taskexecutor.yaml
	install -m 0644 conf/jobmanager.yaml $(DESTDIR)$(PREFIX)/etc/taskexecutor/jobmanager.yaml
	install -d $(DESTDIR)$(PREFIX)/share/man/man1 $(DESTDIR)$(PREFIX)/share/man/man5 $(DESTDIR)$(PREFIX)/share/man/man8
	install -m 0644 $(BUILD)/man/tectl.1 $(DESTDIR)$(PREFIX)/share/man/man1/
	install -m 0644 $(BUILD)/man/taskexecutor.yaml.5 $(DESTDIR)$(PREFIX)/share/man/man5/
	install -m 0644 $(BUILD)/man/taskexecutord.8 $(DESTDIR)$(PREFIX)/share/man/man8/
	install -d $(DESTDIR)$(PREFIX)/lib/systemd/system
	install -m 0644 conf/taskexecutord.service $(DESTDIR)$(PREFIX)/lib/systemd/system/taskexecutord.service
	install -m 0644 conf/tejobmanager.service $(DESTDIR)$(PREFIX)/lib/systemd/system/tejobmanager.service

-include $(shell find $(BUILD)/obj $(BUILD)/pic -name '*.d' 2>/dev/null)
