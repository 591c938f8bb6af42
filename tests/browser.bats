#!/usr/bin/env bats
# The page in www/ in a real browser: Debian's chromium, driven by npm
# playwright-core (tests/browser/), through the real nginx + worker. Each test
# runs one scenario of tests/browser/scenarios.mjs; a scenario that fails
# prints what it expected and what the page showed.

bats_require_minimum_version 1.5.0

load test_helper/common
load test_helper/browser

BROWSER_DIR=$ROOT/tests/browser
# chat is public, as in `make run`: the page's form publishes to it. A 2 s
# heartbeat puts a comment on a quiet stream soon enough for the wire view
# test; a 1 s retry: delay (3 s in the demo) shortens the restart tests.
WORKER_ARGS=(--public-topics chat --heartbeat 2 --retry 1000)

stack_for_file "${WORKER_ARGS[@]}"

before_stack_start() {
    browser_deps
}

after_stack_start() {
    start_driver
}

after_each_test() {
    # A test that failed half-way: let its scenario end before the next one.
    if [[ ! -f $DRIVER_DIR/result-$BATS_TEST_NUMBER && -n ${STEP_DIR:-} ]]; then
        touch "$STEP_DIR/abort"
        wait_until 60 result_or_driver_gone || true
    fi
    # A failed restart test may leave the worker stopped: the next test needs it.
    [[ -f $STACK_DIR/worker.pid ]] || start_worker "$STACK_DIR" "${WORKER_ARGS[@]}"
}

before_stack_stop() {
    stop_driver
}

# The restart scenarios take turns with the test, through files in STEP_DIR:
# the scenario writes one when it reached a step, the test writes one when it
# did its part.
start_scenario() {
    STEP_DIR=$BATS_TEST_TMPDIR/steps
    mkdir -p "$STEP_DIR"
    request "$1" "$STEP_DIR"
}

step_or_ended() {
    [[ -f $STEP_DIR/$1 ]] || result_or_driver_gone
}

# reached STEP: waits until the scenario got there (fails if it ended first).
reached() {
    wait_until 30 step_or_ended "$1"
    [[ -f $STEP_DIR/$1 ]] || { result; return 1; }
}

# tell STEP [TEXT]: lets the scenario go on.
tell() {
    printf '%s' "${2:-}" >"$STEP_DIR/$1.tmp"
    mv "$STEP_DIR/$1.tmp" "$STEP_DIR/$1"
}

# finish_scenario: waits for the scenario's end, like scenario does.
finish_scenario() {
    run result
    assert_success
}

http_code() {
    curl -s -o /dev/null -w '%{http_code}' --max-time 5 "$1" || true
}

nginx_answers() {
    [[ $(http_code "$BASE_URL/events") == "$1" ]]
}

# stop_worker_while_page_open: once the page shows events, stops the worker
# (it must exit cleanly) and waits until nginx answers 502 and the page has
# noticed the browser gave up.
stop_worker_while_page_open() {
    reached page-open
    stop_worker "$STACK_DIR"
    assert_equal "$(cat "$STACK_DIR/worker.exit")" 0
    wait_until 10 nginx_answers 502
    reached page-backing-off
}

# publish_three LABEL: three chat events; tells the scenario "ID<TAB>DATA" each.
publish_three() {
    local i id data lines=""
    for i in 1 2 3; do
        data="$1, event $i of 3"
        id=$(SSE_URL=$BASE_URL "$ROOT/scripts/publish" -t chat chat "$data")
        lines+="$id"$'\t'"$data"$'\n'
    done
    tell published "$lines"
}

# resumed_stream_logged ID: nginx logged a 200 stream that asked for
# ?lastEventId=ID. (nginx logs a request when it ends: here, once the
# scenario closed the browser.)
resumed_stream_logged() {
    grep -F "GET /events?topic=clock&topic=chat&lastEventId=$1 " "$STACK_DIR/nginx-access.log" | grep -q '" 200 '
}

# The page's own reconnect was a new EventSource with ?lastEventId= set to
# the last id it saw before the worker stopped.
page_resumed_with_its_last_id() {
    local last_id
    last_id=$(cat "$STEP_DIR/page-backing-off")
    [[ -n $last_id ]]
    wait_until 10 resumed_stream_logged "$last_id"
}

@test "the page opens, reaches OPEN and shows ticks arriving with increasing ids" {
    scenario opens
}

@test "the wire view shows the same frames the log shows as events, and heartbeats only on the wire" {
    scenario wire
}

@test "a message from scripts/publish and one from the form appear in two open pages" {
    scenario two-pages
}

@test "event data and types holding <script> or HTML show as text and run nothing" {
    scenario escaping
}

@test "the form shows the server's reason when a publish is refused" {
    scenario refused
}

@test "the log keeps 200 rows and the wire view 64 KiB however many events arrive" {
    scenario bounded
}

@test "after a worker restart the page reconnects by itself with its last id and shows 3 events published before it is back exactly once" {
    start_scenario restart-publish-first
    stop_worker_while_page_open
    start_worker "$STACK_DIR" "${WORKER_ARGS[@]}"
    publish_three "published while the page waits"
    finish_scenario
    page_resumed_with_its_last_id
}

@test "after a worker restart the page reconnects by itself and shows 3 events published once it is back exactly once" {
    start_scenario restart-reconnect-first
    stop_worker_while_page_open
    start_worker "$STACK_DIR" "${WORKER_ARGS[@]}"
    reached page-back
    publish_three "published after the page is back"
    finish_scenario
    page_resumed_with_its_last_id
}

@test "a screenshot of the page at work is saved for the README" {
    local png=${SCREENSHOT:-$ROOT/.build/browser/screenshot.png}
    mkdir -p "$(dirname "$png")"
    rm -f "$png"
    scenario screenshot "$png"
    # A PNG signature, then the IHDR chunk: 1200 x 800.
    run od -An -tx1 -N24 "$png"
    assert_output --partial "89 50 4e 47 0d 0a 1a 0a"
    assert_output --partial "00 00 04 b0 00 00 03 20"
    (($(stat -c %s "$png") < 300 * 1024))
}

@test "the page loads with no console error, no failed request and no request for /favicon.ico" {
    scenario quiet
    run grep -c 'GET /favicon.ico' "$STACK_DIR/nginx-access.log"
    assert_output 0
}

@test "the worker reported no memory error during the browser tests" {
    worker_log_clean "$STACK_DIR"
}
