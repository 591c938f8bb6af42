#!/usr/bin/env bats
# Peers that try to hold the worker: idle and trickling connections straight
# to its FastCGI port. None may stall anyone else's request.

bats_require_minimum_version 1.5.0

load test_helper/common
load test_helper/sse

TICK_MS=200
# Short, so the tests see the deadline pass; long enough for every honest
# request on a busy machine.
REQUEST_TIMEOUT=8

setup_file() {
    start_stack --tick-ms "$TICK_MS" --request-timeout "$REQUEST_TIMEOUT"
}

teardown_file() {
    bg_stop_all
    stop_stack
}

teardown() {
    bg_stop_all
}

# idle_peer PREFIX: a TCP connection to the worker that sends nothing; the
# process ends (status 0) when the worker closes it.
idle_peer() {
    bg_start "$1" timeout 120 bash -c 'cat <"/dev/tcp/127.0.0.1/$0"' "$WORKER_PORT"
}

# trickling_peer PREFIX: a FastCGI request that starts well (FCGI_BEGIN_REQUEST,
# then an FCGI_PARAMS record announcing 100 bytes) and then sends one byte a
# second, each within the read timeout, never finishing. Ends when a write
# fails (the worker closed it), or with status 3 after 100 bytes.
trickling_peer() {
    # shellcheck disable=SC2016 # expanded by the inner shell
    bg_start "$1" bash -c '
        exec 3<>"/dev/tcp/127.0.0.1/$0" || exit 2
        printf "\001\001\000\001\000\010\000\000\000\001\000\000\000\000\000\000" >&3
        printf "\001\004\000\001\000\144\000\000" >&3
        for _ in $(seq 100); do
            sleep 1
            printf x >&3 || exit 0
        done
        exit 3' "$WORKER_PORT"
}

# serving: a new stream through nginx gets a tick, and /stats answers.
serving() {
    local c=$BATS_TEST_TMPDIR/serving.$RANDOM
    sse_client "$c" "$BASE_URL/events?topic=clock"
    wait_until 10 sse_has "$c.out" 1 tick
    bg_stop "$c"
    run curl -sS --max-time 10 -o /dev/null -w '%{http_code}' "$BASE_URL/stats"
    assert_output 200
}

@test "an idle and a trickling connection to the worker's port do not stop /events and /stats, and are closed after --request-timeout" {
    local idle=$BATS_TEST_TMPDIR/idle trickle=$BATS_TEST_TMPDIR/trickle
    idle_peer "$idle"
    trickling_peer "$trickle"
    # Both are in: the worker holds a connection for each (beyond the
    # listen socket, a stream would show the same way).
    wait_until 10 bg_running "$idle"
    serving
    serving
    # The two were still open while the others were served...
    bg_running "$idle"
    bg_running "$trickle"
    # ...and are closed by the worker once their deadline has passed.
    bg_wait "$idle" $((REQUEST_TIMEOUT + 20))
    assert_equal "$(bg_exit "$idle")" 0
    bg_wait "$trickle" $((REQUEST_TIMEOUT + 20))
    [[ $(bg_exit "$trickle") != 3 ]]
    run grep -c "not done within $REQUEST_TIMEOUT s, connection cut off" "$STACK_DIR/worker.log"
    (( output >= 2 ))
    serving
}
