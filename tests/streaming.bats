#!/usr/bin/env bats
# No buffering anywhere between the ticker and a curl client behind nginx:
# each event arrives when it is published, one at a time. Every received line
# is stamped on arrival and compared with the server time inside the tick
# (same machine, same clock).

bats_require_minimum_version 1.5.0

load test_helper/common
load test_helper/sse

# The demo ticker's period (the worker's default) and the limits derived
# from it: a tick must arrive within MAX_LAG s of the server time it
# carries, and consecutive ticks at least MIN_GAP s apart (a burst would put
# them milliseconds apart).
TICK_MS=1000
MAX_LAG=0.9
FIRST_MAX_LAG=0.5
MIN_GAP=0.5

setup_file() {
    start_stack --tick-ms "$TICK_MS"
}

teardown_file() {
    bg_stop_all
    stop_stack
}

teardown() {
    bg_stop_all
}

# check_times FILE: runs awk over the "ARRIVAL SERVER SEQ ID" lines of a
# stamped capture with the limits above; prints each tick and what is wrong.
check_times() {
    tick_times "$1" | awk -v max_lag="$MAX_LAG" -v min_gap="$MIN_GAP" '
        {
            lag = $1 - $2
            printf "tick seq %s id %s: arrived %.3f s after its server time", $3, $4, lag
            if (NR > 1)
                printf ", %.3f s after the previous tick", $1 - prev
            print ""
            if (lag > max_lag) { print "  late: more than " max_lag " s"; bad = 1 }
            if (lag < -0.01) { print "  arrived before its server time?"; bad = 1 }
            if (NR > 1 && $1 - prev < min_gap) { print "  burst: less than " min_gap " s after the previous tick"; bad = 1 }
            prev = $1
        }
        END { exit bad }'
}

@test "the first tick reaches a curl client through nginx before the second is due" {
    local c=$BATS_TEST_TMPDIR/c start=$EPOCHREALTIME
    BG_STAMP=1 sse_client "$c" "$BASE_URL/events"
    wait_until 5 sse_has "$c.out" 1 tick
    bg_stop "$c"

    local arrival server seq id
    read -r arrival server seq id < <(tick_times "$c.stamped")
    echo "connected at $start; tick seq $seq (id $id) published at $server, arrived at $arrival"
    # Published after the client connected (no replay of an older tick) ...
    awk -v s="$start" -v t="$server" 'BEGIN { exit !(t >= s - 0.01) }'
    # ... and delivered at once, long before the next tick would be due.
    awk -v a="$arrival" -v t="$server" -v max="$FIRST_MAX_LAG" 'BEGIN { exit !(a - t <= max) }'
    # So it reached the client within one tick period (plus that lag).
    awk -v a="$arrival" -v s="$start" -v p="$TICK_MS" -v max="$FIRST_MAX_LAG" \
        'BEGIN { exit !(a - s <= p / 1000 + max) }'
}

@test "successive ticks arrive one at a time as they are published, not in a burst" {
    local c=$BATS_TEST_TMPDIR/c
    BG_STAMP=1 sse_client "$c" "$BASE_URL/events"
    wait_until 8 sse_has "$c.out" 4 tick
    bg_stop "$c"

    run check_times "$c.stamped"
    echo "$output"
    assert_success
    # At least four ticks, consecutive seq numbers: none held back.
    run awk '{ print $3 }' <(tick_times "$c.stamped")
    ((${#lines[@]} >= 4))
    local i
    for ((i = 1; i < ${#lines[@]}; i++)); do
        assert_equal "${lines[i]}" "$((lines[i - 1] + 1))"
    done
}
