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
    REDIS_PORT=
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

@test "a bad --redis URL stops the worker before it starts, with a one-line reason" {
    run -2 "$SSE_WORKER" --listen "127.0.0.1:$("$ROOT/scripts/free-port")" --redis http://localhost:6379
    assert_line --index 0 --partial "invalid --redis-url: use redis://"
    SSE_REDIS_URL=redis://:secret@localhost:0 run -2 "$SSE_WORKER" --listen 127.0.0.1:1
    assert_line --index 0 "sse-worker: invalid SSE_REDIS_URL: the port is not a number from 1 to 65535"
    refute_output --partial secret
}
