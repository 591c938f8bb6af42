#!/usr/bin/env bats
# The page and the worker in Chromium at scale and across origins: 20 tabs
# over HTTP/2 (HTTPS with the test's own certificate, errors ignored for it),
# the 4th tab over HTTP/1.1, a page on another origin (--cors-origins), and a
# private topic with its token in a cookie (--private-topics). The scenarios
# are in tests/browser/at-scale.mjs, run by the same driver as browser.bats.

bats_require_minimum_version 1.5.0

load test_helper/common
load test_helper/browser
load test_helper/tls

BROWSER_DIR=$ROOT/tests/browser
# 20 tabs take a while on two cores.
SCENARIO_WAIT_S=150
TOKEN=at-scale-token-0123456789
KEY=at-scale-jwt-key-0123456789abcdefghij

# The other origin's page: http://127.0.0.1:CROSS_PORT is listed, the same
# page as http://localhost:CROSS_PORT is not. Chosen once, when setup_file
# sources this file; the tests inherit it from there.
: "${CROSS_PORT:=$("$ROOT/scripts/free-port")}"
export CROSS_PORT SSE_PUBLISH_TOKEN=$TOKEN SSE_JWT_KEY=$KEY JWT_KEY=$KEY
STACK_STARTER=start_tls_stack
stack_for_file --public-topics chat --private-topics orders --heartbeat 2 --retry 1000 \
    --cors-origins "http://127.0.0.1:$CROSS_PORT"

before_stack_start() {
    browser_deps
}

after_stack_start() {
    start_driver
}

before_stack_stop() {
    stop_driver
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
