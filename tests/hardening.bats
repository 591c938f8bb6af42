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

TOKEN=hardening-token-0123456789

export SSE_PUBLISH_TOKEN=$TOKEN
stack_for_file --tick-ms "$TICK_MS" --request-timeout "$REQUEST_TIMEOUT"

# idle_peer PREFIX: a TCP connection to the worker that sends nothing; the
# process ends (status 0) when the worker closes it.
idle_peer() {
    # shellcheck disable=SC2016 # expanded by the inner shell
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

# fcgi_pair NAME VALUE: a FastCGI name-value pair (both under 128 bytes).
fcgi_pair() {
    printf "\\x$(printf %02x "${#1}")\\x$(printf %02x "${#2}")%s%s" "$1" "$2"
}

# trickling_body_peer PREFIX: an authorised POST /publish whose head is
# complete and whose body (100 bytes announced) comes one byte a second.
# Ends like trickling_peer.
trickling_body_peer() {
    local params
    params=$(fcgi_pair REQUEST_METHOD POST; fcgi_pair DOCUMENT_URI /publish
             fcgi_pair CONTENT_TYPE application/x-www-form-urlencoded
             fcgi_pair CONTENT_LENGTH 100
             fcgi_pair HTTP_AUTHORIZATION "Bearer $TOKEN")
    # shellcheck disable=SC2016 # expanded by the inner shell
    bg_start "$1" bash -c '
        exec 3<>"/dev/tcp/127.0.0.1/$0" || exit 2
        printf "\001\001\000\001\000\010\000\000\000\001\000\000\000\000\000\000" >&3
        printf "\001\004\000\001\000\\x$(printf %02x "${#1}")\000\000%s" "$1" >&3
        printf "\001\004\000\001\000\000\000\000\001\005\000\001\000\144\000\000" >&3
        printf "topic=x&data=" >&3
        for _ in $(seq 87); do
            sleep 1
            printf x >&3 || exit 0
        done
        exit 3' "$WORKER_PORT" "$params"
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

@test "idle and trickling connections to the worker's port do not stop /events and /stats, and are closed after --request-timeout" {
    local idle=$BATS_TEST_TMPDIR/idle trickle=$BATS_TEST_TMPDIR/trickle
    local body=$BATS_TEST_TMPDIR/body-trickle
    idle_peer "$idle"
    trickling_peer "$trickle"
    trickling_body_peer "$body"
    # Both are in: the worker holds a connection for each (beyond the
    # listen socket, a stream would show the same way).
    wait_until 10 bg_running "$idle"
    serving
    serving
    # The two were still open while the others were served...
    bg_running "$idle"
    bg_running "$trickle"
    bg_running "$body"
    # ...and are closed by the worker once their deadline has passed.
    bg_wait "$idle" $((REQUEST_TIMEOUT + 20))
    assert_equal "$(bg_exit "$idle")" 0
    bg_wait "$trickle" $((REQUEST_TIMEOUT + 20))
    [[ $(bg_exit "$trickle") != 3 ]]
    bg_wait "$body" $((REQUEST_TIMEOUT + 20))
    [[ $(bg_exit "$body") != 3 ]]
    # Two sent no complete request; the third's body never came.
    run grep -c "a connection sent no complete request within $REQUEST_TIMEOUT s: cut off" \
        "$STACK_DIR/worker.log"
    (( output >= 2 ))
    run grep -c -E "request [0-9]+: not done within $REQUEST_TIMEOUT s, connection cut off" \
        "$STACK_DIR/worker.log"
    (( output >= 1 ))
    serving
}

# http_code PATH: the status nginx answers for PATH, the head saved to $HEAD.
status_of() {
    curl -sS --max-time 10 -o "$BATS_TEST_TMPDIR/body" -D "$BATS_TEST_TMPDIR/head" \
        -w '%{http_code}' "$BASE_URL$1"
}

stats_status_is() {
    [[ $(status_of /stats) == "$1" ]]
}

@test "past --max-requests requests in flight the worker answers 503 with Retry-After, and its threads stay bounded" {
    stack_worker_restart --tick-ms "$TICK_MS" --max-requests 4 --request-timeout 60
    assert_equal "$(status_of /stats)" 200
    local threads i
    threads=$(thread_count "$WORKER_PID")
    for i in 1 2 3 4; do
        trickling_peer "$BATS_TEST_TMPDIR/t$i"
    done
    # The four hold every request thread: the next request, through nginx,
    # gets the worker's 503 (not a hang, not nginx's 502).
    wait_until 15 stats_status_is 503
    run http_header "$BATS_TEST_TMPDIR/head" Retry-After
    assert_output 5
    run cat "$BATS_TEST_TMPDIR/body"
    assert_output 'service unavailable: too many requests in flight'
    run http_header "$BATS_TEST_TMPDIR/head" Content-Type
    assert_output 'text/plain; charset=utf-8'
    # Twenty more peers straight to the port, silent ones included: each
    # is answered 503 and closed at once, and no thread is added.
    for i in $(seq 20); do
        idle_peer "$BATS_TEST_TMPDIR/i$i"
    done
    for i in $(seq 20); do
        bg_wait "$BATS_TEST_TMPDIR/i$i" 20
        grep -a -q 'Status: 503 Service Unavailable' "$BATS_TEST_TMPDIR/i$i.out"
    done
    assert_equal "$(thread_count "$WORKER_PID")" "$threads"
    # An open stream is no request in flight: once the four are gone, the
    # worker answers again.
    for i in 1 2 3 4; do
        bg_stop "$BATS_TEST_TMPDIR/t$i" KILL
    done
    wait_until 15 stats_status_is 200
    run jq -r .requests_rejected "$BATS_TEST_TMPDIR/body"
    (( output >= 21 ))
    serving
    assert_equal "$(thread_count "$WORKER_PID")" "$threads"
}

# stats_field CONNECT FIELD: one field of /stats asked straight of a worker.
stats_field() {
    fcgi_request "$1" GET /stats | cgi_body /dev/stdin | jq -r ".$2"
}

# flood_404 PORT COUNT: COUNT FastCGI requests for a 120-byte path that does
# not exist, written straight from bash (no process per request, so the
# worker logs faster than a pipe of 64 KiB is filled). Answers are not read.
flood_404() {
    local path i conn
    path=/$(printf 'x%.0s' $(seq 119))
    for ((i = 0; i < $2; i++)); do
        # Not fd 3: bats keeps its own output there.
        exec {conn}<>"/dev/tcp/127.0.0.1/$1"
        # FCGI_BEGIN_REQUEST; FCGI_PARAMS of 153 bytes: REQUEST_METHOD=GET
        # and DOCUMENT_URI=$path; the empty FCGI_PARAMS and FCGI_STDIN.
        printf '\001\001\000\001\000\010\000\000\000\001\000\000\000\000\000\000' >&"$conn"
        printf '\001\004\000\001\000\231\000\000\016\003REQUEST_METHODGET\014\170DOCUMENT_URI%s' \
            "$path" >&"$conn"
        printf '\001\004\000\001\000\000\000\000\001\005\000\001\000\000\000\000' >&"$conn"
        exec {conn}>&-
    done
}

log_dropped_some() {
    (($(stats_field "$1" log_dropped) > 0))
}

@test "with stderr a pipe nobody reads, streams still get events and /stats answers; lost log lines are counted and reported" {
    local fifo=$BATS_TEST_TMPDIR/log.fifo w=$BATS_TEST_TMPDIR/fifo/worker
    local c=$BATS_TEST_TMPDIR/fifo/c port n
    mkfifo "$fifo"
    # A stuck log collector: it opens the pipe and never reads, so the pipe
    # fills after 64 KiB.
    # shellcheck disable=SC2016 # expanded by the inner shell
    bg_start "$BATS_TEST_TMPDIR/reader" bash -c 'exec 3<"$0"; exec sleep 300' "$fifo"
    port=$("$ROOT/scripts/free-port")
    # shellcheck disable=SC2016 # expanded by the inner shell
    bg_start "$w" bash -c 'exec "$@" 2>"$0"' "$fifo" \
        "$SSE_WORKER" --listen "127.0.0.1:$port" --tick-ms 100
    wait_until 10 port_open "$port"
    fcgi_client "$c" "127.0.0.1:$port" GET "/events?topic=clock"
    wait_until 10 sse_has "$c.out" 1 tick
    # Each 404 logs a line of some 180 bytes: the pipe and the worker's
    # queue of 512 lines are full after about 900.
    flood_404 "$port" 1500
    wait_until 20 log_dropped_some "127.0.0.1:$port"
    # The stream still gets its events, and more requests are answered.
    n=$(sse_count "$c.out" tick)
    wait_until 10 sse_has "$c.out" $((n + 5)) tick
    run fcgi_request "127.0.0.1:$port" GET /nowhere
    assert_output --partial 'not found'
    # Once the pipe is read again, the worker says how many lines it lost.
    bg_start "$BATS_TEST_TMPDIR/drain" cat "$fifo"
    wait_until 20 grep -q -E '[0-9]+ log lines dropped: stderr was not taking them' \
        "$BATS_TEST_TMPDIR/drain.out"
    bg_stop "$w"
    assert_equal "$(bg_exit "$w")" 0
}

# answered PREFIX...: every client has its response head (a status line).
answered() {
    local c
    for c; do
        [[ -s $c.head ]] || return 1
    done
}

@test "under ulimit -n 64 every stream gets either its stream or a 503, and a publish still answers" {
    # The worker raises its soft limit to the hard one; ulimit -n sets both.
    local wrapper=$BATS_TEST_TMPDIR/worker-64 i
    printf '%s\n' '#!/bin/sh' 'ulimit -n 64' "exec '$SSE_WORKER' \"\$@\"" >"$wrapper"
    chmod +x "$wrapper"
    SSE_WORKER=$wrapper stack_worker_restart --tick-ms 0
    grep -q 'only 64 open files allowed: --max-streams lowered to' "$STACK_DIR/worker.log"
    local -a clients=()
    for i in $(seq 70); do
        clients+=("$BATS_TEST_TMPDIR/s$i")
        SSE_MAX_TIME=60 sse_client "$BATS_TEST_TMPDIR/s$i" "$BASE_URL/events?topic=fds"
    done
    wait_until 60 answered "${clients[@]}"
    local ok=0 refused=0 c
    for c in "${clients[@]}"; do
        case $(http_status "$c.head") in
            200) ok=$((ok + 1)) ;;
            503) refused=$((refused + 1)); http_header "$c.head" Retry-After >/dev/null ;;
            *) echo "unexpected: $(head -n 1 "$c.head")"; return 1 ;;
        esac
    done
    echo "$ok streams, $refused refused"
    ((ok >= 1 && refused >= 1 && ok + refused == 70))
    # A publish is answered, and reaches every open stream.
    run curl -sS --max-time 10 -o /dev/null -w '%{http_code}' -H "Authorization: Bearer $TOKEN" \
        -d topic=fds -d data=still-here "$BASE_URL/publish"
    assert_output 200
    for c in "${clients[@]}"; do
        [[ $(http_status "$c.head") != 200 ]] || wait_until 10 sse_has "$c.out" 1
    done
    stack_worker_restart --tick-ms "$TICK_MS" --request-timeout "$REQUEST_TIMEOUT"
}
