#!/usr/bin/env bats
# The worker built with ThreadSanitizer (make .build/tsan/sse-worker) under
# concurrent publishers: no data race is reported and no wake-up is lost.
# Counts are kept small: TSan makes the worker several times slower.

bats_require_minimum_version 1.5.0

SSE_WORKER=$(cd "$BATS_TEST_DIRNAME/.." && pwd)/.build/tsan/sse-worker
export SSE_WORKER
# Reports go to the worker's log and make its exit status 66.
export TSAN_OPTIONS=${TSAN_OPTIONS:-halt_on_error=0:exitcode=66:second_deadlock_stack=1}

load test_helper/common
load test_helper/sse
load test_helper/hub

TOKEN=tsan-token-0123456789
A_STREAMS=30

export SSE_PUBLISH_TOKEN=$TOKEN
# 3 loops, and a history small enough that publishers wait for them.
stack_for_file --tick-ms 0 --threads 3 --history 20 --publish-wait-ms 10000 --max-streams 100

# flood TOPIC N: N publishes to TOPIC over one kept-alive connection.
flood() {
    local -a args=()
    local i
    for ((i = 1; i <= $2; i++)); do
        ((i == 1)) || args+=(--next)
        args+=(-sS -o /dev/null --max-time 60 -H "Authorization: Bearer $TOKEN"
            -d "topic=$1" -d "data=flood $i" "$BASE_URL/publish")
    done
    curl "${args[@]}"
}

no_tsan_report() {
    ! grep -E 'WARNING: ThreadSanitizer' "$STACK_DIR/worker.log"
}

@test "the ThreadSanitizer worker is built" {
    [[ -x $SSE_WORKER ]]
}

@test "with one publisher flooding topic a, every event for a and b reaches the lone b stream at once" {
    local i
    for ((i = 1; i <= A_STREAMS; i++)); do
        sse_client "$BATS_TEST_TMPDIR/a$i" "$BASE_URL/events?topic=a"
    done
    sse_client "$BATS_TEST_TMPDIR/b" "$BASE_URL/events?topic=b"
    wait_until 60 streams_open $((A_STREAMS + 1))

    BG_UNREGISTERED=0 bg_start "$BATS_TEST_TMPDIR/flood" flood a 400
    # Each event for {a,b} must reach b before the next is sent: a wake-up
    # lost while the loop walks its ready list would leave b waiting for
    # the next publish to b, which never comes.
    local k
    for ((k = 1; k <= 40; k++)); do
        curl -sS --fail-with-body --max-time 30 -o /dev/null \
            -H "Authorization: Bearer $TOKEN" \
            -d topic=a -d topic=b -d "data=both $k" "$BASE_URL/publish"
        wait_until 10 sse_has "$BATS_TEST_TMPDIR/b.out" "$k"
    done
    bg_wait "$BATS_TEST_TMPDIR/flood" 120
    assert_equal "$(bg_exit "$BATS_TEST_TMPDIR/flood")" 0
    run data_of "$BATS_TEST_TMPDIR/b.out"
    assert_output "$(printf 'message\tboth %s\n' $(seq 1 40) | sed '$ s/\n$//')"
    # Every a stream got all 440 events, in order for each publisher.
    wait_until 60 sse_has "$BATS_TEST_TMPDIR/a$A_STREAMS.out" 440
    no_tsan_report
}

@test "the ThreadSanitizer worker stops cleanly with no report" {
    stop_worker "$STACK_DIR"
    assert_equal "$(cat "$STACK_DIR/worker.exit")" 0
    no_tsan_report
}
