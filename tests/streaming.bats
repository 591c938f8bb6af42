#!/usr/bin/env bats
# No buffering anywhere between the worker and a curl client behind nginx:
# each event reaches the client while its stream stays open and before
# anything else is written. The ticker is off and the heartbeat an hour away,
# so nothing follows a published event: a buffering layer (fastcgi_buffering,
# gzip, a missing flush) would hold it until more bytes or the end of the
# stream came, and the bounded wait would fail. No timing is asserted. The
# client asks for compression as browsers do (curl --compressed), so gzip
# would apply if it were on.

bats_require_minimum_version 1.5.0

load test_helper/common
load test_helper/sse
load test_helper/hub

TOKEN=streaming-token-0123456789

export SSE_PUBLISH_TOKEN=$TOKEN
stack_for_file --tick-ms 0 --heartbeat 3600

@test "the head and the retry frame reach a curl client before any event exists" {
    local c=$BATS_TEST_TMPDIR/c
    sse_client "$c" "$BASE_URL/events?topic=s1" --compressed
    wait_until 10 grep -qx 'retry: 3000' "$c.out"
    run http_status "$c.head"
    assert_output 200
    bg_running "$c"
    assert_equal "$(sse_count "$c.out")" 0
}

@test "a published event reaches a curl client through nginx while nothing is written after it" {
    local c=$BATS_TEST_TMPDIR/c
    sse_client "$c" "$BASE_URL/events?topic=s2" --compressed
    wait_until 10 streams_open 1
    local id
    id=$(publish s2 'the only event')
    wait_until 10 sse_has "$c.out" 1
    # The stream is still open: the event was not released by its end.
    bg_running "$c"
    run sse_parse "$c.out"
    assert_output "$(printf 'message\t%s\tthe only event' "$id")"
}

@test "successive events arrive one at a time, each before the next is published" {
    local c=$BATS_TEST_TMPDIR/c
    sse_client "$c" "$BASE_URL/events?topic=s3" --compressed
    events_arrive_one_at_a_time "$c.out" s3
}
