#!/usr/bin/env bats
# Pages on other origins (--cors-origins), checked on the headers nginx
# passes on; tests/browser.bats checks that Chromium really lets such a page
# subscribe and publish, and blocks it when its origin is not allowed.

bats_require_minimum_version 1.5.0

load test_helper/common
load test_helper/sse
load test_helper/hub

TOKEN=cors-token-0123456789
ALLOWED=http://app.example:8000
OTHER=http://evil.example

export SSE_PUBLISH_TOKEN=$TOKEN
stack_for_file --tick-ms 0 --public-topics chat --cors-origins "$ALLOWED,https://b.example"

# head_of METHOD PATH [curl args...]: the response head of a request that
# ends (streams are cut after 2 s: the head is all we want).
head_of() {
    local method=$1 path=$2
    shift 2
    curl -sS -o /dev/null -D - --max-time 2 -X "$method" "$@" "$BASE_URL$path" | tr -d '\r' || true
}

@test "a stream asked for by a listed origin carries that origin, credentials allowed and Vary: Origin" {
    run head_of GET "/events?topic=c1" -H "Origin: $ALLOWED"
    assert_line --regexp '^HTTP/1.1 200'
    assert_line "Access-Control-Allow-Origin: $ALLOWED"
    assert_line "Access-Control-Allow-Credentials: true"
    assert_line "Vary: Origin"
    assert_line "Content-Type: text/event-stream"
}

@test "a stream asked for by another origin gets no CORS headers, so a browser hides it from the page" {
    run head_of GET "/events?topic=c2" -H "Origin: $OTHER"
    assert_line --regexp '^HTTP/1.1 200'
    refute_line --partial "Access-Control-Allow"
    assert_line "Vary: Origin"
}

@test "a preflight for /publish from a listed origin is answered 204 with what it may send" {
    run head_of OPTIONS /publish -H "Origin: $ALLOWED" \
        -H "Access-Control-Request-Method: POST" -H "Access-Control-Request-Headers: authorization"
    assert_line --regexp '^HTTP/1.1 204'
    assert_line "Access-Control-Allow-Origin: $ALLOWED"
    assert_line "Access-Control-Allow-Methods: POST"
    assert_line "Access-Control-Allow-Headers: Authorization, Content-Type, Last-Event-ID"
    assert_line "Access-Control-Allow-Credentials: true"
    assert_line --regexp '^Access-Control-Max-Age: [0-9]+$'
}

@test "a preflight from an origin not listed is refused 403 with a reason and no CORS headers" {
    run curl -sS -D "$BATS_TEST_TMPDIR/head" --max-time 5 -X OPTIONS -H "Origin: $OTHER" \
        -H "Access-Control-Request-Method: POST" "$BASE_URL/publish"
    assert_output --partial "see --cors-origins"
    run http_status "$BATS_TEST_TMPDIR/head"
    assert_output 403
    run grep -i '^access-control-allow' "$BATS_TEST_TMPDIR/head"
    assert_failure
}

@test "a publish from a listed origin gets its id with the CORS headers, a refused one its reason too" {
    run curl -sS -D "$BATS_TEST_TMPDIR/ok" --max-time 5 -H "Origin: $ALLOWED" \
        -d topic=chat -d data=hi "$BASE_URL/publish"
    assert_output --regexp '^[0-9]+$'
    run http_header "$BATS_TEST_TMPDIR/ok" access-control-allow-origin
    assert_output "$ALLOWED"
    # A page must be able to read why it was refused.
    run curl -sS -D "$BATS_TEST_TMPDIR/no" --max-time 5 -H "Origin: $ALLOWED" \
        -d topic=secret -d data=hi "$BASE_URL/publish"
    assert_output --partial "needs a bearer token"
    run http_header "$BATS_TEST_TMPDIR/no" access-control-allow-origin
    assert_output "$ALLOWED"
}

@test "with --cors-origins '*' any origin may read streams, but never with credentials" {
    stack_worker_restart --tick-ms 0 --public-topics chat --cors-origins '*'
    run head_of GET "/events?topic=c3" -H "Origin: $OTHER"
    assert_line "Access-Control-Allow-Origin: *"
    refute_line --partial "Access-Control-Allow-Credentials"
}

@test "without --cors-origins there are no CORS headers and OPTIONS stays 405, as before" {
    stack_worker_restart --tick-ms 0 --public-topics chat
    run head_of GET "/events?topic=c4" -H "Origin: $ALLOWED"
    assert_line --regexp '^HTTP/1.1 200'
    refute_line --partial "Access-Control-"
    refute_line "Vary: Origin"
    run head_of OPTIONS /publish -H "Origin: $ALLOWED" -H "Access-Control-Request-Method: POST"
    assert_line --regexp '^HTTP/1.1 405'
}

@test "an --cors-origins value that is not origins is refused at start with the reason" {
    run "$SSE_WORKER" --listen 127.0.0.1:1 --cors-origins "app.example"
    assert_equal "$status" 2
    assert_output --partial "invalid --cors-origins app.example"
}

@test "the worker reported no memory error during the CORS tests" {
    stop_worker "$STACK_DIR"
    worker_log_clean "$STACK_DIR"
}
