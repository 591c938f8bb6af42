#!/usr/bin/env bats
# The shared event log (--redis): several workers on one Redis stream serve
# one ordered sequence of events; a browser resumes on any worker, across
# restarts of every worker; Redis going away loses nothing that was stored.
# Each test runs its own redis-server on a free port, its files under the
# test's temp dir. Skipped where redis-server is not installed.

bats_require_minimum_version 1.5.0

load test_helper/common
load test_helper/sse
load test_helper/hub
load test_helper/redis

TOKEN=redis-token-0123456789
export SSE_PUBLISH_TOKEN=$TOKEN

setup() {
    redis_available || skip "redis-server is not installed"
    D=$BATS_TEST_TMPDIR
    unset REDIS_PORT # a free one for each test
    redis_start "$D/redis"
}

teardown() {
    bg_stop_all
    local w
    for w in "$D"/w*; do
        [[ ! -d $w ]] || stop_worker "$w"
    done
    stop_nginx "$D/nginx"
    redis_stop "$D/redis"
}

# lines_at_least FILE N: FILE exists with N lines or more.
lines_at_least() {
    [[ -f $1 ]] && (($(wc -l <"$1") >= $2))
}

# sse_fields FILE FIELDS: cut's FIELDS (1 type, 2 id, 3 data) of each event.
sse_fields() {
    sse_parse "$1" | cut -f"$2"
}

# broker_state_is PORT STATE: the worker's /stats says so.
broker_state_is() {
    [[ $(worker_stats "$1" .broker.state) == "$2" ]]
}

# publish_into FILE TOPIC DATA: publish (hub.bash), the id into FILE; fails
# (quietly) on a refusal. For wait_until.
publish_into() {
    publish "$2" "$3" >"$1" 2>/dev/null
}

# Two workers (w1, w2) on the test's Redis behind one nginx.
two_workers_behind_nginx() {
    start_workers 2 "$D" --tick-ms 0 "$@"
    start_nginx_for "$D/nginx" "127.0.0.1:${WORKER_PORTS[0]}" "127.0.0.1:${WORKER_PORTS[1]}"
}

# streams_on_both N: N streams in all, some on each worker.
streams_on_both() {
    local a b
    a=$(worker_stats "${WORKER_PORTS[0]}" .streams) b=$(worker_stats "${WORKER_PORTS[1]}" .streams)
    ((a > 0 && b > 0 && a + b == $1))
}

@test "50 subscribers spread over two workers get every event published through either, once, in one order, with the same ids" {
    two_workers_behind_nginx
    local i
    for ((i = 1; i <= 50; i++)); do
        sse_client "$D/c$i" "$BASE_URL/events?topic=shared"
    done
    wait_until 30 streams_on_both 50
    local expected="" id
    for ((i = 1; i <= 20; i++)); do
        id=$(worker_publish_id "${WORKER_PORTS[i % 2]}" shared "event-$i")
        expected+=$(printf 'message\t%s\tevent-%s' "$id" "$i")$'\n'
    done
    expected=${expected%$'\n'}
    local files=("$D"/c*.out)
    wait_until 30 quietly sse_lacking "$expected" "${files[@]}"
    local f
    for f in "${files[@]}"; do
        assert_equal "$(sse_count "$f")" 20
    done
    # Ids from the log: ordered across both workers.
    run sort -c -t- -k1,1n -k2,2n < <(sse_parse "${files[0]}" | cut -f2)
    assert_success
    worker_log_clean "$D/w1"
    worker_log_clean "$D/w2"
}

# publish_paced PORT TOPIC N OUT: publishes N events ("event-1"...) to one
# worker, 50 ms apart; "ID<TAB>DATA" of each goes to OUT.
publish_paced() {
    local port=$1 topic=$2 n=$3 out=$4 i id
    : >"$out.tmp"
    for ((i = 1; i <= n; i++)); do
        id=$(worker_publish_id "$port" "$topic" "event-$i")
        printf '%s\tevent-%s\n' "$id" "$i" >>"$out.tmp"
        sleep 0.05
    done
    mv "$out.tmp" "$out"
}

# resumed_exactly DIR EXPECTED: a resuming client's events, over all its
# connections, are exactly EXPECTED ("ID<TAB>DATA" lines).
resumed_exactly() {
    local got
    got=$(sse_parse "$1"/part-* | cut -f2,3)
    [[ $got == "$2" ]] || {
        diff <(echo "$2") <(echo "$got") | head -n 10 >&2
        return 1
    }
}

@test "kill -9 one worker while events are published: every client on it resumes through nginx on the other with no gap and no duplicate" {
    two_workers_behind_nginx --heartbeat 1
    local i
    for ((i = 1; i <= 10; i++)); do
        bg_start "$D/r$i" "$ROOT/tests/test_helper/sse-resume-client" "$D/r$i" \
            "$BASE_URL/events?topic=k" 40
    done
    wait_until 30 streams_on_both 10
    local on_w1
    on_w1=$(worker_stats "${WORKER_PORTS[0]}" .streams)
    bg_start "$D/publisher" publish_paced "${WORKER_PORTS[1]}" k 40 "$D/published"
    wait_until 20 lines_at_least "$D/published.tmp" 10
    kill -KILL "$(cat "$D/w1/worker.pid")"
    bg_wait "$D/publisher" 30
    assert_equal "$(bg_exit "$D/publisher")" 0
    local expected
    expected=$(cat "$D/published")
    for ((i = 1; i <= 10; i++)); do
        bg_wait "$D/r$i" 30
        assert_equal "$(bg_exit "$D/r$i")" 0
        resumed_exactly "$D/r$i" "$expected"
    done
    # Exactly the clients that were on w1 had to connect again.
    local again=("$D"/r*/part-002)
    assert_equal "${#again[@]}" "$on_w1"
    ((on_w1 > 0))
    worker_log_clean "$D/w2"
}

@test "after a restart of every worker a client resuming with an old id gets exactly what it missed" {
    two_workers_behind_nginx
    local ids=() i
    for ((i = 1; i <= 5; i++)); do
        ids+=("$(worker_publish_id "${WORKER_PORTS[i % 2]}" r "event-$i")")
    done
    stop_worker "$D/w1"
    stop_worker "$D/w2"
    restart_worker "$D/w1" "${WORKER_PORTS[0]}" --tick-ms 0
    restart_worker "$D/w2" "${WORKER_PORTS[1]}" --tick-ms 0
    sse_client "$D/c" "$BASE_URL/events?topic=r" -H "Last-Event-ID: ${ids[1]}"
    wait_until 10 sse_has "$D/c.out" 3
    local live
    live=$(worker_publish_id "${WORKER_PORTS[0]}" r live)
    wait_until 10 sse_has "$D/c.out" 4
    run sse_fields "$D/c.out" 1-3
    assert_output "$(printf 'message\t%s\tevent-%s\n' "${ids[2]}" 3 "${ids[3]}" 4 "${ids[4]}" 5
                     printf 'message\t%s\tlive' "$live")"
    worker_log_clean "$D/w1"
    worker_log_clean "$D/w2"
}

@test "with Redis stopped publishes get 503 and open streams stay up; once it is back they get new events without reconnecting" {
    two_workers_behind_nginx --heartbeat 1
    sse_client "$D/a" "$BASE_URL/events?topic=s"
    sse_client "$D/b" "$BASE_URL/events?topic=s"
    wait_until 20 streams_on_both 2
    local before
    before=$(publish s before)
    wait_until 10 sse_has "$D/a.out" 1
    wait_until 10 sse_has "$D/b.out" 1

    redis_stop "$D/redis"
    local i
    for i in 1 2 3; do
        run curl -sS --max-time 10 -D "$D/refused.head" -H "Authorization: Bearer $TOKEN" \
            -d topic=s -d "data=lost-$i" "$BASE_URL/publish"
        assert_output "event broker unavailable"
        assert_equal "$(http_status "$D/refused.head")" 503
        http_header "$D/refused.head" Retry-After
    done
    wait_until 10 broker_state_is "${WORKER_PORTS[0]}" disconnected
    # Heartbeats keep both streams alive meanwhile.
    local beats
    beats=$(sse_comments "$D/a.out" heartbeat)
    wait_until 10 sse_has_comments "$D/a.out" $((beats + 2)) heartbeat
    bg_running "$D/a"
    bg_running "$D/b"

    redis_start "$D/redis"
    local after
    wait_until 20 publish_into "$D/after.id" s after
    after=$(cat "$D/after.id")
    wait_until 10 sse_has "$D/a.out" 2
    wait_until 10 sse_has "$D/b.out" 2
    bg_running "$D/a"
    bg_running "$D/b"
    local c
    for c in a b; do
        run sse_fields "$D/$c.out" 2,3
        assert_output "$(printf '%s\tbefore\n%s\tafter' "$before" "$after")"
    done
    # Each state change logged once, whatever the number of refused publishes.
    local w
    for w in w1 w2; do
        assert_equal "$(grep -c 'broker: lost Redis' "$D/$w/worker.log")" 1
        assert_equal "$(grep -c 'broker: connected to Redis' "$D/$w/worker.log")" 2
    done
    assert_equal "$(worker_stats "${WORKER_PORTS[0]}" .broker.state)" connected
    assert_equal "$(worker_stats "${WORKER_PORTS[0]}" .broker.reconnects)" 1
    worker_log_clean "$D/w1"
    worker_log_clean "$D/w2"
}

@test "after a Redis restart between two publishes the second one is stored at the first try" {
    start_workers 1 "$D" --tick-ms 0
    local port=${WORKER_PORTS[0]}
    worker_publish_id "$port" t before >/dev/null
    redis_stop "$D/redis"
    wait_until 10 broker_state_is "$port" disconnected
    redis_start "$D/redis"
    wait_until 20 broker_state_is "$port" connected
    # The publish connection Redis closed is noticed before the command is
    # sent on it: no 503 for a Redis that is back.
    worker_publish_id "$port" t after >/dev/null
    assert_equal "$(rcli XLEN sse:events)" 1
    worker_log_clean "$D/w1"
}

# followed_at_least PORT N: the worker has applied N entries of the log.
followed_at_least() {
    (($(worker_stats "$1" .broker.followed) >= $2))
}

@test "a worker that falls further behind than the log keeps says how many events it missed, then goes on" {
    start_workers 1 "$D" --tick-ms 0 --history 5
    local port=${WORKER_PORTS[0]}
    worker_publish_id "$port" t first >/dev/null
    wait_until 10 followed_at_least "$port" 1
    kill -STOP "$WORKER_PID"
    # Another worker's publishes, straight into the log: Redis trims it
    # (MAXLEN ~ 5 drops whole nodes of 100) while this one sleeps.
    local i
    for ((i = 1; i <= 250; i++)); do
        echo "XADD sse:events MAXLEN ~ 5 * topics t data e$i"
    done | rcli >/dev/null
    kill -CONT "$WORKER_PID"
    wait_until 20 followed_at_least "$port" 2
    local missed
    missed=$(worker_stats "$port" .broker.missed)
    ((missed > 0 && missed < 250))
    run grep -c "broker: $missed events were trimmed from the log before this worker read them" \
        "$D/w1/worker.log"
    assert_output 1
    worker_publish_id "$port" t after >/dev/null
    wait_until 10 followed_at_least "$port" $((251 - missed + 1))
    assert_equal "$(worker_stats "$port" .broker.missed)" "$missed"
    worker_log_clean "$D/w1"
}

# publish_many PORT TOPIC N: N publishes straight to one worker.
publish_many() {
    local i
    for ((i = 1; i <= $3; i++)); do
        worker_publish_id "$1" "$2" "many-$i" >/dev/null
    done
}

@test "under ThreadSanitizer, publishers, resumes, a Redis restart and SIGTERM race on nothing" {
    [[ -x $ROOT/.build/tsan/sse-worker ]] || skip "make .build/tsan/sse-worker first"
    export TSAN_OPTIONS=${TSAN_OPTIONS:-halt_on_error=0:exitcode=66:second_deadlock_stack=1}
    SSE_WORKER=$ROOT/.build/tsan/sse-worker start_workers 1 "$D" --tick-ms 200 --threads 2 \
        --history 50
    start_nginx_for "$D/nginx" "127.0.0.1:${WORKER_PORTS[0]}"
    sse_client "$D/c1" "$BASE_URL/events?topic=t"
    sse_client "$D/c2" "$BASE_URL/events?topic=t"
    sse_client "$D/c3" "$BASE_URL/events?topic=t&topic=clock"
    sse_client "$D/resumer" "$BASE_URL/events?topic=t" -H "Last-Event-ID: 1-0"
    wait_until 30 streams_open 4
    local p
    for p in 1 2 3; do
        bg_start "$D/p$p" publish_many "${WORKER_PORTS[0]}" t 15
    done
    for p in 1 2 3; do
        bg_wait "$D/p$p" 60
        assert_equal "$(bg_exit "$D/p$p")" 0
    done
    wait_until 30 sse_has "$D/c1.out" 45 message
    redis_stop "$D/redis"
    wait_until 10 broker_state_is "${WORKER_PORTS[0]}" disconnected
    redis_start "$D/redis"
    wait_until 20 broker_state_is "${WORKER_PORTS[0]}" connected
    worker_publish_id "${WORKER_PORTS[0]}" t after >/dev/null
    wait_until 10 sse_has "$D/c2.out" 46 message
    stop_worker "$D/w1"
    assert_equal "$(cat "$D/w1/worker.exit")" 0
    run grep -c 'WARNING: ThreadSanitizer' "$D/w1/worker.log"
    assert_output 0
}

@test "under valgrind a worker on Redis publishes, follows, survives a Redis restart and stops with 0 errors" {
    local log=$D/valgrind.log wrapper=$D/sse-worker-valgrind
    printf '%s\n' '#!/bin/sh' \
        "exec valgrind --error-exitcode=99 --leak-check=full --errors-for-leak-kinds=definite \\" \
        "    --track-fds=no --log-file='$log' '$ROOT/.build/sse-worker' \"\$@\"" >"$wrapper"
    chmod +x "$wrapper"
    SSE_WORKER=$wrapper start_workers 1 "$D" --tick-ms 0
    start_nginx_for "$D/nginx" "127.0.0.1:${WORKER_PORTS[0]}"
    sse_client "$D/c" "$BASE_URL/events?topic=v"
    wait_until 30 streams_open 1
    local first
    first=$(publish v one)
    wait_until 20 sse_has "$D/c.out" 1
    redis_stop "$D/redis"
    run curl -sS --max-time 20 -o /dev/null -w '%{http_code}' -H "Authorization: Bearer $TOKEN" \
        -d topic=v -d data=refused "$BASE_URL/publish"
    assert_output 503
    redis_start "$D/redis"
    wait_until 30 publish_into "$D/two.id" v two
    wait_until 20 sse_has "$D/c.out" 2
    sse_client "$D/again" "$BASE_URL/events?topic=v" -H "Last-Event-ID: $first"
    wait_until 20 sse_has "$D/again.out" 1
    stop_worker "$D/w1"
    run cat "$log"
    assert_line --partial 'ERROR SUMMARY: 0 errors'
    refute_line --regexp 'definitely lost: [1-9]'
    assert_equal "$(cat "$D/w1/worker.exit")" 0
}

@test "a password, a database and a unix socket in the URL are used; a wrong password is logged once and publishes get 503" {
    redis_stop "$D/redis"
    local sock=$D/redis.sock
    redis_start "$D/redis" --requirepass 's3cr@t' --unixsocket "$sock" --unixsocketperm 700
    WORKER_PORT='' start_worker "$D/w1" --tick-ms 0 --redis "redis://:s3cr%40t@127.0.0.1:$REDIS_PORT/3"
    local good=$WORKER_PORT
    worker_publish_id "$good" t "over tcp" >/dev/null
    assert_equal "$(rcli -a 's3cr@t' --no-auth-warning -n 3 XLEN sse:events)" 1
    refute grep -q 's3cr' "$D/w1/worker.log"
    assert grep -q "redis://:\*\*\*@127.0.0.1:$REDIS_PORT/3" "$D/w1/worker.log"

    WORKER_PORT='' start_worker "$D/w2" --tick-ms 0 --redis "unix:$sock"
    wait_until 10 grep -q 'cannot reach Redis at unix:.*NOAUTH\|cannot reach Redis at unix:.*AUTH' \
        "$D/w2/worker.log"
    run worker_publish "$WORKER_PORT" t refused
    assert_output --partial 'Status: 503'
    assert_output --partial 'event broker unavailable'
    run worker_publish "$WORKER_PORT" t refused
    assert_output --partial 'Status: 503'
    assert_equal "$(grep -c 'cannot reach Redis' "$D/w2/worker.log")" 1
    assert_equal "$(worker_stats "$WORKER_PORT" .broker.state)" disconnected
    assert_equal "$(rcli -a 's3cr@t' --no-auth-warning -n 3 XLEN sse:events)" 1
}

@test "a bad --redis URL stops the worker before it starts, with a one-line reason" {
    run -2 "$SSE_WORKER" --listen "127.0.0.1:$("$ROOT/scripts/free-port")" --redis http://localhost:6379
    assert_line --index 0 --partial "invalid --redis-url: use redis://"
    SSE_REDIS_URL=redis://:secret@localhost:0 run -2 "$SSE_WORKER" --listen 127.0.0.1:1
    assert_line --index 0 "sse-worker: invalid SSE_REDIS_URL: the port is not a number from 1 to 65535"
    refute_output --partial secret
}
