# sse-worker: a FastCGI Server-Sent Events program, its nginx config and tests.
# `make run` serves the demo, `make test` runs every test, `make install`
# deploys under an existing nginx, `make test-docker` tests docker-compose.yml.
# See README.md.

CC      ?= cc
CFLAGS  ?= -O2 -g
WARN     = -Wall -Wextra -Wpedantic -Werror
STD      = -std=c11 -D_POSIX_C_SOURCE=200809L
LDLIBS   = -lfcgi -lpthread
SANITIZE = -fsanitize=address,undefined -fno-sanitize-recover=all -fno-omit-frame-pointer

PORT    ?= 8080
BUILD    = .build
WORKER   = $(BUILD)/sse-worker

SRC  = $(wildcard cgi/*.c)
LIB  = $(filter-out cgi/main.c,$(SRC))
OBJ  = $(SRC:cgi/%.c=$(BUILD)/%.o)
AOBJ = $(SRC:cgi/%.c=$(BUILD)/asan/%.o)
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

.PHONY: all run test test-docker build-deps install uninstall clean bench bench-quick bench-deps

all: $(WORKER)

# Names (or, as root, installs) missing packages before the first compile.
build-deps:
	@scripts/ensure-deps build

$(BUILD)/%.o: cgi/%.c cgi/*.h Makefile | build-deps
	@mkdir -p $(@D)
	$(CC) $(STD) $(WARN) $(CFLAGS) -c -o $@ $<

$(WORKER): $(OBJ)
	$(CC) $(CFLAGS) -o $@ $(OBJ) $(LDLIBS)

# The same worker with AddressSanitizer and UBSan: the integration tests run
# this one, so any memory error or leak fails them. ASan frames are bigger.
$(BUILD)/asan/%.o: cgi/%.c cgi/*.h Makefile | build-deps
	@mkdir -p $(@D)
	$(CC) $(STD) $(WARN) -O1 -g $(SANITIZE) -DREQUEST_STACK_KIB=256 -c -o $@ $<

$(BUILD)/asan/sse-worker: $(AOBJ)
	$(CC) $(SANITIZE) -o $@ $(AOBJ) $(LDLIBS)

# C unit tests, one program per module, with the sanitizers on.
$(BUILD)/unit/test_%: tests/unit/test_%.c tests/unit/tap.h $(LIB) cgi/*.h
	@mkdir -p $(@D)
	$(CC) $(STD) $(WARN) -O1 -g $(SANITIZE) -Icgi -o $@ $< $(LIB) $(LDLIBS)

run:
	@scripts/ensure-deps run
	@$(MAKE) --no-print-directory $(WORKER)
	@PORT=$(PORT) scripts/run-demo $(WORKER)

test:
	@scripts/ensure-deps test
	@$(MAKE) --no-print-directory $(WORKER) $(BUILD)/asan/sse-worker $(UNIT) \
		$(BUILD)/bench/sse-parse-test
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
	$(CC) -std=c11 $(WARN) $(CFLAGS) -o $@ $(BENCH_SRC)

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
	$(CC) -std=c11 $(WARN) -O1 -g $(SANITIZE) -o $@ tests/bench/sse-parse-test.c tests/bench/http-sse.c

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
# ---- end of benchmark -------------------------------------------------------

clean:
	rm -rf $(BUILD) .run
