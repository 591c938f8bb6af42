# sse-worker: a FastCGI Server-Sent Events program, its nginx config and tests.
# `make run` serves the demo, `make test` runs every test, `make install`
# deploys under an existing nginx, `make test-docker` tests docker-compose.yml.
# See README.md.

# CFLAGS, CPPFLAGS and LDFLAGS are the builder's (a distribution passes its
# own); the flags the code needs are kept apart so they always apply.
CC      ?= cc
CFLAGS  ?= -O2 -g
# Warnings fail the build in `make test` (and so in CI), which sets
# WERROR=-Werror; a distribution's newer compiler may warn where ours does
# not, and that should not stop its build.
WERROR  ?=
WARN     = -Wall -Wextra -Wpedantic $(WERROR)
STD      = -std=c11 -D_POSIX_C_SOURCE=200809L
LDLIBS   = -lfcgi -lpthread
SANITIZE = -fsanitize=address,undefined -fno-sanitize-recover=all -fno-omit-frame-pointer

PORT    ?= 8080
BUILD    = .build
WORKER   = $(BUILD)/sse-worker

SRC  = $(wildcard cgi/*.c)
OBJ  = $(SRC:cgi/%.c=$(BUILD)/%.o)
AOBJ = $(SRC:cgi/%.c=$(BUILD)/asan/%.o)
# Every module but main(), with the sanitizers: what the unit tests link.
ALIB = $(BUILD)/asan/libsse.a
UNIT = $(patsubst tests/unit/%.c,$(BUILD)/unit/%,$(wildcard tests/unit/test_*.c))

# `make install` (README, "Add SSE to your nginx"). nginx and systemd only
# look in their own folders, so those two do not follow PREFIX by default.
PREFIX       ?= /usr/local
BINDIR       ?= $(PREFIX)/bin
DATADIR      ?= $(PREFIX)/share/sse-worker
UNITDIR      ?= $(PREFIX)/lib/systemd/system
NGINXCONFDIR ?= /etc/nginx
# Only named in the service unit (its optional EnvironmentFile); not installed.
SYSCONFDIR   ?= /etc
WWW          = $(wildcard www/*)

.PHONY: all run test test-docker build-deps install uninstall clean bench bench-quick bench-deps \
	bench-redis bench-redis-quick

all: $(WORKER)

# Says which packages are missing, and stops, before the first compile. A
# plain `make` installs nothing; `make run` and `make test` do (ensure-deps).
build-deps:
	@scripts/ensure-deps --check build

$(BUILD)/%.o: cgi/%.c cgi/*.h Makefile | build-deps
	@mkdir -p $(@D)
	$(CC) $(CPPFLAGS) $(STD) $(WARN) $(CFLAGS) -c -o $@ $<

$(WORKER): $(OBJ)
	$(CC) $(CFLAGS) $(LDFLAGS) -o $@ $(OBJ) $(LDLIBS)

# The same worker with AddressSanitizer and UBSan: the integration tests run
# this one, so any memory error or leak fails them. ASan frames are bigger.
$(BUILD)/asan/%.o: cgi/%.c cgi/*.h Makefile | build-deps
	@mkdir -p $(@D)
	$(CC) $(CPPFLAGS) $(STD) $(WARN) -O1 -g $(SANITIZE) -DREQUEST_STACK_KIB=256 -c -o $@ $<

$(BUILD)/asan/sse-worker: $(AOBJ)
	$(CC) $(SANITIZE) $(LDFLAGS) -o $@ $(AOBJ) $(LDLIBS)

$(ALIB): $(filter-out $(BUILD)/asan/main.o,$(AOBJ))
	rm -f $@
	$(AR) rcs $@ $^

# C unit tests, one program per module, with the sanitizers on. Each links
# the archive, so it gets only the objects it uses, compiled once.
$(BUILD)/unit/test_%: tests/unit/test_%.c tests/unit/tap.h cgi/*.h $(ALIB)
	@mkdir -p $(@D)
	$(CC) $(CPPFLAGS) $(STD) $(WARN) -O1 -g $(SANITIZE) -Icgi $(LDFLAGS) -o $@ $< $(ALIB) $(LDLIBS)

# WORKERS=N (N > 1): N workers behind one nginx upstream, sharing the log
# of a redis-server the demo starts (README, "Scaling out"). `exec`: the
# shell make starts becomes run-demo, so a SIGTERM to make (which passes it
# to its child) or to that child stops everything, never leaving it behind.
WORKERS ?= 1
run:
	@scripts/ensure-deps run
	@if [ "$(WORKERS)" != 1 ]; then scripts/ensure-deps scaleout; fi
	@$(MAKE) --no-print-directory $(WORKER)
	@PORT=$(PORT) WORKERS=$(WORKERS) exec scripts/run-demo $(WORKER)

test:
	@scripts/ensure-deps test
	@$(MAKE) --no-print-directory WERROR=-Werror $(WORKER) $(BUILD)/asan/sse-worker $(UNIT) \
		$(BUILD)/tsan/sse-worker $(TSAN_UNIT) $(BUILD)/bench/sse-parse-test
	@scripts/run-tests

# Builds both images and runs docker-compose.yml for real against a Docker
# engine it starts (slow: a few minutes); not part of `make test`.
test-docker:
	@scripts/test-docker

# The worker, the page, the nginx snippets (upstream into conf.d, which
# Debian's nginx.conf includes in http { }; locations into snippets/, for
# your server { }) and the systemd units, the service written for BINDIR.
install: $(WORKER)
	install -d $(DESTDIR)$(BINDIR) $(DESTDIR)$(DATADIR)/www \
		$(DESTDIR)$(NGINXCONFDIR)/conf.d $(DESTDIR)$(NGINXCONFDIR)/snippets \
		$(DESTDIR)$(UNITDIR)
	install -m 0755 $(WORKER) $(DESTDIR)$(BINDIR)/sse-worker
	install -m 0644 $(WWW) $(DESTDIR)$(DATADIR)/www/
	install -m 0644 conf/sse-upstream.conf $(DESTDIR)$(NGINXCONFDIR)/conf.d/sse-upstream.conf
	install -m 0644 conf/sse-locations.conf $(DESTDIR)$(NGINXCONFDIR)/snippets/sse-locations.conf
	install -m 0644 conf/systemd/sse-worker.socket $(DESTDIR)$(UNITDIR)/sse-worker.socket
	sed -e 's|@BINDIR@|$(BINDIR)|g' -e 's|@SYSCONFDIR@|$(SYSCONFDIR)|g' \
		conf/systemd/sse-worker.service.in >$(DESTDIR)$(UNITDIR)/sse-worker.service
	chmod 0644 $(DESTDIR)$(UNITDIR)/sse-worker.service

# Removes exactly what `make install` put there (same variables).
uninstall:
	rm -f $(DESTDIR)$(BINDIR)/sse-worker \
		$(addprefix $(DESTDIR)$(DATADIR)/www/,$(notdir $(WWW))) \
		$(DESTDIR)$(NGINXCONFDIR)/conf.d/sse-upstream.conf \
		$(DESTDIR)$(NGINXCONFDIR)/snippets/sse-locations.conf \
		$(DESTDIR)$(UNITDIR)/sse-worker.socket $(DESTDIR)$(UNITDIR)/sse-worker.service
	rmdir $(DESTDIR)$(DATADIR)/www $(DESTDIR)$(DATADIR) 2>/dev/null || true

# ---- Benchmark: tests/bench/, see README "Benchmark" -----------------------
# The load client is a program of its own (libc only, no libfcgi): it opens
# thousands of SSE subscriptions, publishes timestamped events and reports
# latency, losses and memory. `make bench` runs every scenario against this
# project and against nginx + nchan (4 to 7 minutes, heavy: not on a busy
# machine) and writes tests/bench/results.md and its chart results.svg
# (gnuplot); `make bench-quick` runs 1,000 subscribers for a few seconds.
# Neither is part of `make test`. tests/bench/device-run: the many-core run.
BENCH     = $(BUILD)/bench
BENCH_SRC = tests/bench/sse-load.c tests/bench/http-sse.c tests/bench/latency.c
BENCH_HDR = tests/bench/http-sse.h tests/bench/latency.h

$(BENCH)/sse-load: $(BENCH_SRC) $(BENCH_HDR) Makefile
	@mkdir -p $(@D)
	$(CC) $(CPPFLAGS) -std=c11 $(WARN) $(CFLAGS) $(LDFLAGS) -o $@ $(BENCH_SRC)

# The second, independent latency measurement: a separate process with a
# few subscriptions of its own, timestamping each event at read().
PROBE_SRC = tests/bench/sse-probe.c tests/bench/http-sse.c tests/bench/latency.c
$(BENCH)/sse-probe: $(PROBE_SRC) $(BENCH_HDR) Makefile
	@mkdir -p $(@D)
	$(CC) -std=c11 $(WARN) $(CFLAGS) -o $@ $(PROBE_SRC)

# The client's HTTP/SSE parser fed in every slicing: a miscounting client
# would make every number in the table wrong.
$(BENCH)/sse-parse-test: tests/bench/sse-parse-test.c tests/bench/http-sse.c tests/bench/http-sse.h
	@mkdir -p $(@D)
	$(CC) $(CPPFLAGS) -std=c11 $(WARN) -O1 -g $(SANITIZE) $(LDFLAGS) -o $@ tests/bench/sse-parse-test.c tests/bench/http-sse.c

bench-deps:
	@scripts/ensure-deps bench

bench: bench-deps
	@$(MAKE) --no-print-directory $(WORKER) $(BENCH)/sse-load $(BENCH)/sse-probe $(BENCH)/sse-parse-test
	@$(BENCH)/sse-parse-test | tail -n 1
	@tests/bench/run-bench --out tests/bench/results.md

bench-quick: bench-deps
	@$(MAKE) --no-print-directory $(WORKER) $(BENCH)/sse-load $(BENCH)/sse-probe $(BENCH)/sse-parse-test
	@$(BENCH)/sse-parse-test | tail -n 1
	@tests/bench/run-bench --quick

# The Redis scenarios on their own (tests/bench/README.md, "Redis"): two
# workers sharing a redis-server's log against nchan in its Redis mode, and
# one worker against two. `make bench-redis` writes results-redis.md (and
# its chart); `make bench-redis-quick` (2,000 subscribers for 20 s) only
# prints its table.
bench-redis: bench-deps
	@scripts/ensure-deps bench-redis
	@$(MAKE) --no-print-directory $(WORKER) $(BENCH)/sse-load $(BENCH)/sse-probe $(BENCH)/sse-parse-test
	@$(BENCH)/sse-parse-test | tail -n 1
	@tests/bench/run-bench --redis --out tests/bench/results-redis.md

bench-redis-quick: bench-deps
	@scripts/ensure-deps bench-redis
	@$(MAKE) --no-print-directory $(WORKER) $(BENCH)/sse-load $(BENCH)/sse-probe $(BENCH)/sse-parse-test
	@$(BENCH)/sse-parse-test | tail -n 1
	@tests/bench/run-bench --redis --quick
# ---- end of benchmark -------------------------------------------------------

# ---- Private topics and JWTs (cgi/jwt_auth.c, cgi/access.c) ---------------
# libjwt checks a token's signature; jansson (which libjwt itself uses)
# reads its claims. Debian: libjwt-dev, libjansson-dev (scripts/ensure-deps).
LDLIBS += -ljwt -ljansson
# ---- end of private topics --------------------------------------------------

# ---- Shared event log (cgi/broker*.c, --redis) --------------------------------
# hiredis, the Redis client in C (its blocking API: one follower thread and
# one publish connection per worker). Debian: libhiredis-dev, always linked;
# Redis itself is only needed where --redis names one (tests: redis-server).
LDLIBS += -lhiredis
# ---- end of shared event log --------------------------------------------------

# ---- ThreadSanitizer: the worker's threads checked for data races ------------
# The same sources built with -fsanitize=thread: the hub and delivery unit
# tests, and tests/tsan.bats runs this worker under concurrent publishes, so a
# race between publishers and the delivery loops fails `make test`. libfcgi
# is not instrumented: TSan sees neither its reads nor its writes, only the
# pthread calls it makes, so it cannot report false races inside it and no
# suppressions are needed.
TSAN      = -fsanitize=thread -fno-omit-frame-pointer
TOBJ      = $(SRC:cgi/%.c=$(BUILD)/tsan/%.o)
TLIB      = $(BUILD)/tsan/libsse.a
TSAN_UNIT = $(patsubst tests/unit/%.c,$(BUILD)/tsan/unit/%,$(wildcard tests/unit/test_hub.c tests/unit/test_delivery.c))

$(BUILD)/tsan/%.o: cgi/%.c cgi/*.h Makefile | build-deps
	@mkdir -p $(@D)
	$(CC) $(CPPFLAGS) $(STD) $(WARN) -O1 -g $(TSAN) -DREQUEST_STACK_KIB=256 -c -o $@ $<

$(BUILD)/tsan/sse-worker: $(TOBJ)
	$(CC) $(TSAN) $(LDFLAGS) -o $@ $(TOBJ) $(LDLIBS)

$(TLIB): $(filter-out $(BUILD)/tsan/main.o,$(TOBJ))
	rm -f $@
	$(AR) rcs $@ $^

$(BUILD)/tsan/unit/test_%: tests/unit/test_%.c tests/unit/tap.h cgi/*.h $(TLIB)
	@mkdir -p $(@D)
	$(CC) $(CPPFLAGS) $(STD) $(WARN) -O1 -g $(TSAN) -Icgi $(LDFLAGS) -o $@ $< $(TLIB) $(LDLIBS)
# `make test` builds these too, and scripts/run-tests runs them.
# ---- end of ThreadSanitizer ---------------------------------------------------

# ---- Fuzzing: tests/fuzz/, see README "Fuzzing" ------------------------------
# libFuzzer harnesses, one per parser or encoder (tests/fuzz/fuzz_<name>.c),
# built with clang and ASan/UBSan against the worker's modules. `make fuzz`
# runs each in turn for FUZZ_SECONDS (FUZZ_NAMES picks some), growing a
# corpus in .build/fuzz/corpus from the seeds in tests/fuzz/corpus; `make
# test` runs each for a few seconds (scripts/run-tests). A failing input is
# saved in .build/fuzz/artifacts, never in the tree.
FUZZ_CC      ?= clang
FUZZ_SECONDS ?= 120
FUZZ_DIR      = $(BUILD)/fuzz
FUZZ_NAMES   ?= $(patsubst tests/fuzz/fuzz_%.c,%,$(wildcard tests/fuzz/fuzz_*.c))
FUZZ_FLAGS    = -O1 -g -fno-omit-frame-pointer -fno-sanitize-recover=all
FUZZ_OBJ      = $(patsubst cgi/%.c,$(FUZZ_DIR)/obj/%.o,$(filter-out cgi/main.c,$(SRC)))

.PHONY: fuzz fuzz-build fuzz-deps

fuzz-deps:
	@scripts/ensure-deps fuzz

# The modules carry coverage counters; an archive lets each harness link
# only the ones it uses.
$(FUZZ_DIR)/obj/%.o: cgi/%.c cgi/*.h Makefile | fuzz-deps
	@mkdir -p $(@D)
	$(FUZZ_CC) $(CPPFLAGS) $(STD) $(WARN) $(FUZZ_FLAGS) -fsanitize=fuzzer-no-link,address,undefined \
		-c -o $@ $<

$(FUZZ_DIR)/libsse.a: $(FUZZ_OBJ)
	rm -f $@
	$(AR) rcs $@ $^

$(FUZZ_DIR)/bin/%: tests/fuzz/fuzz_%.c tests/fuzz/*.h cgi/*.h $(FUZZ_DIR)/libsse.a
	@mkdir -p $(@D)
	$(FUZZ_CC) $(CPPFLAGS) $(STD) $(WARN) $(FUZZ_FLAGS) -fsanitize=fuzzer,address,undefined -Icgi \
		$(LDFLAGS) -o $@ $< $(FUZZ_DIR)/libsse.a $(LDLIBS)

fuzz-build: $(FUZZ_NAMES:%=$(FUZZ_DIR)/bin/%)

# `make test` runs the fuzzers briefly, so it builds them first, with
# warnings failing the build as everything else there.
test: WERROR = -Werror
test: fuzz-build

fuzz: fuzz-build
	@tests/fuzz/run-fuzzers $(FUZZ_SECONDS) $(FUZZ_NAMES)
# ---- end of fuzzing ---------------------------------------------------------

clean:
	rm -rf $(BUILD) .run
