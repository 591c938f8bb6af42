#!/usr/bin/env bats
# Last-Event-ID: a client that comes back gets what it missed, exactly once.

bats_require_minimum_version 1.5.0

load test_helper/common
load test_helper/sse
load test_helper/hub

TOKEN=replay-token-0123456789

export SSE_PUBLISH_TOKEN=$TOKEN
stack_for_file --tick-ms 0 --history 20

@test "a client that reconnects with Last-Event-ID gets exactly the 5 events it missed, then live ones" {
    local c=$BATS_TEST_TMPDIR/c
    sse_client "$c" "$BASE_URL/events?topic=r1"
    wait_until 20 streams_open 1
    local last
    last=$(publish r1 before)
    wait_until 10 sse_has "$c.out" 1
    bg_stop "$c"
    wait_until 10 streams_open 0

    local i
    for i in 1 2 3 4 5; do
        publish r1 "missed $i" >/dev/null
    done
    publish other "not for r1" >/dev/null

    sse_client "$c.2" "$BASE_URL/events?topic=r1" -H "Last-Event-ID: $last"
    wait_until 10 sse_has "$c.2.out" 5
    publish r1 live >/dev/null
    wait_until 10 sse_has "$c.2.out" 6
    run data_of "$c.2.out"
    assert_output "$(printf 'message\tmissed %s\n' 1 2 3 4 5; printf 'message\tlive')"
}

@test "?lastEventId= does the same for clients that cannot set headers" {
    local last
    last=$(publish r2 before)
    publish r2 "missed 1" >/dev/null
    publish r2 "missed 2" >/dev/null
    local c=$BATS_TEST_TMPDIR/c
    sse_client "$c" "$BASE_URL/events?topic=r2&lastEventId=$last"
    wait_until 10 sse_has "$c.out" 2
    publish r2 live >/dev/null
    wait_until 10 sse_has "$c.out" 3
    run data_of "$c.out"
    assert_output "$(printf 'message\tmissed 1\nmessage\tmissed 2\nmessage\tlive')"
}

@test "the Last-Event-ID header wins over ?lastEventId=" {
    local first second
    first=$(publish r3 one)
    second=$(publish r3 two)
    publish r3 three >/dev/null
    local c=$BATS_TEST_TMPDIR/c
    sse_client "$c" "$BASE_URL/events?topic=r3&lastEventId=$first" -H "Last-Event-ID: $second"
    wait_until 10 sse_has "$c.out" 1
    publish r3 four >/dev/null
    wait_until 10 sse_has "$c.out" 2
    run data_of "$c.out"
    assert_output "$(printf 'message\tthree\nmessage\tfour')"
}

@test "an id older than the history gets a gap event, then every kept event, then live ones" {
    local old
    old=$(publish r4 "soon forgotten")
    local i
    for i in $(seq 1 20); do
        publish r4 "kept $i" >/dev/null
    done
    local c=$BATS_TEST_TMPDIR/c
    sse_client "$c" "$BASE_URL/events?topic=r4" -H "Last-Event-ID: $old"
    wait_until 10 sse_has "$c.out" 21
    publish r4 live >/dev/null
    wait_until 10 sse_has "$c.out" 22
    run sse_parse "$c.out"
    # The gap event has no id of its own: the parser's last id stays empty.
    assert_line --index 0 --regexp "^gap		\\{\"lastEventId\":\"$old\",\"oldestKeptId\":\"$EVENT_ID_RE\"\\}\$"
    run data_of "$c.out"
    assert_equal "$(tail -n +2 <<<"$output")" \
        "$(printf 'message\tkept %s\n' $(seq 1 20); printf 'message\tlive')"
}

@test "an unknown id gets the gap event and what is kept for the topic" {
    publish r5 "only one" >/dev/null
    local c=$BATS_TEST_TMPDIR/c
    sse_client "$c" "$BASE_URL/events?topic=r5" -H 'Last-Event-ID: no-such-id'
    wait_until 10 sse_has "$c.out" 2
    run sse_parse "$c.out"
    assert_line --index 0 --regexp '^gap		\{"lastEventId":"no-such-id","oldestKeptId":"'"$EVENT_ID_RE"'"\}$'
    assert_line --index 1 --regexp $'^message\t'"$EVENT_ID_RE"$'\tonly one$'
    assert_equal "${#lines[@]}" 2
}

@test "after a worker restart ids keep increasing and an old id gets the gap event" {
    [[ ${SSE_TEST_BROKER:-} != redis ]] || skip "with Redis a restart keeps the history (tests/redis.bats)"
    local before
    before=$(publish r6 "before restart")
    stop_worker "$STACK_DIR"
    assert_equal "$(cat "$STACK_DIR/worker.exit")" 0
    start_worker "$STACK_DIR" --tick-ms 0 --history 20
    wait_until 10 curl -sf -o /dev/null "$BASE_URL/stats"

    local after
    after=$(publish r6 "after restart")
    ((after > before))
    local c=$BATS_TEST_TMPDIR/c
    sse_client "$c" "$BASE_URL/events?topic=r6" -H "Last-Event-ID: $before"
    wait_until 10 sse_has "$c.out" 2
    run data_of "$c.out"
    assert_line --index 0 --partial 'gap'
    assert_line --index 1 "$(printf 'message\tafter restart')"
}

# refused_resume CURL-ARGS...: GET /events gets 400 and a one-line reason
# naming Last-Event-ID, and no stream opens.
refused_resume() {
    local head=$BATS_TEST_TMPDIR/refused.head
    run curl -sS --max-time 5 -D "$head" "$@"
    if [[ $(http_status "$head") != 400 || ${#lines[@]} -ne 1 || $output != *Last-Event-ID* ]]; then
        echo "GET $* answered $(http_status "$head"): $output" >&2
        return 1
    fi
}

@test "a Last-Event-ID that is not UTF-8 gets 400 with a reason instead of a gap event with broken JSON" {
    publish r7 kept >/dev/null
    refused_resume -H $'Last-Event-ID: 12\xff\xfe' "$BASE_URL/events?topic=r7"
    refused_resume "$BASE_URL/events?topic=r7&lastEventId=%C0%AF"
    refused_resume "$BASE_URL/events?topic=r7&lastEventId=ok%ED%A0%80"
    assert_equal "$(stats_value .streams)" 0
    # A well-formed unknown id, even with non-ASCII in it, still gets its gap.
    local c=$BATS_TEST_TMPDIR/c
    sse_client "$c" "$BASE_URL/events?topic=r7" -H "Last-Event-ID: caf$(printf '\xc3\xa9')"
    wait_until 10 sse_has "$c.out" 2
    run sse_parse "$c.out"
    assert_line --index 0 --regexp "^gap		\\{\"lastEventId\":\"caf$(printf '\xc3\xa9')\","
}

@test "a ?lastEventId= with a NUL, CR or LF gets 400: no event can have that id" {
    publish r8 kept >/dev/null
    refused_resume "$BASE_URL/events?topic=r8&lastEventId=12%003"
    refused_resume "$BASE_URL/events?topic=r8&lastEventId=%00"
    # CR and LF cannot be in an event id either.
    refused_resume "$BASE_URL/events?topic=r8&lastEventId=a%0Ab"
    refused_resume "$BASE_URL/events?topic=r8&lastEventId=a%0D"
    assert_equal "$(stats_value .streams)" 0
}
