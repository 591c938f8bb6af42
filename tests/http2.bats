#!/usr/bin/env bats
# HTTPS with HTTP/2 (what browsers use when they have the choice): the same
# nginx server on a second, TLS port (render-nginx-conf with TLS_LISTEN) with
# the drop-in conf/sse-locations.conf unchanged. curl speaks HTTP/2 to it,
# trusting this file's own certificate. As in streaming.bats the ticker is
# off and the heartbeat an hour away, so nothing follows a published event
# and a buffering layer would hold it back; no timing is asserted.

bats_require_minimum_version 1.5.0

load test_helper/common
load test_helper/sse
load test_helper/hub
load test_helper/tls

TOKEN=http2-token-0123456789

export SSE_PUBLISH_TOKEN=$TOKEN
STACK_STARTER=start_tls_stack
stack_for_file --tick-ms 0 --heartbeat 3600

# h2_client PREFIX PATH [curl args...]: an HTTP/2 stream over TLS.
h2_client() {
    local prefix=$1 path=$2
    shift 2
    sse_client "$prefix" "$HTTPS_URL$path" --http2 --cacert "$TLS_CERT" "$@"
}

@test "over HTTP/2 with TLS /events answers 200 text/event-stream with no Connection header" {
    local c=$BATS_TEST_TMPDIR/c
    h2_client "$c" "/events?topic=h1"
    wait_until 10 grep -qx 'retry: 3000' "$c.out"
    run head -n 1 "$c.head"
    assert_output --regexp '^HTTP/2 200'
    run http_header "$c.head" content-type
    assert_output text/event-stream
    run http_header "$c.head" cache-control
    assert_output no-cache
    # HTTP/2 forbids connection-specific headers; browsers reject a response
    # that has one. X-Accel-Buffering is for nginx only.
    run http_header "$c.head" connection
    assert_failure
    run http_header "$c.head" x-accel-buffering
    assert_failure
    bg_running "$c"
}

@test "over HTTP/2 successive events arrive one at a time, each before the next is published" {
    local c=$BATS_TEST_TMPDIR/c
    h2_client "$c" "/events?topic=h2" --compressed
    events_arrive_one_at_a_time "$c.out" h2
}

@test "over HTTP/2 a client that comes back with Last-Event-ID gets exactly the events after it" {
    local c=$BATS_TEST_TMPDIR/c first second third
    first=$(publish h3 one)
    second=$(publish h3 two)
    third=$(publish h3 three)
    h2_client "$c" "/events?topic=h3" -H "Last-Event-ID: $first"
    wait_until 10 sse_has "$c.out" 2
    run sse_parse "$c.out"
    assert_output "$(printf 'message\t%s\ttwo\nmessage\t%s\tthree' "$second" "$third")"
}

@test "over HTTP/2 a publish is answered with its id and reaches a stream on the plain HTTP port" {
    local c=$BATS_TEST_TMPDIR/c id
    sse_client "$c" "$BASE_URL/events?topic=h4"
    wait_until 10 streams_open 1
    run curl -sS --http2 --cacert "$TLS_CERT" -D "$BATS_TEST_TMPDIR/pub.head" --max-time 10 \
        -H "Authorization: Bearer $TOKEN" -d topic=h4 -d data=over-h2 "$HTTPS_URL/publish"
    assert_success
    assert_output --regexp '^[0-9]+$'
    id=$output
    run head -n 1 "$BATS_TEST_TMPDIR/pub.head"
    assert_output --regexp '^HTTP/2 200'
    wait_until 10 sse_has "$c.out" 1
    run sse_parse "$c.out"
    assert_output "$(printf 'message\t%s\tover-h2' "$id")"
}

@test "the plain HTTP port still answers HTTP/1.1 beside the HTTPS one" {
    local c=$BATS_TEST_TMPDIR/c
    sse_client "$c" "$BASE_URL/events?topic=h5"
    wait_until 10 grep -qx 'retry: 3000' "$c.out"
    run head -n 1 "$c.head"
    assert_output --regexp '^HTTP/1.1 200'
}

@test "over HTTP/2 a quiet stream gets heartbeat comments" {
    local c=$BATS_TEST_TMPDIR/c
    stack_worker_restart --tick-ms 0 --heartbeat 1
    h2_client "$c" "/events?topic=h6"
    wait_until 20 sse_has_comments "$c.out" 2 heartbeat
    bg_running "$c"
}

@test "the page names this HTTPS port for the link it offers when a tab is stuck over HTTP/1.1" {
    run curl -sS --fail --max-time 5 "$BASE_URL/"
    assert_output --partial "<meta name=\"sse-https-port\" content=\"$TLS_PORT\">"
}

@test "the worker reported no memory error during the HTTP/2 tests" {
    stop_worker "$STACK_DIR"
    worker_log_clean "$STACK_DIR"
}
