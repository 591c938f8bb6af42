#!/usr/bin/env bats
# Many clients and clients that leave: one descriptor and no thread per
# stream, given back when the client goes; every client gets every event.

bats_require_minimum_version 1.5.0

load test_helper/common
load test_helper/sse

# A faster ticker than the default keeps the 200-client test short.
TICK_MS=300
CLIENTS=200

stack_for_file --tick-ms "$TICK_MS"

# counts_are THREADS FDS: the worker has exactly that many of each.
counts_are() {
    [[ $(thread_count "$WORKER_PID") -eq $1 && $(fd_count "$WORKER_PID") -eq $2 ]]
}

@test "a client that disconnects frees its descriptor, and the worker keeps serving" {
    local base_threads base_fds base_gone i
    base_threads=$(thread_count "$WORKER_PID")
    base_fds=$(fd_count "$WORKER_PID")
    base_gone=$(grep -c 'closed: client gone' "$STACK_DIR/worker.log" || true)
    echo "baseline: $base_threads threads, $base_fds fds"

    for i in 1 2 3 4 5; do
        sse_client "$BATS_TEST_TMPDIR/c$i" "$BASE_URL/events"
    done
    # One FastCGI connection per client, and no thread: the request
    # threads end once the delivery loop has the streams.
    wait_until 10 counts_are "$base_threads" $((base_fds + 5))
    for i in 1 2 3 4 5; do
        wait_until 5 sse_has "$BATS_TEST_TMPDIR/c$i.out" 1 tick
    done

    for i in 1 2 3 4 5; do
        bg_stop "$BATS_TEST_TMPDIR/c$i"
    done
    # The worker notices each departure (the connection's hang-up) and
    # gives everything back.
    wait_until 10 counts_are "$base_threads" "$base_fds"
    run grep -c 'closed: client gone' "$STACK_DIR/worker.log"
    assert_equal "$output" $((base_gone + 5))

    # Still serving: a new client gets ticks.
    local c=$BATS_TEST_TMPDIR/after
    sse_client "$c" "$BASE_URL/events"
    wait_until 5 sse_has "$c.out" 2 tick
    bg_stop "$c"
    run http_status "$c.head"
    assert_output 200
    worker_log_clean "$STACK_DIR"
}

# first_full_tick FILE: the id of the first tick that counted CLIENTS
# clients (or more); fails while there is none.
first_full_tick() {
    sse_parse "$1" | awk -F '\t' -v want="$CLIENTS" '
        $1 == "tick" && match($3, /"clients":[0-9]+/) &&
        substr($3, RSTART + 10, RLENGTH - 10) + 0 >= want { print $2; found = 1; exit }
        END { exit !found }'
}

# block_after FILE K: client FILE's records from the event with id K up to
# and including the second tick after it, once it has them all.
block_after() {
    sse_parse "$1" | awk -F '\t' -v k="$2" '
        $2 == k { on = 1 }
        on { print; if ($1 == "tick" && $2 != k && ++ticks == 2) { done = 1; exit } }
        END { exit !done }'
}

# all_have BLOCK: every client's stream (DIR/N.out) holds BLOCK as
# consecutive records; otherwise the numbers of those that do not go to
# $LACKING.
all_have() {
    local -a files=()
    local i dir=$BATS_TEST_TMPDIR/clients
    for ((i = 1; i <= CLIENTS; i++)); do
        files+=("$dir/$i.out")
    done
    LACKING=$(sse_lacking "$1" "${files[@]}")
}

@test "200 concurrent clients all receive the same tick events with no gap" {
    local dir=$BATS_TEST_TMPDIR/clients i base_fds
    mkdir -p "$dir"
    base_fds=$(fd_count "$WORKER_PID")
    SECONDS=0
    # Client 1 first, so it sees the tick that counts all of them.
    SSE_MAX_TIME=30 sse_client "$dir/1" "$BASE_URL/events"
    wait_until 5 grep -q '^retry:' "$dir/1.out"
    # Clients 2..200: one curl process holding 199 transfers, each its own
    # connection and output file (a process per client would take 5-25 s
    # just to fork and start here).
    local -a transfers=()
    for ((i = 2; i <= CLIENTS; i++)); do
        transfers+=(-o "$dir/$i.out" "$BASE_URL/events")
    done
    bg_start "$dir/rest" curl -sS -N --max-time 30 --parallel --parallel-immediate \
        --parallel-max "$CLIENTS" "${transfers[@]}"
    # Every client is a stream of its own in the worker.
    wait_until 20 fds_are "$WORKER_PID" $((base_fds + CLIENTS))
    echo "$SECONDS s: $(fd_count "$WORKER_PID") worker descriptors"

    # K: the first tick published with every client subscribed.
    wait_until 10 quietly first_full_tick "$dir/1.out"
    local k
    k=$(first_full_tick "$dir/1.out")
    echo "$SECONDS s: first tick with >= $CLIENTS clients: id $k"
    # What client 1 got from K to the second tick after it: ticks (and any
    # multi-line message) with consecutive ids.
    wait_until 5 quietly block_after "$dir/1.out" "$k"
    local block
    block=$(block_after "$dir/1.out" "$k")
    echo "$block"
    run awk -F '\t' 'NR > 1 && $2 != prev + 1 { bad = 1 } { prev = $2 } END { exit bad || NR < 3 }' <<<"$block"
    assert_success

    # Every client received exactly these events, in this order, no gap.
    LACKING=''
    if ! wait_until 20 all_have "$block"; then
        echo "clients lacking the block: $(echo "$LACKING" | tr '\n' ' ')"
        local first=${LACKING%%$'\n'*}
        echo "client $first has:"
        sse_parse "$dir/$first.out" | tail -n 6
        false
    fi

    echo "$SECONDS s: all clients have it"
    # All still connected until stopped here.
    bg_running "$dir/1"
    bg_running "$dir/rest"
    bg_stop "$dir/rest"
    bg_stop "$dir/1"
}
