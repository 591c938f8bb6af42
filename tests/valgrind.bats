#!/usr/bin/env bats
# The release build (no sanitizers) under valgrind behind nginx: streams
# come and go, then SIGTERM. Valgrind must find no memory error and no
# definite leak (--error-exitcode turns either into exit status 99).

bats_require_minimum_version 1.5.0

load test_helper/common
load test_helper/sse

TICK_MS=100
VALGRIND_EXIT=99

stack_for_file --tick-ms "$TICK_MS"

# The wrapper that the stack's worker is swapped for in the test.
before_stack_start() {
    export VALGRIND_LOG=$BATS_FILE_TMPDIR/valgrind.log
    export VALGRIND_WORKER=$BATS_FILE_TMPDIR/sse-worker-valgrind
    printf '%s\n' '#!/bin/sh' \
        "exec valgrind --error-exitcode=$VALGRIND_EXIT --leak-check=full \\" \
        "    --errors-for-leak-kinds=definite --track-fds=no \\" \
        "    --log-file='$VALGRIND_LOG' '$ROOT/.build/sse-worker' \"\$@\"" \
        >"$VALGRIND_WORKER"
    chmod +x "$VALGRIND_WORKER"
}

# valgrind_exit_clean: the worker under valgrind has exited (bounded wait)
# with status 0, no error and nothing definitely lost.
valgrind_exit_clean() {
    bg_wait "$STACK_DIR/worker" 30
    run cat "$VALGRIND_LOG"
    echo "$output" | tail -n 20
    assert_equal "$(bg_exit "$STACK_DIR/worker")" 0
    assert_line --partial 'ERROR SUMMARY: 0 errors'
    refute_line --regexp 'definitely lost: [1-9]'
}

@test "under valgrind the release worker serves streams, lets one go and stops on SIGTERM with 0 errors" {
    # The stack's worker replaced by the release build under valgrind, its
    # exit status recorded whatever it is (see stack_worker_restart).
    SSE_WORKER=$VALGRIND_WORKER stack_worker_restart --tick-ms "$TICK_MS"
    run tr '\0' ' ' <"/proc/$WORKER_PID/cmdline"
    assert_output --partial " --error-exitcode=$VALGRIND_EXIT "
    assert_output --partial "$ROOT/.build/sse-worker"

    local i
    for i in 1 2 3; do
        sse_client "$BATS_TEST_TMPDIR/c$i" "$BASE_URL/events"
    done
    for i in 1 2 3; do
        wait_until 20 sse_has "$BATS_TEST_TMPDIR/c$i.out" 5 tick
    done

    # Client 2 leaves mid-stream; the worker notices (bounded) and the
    # others keep receiving.
    bg_stop "$BATS_TEST_TMPDIR/c2"
    wait_until 20 grep -q 'stream [0-9]* closed: client gone' "$STACK_DIR/worker.log"
    local n1 n3
    n1=$(sse_count "$BATS_TEST_TMPDIR/c1.out" tick)
    n3=$(sse_count "$BATS_TEST_TMPDIR/c3.out" tick)
    wait_until 20 sse_has "$BATS_TEST_TMPDIR/c1.out" $((n1 + 5)) tick
    wait_until 20 sse_has "$BATS_TEST_TMPDIR/c3.out" $((n3 + 5)) tick

    kill -TERM "$WORKER_PID"
    for i in 1 3; do
        bg_wait "$BATS_TEST_TMPDIR/c$i" 20
        assert_equal "$(bg_exit "$BATS_TEST_TMPDIR/c$i")" 0
        ends_with "$BATS_TEST_TMPDIR/c$i.out" ': server shutting down, reconnect after retry\n\n'
    done
    valgrind_exit_clean
    run tail -n 1 "$STACK_DIR/worker.log"
    assert_output --partial 'stopped cleanly'
}

@test "under valgrind private topics, JWTs and CORS answers leave 0 errors and no leak" {
    local key=valgrind-jwt-key-0123456789abcdefghij exp=$((EPOCHSECONDS + 600)) sub pub bad
    sub=$("$ROOT/scripts/make-jwt" "$key" "{\"mercure\":{\"subscribe\":[\"vg\"]},\"exp\":$exp}")
    pub=$("$ROOT/scripts/make-jwt" "$key" "{\"mercure\":{\"publish\":[\"vg\"]},\"exp\":$exp}")
    bad=$("$ROOT/scripts/make-jwt" other-key-0123456789abcdefghijklmn '{"mercure":{"subscribe":["*"]}}')
    SSE_JWT_KEY=$key SSE_WORKER=$VALGRIND_WORKER stack_worker_restart --tick-ms 0 \
        --private-topics vg --cors-origins http://a.example
    local code
    for code in "401 -" "401 $bad" "403 $pub"; do
        run curl -s -o /dev/null -w '%{http_code}' --max-time 10 \
            -H "Authorization: Bearer ${code#* }" "$BASE_URL/events?topic=vg"
        assert_output "${code%% *}"
    done
    run curl -s -o /dev/null -w '%{http_code}' --max-time 10 -X OPTIONS -H "Origin: http://a.example" \
        -H "Access-Control-Request-Method: POST" "$BASE_URL/publish"
    assert_output 204
    sse_client "$BATS_TEST_TMPDIR/c" "$BASE_URL/events?topic=vg" -b "mercureAuthorization=$sub" \
        -H "Origin: http://a.example"
    wait_until 20 grep -qx 'retry: 3000' "$BATS_TEST_TMPDIR/c.out"
    run curl -sS --fail-with-body --max-time 10 -H "Authorization: Bearer $pub" \
        -d topic=vg -d data=granted "$BASE_URL/publish"
    assert_success
    wait_until 20 sse_has "$BATS_TEST_TMPDIR/c.out" 1
    kill -TERM "$WORKER_PID"
    valgrind_exit_clean
}
