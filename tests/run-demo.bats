#!/usr/bin/env bats
# `make run` itself (scripts/run-demo), with WORKERS=1 (the embedded demo,
# no Redis) and WORKERS=2 (two workers sharing a redis-server's log behind
# one nginx upstream), and scripts/render-upstream with several workers.
# Each run keeps its state (config, certificate, Redis' file) under the
# test's temp dir (RUN_DEMO_STATE) on free ports, and is stopped with a
# SIGTERM to make, as a script would, which must leave nothing running.

bats_require_minimum_version 1.5.0

load test_helper/common
load test_helper/sse

# start_demo WORKERS: `make run` in the background as $DEMO (its output in
# $DEMO.out); sets PORT and BASE_URL once the page answers.
start_demo() {
    DEMO=$BATS_TEST_TMPDIR/demo
    PORT=$("$ROOT/scripts/free-port")
    local tls
    tls=$("$ROOT/scripts/free-port")
    [[ $tls != "$PORT" ]] || tls=$("$ROOT/scripts/free-port")
    BASE_URL=http://127.0.0.1:$PORT
    export DEMO PORT BASE_URL
    RUN_DEMO_STATE=$BATS_TEST_TMPDIR/state bg_start "$DEMO" \
        env -u MAKEFLAGS -u MAKELEVEL make -C "$ROOT" --no-print-directory run \
        WORKERS="$1" PORT="$PORT" TLS_PORT="$tls"
    wait_until 60 demo_up
}

demo_up() {
    bg_running "$DEMO" || return 0
    curl -sf --max-time 2 -o /dev/null "$BASE_URL/"
}

# demo_ports WHAT: the ports run-demo printed for WHAT (worker, redis-server).
demo_ports() {
    grep -oE "run-demo: +$1[0-9]* on 127\.0\.0\.1:[0-9]+" "$DEMO.out" | sed 's/.*://'
}

# worker_streams PORT: the open streams one worker counts (its own /stats).
worker_streams() {
    REQUEST_METHOD=GET DOCUMENT_URI=/stats cgi-fcgi -bind -connect "127.0.0.1:$1" |
        sed -n '/^{/p' | jq -r .streams
}

# stop_demo: SIGTERM to make; everything must end within the bound.
stop_demo() {
    local pid
    pid=$(bg_pid "$DEMO")
    kill -TERM "$pid"
    wait_until 30 test -f "$DEMO.exit"
}

teardown() {
    bg_stop_all
}

@test "render-upstream writes one server line per worker and keeps the rest of the file" {
    run "$ROOT/scripts/render-upstream" 127.0.0.1:9001,unix:/run/w2.sock,10.0.0.3:9000
    assert_success
    assert_equal "$(grep -E '^[[:space:]]*server ' <<<"$output")" \
        "$(printf '    server 127.0.0.1:9001;\n    server unix:/run/w2.sock;\n    server 10.0.0.3:9000;')"
    # Every other line as in the file.
    assert_equal "$(grep -vE '^[[:space:]]*server ' <<<"$output")" \
        "$(grep -vE '^[[:space:]]*server ' "$ROOT/conf/sse-upstream.conf")"
    run "$ROOT/scripts/render-upstream" 127.0.0.1:9001
    assert_equal "$(grep -cE '^[[:space:]]*server ' <<<"$output")" 1
}

@test "render-upstream refuses an empty or malformed worker list" {
    local bad
    for bad in '' ',' '127.0.0.1:1,' ',127.0.0.1:1' '127.0.0.1:1,,127.0.0.1:2' 'a b' 'a;b'; do
        run "$ROOT/scripts/render-upstream" "$bad"
        assert_failure
        assert_output --partial 'render-upstream: invalid'
    done
}

@test "make run with one worker starts no Redis, and SIGTERM to make stops it all" {
    start_demo 1
    run cat "$DEMO.out"
    assert_output --partial 'run-demo: serving'
    refute_output --partial 'redis-server'
    local wport
    wport=$(grep -oE 'worker on 127\.0\.0\.1:[0-9]+' "$DEMO.out" | sed 's/.*://')
    [[ -n $wport ]]
    run curl -sS -N --max-time 3 "$BASE_URL/events?topic=clock"
    assert_line 'event: tick'
    [[ ! -d $BATS_TEST_TMPDIR/state/redis ]]
    stop_demo
    run port_open "$wport"
    assert_failure
    run port_open "$PORT"
    assert_failure
    run cat "$DEMO.out"
    assert_output --partial 'run-demo: stopped'
}

@test "make run WORKERS=2: both workers serve streams of one log with one ticker, and SIGTERM to make stops all" {
    command -v redis-server >/dev/null || skip "redis-server not installed (scripts/ensure-deps scaleout)"
    start_demo 2
    local workers redis
    mapfile -t workers < <(demo_ports worker)
    redis=$(demo_ports redis-server)
    assert_equal "${#workers[@]}" 2
    [[ -n $redis ]]
    [[ $(redis-cli -p "$redis" ping) == PONG ]]

    # Streams through nginx land on both workers.
    local i n=6 clients=()
    for ((i = 1; i <= n; i++)); do
        SSE_MAX_TIME=30 sse_client "$BATS_TEST_TMPDIR/c$i" "$BASE_URL/events?topic=clock&topic=chat"
        clients+=("$BATS_TEST_TMPDIR/c$i")
    done
    both_hold_streams() {
        (($(worker_streams "${workers[0]}") > 0 && $(worker_streams "${workers[1]}") > 0))
    }
    wait_until 10 both_hold_streams

    # A publish through nginx reaches every stream with one id, and every
    # stream sees each tick once: one ticker, through the log.
    local id
    id=$(curl -sS --fail-with-body --max-time 10 -d topic=chat -d type=check \
        -d 'data=to both workers' "$BASE_URL/publish")
    has_check() { sse_has "$1.out" 1 check; }
    for ((i = 1; i <= n; i++)); do
        wait_until 10 has_check "${clients[i - 1]}"
        wait_until 10 sse_has "${clients[i - 1]}.out" 3 tick
    done
    for ((i = 1; i <= n; i++)); do
        run sse_parse "${clients[i - 1]}.out"
        assert_line "$(printf 'check\t%s\tto both workers' "$id")"
        # Each tick once, in order: two tickers would repeat their counts.
        local seqs
        seqs=$(sse_parse "${clients[i - 1]}.out" | awk -F '\t' '$1 == "tick" { print $3 }' |
            grep -oE '"seq":[0-9]+' | cut -d: -f2)
        [[ -n $seqs ]]
        assert_equal "$seqs" "$(sort -nu <<<"$seqs")"
    done

    stop_demo
    run port_open "${workers[0]}"
    assert_failure
    run port_open "${workers[1]}"
    assert_failure
    run port_open "$redis"
    assert_failure
    run port_open "$PORT"
    assert_failure
    # The log is kept in the state folder (append-only file) for the next run.
    [[ -d $BATS_TEST_TMPDIR/state/redis/appendonlydir ]]
}
