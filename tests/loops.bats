#!/usr/bin/env bats
# Several delivery loops (--threads 3): streams spread over every loop, and
# each loop delivers, beats, notices hang-ups, drops laggards and says
# goodbye on its own. /stats reports each loop and adds up.

bats_require_minimum_version 1.5.0

load test_helper/common
load test_helper/sse
load test_helper/hub

TOKEN=loops-token-0123456789

export SSE_PUBLISH_TOKEN=$TOKEN
stack_for_file --tick-ms 0 --threads 3 --heartbeat 1 --history 2 --max-body 1048576 \
    --publish-wait-ms 10000

# open_one_per_loop PREFIX TOPIC N: N streams, opened one after another, so
# that each goes to the least loaded loop: with 3 loops, N/3 on each.
open_streams() {
    local prefix=$1 topic=$2 n=$3 i open
    open=$(stats_value .streams)
    for ((i = 1; i <= n; i++)); do
        sse_client "$prefix$i" "$BASE_URL/events?topic=$topic"
        wait_until 20 streams_open $((open + i))
    done
}

# loops_hold N: every loop holds exactly N streams, and the total adds up.
loops_hold() {
    stats_value "[(.loops | length == 3), (.loops | all(.streams == $1)),
          ([.loops[].streams] | add) == .streams] | all" | grep -qx true
}

@test "/stats lists the 3 loops, each with its streams and backlog" {
    run stats_value '.loops'
    assert_output --partial '"streams"'
    assert_equal "$(stats_value '.loops | length')" 3
    assert_equal "$(stats_value '[.loops[] | has("backlog")] | all')" true
    assert_equal "$(stats_value '.backlog')" 0
}

@test "nine subscribers spread over the 3 loops each get every event exactly once and in order" {
    open_streams "$BATS_TEST_TMPDIR/s" order 9
    wait_until 10 loops_hold 3
    local i want
    for i in $(seq 1 30); do
        publish order "event $i" >/dev/null
    done
    want=$(printf 'message\tevent %s\n' $(seq 1 30))
    for i in $(seq 1 9); do
        wait_until 20 sse_has "$BATS_TEST_TMPDIR/s$i.out" 30
        run data_of "$BATS_TEST_TMPDIR/s$i.out"
        assert_output "$want"
    done
    wait_until 10 bash -c "[[ \$(curl -sS '$BASE_URL/stats' | jq .backlog) == 0 ]]"
}

@test "streams on every loop get heartbeats" {
    open_streams "$BATS_TEST_TMPDIR/h" beat 3
    wait_until 10 loops_hold 1
    local i
    for i in 1 2 3; do
        wait_until 10 sse_has_comments "$BATS_TEST_TMPDIR/h$i.out" 2 heartbeat
    done
}

@test "hang-ups are noticed on every loop" {
    open_streams "$BATS_TEST_TMPDIR/k" gone 6
    wait_until 10 loops_hold 2
    local i
    for i in $(seq 1 6); do
        bg_stop "$BATS_TEST_TMPDIR/k$i" KILL
    done
    wait_until 10 streams_open 0
    wait_until 10 loops_hold 0
}

# each_loop_catching_up: every loop has a stream catching up (a full socket).
each_loop_catching_up() {
    [[ $(stats_value '[.loops[].catching_up] | all(. >= 1)') == true ]]
}

@test "a stalled stream on each loop falls behind, then lags and is told so" {
    local big=$BATS_TEST_TMPDIR/big.txt
    head -c 900000 /dev/zero | tr '\0' z >"$big"
    # One stalled stream per loop (each opened on the least loaded).
    SSE_MAX_TIME=300 open_streams "$BATS_TEST_TMPDIR/slow" lag 3
    wait_until 10 loops_hold 1
    assert_equal "$(stats_value '[.loops[].catching_up] | add')" 0
    local dropped i
    dropped=$(stats_value .dropped)
    for i in 1 2 3; do
        bg_signal "$BATS_TEST_TMPDIR/slow$i" STOP
    done
    # Publish until the kernel and nginx buffers are full on every loop's
    # stream (how much they hold depends on TCP autotuning), bounded...
    for ((i = 1; i <= 200; i++)); do
        publish lag "@$big" >/dev/null
        each_loop_catching_up && break
    done
    each_loop_catching_up
    # ...then 3 more: with --history 2 an unread event of each is evicted.
    for i in 1 2 3; do
        publish lag "@$big" >/dev/null
    done
    for i in 1 2 3; do
        bg_signal "$BATS_TEST_TMPDIR/slow$i" CONT
    done
    for i in 1 2 3; do
        wait_until 60 bg_wait "$BATS_TEST_TMPDIR/slow$i" 1
        run sse_comments "$BATS_TEST_TMPDIR/slow$i.out" 'too far behind: reconnect to resume from Last-Event-ID'
        assert_output 1
    done
    assert_equal "$(stats_value .dropped)" "$((dropped + 3))"
    assert_equal "$(stats_value '[.loops[].catching_up] | add')" 0
}

@test "on shutdown the streams on every loop get the goodbye and a clean end" {
    open_streams "$BATS_TEST_TMPDIR/bye" bye 3
    wait_until 10 loops_hold 1
    stop_worker "$STACK_DIR"
    assert_equal "$(cat "$STACK_DIR/worker.exit")" 0
    local i
    for i in 1 2 3; do
        wait_until 10 bg_wait "$BATS_TEST_TMPDIR/bye$i" 1
        assert_equal "$(bg_exit "$BATS_TEST_TMPDIR/bye$i")" 0
        run sse_comments "$BATS_TEST_TMPDIR/bye$i.out" 'server shutting down, reconnect after retry'
        assert_output 1
    done
    worker_log_clean "$STACK_DIR"
}
