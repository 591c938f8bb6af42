#!/usr/bin/env bats
# The history: who lags (only a stream whose own unread events were evicted)
# and its byte bound (--history-bytes).

bats_require_minimum_version 1.5.0

load test_helper/common
load test_helper/sse
load test_helper/hub

TOKEN=history-token-0123456789

export SSE_PUBLISH_TOKEN=$TOKEN
stack_for_file --tick-ms 0 --history 10 --max-body 1048576

@test "a stream on a quiet topic outlives more than --history events on other topics and gets its own" {
    local c=$BATS_TEST_TMPDIR/quiet
    sse_client "$c" "$BASE_URL/events?topic=quiet"
    wait_until 20 streams_open 1
    local dropped i
    dropped=$(stats_value .dropped)
    for i in $(seq 1 15); do
        publish busy "busy $i" >/dev/null
    done
    publish quiet "at last" >/dev/null
    wait_until 10 sse_has "$c.out" 1
    run data_of "$c.out"
    assert_output "$(printf 'message\tat last')"
    # Still open, never told it fell behind, and nobody counted as dropped.
    bg_running "$c"
    assert_equal "$(stats_value .streams)" 1
    assert_equal "$(stats_value .dropped)" "$dropped"
    assert_equal "$(sse_comments "$c.out" 'too far behind: reconnect to resume from Last-Event-ID')" 0
}

@test "a stream whose own unread events were evicted still lags and is told so" {
    local big=$BATS_TEST_TMPDIR/big.txt
    head -c 900000 /dev/zero | tr '\0' y >"$big"
    local c=$BATS_TEST_TMPDIR/stalled
    sse_client "$c" "$BASE_URL/events?topic=own"
    wait_until 20 streams_open 1
    local dropped i
    dropped=$(stats_value .dropped)
    # Stop reading: the socket fills, the stream stops taking frames, and
    # the history of 10 moves past its own events.
    bg_signal "$c" STOP
    for i in $(seq 1 30); do
        publish own "@$big" >/dev/null
    done
    bg_signal "$c" CONT
    wait_until 30 bg_wait "$c" 1
    assert_equal "$(stats_value .dropped)" "$((dropped + 1))"
    run sse_comments "$c.out" 'too far behind: reconnect to resume from Last-Event-ID'
    assert_output 1
}

@test "--history-bytes keeps only the newest events that fit, and a reconnect replays only those" {
    stack_worker_restart --tick-ms 0 --history 10 --history-bytes 2000
    # Each frame: "id: " + the id + LF, "data: " + 500 + LF, LF: 513 bytes
    # and the id's (16 digits; with Redis, the log's id).
    local data i id kept=0
    for i in 1 2 3 4 5; do
        data="$i$(head -c 499 /dev/zero | tr '\0' z)"
        id=$(publish bytes "$data")
        ((i < 3)) || kept=$((kept + 513 + ${#id}))
    done
    assert_equal "$(stats_value .history)" 3
    assert_equal "$(stats_value .history_bytes)" "$kept"
    run curl -sS --max-time 10 "$BASE_URL/metrics"
    assert_line "sse_history_bytes $kept"

    local c=$BATS_TEST_TMPDIR/late
    sse_client "$c" "$BASE_URL/events?topic=bytes" -H 'Last-Event-ID: no-such-id'
    wait_until 10 sse_has "$c.out" 4
    run sse_parse "$c.out"
    assert_line --index 0 --regexp '^gap	'
    # Then the three kept events, by their first character.
    assert_equal "$(sse_parse "$c.out" | tail -n +2 | cut -f3 | cut -c1 | tr -d '\n')" 345
}

@test "an event larger than the whole --history-bytes is refused with 413 and a reason, and changes nothing" {
    local published
    published=$(stats_value .published)
    run curl -sS --max-time 10 -o "$BATS_TEST_TMPDIR/body" -w '%{http_code}' \
        -H "Authorization: Bearer $TOKEN" -d topic=bytes \
        --data-urlencode "data=$(head -c 3000 /dev/zero | tr '\0' w)" "$BASE_URL/publish"
    assert_output 413
    run cat "$BATS_TEST_TMPDIR/body"
    assert_output --partial 'event too large'
    assert_equal "$(stats_value .published)" "$published"
    assert_equal "$(stats_value .history)" 3
}
