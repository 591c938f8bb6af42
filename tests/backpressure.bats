#!/usr/bin/env bats
# Back-pressure instead of loss: publishers flooding faster than the loops
# can fan out are refused with 503 and Retry-After, and every event that was
# accepted reaches every subscriber. A history of 1 event and no wait
# (--publish-wait-ms 0) make the loops "behind" whenever an event is still
# being fanned out when the next one comes, which 200 streams guarantee.

bats_require_minimum_version 1.5.0

load test_helper/common
load test_helper/sse
load test_helper/hub

TOKEN=backpressure-token-0123456789
SUBSCRIBERS=200
PUBLISHERS=4
EACH=60

export SSE_PUBLISH_TOKEN=$TOKEN
stack_for_file --tick-ms 0 --threads 3 --history 1 --publish-wait-ms 0 --max-streams 1000

# flood J: EACH publishes as fast as they are answered, over one connection;
# prints each response body, then its status on a line of its own.
flood() {
    local -a args=()
    local i
    for ((i = 1; i <= EACH; i++)); do
        ((i == 1)) || args+=(--next)
        args+=(-sS --max-time 60 -D "$BATS_TEST_TMPDIR/pub$1.head" -w '%{http_code}\n'
            -H "Authorization: Bearer $TOKEN" -d topic=flood -d "data=p$1-$i"
            "$BASE_URL/publish")
    done
    curl "${args[@]}"
}

# ids_of FILE...: the ids each stream got, "STREAM ID" per line, in order.
ids_of() {
    sse_parse -m "$@" | awk -F '\t' '{ print $1, $3 }'
}

# all_delivered N FILE...: every FILE holds N events.
all_delivered() {
    local n=$1
    shift
    sse_parse -m "$@" | awk -F '\t' -v n="$n" -v files="$#" '
        { count[$1]++ }
        END { for (i = 1; i <= files; i++) if (count[i] != n) exit 1 }'
}

@test "a flood against 200 subscribers: some publishes get 503 + Retry-After, every accepted one reaches everyone" {
    local i j
    for ((i = 1; i <= SUBSCRIBERS; i++)); do
        SSE_MAX_TIME=300 sse_client "$BATS_TEST_TMPDIR/s$i" "$BASE_URL/events?topic=flood"
    done
    wait_until 120 streams_open "$SUBSCRIBERS"

    for ((j = 1; j <= PUBLISHERS; j++)); do
        bg_start "$BATS_TEST_TMPDIR/p$j" flood "$j"
    done
    for ((j = 1; j <= PUBLISHERS; j++)); do
        bg_wait "$BATS_TEST_TMPDIR/p$j" 120
        assert_equal "$(bg_exit "$BATS_TEST_TMPDIR/p$j")" 0
    done

    # Each answer: the body (an id, or the reason), then the status.
    local accepted=$BATS_TEST_TMPDIR/accepted refused=0 ok=0
    : >"$accepted"
    for ((j = 1; j <= PUBLISHERS; j++)); do
        awk 'NR % 2 == 1 { body = $0; next } $0 == "200" { print body }' \
            "$BATS_TEST_TMPDIR/p$j.out" >>"$accepted"
        refused=$((refused + $(awk 'NR % 2 == 0 && $0 == "503"' "$BATS_TEST_TMPDIR/p$j.out" | wc -l)))
        assert_equal "$(awk 'NR % 2 == 0 && $0 != "200" && $0 != "503"' "$BATS_TEST_TMPDIR/p$j.out")" ''
        run grep -c 'delivery is behind: retry later' "$BATS_TEST_TMPDIR/p$j.out"
        assert_equal "$output" "$(awk 'NR % 2 == 0 && $0 == "503"' "$BATS_TEST_TMPDIR/p$j.out" | wc -l)"
        # Every 503 came with Retry-After.
        assert_equal "$(grep -c '^HTTP/1.1 503' "$BATS_TEST_TMPDIR/pub$j.head" || true)" \
            "$(grep -ci '^Retry-After: 1' "$BATS_TEST_TMPDIR/pub$j.head" || true)"
    done
    ok=$(wc -l <"$accepted")
    echo "# accepted $ok, refused $refused" >&3
    ((refused > 0))
    ((ok > 0))
    assert_equal $((ok + refused)) $((PUBLISHERS * EACH))
    assert_equal "$(stats_value .publish_behind)" "$refused"

    local -a files=()
    for ((i = 1; i <= SUBSCRIBERS; i++)); do
        files+=("$BATS_TEST_TMPDIR/s$i.out")
    done
    wait_until 120 all_delivered "$ok" "${files[@]}"
    # Exactly the accepted ids, each once, in increasing order, everywhere.
    local want
    want=$(sort -n "$accepted" | tr '\n' ' ')
    run ids_of "${files[@]}"
    assert_success
    assert_equal "$(awk -v want="$want" '
        { got[$1] = got[$1] $2 " " }
        END { for (s in got) if (got[s] != want) bad++; print bad + 0 }' <<<"$output")" 0
    assert_equal "$(stats_value .dropped)" 0
    assert_equal "$(stats_value .streams)" "$SUBSCRIBERS"
}
