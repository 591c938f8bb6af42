#!/usr/bin/env bats
# The bundled nginx configs (make run, docker compose) are sized from the
# worker's stream limit, so the first limit a client meets is the worker's
# 503 with Retry-After; and nginx's workers never run as root.

bats_require_minimum_version 1.5.0

load test_helper/common
load test_helper/sse
load test_helper/hub

TOKEN=nginx-limits-token-0123456789

# One setting for both: the worker reads SSE_MAX_STREAMS as --max-streams,
# render-nginx-conf sizes nginx from it.
export SSE_PUBLISH_TOKEN=$TOKEN SSE_MAX_STREAMS=20
stack_for_file --tick-ms 0

# directive FILE NAME: the value of the first `NAME VALUE;` line in FILE.
directive() {
    sed -nE "s/^[[:space:]]*$2[[:space:]]+([^;]+);.*/\\1/p" "$1" | head -n 1
}

# rendered MAX_STREAMS: renders the make-run config into a fresh folder with
# SSE_MAX_STREAMS=MAX_STREAMS (unset when empty); prints its path.
rendered() {
    local dir
    dir=$(mktemp -d "$BATS_TEST_TMPDIR/render.XXXXXX")
    if [[ -n $1 ]]; then
        SSE_MAX_STREAMS=$1 "$ROOT/scripts/render-nginx-conf" "$dir" 127.0.0.1:1 127.0.0.1:2
    else
        env -u SSE_MAX_STREAMS "$ROOT/scripts/render-nginx-conf" "$dir" 127.0.0.1:1 127.0.0.1:2
    fi
    echo "$dir/nginx.conf"
}

# fits STREAMS CONNECTIONS NOFILE: the sizing rule of the drop-in docs: each
# stream two connections, 256 more for refusals, pages and publishes, and
# two file descriptors per connection.
fits() {
    (($2 >= 2 * $1 + 256 && $3 >= 2 * $2))
}

@test "make run's nginx has room for every stream's two connections and more, rendered from SSE_MAX_STREAMS" {
    local n conf
    for n in 1 20 10000 50000; do
        conf=$(rendered "$n")
        fits "$n" "$(directive "$conf" worker_connections)" "$(directive "$conf" worker_rlimit_nofile)"
        run nginx -t -q -p "${conf%/*}" -c "$conf"
        assert_success
    done
    # Unset: the worker's default, 10000.
    conf=$(rendered '')
    assert_equal "$(directive "$conf" worker_connections)" \
        "$(directive "$(rendered 10000)" worker_connections)"
    run "$ROOT/scripts/nginx-limits" 0
    assert_failure
}

@test "docker compose passes one SSE_MAX_STREAMS to the workers and to the nginx image, which sizes itself for all of them" {
    run env SSE_MAX_STREAMS=123 docker-compose -f "$ROOT/docker-compose.yml" config
    assert_success
    local config=$output
    # Every service: each worker as its limit, the nginx build as an
    # argument, with the number of workers beside it.
    assert_equal "$(grep -c "SSE_MAX_STREAMS: '123'" <<<"$config")" 3
    assert_equal "$(grep -c "SSE_WORKER_COUNT: '2'" <<<"$config")" 1
    # shellcheck disable=SC2016 # the Dockerfile's own text
    grep -q 'nginx-limits "$((SSE_MAX_STREAMS \* SSE_WORKER_COUNT))"' "$ROOT/conf/nginx.Dockerfile"
    # The image's edit of Debian's nginx.conf, run here on a copy of it.
    cp /etc/nginx/nginx.conf "$BATS_TEST_TMPDIR/debian.conf"
    sed -i 's/worker_connections [0-9]*;/worker_connections 768;/' "$BATS_TEST_TMPDIR/debian.conf"
    local script
    # shellcheck disable=SC2016 # a sed address, not an expansion
    script=$(sed -n '/^RUN limits=/,/^[^ ]/p' "$ROOT/conf/nginx.Dockerfile" | sed '$d' |
        sed -e 's/^RUN //' -e "s|/usr/local/lib/sse-worker/nginx-limits|$ROOT/scripts/nginx-limits|" \
            -e "s|/etc/nginx/nginx.conf|$BATS_TEST_TMPDIR/debian.conf|g")
    SSE_MAX_STREAMS=123 SSE_WORKER_COUNT=2 run sh -ec "$script"
    assert_success
    local conf=$BATS_TEST_TMPDIR/debian.conf
    fits 246 "$(directive "$conf" worker_connections)" "$(directive "$conf" worker_rlimit_nofile)"
    # A bad value fails the build instead of writing a broken nginx.conf.
    sed -i 's/worker_connections [0-9]*;/worker_connections 768;/' "$conf"
    SSE_MAX_STREAMS=lots SSE_WORKER_COUNT=2 run sh -ec "$script"
    assert_failure
    # No `ulimits:` (above the engine's hard limit a container would not
    # start): every service inherits the engine's.
    run grep -c nofile <<<"$config"
    assert_output 0
}

@test "with --max-streams 20 and the matching nginx, the 21st stream gets the worker's 503 with Retry-After, not a reset" {
    assert_equal "$(directive "$STACK_DIR/nginx.conf" worker_connections)" \
        "$("$ROOT/scripts/nginx-limits" 20 | cut -d' ' -f1)"
    local i
    for i in $(seq 1 20); do
        sse_client "$BATS_TEST_TMPDIR/s$i" "$BASE_URL/events?topic=full"
    done
    wait_until 30 streams_open 20
    local j head
    for j in 1 2 3; do
        head=$BATS_TEST_TMPDIR/refused.$j.head
        run curl -sS --max-time 10 -D "$head" "$BASE_URL/events?topic=full"
        assert_success
        assert_output 'too many open streams'
        assert_equal "$(http_status "$head")" 503
        run http_header "$head" Retry-After
        assert_output --regexp '^[0-9]+$'
    done
    # Every stream is still open and gets events.
    publish full still-here >/dev/null
    for i in $(seq 1 20); do
        wait_until 10 sse_has "$BATS_TEST_TMPDIR/s$i.out" 1
    done
}

@test "started as root, nginx runs its workers as the checkout's owner, or nobody when that is root" {
    [[ $(id -u) -eq 0 ]] || skip "needs root"
    local conf
    conf=$(rendered 20)
    if [[ $(stat -c %U "$ROOT") == root ]]; then
        assert_equal "$(directive "$conf" user)" "nobody $(id -gn nobody)"
    fi
    # A copy of the checkout owned by an ordinary user: that user.
    local copy=$BATS_TEST_TMPDIR/checkout
    mkdir -p "$copy"
    cp -r "$ROOT/scripts" "$ROOT/conf" "$ROOT/www" "$copy/"
    chown -R daemon:daemon "$copy"
    "$copy/scripts/render-nginx-conf" "$BATS_TEST_TMPDIR/copy-state" 127.0.0.1:1 127.0.0.1:2
    assert_equal "$(directive "$BATS_TEST_TMPDIR/copy-state/nginx.conf" user)" \
        "daemon $(id -gn daemon)"
}

# nginx_worker_uids: the uid of each of the stack's nginx worker processes.
nginx_worker_uids() {
    ps -o uid= --ppid "$(cat "$STACK_DIR/nginx.pid")" | tr -d ' '
}

@test "the stack's nginx workers are not root, yet serve the page, stream, and take a publish body bigger than a buffer" {
    [[ $(id -u) -eq 0 ]] || skip "needs root"
    run nginx_worker_uids
    assert_success
    [[ -n $output ]]
    refute_line 0
    run curl -sS --max-time 10 -o /dev/null -w '%{http_code}' "$BASE_URL/"
    assert_output 200
    sse_client "$BATS_TEST_TMPDIR/s" "$BASE_URL/events?topic=big"
    wait_until 20 streams_open 1
    # 40 KB: more than nginx keeps in memory by default (client_body_buffer_size).
    head -c 40000 /dev/zero | tr '\0' x >"$BATS_TEST_TMPDIR/big"
    run publish big "@$BATS_TEST_TMPDIR/big"
    assert_success
    wait_until 10 sse_has "$BATS_TEST_TMPDIR/s.out" 1
}
