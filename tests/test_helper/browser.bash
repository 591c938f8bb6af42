# The browser driver (tests/browser/driver.mjs) for the Chromium tests: one
# node and one chromium for a whole file, since starting them takes seconds.
# It runs one scenario per request file and answers with a result file.
# Load after common.bash; set BROWSER_DIR, and SCENARIO_WAIT_S for scenarios
# that need longer than 60 s.
# shellcheck shell=bash

# browser_deps: Debian's chromium, and the pinned playwright-core (the lock
# file pins it; node_modules is not committed).
browser_deps() {
    [[ -x /usr/bin/chromium ]] || { echo "no /usr/bin/chromium: scripts/ensure-deps test installs it" >&2; return 1; }
    if [[ ! -d $BROWSER_DIR/node_modules/playwright-core ]]; then
        (cd "$BROWSER_DIR" && npm ci --no-audit --no-fund --prefer-offline) >&2
    fi
}

start_driver() {
    DRIVER_DIR=$BATS_FILE_TMPDIR/driver
    export DRIVER_DIR
    mkdir -p "$DRIVER_DIR"
    node "$BROWSER_DIR/driver.mjs" serve "$DRIVER_DIR" >"$DRIVER_DIR/driver.log" 2>&1 </dev/null 3>&- &
    echo $! >"$DRIVER_DIR/driver.pid"
    wait_until 60 driver_ready_or_gone
    [[ -f $DRIVER_DIR/ready ]] || { cat "$DRIVER_DIR/driver.log" >&2; return 1; }
}

driver_alive() {
    kill -0 "$(cat "$DRIVER_DIR/driver.pid")" 2>/dev/null
}

driver_ready_or_gone() {
    [[ -f $DRIVER_DIR/ready ]] || ! driver_alive
}

# SIGTERM: playwright closes chromium, then node exits.
stop_driver() {
    [[ -f ${DRIVER_DIR:-}/driver.pid ]] || return 0
    local pid
    pid=$(cat "$DRIVER_DIR/driver.pid")
    kill -TERM "$pid" 2>/dev/null || true
    wait_until 15 bash -c "! kill -0 $pid 2>/dev/null" || kill -KILL "$pid" 2>/dev/null || true
    rm -f "$DRIVER_DIR/driver.pid"
}

# request NAME [ARG]: asks the driver to run scenario NAME for this test.
request() {
    local file=$DRIVER_DIR/request-$BATS_TEST_NUMBER
    printf '%s %s\n' "$1" "${2:-}" >"$file.tmp"
    mv "$file.tmp" "$file"
}

result_or_driver_gone() {
    [[ -f $DRIVER_DIR/result-$BATS_TEST_NUMBER ]] || ! driver_alive
}

# result: waits (bounded) for this test's scenario to end; prints what it
# said; succeeds if it passed.
result() {
    local file=$DRIVER_DIR/result-$BATS_TEST_NUMBER
    wait_until "${SCENARIO_WAIT_S:-60}" result_or_driver_gone
    if [[ ! -f $file ]]; then
        echo "the browser driver stopped:"
        cat "$DRIVER_DIR/driver.log"
        return 1
    fi
    cat "$file"
    [[ $(head -c 3 "$file") == "ok " ]]
}

# scenario NAME [ARG]: runs one scenario from start to end.
scenario() {
    request "$@"
    run result
    assert_success
}
