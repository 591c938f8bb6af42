#!/usr/bin/env bats
# The page and the worker in Chromium at scale and across origins: 20 tabs
# over HTTP/2 (HTTPS with the test's own certificate, errors ignored for it),
# the 4th tab over HTTP/1.1, a page on another origin (--cors-origins), and a
# private topic with its token in a cookie (--private-topics). The scenarios
# are in tests/browser/at-scale.mjs, run by the same driver as browser.bats.

bats_require_minimum_version 1.5.0

load test_helper/common
load test_helper/tls

BROWSER_DIR=$ROOT/tests/browser
TOKEN=at-scale-token-0123456789
KEY=at-scale-jwt-key-0123456789abcdefghij

setup_file() {
    [[ -x /usr/bin/chromium ]] || { echo "no /usr/bin/chromium: scripts/ensure-deps test installs it" >&2; return 1; }
    if [[ ! -d $BROWSER_DIR/node_modules/playwright-core ]]; then
        (cd "$BROWSER_DIR" && npm ci --no-audit --no-fund --prefer-offline) >&2
    fi
    # The other origin's page: http://127.0.0.1:CROSS_PORT is listed, the
    # same page as http://localhost:CROSS_PORT is not.
    CROSS_PORT=$("$ROOT/scripts/free-port")
    export CROSS_PORT SSE_PUBLISH_TOKEN=$TOKEN SSE_JWT_KEY=$KEY JWT_KEY=$KEY
    start_tls_stack --public-topics chat --private-topics orders --heartbeat 2 --retry 1000 \
        --cors-origins "http://127.0.0.1:$CROSS_PORT"
    start_driver
}

teardown_file() {
    stop_driver
    stop_stack
}

# The browser driver, as in browser.bats: one node and one chromium for the
# file, one scenario per request file, answered with a result file.
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

stop_driver() {
    [[ -f ${DRIVER_DIR:-}/driver.pid ]] || return 0
    local pid
    pid=$(cat "$DRIVER_DIR/driver.pid")
    kill -TERM "$pid" 2>/dev/null || true
    wait_until 15 bash -c "! kill -0 $pid 2>/dev/null" || kill -KILL "$pid" 2>/dev/null || true
    rm -f "$DRIVER_DIR/driver.pid"
}

result_or_driver_gone() {
    [[ -f $DRIVER_DIR/result-$BATS_TEST_NUMBER ]] || ! driver_alive
}

result() {
    local file=$DRIVER_DIR/result-$BATS_TEST_NUMBER
    wait_until 150 result_or_driver_gone
    if [[ ! -f $file ]]; then
        echo "the browser driver stopped:"
        cat "$DRIVER_DIR/driver.log"
        return 1
    fi
    cat "$file"
    [[ $(head -c 3 "$file") == "ok " ]]
}

# scenario NAME: runs one scenario of at-scale.mjs from start to end.
scenario() {
    local file=$DRIVER_DIR/request-$BATS_TEST_NUMBER
    printf '%s\n' "$1" >"$file.tmp"
    mv "$file.tmp" "$file"
    run result
    assert_success
}

# h2_streams_logged N: nginx logged at least N streams served over HTTP/2.
h2_streams_logged() {
    (($(grep -c '"GET /events?[^"]* HTTP/2.0" 200 ' "$STACK_DIR/nginx-access.log") >= $1))
}

@test "20 tabs of the page over HTTP/2 are all OPEN and all show the one event published" {
    scenario tabs-h2
    # 20 EventSources and 20 wire views, all on HTTP/2 (nginx logs each
    # stream once it ends: when the scenario closed the tabs).
    wait_until 15 h2_streams_logged 40
}

@test "over HTTP/1.1 the 4th tab says it waits for one of the browser's 6 connections, links to HTTPS, and opens once a tab closes" {
    scenario fourth-tab-h1
}

@test "a page on a listed origin subscribes with its cookie and publishes; on an origin not listed the browser blocks both" {
    scenario cross-origin
}

@test "the page streams a private topic once the mercureAuthorization cookie holds a token for it" {
    scenario private-cookie
}

@test "the worker reported no memory error during the browser tests at scale" {
    stop_worker "$STACK_DIR"
    worker_log_clean "$STACK_DIR"
}
