#!/usr/bin/env bats
# Quiet streams: the demo ticker off (--tick-ms 0) and a heartbeat every
# second (--heartbeat 1). The stream carries nothing but ": heartbeat"
# comments, nginx keeps it open across them, and a client that leaves a
# stream with nothing to write is still noticed.

bats_require_minimum_version 1.5.0

load test_helper/common
load test_helper/sse

HEARTBEAT_S=1

stack_for_file --tick-ms 0 --heartbeat "$HEARTBEAT_S"

@test "a stream with no events gets ': heartbeat' comments, paced by the last write" {
    local c=$BATS_TEST_TMPDIR/c
    BG_STAMP=1 sse_client "$c" "$BASE_URL/events"
    wait_until 8 sse_has_comments "$c.out" 3 heartbeat
    bg_stop "$c"

    # The retry frame, then heartbeats only: no event is dispatched.
    run sse_parse -a -t "$c.stamped"
    assert_success
    assert_line --index 0 --regexp $'^[0-9.]+\t:retry\t\t3000$'
    local records=$output
    run awk -F '\t' 'NR > 1 && !($2 == ":comment" && $4 == "heartbeat")' <<<"$records"
    assert_output ''
    run sse_parse "$c.out"
    assert_output ''
    # The raw comment is exactly ": heartbeat" and a blank line.
    run grep -c -x ': heartbeat' "$c.out"
    (( output >= 3 ))
    run grep -c -x '' "$c.out"
    (( output >= 4 ))

    # Paced by the last write, not sent on every wake-up: no two frames
    # come much closer than a period (half of one leaves room for the
    # arrival stamps of a loaded machine; lateness is not judged here).
    run awk -F '\t' -v period="$HEARTBEAT_S" '
        NR > 1 {
            gap = $1 - prev
            printf "heartbeat %d: %.3f s after the previous frame\n", NR - 1, gap
            if (gap < period * 0.5) { print "  too soon after the previous frame"; bad = 1 }
        }
        { prev = $1 }
        END { exit bad }' <<<"$records"
    echo "$output"
    assert_success
}

@test "nginx keeps a quiet stream open across several heartbeat periods" {
    local c=$BATS_TEST_TMPDIR/c
    BG_STAMP=1 sse_client "$c" "$BASE_URL/events"
    wait_until 10 sse_has_comments "$c.out" 4 heartbeat
    # Four heartbeat periods on, the response has not ended ...
    bg_running "$c"
    run http_status "$c.head"
    assert_output 200
    # ... and nginx has not given up on the upstream.
    run grep -E 'upstream timed out|prematurely closed' "$STACK_DIR/nginx-error.log"
    assert_failure
    bg_stop "$c"
    # curl ended because it was stopped, not because the stream closed.
    assert_equal "$(bg_exit "$c")" 143
}

@test "a quiet stream whose client leaves is closed at once, though nothing is written to it" {
    # A worker of its own that never writes after the retry frame: no
    # ticker, a heartbeat an hour away. Only the hang-up (EPOLLRDHUP) can tell.
    local w=$BATS_TEST_TMPDIR/quiet/worker c=$BATS_TEST_TMPDIR/quiet/c
    aux_worker "$w" --tick-ms 0 --heartbeat 3600
    local pid base_fds
    pid=$(bg_pid "$w")
    base_fds=$(fd_count "$pid")
    fcgi_client "$c" "127.0.0.1:$AUX_PORT"
    wait_until 10 grep -q '^retry: 3000' "$c.out"
    wait_until 5 fds_are "$pid" $((base_fds + 1))

    # With the heartbeat an hour away, only the hang-up can end it within
    # the bounded wait.
    bg_stop "$c"
    wait_until 5 grep -q 'stream 1 closed: client gone' "$w.log"
    wait_until 5 fds_are "$pid" "$base_fds"
    bg_stop "$w"
    assert_equal "$(bg_exit "$w")" 0
}
